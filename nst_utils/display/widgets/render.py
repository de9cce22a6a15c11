"""Pictures for the explorers: everything becomes PNG bytes for an ``ipywidgets.Image``.

No interactive matplotlib backend is involved: tensors and arrays are encoded by Pillow,
figures are drawn off-screen by Agg. Encoding uses the fastest zlib level, since a PNG is
made for every slider step.
"""

from __future__ import annotations

import io

import ipywidgets as W
import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image, ImageDraw

from ...assets.images import resize_longest, to_pil


def png_bytes(image: torch.Tensor | np.ndarray | Image.Image) -> bytes:
    """PNG bytes of an RGB tensor ``(1, 3, H, W)`` in ``[0, 1]``, a uint8 array or a PIL image."""
    if torch.is_tensor(image):
        image = to_pil(image)
    elif isinstance(image, np.ndarray):
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
    """Scale a colour-mapped feature map to ``longest`` px for display: block-averaged when
    shrinking, nearest when enlarging, so that each unit of a small map stays visible as a
    square (a picture is resized by :func:`thumbnail` instead)."""
    w, h = picture.size
    scale = longest / max(w, h)
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    if new == (w, h):
        return picture
    return picture.resize(new, Image.Resampling.BOX if scale < 1 else Image.Resampling.NEAREST)


def thumbnail(image: torch.Tensor, longest: int) -> bytes:
    """PNG bytes of a picture at ``longest`` px (the explorers' input previews), resized by
    the kit's one filter (:func:`nst_utils.assets.images.resize_longest`)."""
    return png_bytes(resize_longest(image, longest))


def label(picture: Image.Image, text: str) -> Image.Image:
    """Write ``text`` in white on a black box in the top-left corner (in place)."""
    draw = ImageDraw.Draw(picture)
    _, _, right, bottom = draw.textbbox((2, 1), text)
    draw.rectangle((0, 0, right + 2, bottom + 1), fill=(0, 0, 0))
    draw.text((2, 1), text, fill=(255, 255, 255))
    return picture


def image_widget(css_class: str, width: str | None = None) -> W.Image:
    """An empty PNG ``ipywidgets.Image`` with a CSS class (the browser test finds it by it)."""
    widget = W.Image(format="png", layout=W.Layout(width=width, align_self="flex-start"))
    widget.add_class(css_class)
    return widget
