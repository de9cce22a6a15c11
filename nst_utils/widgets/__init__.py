"""Interactive explorers for the notebooks (ipywidgets 8, JupyterLab 4).

Four explorers, each a class whose controls are plain attributes (so tests and notebooks can
drive them from code), with ``.widget`` (the box to display) and ``_ipython_display_``:

=========================  =================================================================
:class:`FeatureMapExplorer`  "what does this layer see?": image, layer, one channel or the
                             top-k grid (notebook 01)
:class:`GramExplorer`        Gram matrix of a layer for two images, channels clustered, and
                             their difference (notebook 03)
:class:`RatioExplorer`       a slider through β/α; computed results are cached and shown at
                             once, new ones computed on demand with progress (notebook 04)
:class:`Playground`          content/style layers, β/α, initialisation, steps → Run, live
                             preview, Stop keeps the best image (notebook 05)
=========================  =================================================================

How it stays fast: every picture is rendered to PNG bytes and put into an ``ipywidgets.Image``
(no interactive matplotlib backend). VGG runs **once per image** up to ``pool5`` and all layer
outputs are kept (:class:`FeatureCache`), so changing the layer or channel only colour-maps an
array that is already there. Heatmaps are matplotlib figures drawn off-screen to PNG.

How long runs stay interruptible: :class:`Playground` and :class:`RatioExplorer` run the
optimisation engine (:func:`nst_utils.optimize.optimize`) in a background thread. The kernel
thus stays free to receive the Stop click, which sets the engine's ``stop`` event; the engine
returns after the current step with the best image so far. Previews are pushed to the image
widget from the engine's callback (widget updates from a thread are sent by ipykernel's
thread-safe IOPub channel, so they appear in JupyterLab while the cell is idle). The worker
thread's torch work gets its own OpenMP threads; the kit's bound on their spinning
(:mod:`nst_utils.openmp`) keeps them from taking the cores from the kernel's other work
(BENCHMARKS.md part 6), and a run that would not fit in memory is refused with a message in
``status`` before it allocates, instead of ending the kernel.
"""

from __future__ import annotations

import html
import io
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import ipywidgets as W
import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image, ImageDraw

from .config import pick
from .examples import bundled_images, downloadable, example_available, resolve_image
from .images import load_image, to_numpy
from .losses import gram_matrix
from .objective import (
    CONTENT_LAYERS,
    STYLE_LAYERS,
    Objective,
    build_objective,
    default_style_weight,
)
from .optimize import INITS, Result, initial_image
from .plotting import top_channels
from .vgg import VGGFeatures

ImageInput = torch.Tensor | str | Path
Images = Mapping[str, ImageInput] | Sequence[str] | None

#: β/α values of the ratio explorer, as multiples of the network's default β
#: (:func:`~nst_utils.objective.default_style_weight`; 100 on torchvision's VGGs): from
#: "content dominates" to "style dominates".
DEFAULT_RATIOS = (1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0)


# --------------------------------------------------------------------------- rendering


