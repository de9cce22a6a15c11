"""Labelled image grids for the notebooks: rows and columns named like the paper's figures.

:func:`image_grid` lays out a table of images (e.g. rows = β/α ratios, columns = style-layer
subsets, as in the paper's Fig. 3) with one label per row on the left and one per column on
top, keeping every image's aspect ratio. :func:`zoom_crop` cuts out a region to compare fine
detail (e.g. with and without total variation).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from ..assets.images import to_numpy

ImageLike = torch.Tensor | np.ndarray


def image_grid(
    images: Sequence[Sequence[ImageLike | None]],
    *,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    captions: Sequence[Sequence[str | None]] | None = None,
    title: str | None = None,
    cell_width: float = 2.4,
) -> Figure:
    """A table of images with row labels on the left and column labels on top.

    ``images[r][c]`` is a ``(1, 3, H, W)`` tensor, an ``(H, W, 3)`` or ``(H, W)`` array, or
    ``None`` for an empty cell. ``captions[r][c]`` (optional) is printed under each image.
    Every image keeps its aspect ratio; the figure's row heights follow the tallest image of
    each row. Returns the figure.
    """
    nrows = len(images)
    if nrows == 0:
        raise ValueError("image_grid needs at least one row")
    ncols = max(len(row) for row in images)
    if ncols == 0:
        raise ValueError("image_grid needs at least one image")
    if row_labels is not None and len(row_labels) != nrows:
        raise ValueError(f"{len(row_labels)} row labels for {nrows} rows")
    if col_labels is not None and len(col_labels) != ncols:
        raise ValueError(f"{len(col_labels)} column labels for {ncols} columns")
    arrays = [[None if im is None else to_numpy(im) for im in row] for row in images]
    ratios = [
        max((a.shape[0] / a.shape[1] for a in row if a is not None), default=1.0) for row in arrays
    ]
    caption_space = 0.25 if captions is not None else 0.0
    heights = [cell_width * r + caption_space for r in ratios]
    label_width = 0.9 if row_labels is not None else 0.0
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(cell_width * ncols + label_width, sum(heights) + 0.4 + (0.4 if title else 0)),
        gridspec_kw={"height_ratios": heights},
        squeeze=False,
    )
    for r, row in enumerate(arrays):
        for c in range(ncols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            array = row[c] if c < len(row) else None
            if array is not None:
                ax.imshow(array, cmap="gray" if array.ndim == 2 else None)
            if captions is not None and c < len(captions[r]) and captions[r][c]:
                ax.set_xlabel(captions[r][c], fontsize=8)
            if r == 0 and col_labels is not None:
                ax.set_title(col_labels[c], fontsize=10)
            if c == 0 and row_labels is not None:
                ax.set_ylabel(row_labels[r], fontsize=10)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def zoom_crop(image: torch.Tensor, box: tuple[float, float, float, float]) -> torch.Tensor:
    """The part of a ``(B, C, H, W)`` image inside ``box = (top, left, height, width)``.

    The box is given as fractions of the image's height and width (``0`` … ``1``), so the same
    box picks the same region at any resolution. At least one pixel is kept on each side.
    """
    top, left, height, width = box
    if not (0 <= top < 1 and 0 <= left < 1 and height > 0 and width > 0):
        raise ValueError(f"box {box} must start inside the image and have a positive size")
    h, w = image.shape[-2:]
    y0, x0 = int(top * h), int(left * w)
    y1 = min(h, max(y0 + 1, round((top + height) * h)))
    x1 = min(w, max(x0 + 1, round((left + width) * w)))
    return image[..., y0:y1, x0:x1]
