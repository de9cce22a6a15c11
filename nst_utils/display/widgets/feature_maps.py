"""What does this layer see? Image × layer × one channel or the ``k`` strongest (notebook 01)."""

from __future__ import annotations

import html
from collections.abc import Sequence

import ipywidgets as W
import torch
from PIL import Image

from ...paper.vgg import VGGFeatures
from ..anatomy import strongest_channels
from .base import Explorer, Images
from .cache import FeatureCache
from .render import colorize, fit, image_widget, label, png_bytes, thumbnail


def feature_grid_png(
    features: torch.Tensor, channels: Sequence[int], tile: int, ncols: int
) -> bytes:
    """Channels of ``(N, H, W)`` features as a labelled grid of colour-mapped tiles."""
    tiles = [
        label(fit(Image.fromarray(colorize(features[c].numpy())), tile), f"ch {c}")
        for c in channels
    ]
    w, h = tiles[0].size
    nrows = -(-len(tiles) // ncols)
    gap = 3
    sheet = Image.new("RGB", (ncols * (w + gap) - gap, nrows * (h + gap) - gap), (255, 255, 255))
    for i, t in enumerate(tiles):
        sheet.paste(t, ((i % ncols) * (w + gap), (i // ncols) * (h + gap)))
    return png_bytes(sheet)


class FeatureMapExplorer(Explorer):
    """What does a layer see? Image × layer × (one channel | the ``k`` most active channels).

    Controls: ``image``, ``layer`` (every layer name), ``mode`` (``"channel"``/``"grid"``),
    ``channel`` (slider), ``k`` (slider), ``strongest`` (button); output: ``image_widget``
    (the feature map(s) as PNG), ``input_widget`` (the photo), ``title``. The network runs
    once per image (:class:`~nst_utils.display.widgets.cache.FeatureCache`).
    """

    def __init__(
        self,
        net: VGGFeatures,
        images: Images = None,
        *,
        size: int | None = None,
        layer: str = "relu2_1",
        channel: int | None = None,
        mode: str = "channel",
        k: int = 16,
        display_size: int = 320,
        cache: FeatureCache | None = None,
    ) -> None:
        super().__init__()
        self.cache = cache or FeatureCache.of(net, images, size)
        self.display_size = display_size
        names = self.cache.images.names
        net.check_layers([layer])
        style = {"description_width": "70px"}
        self.image = W.Dropdown(options=names, value=names[0], description="image", style=style)
        self.layer = W.Dropdown(
            options=list(net.layer_names), value=layer, description="layer", style=style
        )
        self.layer.add_class("nst-layer")
        self.mode = W.ToggleButtons(
            options=[("one channel", "channel"), ("top-k grid", "grid")], value=mode
        )
        n = self._current().shape[1]
        first = strongest_channels(self._current(), 1)[0] if channel is None else channel
        self.channel = W.IntSlider(
            value=min(first, n - 1), min=0, max=n - 1, description="channel", style=style
        )
        self.k = W.IntSlider(value=k, min=1, max=64, description="top k", style=style)
        self.strongest = W.Button(
            description="strongest channel", icon="star", layout=W.Layout(width="auto")
        )
        self.image_widget = image_widget("nst-feature-image")
        self.input_widget = image_widget("nst-feature-input")
        self.title = W.HTML()
        self.title.add_class("nst-feature-title")

        self.image.observe(self._on_image, "value")
        self.layer.observe(self._on_layer, "value")
        for control in (self.mode, self.channel, self.k):
            control.observe(self._on_change, "value")
        self.strongest.on_click(self._on_strongest)

        controls = W.VBox([self.image, self.layer, self.mode, self.channel, self.k, self.strongest])
        self.widget = W.VBox([W.HBox([controls, self.input_widget]), self.title, self.image_widget])
        self.widget.add_class("nst-feature-explorer")
        self._show_input()
        self.redraw()

    def _current(self) -> torch.Tensor:
        return self.cache.layer(self.image.value, self.layer.value)

    def _show_input(self) -> None:
        self.input_widget.value = thumbnail(self.cache.images[self.image.value], 160)

    def _sync_channel_range(self) -> None:
        with self._mute():
            self.channel.max = self._current().shape[1] - 1  # clamps the value if needed

    def _on_image(self, _change) -> None:
        self._show_input()
        self._sync_channel_range()
        self.redraw()

    def _on_layer(self, _change) -> None:
        self._sync_channel_range()
        self.redraw()

    def _on_strongest(self, _button=None) -> None:
        with self._mute():
            self.mode.value = "channel"
            self.channel.value = strongest_channels(self._current(), 1)[0]
        self.redraw()

    def _draw(self) -> None:
        if self.mode.value == "grid":
            self._draw_grid()
        else:
            self._draw_channel()

    def _draw_grid(self) -> None:
        features = self._current()[0]
        n, h, w = features.shape
        self.channel.disabled, self.k.disabled = True, False
        channels = strongest_channels(features[None], self.k.value)
        ncols = min(len(channels), 4 if len(channels) <= 16 else 8)
        tile = max(32, min(160, (2 * self.display_size) // ncols))
        self.image_widget.value = feature_grid_png(features, channels, tile, ncols)
        self.title.value = (
            f"<b>{html.escape(self.layer.value)}</b> of <i>{html.escape(self.image.value)}</i>: "
            f"the {len(channels)} most active of {n} channels, each {h}×{w} "
            "(each map stretched to its own range)"
        )

    def _draw_channel(self) -> None:
        features = self._current()[0]
        n, h, w = features.shape
        self.channel.disabled, self.k.disabled = False, True
        c = self.channel.value
        fmap = features[c].numpy()
        self.image_widget.value = png_bytes(fit(Image.fromarray(colorize(fmap)), self.display_size))
        zero = float((fmap == 0).mean())
        silent = " — <b>silent</b> on this image" if fmap.max() == fmap.min() == 0 else ""
        self.title.value = (
            f"<b>{html.escape(self.layer.value)}</b> channel {c} of {n} on "
            f"<i>{html.escape(self.image.value)}</i>: {h}×{w} map, min {fmap.min():.3g}, "
            f"max {fmap.max():.3g}, {zero:.0%} zeros{silent}"
        )
