"""Figures for the notebooks: images in a labelled grid, loss curves, feature maps, Grams.

Every function returns the matplotlib ``Figure`` so a notebook can save or tweak it, and keeps
each image's aspect ratio.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from ..assets.images import to_numpy
from ..engine.precision import float64_on_cpu
from .anatomy import strongest_channels


def show_images(
    images: Mapping[str, torch.Tensor | np.ndarray] | Sequence[torch.Tensor],
    *,
    ncols: int | None = None,
    size: float = 3.0,
    suptitle: str | None = None,
) -> Figure:
    """Show images in a grid, titled by the mapping's keys (aspect ratio kept, no axes)."""
    if not isinstance(images, Mapping):
        images = {str(i): im for i, im in enumerate(images)}
    n = len(images)
    ncols = ncols or min(n, 5)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (title, image) in zip(axes.flat, images.items(), strict=False):
        array = to_numpy(image)
        ax.imshow(array, cmap="gray" if array.ndim == 2 else None)
        ax.set_title(title, fontsize=10)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_history(
    histories: Mapping[str, Sequence[Mapping[str, float]]],
    *,
    key: str = "total",
    x: str = "iteration",
    logy: bool = True,
    ax: plt.Axes | None = None,
) -> Figure:
    """Loss curves: one line per run, ``key`` against ``x`` (``iteration`` or ``seconds``)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for label, history in histories.items():
        ax.plot([h[x] for h in history], [h[key] for h in history], label=label)
    ax.set_xlabel("seconds" if x == "seconds" else "iteration")
    ax.set_ylabel(f"{key} loss")
    if logy:
        ax.set_yscale("log")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    ax.figure.tight_layout()
    return ax.figure


def show_feature_maps(
    features: torch.Tensor,
    layer: str,
    *,
    channels: Sequence[int] | None = None,
    k: int = 16,
    ncols: int = 8,
    size: float = 1.6,
) -> Figure:
    """Feature maps of one layer as a grid: the given channels, or the ``k`` most active."""
    channels = list(channels) if channels is not None else strongest_channels(features, k)
    maps = features[0, channels].detach().float().cpu().numpy()
    nrows = -(-len(channels) // ncols)
    h, w = maps.shape[1:]
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size * ncols, size * nrows * h / w + 0.4), squeeze=False
    )
    for ax in axes.flat:
        ax.axis("off")
    for ax, channel, fmap in zip(axes.flat, channels, maps, strict=False):
        ax.imshow(fmap, cmap="viridis")
        ax.set_title(f"ch {channel}", fontsize=8)
    fig.suptitle(f"{layer}: {features.shape[1]} channels of {h}×{w}", fontsize=10)
    fig.tight_layout()
    return fig


def cluster_order(gram: torch.Tensor) -> torch.Tensor:
    """A channel order that makes a Gram matrix's block structure visible.

    Channels are sorted by their position along the leading eigenvector of the
    correlation matrix: channels that co-activate end up next to each other.
    """
    return float64_on_cpu(_leading_order, gram.detach().cpu())  # the order on the CPU


def _leading_order(g: torch.Tensor) -> torch.Tensor:
    d = g.diagonal().clamp_min(1e-12).sqrt()
    corr = g / d[:, None] / d[None, :]
    _, vectors = torch.linalg.eigh(corr)
    return torch.argsort(vectors[:, -1])


def show_gram(
    gram: torch.Tensor,
    title: str,
    *,
    order: torch.Tensor | None = None,
    ax=None,
    vmax: float | None = None,
    colorbar: bool = True,
) -> Figure:
    """Heatmap of one ``(N, N)`` Gram matrix as ``log(1 + G)``, channels reordered by ``order``.

    ``vmax`` fixes the top of the colour scale (the bottom is 0), so that several heatmaps
    drawn with one ``vmax`` and one ``order`` can be compared; ``colorbar=False`` leaves the
    colour bar to the caller (one bar for several heatmaps).
    """
    g = gram.detach().squeeze(0).float().cpu()
    if order is not None:
        g = g[order][:, order]
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    shown = ax.imshow(
        torch.log1p(g.clamp_min(0)).numpy(),
        cmap="magma",
        vmin=None if vmax is None else 0.0,
        vmax=vmax,
        interpolation="nearest",
    )
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("channel")
    ax.set_ylabel("channel")
    if colorbar:
        ax.figure.colorbar(shown, ax=ax, fraction=0.046, label="log(1 + G)")
    return ax.figure