def png_bytes(image: torch.Tensor | np.ndarray | Image.Image) -> bytes:
    """PNG bytes of an RGB tensor ``(1, 3, H, W)`` in ``[0, 1]``, a uint8 array or a PIL image."""
    if torch.is_tensor(image):
        image = (to_numpy(image) * 255).round().astype(np.uint8)
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def figure_png(fig: Figure, dpi: int = 80) -> bytes:
    """Draw a matplotlib figure off-screen (Agg) and return PNG bytes."""
    if fig.canvas is None or not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def colorize(values: np.ndarray, cmap: str = "viridis") -> np.ndarray:
    """A 2-D array → ``H×W×3`` uint8 through a colour map, stretched from its min to its max."""
    lo, hi = float(values.min()), float(values.max())
    scaled = (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)
    lut = (colormaps[cmap](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)
    return lut[(scaled * 255).astype(np.uint8)]


def fit(picture: Image.Image, longest: int) -> Image.Image:
    """Scale to ``longest`` px: block-averaged when shrinking, nearest (visible units) when
    enlarging."""
    w, h = picture.size
    scale = longest / max(w, h)
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    if new == (w, h):
        return picture
    return picture.resize(new, Image.Resampling.BOX if scale < 1 else Image.Resampling.NEAREST)


def _label(picture: Image.Image, text: str) -> Image.Image:
    draw = ImageDraw.Draw(picture)
    _, _, right, bottom = draw.textbbox((2, 1), text)
    draw.rectangle((0, 0, right + 2, bottom + 1), fill=(0, 0, 0))
    draw.text((2, 1), text, fill=(255, 255, 255))
    return picture


def feature_grid_png(
    features: torch.Tensor, channels: Sequence[int], tile: int, ncols: int
) -> bytes:
    """Channels of ``(N, H, W)`` features as a labelled grid of colour-mapped tiles."""
    tiles = [
        _label(fit(Image.fromarray(colorize(features[c].numpy())), tile), f"ch {c}")
        for c in channels
    ]
    w, h = tiles[0].size
    nrows = -(-len(tiles) // ncols)
    gap = 3
    sheet = Image.new("RGB", (ncols * (w + gap) - gap, nrows * (h + gap) - gap), (255, 255, 255))
    for i, t in enumerate(tiles):
        sheet.paste(t, ((i % ncols) * (w + gap), (i // ncols) * (h + gap)))
    return png_bytes(sheet)


def leading_order(gram: torch.Tensor, iterations: int = 300) -> torch.Tensor:
    """The channel order of :func:`~nst_utils.plotting.cluster_order`, by power iteration.

    Same idea (sort channels along the leading eigenvector of the correlation matrix), but a
    few hundred matrix-vector products instead of a full ``eigh``: LAPACK's ``eigh`` of a
    512×512 matrix took 5–10 s on a busy 2-core machine, which is too slow for a slider. The
    sign is fixed so that the eigenvector sums to a positive number.
    """
    g = gram.detach().double().cpu()
    d = g.diagonal().clamp_min(1e-12).sqrt()
    corr = g / d[:, None] / d[None, :]
    v = torch.ones(corr.shape[0], dtype=torch.float64)
    for _ in range(iterations):
        w = corr @ v
        norm = w.norm()
        if norm == 0:
            break
        w = w / norm
        if torch.allclose(w, v, atol=1e-10, rtol=0):
            v = w
            break
        v = w
    if v.sum() < 0:
        v = -v
    return torch.argsort(v)


# --------------------------------------------------------------------------- images, features


def default_images() -> list[str]:
    """Example names usable without a download: bundled photos, then local paintings."""
    names = [n for n in ("chelsea", "coffee", "astronaut", "rocket") if n in bundled_images()]
    names += [n for n in bundled_images() if n not in names]
    names += [n for n in downloadable() if example_available(n)]
    return names


class ImageSet:
    """Named images, each loaded at ``size`` (longest side) the first time it is used."""

    def __init__(self, images: Images, size: int, device: torch.device | str = "cpu") -> None:
        if images is None:
            images = default_images()
        if not isinstance(images, Mapping):
            images = {str(name): name for name in images}
        if not images:
            raise ValueError("give at least one image")
        self.sources: dict[str, ImageInput] = dict(images)
        self.size = size
        self.device = torch.device(device)
        self._loaded: dict[str, torch.Tensor] = {}

    @property
    def names(self) -> list[str]:
        return list(self.sources)

    def __getitem__(self, name: str) -> torch.Tensor:
        if name not in self._loaded:
            source = self.sources[name]
            if torch.is_tensor(source):
                image = source.detach()
            else:
                image = load_image(resolve_image(source), self.size)
            self._loaded[name] = image.to(self.device)
        return self._loaded[name]


def _device(net: VGGFeatures) -> torch.device:
    return net.mean.device


class FeatureCache:
    """All layer outputs of each image, from **one** forward pass to ``pool5``.

    Only convolution and pooling outputs are stored; ``relu*`` layers are the convolution
    clamped at 0, computed on access (cheap), which halves the memory. At most ``max_images``
    images are kept (least recently used dropped). Gram matrices and channel orders are cached
    per image and layer. ``forward_passes`` counts network runs (for tests).
    """

    def __init__(self, net: VGGFeatures, images: ImageSet, max_images: int = 4) -> None:
        self.net = net
        self.images = images
        self.max_images = max_images
        self.forward_passes = 0
        self._stored = [n for n in net.layer_names if not n.startswith("relu")]
        self._features: OrderedDict[str, dict[str, torch.Tensor]] = OrderedDict()
        self._grams: dict[tuple[str, str], torch.Tensor] = {}
        self._orders: dict[tuple[str, str], torch.Tensor] = {}

    def features(self, name: str) -> dict[str, torch.Tensor]:
        if name in self._features:
            self._features.move_to_end(name)
            return self._features[name]
        image = self.images[name]
        with torch.no_grad():
            out = self.net(image, self._reachable(*image.shape[-2:]))
        self.forward_passes += 1
        self._features[name] = {k: v.detach().cpu() for k, v in out.items()}
        while len(self._features) > self.max_images:
            dropped, _ = self._features.popitem(last=False)
            for key in [k for k in self._grams if k[0] == dropped]:
                self._grams.pop(key)
                self._orders.pop(key, None)
        return self._features[name]

    def _reachable(self, h: int, w: int) -> list[str]:
        """The stored layers an ``h×w`` image reaches (a tiny one stops before a pooling that
        would leave no pixels)."""
        names = []
        for layer in self._stored:
            if layer.startswith("pool"):
                if h < 2 or w < 2:
                    break
                h, w = h // 2, w // 2
            names.append(layer)
        return names

    def layer(self, name: str, layer: str) -> torch.Tensor:
        """``(1, N, H, W)`` features of image ``name`` on ``layer`` (CPU)."""
        features = self.features(name)
        key = "conv" + layer[4:] if layer.startswith("relu") else layer
        if key not in features:
            h, w = self.images[name].shape[-2:]
            raise ValueError(
                f"{name} ({h}×{w} px) is too small to reach {layer}: use a larger size"
            )
        return features[key].clamp(min=0) if layer.startswith("relu") else features[key]

    def gram(self, name: str, layer: str) -> torch.Tensor:
        """``(N, N)`` Gram matrix divided by the number of positions ``M_l``."""
        key = (name, layer)
        if key not in self._grams:
            f = self.layer(name, layer)
            self._grams[key] = gram_matrix(f)[0] / (f.shape[2] * f.shape[3])
        return self._grams[key]

    def order(self, name: str, layer: str) -> torch.Tensor:
        """The clustered channel order of the Gram matrix (:func:`leading_order`, cached)."""
        key = (name, layer)
        if key not in self._orders:
            self._orders[key] = leading_order(self.gram(name, layer))
        return self._orders[key]


# --------------------------------------------------------------------------- base


class Explorer:
    """Common parts: ``widget``, display, timing and a visible error line."""

    widget: W.VBox
    title: W.HTML

    def __init__(self) -> None:
        self.renders = 0
        self.last_render_s = 0.0
        self.last_error: str | None = None
        self._muted = 0

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    @contextmanager
    def _mute(self):
        """Change controls without redrawing once per change."""
        self._muted += 1
        try:
            yield
        finally:
            self._muted -= 1

    def _on_change(self, _change=None) -> None:
        if not self._muted:
            self.redraw()

    def redraw(self) -> None:
        start = time.perf_counter()
        try:
            self._draw()
            self.last_error = None
        except Exception as err:
            self.last_error = f"{type(err).__name__}: {err}"
            self.title.value = f"<b style='color:#b00'>{html.escape(self.last_error)}</b>"
            raise
        self.renders += 1
        self.last_render_s = time.perf_counter() - start

    def _draw(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


def _image_widget(cls: str, width: str | None = None) -> W.Image:
    widget = W.Image(format="png", layout=W.Layout(width=width, align_self="flex-start"))
    widget.add_class(cls)
    return widget


# --------------------------------------------------------------------------- feature maps


class FeatureMapExplorer(Explorer):
    """What does a layer see? Image × layer × (one channel | the ``k`` most active channels).

    Controls: ``image``, ``layer`` (every layer name), ``mode`` (``"channel"``/``"grid"``),
    ``channel`` (slider), ``k`` (slider), ``strongest`` (button); output: ``image_widget``
    (the feature map(s) as PNG), ``input_widget`` (the photo), ``title``.
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
        size = size or pick(256, 64)
        self.cache = cache or FeatureCache(net, ImageSet(images, size, _device(net)))
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
        first = top_channels(self._current(), 1)[0] if channel is None else channel
        self.channel = W.IntSlider(
            value=min(first, n - 1), min=0, max=n - 1, description="channel", style=style
        )
        self.k = W.IntSlider(value=k, min=1, max=64, description="top k", style=style)
        self.strongest = W.Button(
            description="strongest channel", icon="star", layout=W.Layout(width="auto")
        )
        self.image_widget = _image_widget("nst-feature-image")
        self.input_widget = _image_widget("nst-feature-input")
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
        picture = Image.fromarray(
            (to_numpy(self.cache.images[self.image.value]) * 255).round().astype(np.uint8)
        )
        self.input_widget.value = png_bytes(fit(picture, 160))

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
        self.mode.value = "channel"
        self.channel.value = top_channels(self._current(), 1)[0]

    def _draw(self) -> None:
        features = self._current()[0]
        n, h, w = features.shape
        grid = self.mode.value == "grid"
        self.channel.disabled, self.k.disabled = grid, not grid
        layer = html.escape(self.layer.value)
        if grid:
            channels = top_channels(features[None], self.k.value)
            ncols = min(len(channels), 4 if len(channels) <= 16 else 8)
            tile = max(32, min(160, (2 * self.display_size) // ncols))
            self.image_widget.value = feature_grid_png(features, channels, tile, ncols)
            self.title.value = (
                f"<b>{layer}</b> of <i>{html.escape(self.image.value)}</i>: the "
                f"{len(channels)} most active of {n} channels, each {h}×{w} "
                "(each map stretched to its own range)"
            )
            return
        c = self.channel.value
        fmap = features[c].numpy()
        picture = fit(Image.fromarray(colorize(fmap)), self.display_size)
        self.image_widget.value = png_bytes(picture)
        zero = float((fmap == 0).mean())
        silent = " — <b>silent</b> on this image" if fmap.max() == fmap.min() == 0 else ""
        self.title.value = (
            f"<b>{layer}</b> channel {c} of {n} on <i>{html.escape(self.image.value)}</i>: "
            f"{h}×{w} map, min {fmap.min():.3g}, max {fmap.max():.3g}, {zero:.0%} zeros{silent}"
        )


# --------------------------------------------------------------------------- Gram matrices


def gram_figure(
    grams: Sequence[torch.Tensor], titles: Sequence[str], order: torch.Tensor
) -> Figure:
    """Two Gram matrices (signed log scale, shared colours) and their difference, reordered."""
    a, b = (g[order][:, order].double() for g in grams)

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

    Channels are reordered as :func:`~nst_utils.plotting.cluster_order` does (see
    :func:`leading_order`), by the *first*
    image's Gram matrix and the same order is used for both, so blocks line up.
    Controls: ``layer``, ``first``, ``second``; output: ``image_widget`` (the heatmaps),
    ``first_widget``/``second_widget`` (thumbnails), ``title`` (with the style distance).
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
        size = size or pick(256, 64)
        self.cache = cache or FeatureCache(net, ImageSet(images, size, _device(net)))
        self.dpi = dpi
        names = self.cache.images.names
        net.check_layers([layer])
        first = first or names[0]
        second = second or (names[1] if len(names) > 1 else names[0])
        self.layer = W.Dropdown(options=list(net.layer_names), value=layer, description="layer")
        self.layer.add_class("nst-layer")
        self.first = W.Dropdown(options=names, value=first, description="first")
        self.second = W.Dropdown(options=names, value=second, description="second")
        self.first_widget = _image_widget("nst-gram-first")
        self.second_widget = _image_widget("nst-gram-second")
        self.image_widget = _image_widget("nst-gram-image")
        self.title = W.HTML()
        self.title.add_class("nst-gram-title")
        self.layer.observe(self._on_change, "value")
        self.first.observe(self._on_image, "value")
        self.second.observe(self._on_image, "value")
        self.widget = W.VBox(
            [
                W.HBox(
                    [
                        W.VBox([self.layer, self.first, self.second]),
                        self.first_widget,
                        self.second_widget,
                    ]
                ),
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
            picture = Image.fromarray(
                (to_numpy(self.cache.images[name]) * 255).round().astype(np.uint8)
            )
            widget.value = png_bytes(fit(picture, 128))

    def _on_image(self, _change) -> None:
        self._thumbs()
        self.redraw()

    def distance(self) -> float:
        """Style distance :math:`E_l = \\sum (G - A)^2 / (4 N^2)` of the two ``G/M``."""
        a = self.cache.gram(self.first.value, self.layer.value)
        b = self.cache.gram(self.second.value, self.layer.value)
        return float((a - b).pow(2).sum() / (4 * a.shape[0] ** 2))

    def _draw(self) -> None:
        layer, first, second = self.layer.value, self.first.value, self.second.value
        grams = [self.cache.gram(first, layer), self.cache.gram(second, layer)]
        order = self.cache.order(first, layer)
        n = grams[0].shape[0]
        fig = gram_figure(grams, [f"{first}: {layer}", f"{second}: {layer}"], order)
        self.image_widget.value = figure_png(fig, self.dpi)
        self.title.value = (
            f"<b>{html.escape(layer)}</b>: {n}×{n} Gram matrices G/M (which channels fire "
            f"together), channels ordered by <i>{html.escape(first)}</i>'s clusters; "
            f"style distance E<sub>l</sub> = {self.distance():.4g}"
        )


# --------------------------------------------------------------------------- optimisation


def _engine(engine: Callable | None) -> Callable:
    """The engine to call: ``engine`` or :func:`nst_utils.optimize.optimize` (looked up late,
    so tests can count calls by wrapping it)."""
    if engine is not None:
        return engine
    from . import optimize as optimize_module

    return optimize_module.optimize


class _Background:
    """A worker thread plus a stop event, shared by the two optimisation explorers."""

    def __init__(self) -> None:
        self.thread: threading.Thread | None = None
        self.stop_event = threading.Event()
        self.lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def start(self, target: Callable[[], None]) -> None:
        self.stop_event.clear()
        self.thread = threading.Thread(target=target, daemon=True, name="nst-widget-worker")
        self.thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the worker; True if it has finished."""
        thread = self.thread
        if thread is not None:
            thread.join(timeout)
        return not self.running


class Playground(Explorer):
    """Content reconstruction, texture synthesis and style transfer from one panel.

    Choose content layers and style layers (either may be empty: no style layers is a
    content reconstruction, no content layers a texture synthesis), β/α (``ratio``, a
    log-scale slider), ``init``, ``steps`` and ``preview_every``; ``run_button`` starts the
    engine in a background thread, ``image_widget`` shows the image every ``preview_every``
    steps, ``stop_button`` ends the run after the current step and shows the **best** image
    so far. After a run, ``result`` is the engine's :class:`~nst_utils.optimize.Result`.
    """

    def __init__(
        self,
        net: VGGFeatures,
        images: Images = None,
        *,
        content: str | None = None,
        style: str | None = None,
        size: int | None = None,
        content_layers: Sequence[str] = CONTENT_LAYERS,
        style_layers: Sequence[str] = STYLE_LAYERS,
        ratio: float | None = None,
        init: str = "noise",
        steps: int | None = None,
        preview_every: int | None = None,
        optimizer: str = "lbfgs",
        lr: float | None = None,
        seed: int = 0,
        engine: Callable | None = None,
    ) -> None:
        super().__init__()
        self.net = net
        self.images = ImageSet(images, size or pick(256, 32), _device(net))
        self.engine = engine
        self.optimizer = optimizer
        self.lr = lr
        self.seed = seed
        self.result: Result | None = None
        self.previews = 0
        self._started = 0.0
        self.first_preview_s: float | None = None
        self._bg = _Background()
        names = self.images.names
        layers = list(net.layer_names)
        net.check_layers([*content_layers, *style_layers])
        wide = {"description_width": "90px"}
        self.content_image = W.Dropdown(
            options=names, value=content or names[0], description="content", style=wide
        )
        self.style_image = W.Dropdown(
            options=names, value=style or names[-1], description="style", style=wide
        )
        self.content_layers = W.SelectMultiple(
            options=layers,
            value=tuple(content_layers),
            rows=8,
            description="content layers",
            style=wide,
        )
        self.style_layers = W.SelectMultiple(
            options=layers,
            value=tuple(style_layers),
            rows=8,
            description="style layers",
            style=wide,
        )
        centre = math.floor(math.log10(default_style_weight(net)))  # 2 on torchvision's VGGs
        self.ratio = W.FloatLogSlider(
            value=default_style_weight(net) if ratio is None else ratio,
            base=10,
            min=centre - 4,
            max=centre + 3,
            step=0.25,
            description="β/α",
            readout_format=".3g",
            style=wide,
        )
        self.init = W.Dropdown(options=list(INITS), value=init, description="init", style=wide)
        self.steps = W.IntSlider(
            value=steps or pick(200, 4), min=1, max=1000, description="steps", style=wide
        )
        self.preview_every = W.IntSlider(
            value=preview_every or pick(10, 2),
            min=1,
            max=100,
            description="preview every",
            style=wide,
        )
        self.run_button = W.Button(description="Run", button_style="success", icon="play")
        self.stop_button = W.Button(
            description="Stop", button_style="danger", icon="stop", disabled=True
        )
        self.progress = W.IntProgress(value=0, min=0, max=self.steps.value, description="step")
        self.status = W.HTML("Choose layers and weights, then press <b>Run</b>.")
        self.title = W.HTML()
        self.image_widget = _image_widget("nst-playground-image", "320px")
        self.run_button.on_click(lambda _b: self.run())
        self.stop_button.on_click(lambda _b: self.stop())
        self.content_image.observe(self._on_change, "value")
        self.init.observe(self._on_change, "value")
        self.widget = W.VBox(
            [
                W.HBox(
                    [
                        W.VBox(
                            [
                                self.content_image,
                                self.style_image,
                                self.ratio,
                                self.init,
                                self.steps,
                                self.preview_every,
                            ]
                        ),
                        W.VBox([self.content_layers, self.style_layers]),
                    ]
                ),
                W.HBox([self.run_button, self.stop_button, self.progress]),
                self.status,
                self.title,
                self.image_widget,
            ]
        )
        self.widget.add_class("nst-playground")
        self.redraw()

    @property
    def running(self) -> bool:
        return self._bg.running

    @property
    def thread(self) -> threading.Thread | None:
        return self._bg.thread

    def _draw(self) -> None:
        """Before a run: show the starting image."""
        if self.running:
            return
        start = self._init_image()
        self.image_widget.value = png_bytes(start)
        self.title.value = f"start: {html.escape(self.init.value)}"

    def _init_image(self) -> torch.Tensor:
        content = self.images[self.content_image.value]
        style = self.images[self.style_image.value]
        return initial_image(self.init.value, content, style, seed=self.seed)

    def run(self, *, block: bool = False) -> None:
        """Start a run with the current settings (in the background unless ``block``)."""
        if self.running:
            return
        content_layers = tuple(self.content_layers.value)
        style_layers = tuple(self.style_layers.value)
        if not content_layers and not style_layers:
            self.status.value = "<b style='color:#b00'>Choose at least one layer.</b>"
            return
        params = {
            "content": self.images[self.content_image.value] if content_layers else None,
            "style": self.images[self.style_image.value] if style_layers else None,
            "content_layers": content_layers or CONTENT_LAYERS,
            "style_layers": style_layers or STYLE_LAYERS,
            "ratio": self.ratio.value,
            "init": self._init_image(),
            "steps": self.steps.value,
            "every": self.preview_every.value,
        }
        self.progress.max, self.progress.value = params["steps"], 0
        self.run_button.disabled, self.stop_button.disabled = True, False
        self.previews = 0
        self.result = None
        self._started = time.perf_counter()
        self.first_preview_s = None
        self._bg.start(lambda: self._work(params))
        if block:
            self.wait()

    def stop(self) -> None:
        """End the run after the current step; the best image so far is kept and shown."""
        if self.running:
            self._bg.stop_event.set()
            self.status.value = "stopping after this step…"

    def wait(self, timeout: float | None = None) -> bool:
        return self._bg.wait(timeout)

    def _work(self, p: dict) -> None:
        what = (
            "style transfer"
            if p["content"] is not None and p["style"] is not None
            else "content reconstruction"
            if p["content"] is not None
            else "texture synthesis"
        )
        try:
            self.status.value = f"{what}: computing the targets…"
            objective = build_objective(
                self.net,
                p["content"],
                p["style"],
                content_layers=p["content_layers"],
                style_layers=p["style_layers"],
                content_weight=1.0,
                style_weight=p["ratio"] if p["content"] is not None else 1.0,
            )
            self.status.value = f"{what}: running…"
            torch.manual_seed(self.seed)

            def callback(iteration: int, image: torch.Tensor, losses: dict) -> None:
                self.progress.value = iteration
                if iteration % p["every"] == 0 or iteration == p["steps"]:
                    self.image_widget.value = png_bytes(image)
                    self.previews += 1
                    if self.first_preview_s is None:
                        self.first_preview_s = time.perf_counter() - self._started
                    self.title.value = (
                        f"{what}, iteration {iteration}/{p['steps']}: loss {losses['total']:.4g}"
                    )

            result = _engine(self.engine)(
                objective,
                p["init"],
                steps=p["steps"],
                optimizer=self.optimizer,
                lr=self.lr,
                callback=callback,
                callback_every=1,
                stop=self._bg.stop_event,
                progress=False,
            )
            self.result = result
            self.image_widget.value = png_bytes(result.image)
            done = len(result.history)
            best = result.history[result.best_iteration - 1]["total"] if result.history else 0
            verb = "stopped at" if result.status != "completed" else "finished"
            self.title.value = (
                f"{what}: {verb} iteration {done}/{p['steps']}; showing the best image "
                f"(iteration {result.best_iteration}, loss {best:.4g})"
            )
            self.status.value = f"{verb} after {result.seconds:.1f} s"
        except Exception as err:
            self.last_error = f"{type(err).__name__}: {err}"
            self.status.value = f"<b style='color:#b00'>{html.escape(self.last_error)}</b>"
        finally:
            self.run_button.disabled, self.stop_button.disabled = False, True


class RatioExplorer(Explorer):
    """Slide through β/α: cached results appear at once, new ones are computed on demand.

    ``ratio`` is a selection slider over ``ratios``. A result not yet in ``results`` is
    queued and computed in a background thread (``progress`` and ``status`` show how far it
    is; the image previews while it runs). ``compute_button`` computes the selected value,
    ``compute_all`` queues every missing one, ``stop_button`` cancels (partial results are
    not cached). ``precomputed`` seeds the cache, e.g. with a sweep the notebook already ran.
    ``engine_calls`` counts runs (for tests).
    """

    def __init__(
        self,
        net: VGGFeatures,
        images: Images = None,
        *,
        content: str | None = None,
        style: str | None = None,
        size: int | None = None,
        ratios: Iterable[float] | None = None,
        ratio: float | None = None,
        steps: int | None = None,
        init: str = "content",
        content_layers: Sequence[str] = CONTENT_LAYERS,
        style_layers: Sequence[str] = STYLE_LAYERS,
        optimizer: str = "lbfgs",
        lr: float | None = None,
        seed: int = 0,
        precomputed: Mapping[float, torch.Tensor | Result] | None = None,
        compute_on_change: bool = True,
        engine: Callable | None = None,
    ) -> None:
        super().__init__()
        self.net = net
        self.images = ImageSet(images, size or pick(256, 32), _device(net))
        names = self.images.names
        self.content_name = content or names[0]
        self.style_name = style or names[-1]
        self.steps = steps or pick(100, 3)
        self.init = init
        self.layers = (tuple(content_layers), tuple(style_layers))
        net.check_layers([*content_layers, *style_layers])
        self.optimizer = optimizer
        self.lr = lr
        self.seed = seed
        self.engine = engine
        self.compute_on_change = compute_on_change
        self.engine_calls = 0
        self.results: dict[float, torch.Tensor] = {}
        for r, value in (precomputed or {}).items():
            self.results[float(r)] = value.image if isinstance(value, Result) else value
        if ratios is None:
            ratios = [float(f"{default_style_weight(net) * f:.3g}") for f in DEFAULT_RATIOS]
        ratios = sorted({float(r) for r in ratios} | set(self.results))
        self._objective: Objective | None = None
        self._queue: list[float] = []
        self.computing: float | None = None
        self._active = False
        self._bg = _Background()

        default = math.log(default_style_weight(net))
        start = ratio
        if start is None:
            start = min(ratios, key=lambda r: abs(math.log(max(r, 1e-30)) - default))
        self.ratio = W.SelectionSlider(
            options=[(f"{r:g}", r) for r in ratios],
            value=float(start),
            description="β/α",
            continuous_update=False,
            layout=W.Layout(width="420px"),
        )
        self.compute_button = W.Button(description="compute this", icon="play")
        self.compute_all = W.Button(description="compute all", icon="forward")
        self.stop_button = W.Button(description="Stop", button_style="danger", icon="stop")
        self.progress = W.IntProgress(value=0, min=0, max=self.steps, description="step")
        self.status = W.HTML()
        self.title = W.HTML()
        self.image_widget = _image_widget("nst-ratio-image", "320px")
        self.ratio.observe(self._on_ratio, "value")
        self.compute_button.on_click(lambda _b: self.request(self.ratio.value))
        self.compute_all.on_click(lambda _b: self.request(*(v for _, v in self.ratio.options)))
        self.stop_button.on_click(lambda _b: self.stop())
        self.widget = W.VBox(
            [
                W.HBox([self.ratio, self.compute_button, self.compute_all, self.stop_button]),
                W.HBox([self.progress, self.status]),
                self.title,
                self.image_widget,
            ]
        )
        self.widget.add_class("nst-ratio-explorer")
        self.redraw()

    @property
    def running(self) -> bool:
        return self._bg.running

    def wait(self, timeout: float | None = None) -> bool:
        return self._bg.wait(timeout)

    def _on_ratio(self, _change) -> None:
        self.redraw()
        if self.ratio.value not in self.results and self.compute_on_change:
            self.request(self.ratio.value)

    def _draw(self) -> None:
        r = self.ratio.value
        if r in self.results:
            self.image_widget.value = png_bytes(self.results[r])
            self.title.value = (
                f"β/α = <b>{r:g}</b> ({self.steps} steps from {html.escape(self.init)}; "
                f"content {html.escape(self.content_name)}, style {html.escape(self.style_name)})"
            )
        else:
            queued = r == self.computing or r in self._queue
            self.title.value = f"β/α = <b>{r:g}</b>: " + (
                "computing…" if queued else "not computed yet: press <i>compute this</i>"
            )
        self._status()

    def _status(self) -> None:
        done = ", ".join(f"{r:g}" for r in sorted(self.results)) or "none"
        busy = f"computing β/α = {self.computing:g}; " if self.computing is not None else ""
        waiting = f"queued: {', '.join(f'{r:g}' for r in self._queue)}; " if self._queue else ""
        self.status.value = f"{busy}{waiting}cached: {done}"

    def request(self, *ratios: float) -> None:
        """Queue ``ratios`` not yet computed and start the worker if it is idle."""
        with self._bg.lock:
            for r in map(float, ratios):
                if r not in self.results and r != self.computing and r not in self._queue:
                    self._queue.append(r)
            if self._queue and not self._active:
                self._active = True
                self._bg.start(self._work)
        self._draw()

    def stop(self) -> None:
        """Cancel the queue and the run in progress (which is not cached)."""
        with self._bg.lock:
            self._queue.clear()
        self._bg.stop_event.set()

    def objective(self, ratio: float) -> Objective:
        """The objective for ``ratio``; the targets are computed once and shared."""
        if self._objective is None:
            content = self.images[self.content_name]
            style = self.images[self.style_name]
            self._objective = build_objective(
                self.net,
                content,
                style,
                content_layers=self.layers[0],
                style_layers=self.layers[1],
            )
        base = self._objective
        return Objective(self.net, base.content, base.styles, 1.0, ratio, base.tv_weight)

    def _work(self) -> None:
        while True:
            with self._bg.lock:
                if not self._queue:
                    self.computing, self._active = None, False
                    break
                selected = self.ratio.value
                r = selected if selected in self._queue else self._queue[0]
                self._queue.remove(r)
                self.computing = r
            try:
                self._status()
                image = self._compute(r)
            except Exception as err:
                self.last_error = f"{type(err).__name__}: {err}"
                self.status.value = f"<b style='color:#b00'>{html.escape(self.last_error)}</b>"
                with self._bg.lock:
                    self.computing, self._active = None, False
                    self._queue.clear()
                return
            with self._bg.lock:
                if image is not None:
                    self.results[r] = image
                self.computing = None
                self._bg.stop_event.clear()
            if self.ratio.value == r:
                self._draw()
            else:
                self._status()
        self._status()

    def _compute(self, r: float) -> torch.Tensor | None:
        content = self.images[self.content_name]
        style = self.images[self.style_name]
        init = initial_image(self.init, content, style, seed=self.seed)
        objective = self.objective(r)
        self.progress.max, self.progress.value = self.steps, 0
        every = max(1, self.steps // 10)

        def callback(iteration: int, image: torch.Tensor, losses: dict) -> None:
            self.progress.value = iteration
            if self.ratio.value == r and (iteration % every == 0):
                self.image_widget.value = png_bytes(image)
                self.title.value = (
                    f"β/α = <b>{r:g}</b>: computing, iteration {iteration}/{self.steps}"
                )

        torch.manual_seed(self.seed)
        self.engine_calls += 1
        result = _engine(self.engine)(
            objective,
            init,
            steps=self.steps,
            optimizer=self.optimizer,
            lr=self.lr,
            callback=callback,
            callback_every=1,
            stop=self._bg.stop_event,
            progress=False,
        )
        return result.image if result.status == "completed" else None
