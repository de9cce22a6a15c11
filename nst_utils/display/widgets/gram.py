"""Gram matrices of one layer for two images, side by side, with their difference (notebook 03)."""

from __future__ import annotations

import html
from collections.abc import Sequence

import ipywidgets as W
import numpy as np
import torch
from matplotlib.figure import Figure

from ...paper.losses import style_layer_loss
from ...paper.vgg import VGGFeatures
from .base import Explorer, Images
from .cache import FeatureCache
from .render import figure_png, image_widget, thumbnail


def gram_figure(
    grams: Sequence[torch.Tensor], titles: Sequence[str], order: torch.Tensor
) -> Figure:
    """Two Gram matrices (signed log scale, shared colours) and their difference, reordered."""
    a, b = (g[order][:, order].cpu().double() for g in grams)  # float64 on the CPU only

    def slog(x: torch.Tensor) -> np.ndarray:
        return (torch.sign(x) * torch.log1p(x.abs())).numpy()

    la, lb = slog(a), slog(b)
    lo, hi = min(la.min(), lb.min()), max(la.max(), lb.max())
    diff = la - lb
    limit = float(np.abs(diff).max()) or 1.0
    fig = Figure(figsize=(12, 3.9))
    axes = fig.subplots(1, 3)
    cmap = "magma" if lo >= 0 else "viridis"
    for ax, data, title in zip(axes[:2], (la, lb), titles, strict=True):
        shown = ax.imshow(data, cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
        ax.set_title(title, fontsize=10)
    fig.colorbar(shown, ax=axes[1], fraction=0.046, label="log(1 + G/M)")
    diff_shown = axes[2].imshow(
        diff, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest"
    )
    axes[2].set_title("difference (red: first larger)", fontsize=10)
    fig.colorbar(diff_shown, ax=axes[2], fraction=0.046)
    for ax in axes:
        ax.set_xlabel("channel (clustered order)", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("channel", fontsize=8)
    fig.subplots_adjust(left=0.05, right=0.95, bottom=0.14, top=0.9, wspace=0.35)
    return fig


class GramExplorer(Explorer):
    """Gram matrices of one layer for two images, side by side, with their difference.

    Each is shown per position, :math:`G/M_l`, so that images of different sizes compare.
    Channels are reordered by the *first* image's clusters
    (:func:`~nst_utils.display.plotting.cluster_order`) and the same order is used for both, so
    blocks line up. Controls: ``layer``, ``first``, ``second``; output: ``image_widget`` (the
    heatmaps), ``first_widget``/``second_widget`` (thumbnails), ``title`` (with the style
    distance :meth:`distance`).
    """

    def __init__(
        self,
        net: VGGFeatures,
        images: Images = None,
        *,
        size: int | None = None,
        layer: str = "relu2_1",
        first: str | None = None,
        second: str | None = None,
        cache: FeatureCache | None = None,
        dpi: int = 72,
    ) -> None:
        super().__init__()
        self.cache = cache or FeatureCache.of(net, images, size)
        self.dpi = dpi
        names = self.cache.images.names
        net.check_layers([layer])
        first = first or names[0]
        second = second or (names[1] if len(names) > 1 else names[0])
        self.layer = W.Dropdown(options=list(net.layer_names), value=layer, description="layer")
        self.layer.add_class("nst-layer")
        self.first = W.Dropdown(options=names, value=first, description="first")
        self.second = W.Dropdown(options=names, value=second, description="second")
        self.first_widget = image_widget("nst-gram-first")
        self.second_widget = image_widget("nst-gram-second")
        self.image_widget = image_widget("nst-gram-image")
        self.title = W.HTML()
        self.title.add_class("nst-gram-title")
        self.layer.observe(self._on_change, "value")
        self.first.observe(self._on_image, "value")
        self.second.observe(self._on_image, "value")
        controls = W.VBox([self.layer, self.first, self.second])
        self.widget = W.VBox(
            [
                W.HBox([controls, self.first_widget, self.second_widget]),
                self.title,
                self.image_widget,
            ]
        )
        self.widget.add_class("nst-gram-explorer")
        self._thumbs()
        self.redraw()

    def _thumbs(self) -> None:
        for name, widget in (
            (self.first.value, self.first_widget),
            (self.second.value, self.second_widget),
        ):
            widget.value = thumbnail(self.cache.images[name], 128)

    def _on_image(self, _change) -> None:
        self._thumbs()
        self.redraw()

    def _per_position(self, name: str) -> tuple[torch.Tensor, int]:
        """Image ``name``'s Gram matrix on the current layer and its positions :math:`M_l`."""
        h, w = self.cache.layer(name, self.layer.value).shape[-2:]
        return self.cache.gram(name, self.layer.value), h * w

    def distance(self) -> float:
        r"""The paper's style distance :math:`E_l` (eq. 4) between the two images.

        When their sizes differ, the second Gram matrix is compared per position, as the
        objective's style target does: :math:`E_l = \sum (G/M_l - A/M^s_l)^2 / (4 N_l^2)`.
        """
        g, m = self._per_position(self.first.value)
        a, m_second = self._per_position(self.second.value)
        return float(style_layer_loss(g, a * (m / m_second), g.shape[0], m))

    def _draw(self) -> None:
        layer, first, second = self.layer.value, self.first.value, self.second.value
        grams = [g / m for g, m in (self._per_position(first), self._per_position(second))]
        order = self.cache.order(first, layer)
        n = grams[0].shape[0]
        fig = gram_figure(grams, [f"{first}: {layer}", f"{second}: {layer}"], order)
        self.image_widget.value = figure_png(fig, self.dpi)
        self.title.value = (
            f"<b>{html.escape(layer)}</b>: {n}×{n} Gram matrices G/M (which channels fire "
            f"together), channels ordered by <i>{html.escape(first)}</i>'s clusters; "
            f"style distance E<sub>l</sub> = {self.distance():.4g}"
        )
