"""VGG layer by layer: shapes, receptive fields and activation statistics.

Used by notebook 01 to show what each named layer of VGG *is* before it is used as an image
description. None of the architecture functions needs weights: they follow from the layer
list in :mod:`nst_utils.paper.layers` (every convolution is 3×3, stride 1, padding 1; every pooling
is 2×2, stride 2).

Receptive field. The receptive field ``r`` of a unit is the side of the input square it can
see; ``j`` (the *jump*) is the distance, in input pixels, between neighbouring units of the
layer. Starting from the input (``r = 1``, ``j = 1``), a ``k×k`` layer with stride ``s`` gives
``r ← r + (k − 1)·j`` and then ``j ← j·s``. A ReLU changes neither. So ``conv1_1`` sees 3×3
pixels, ``conv1_2`` 5×5, ``pool1`` 6×6 (and steps 2 pixels), ``conv2_1`` 10×10, …
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from ..paper.layers import layer_names
from ..paper.vgg import BLOCK_CHANNELS

CONV_KERNEL = 3
POOL_KERNEL = 2
POOL_STRIDE = 2


@dataclass(frozen=True)
class LayerInfo:
    """One row of the architecture table.

    ``height``/``width`` are the feature-map size for the input given to
    :func:`architecture`; ``receptive_field`` is the side of the input square a unit sees;
    ``stride`` the input-pixel distance between neighbouring units; ``parameters`` the number
    of learned numbers (weights and biases) in the layer.
    """

    name: str
    kind: str
    channels: int
    height: int
    width: int
    receptive_field: int
    stride: int
    parameters: int

    def as_dict(self) -> dict[str, int | str]:
        return asdict(self)


def architecture(arch: str = "vgg19", input_size: tuple[int, int] = (224, 224)) -> list[LayerInfo]:
    """Every layer of ``arch`` in forward order, for an input of ``(height, width)`` pixels.

    Example::

        rows = architecture("vgg19", (224, 224))
        [(r.name, r.channels, r.height, r.receptive_field) for r in rows[:5]]
        # [('conv1_1', 64, 224, 3), ('relu1_1', 64, 224, 3), ('conv1_2', 64, 224, 5),
        #  ('relu1_2', 64, 224, 5), ('pool1', 64, 112, 6)]
    """
    height, width = input_size
    if height < 1 or width < 1:
        raise ValueError(f"input size must be positive, got {input_size}")
    channels, rf, jump = 3, 1, 1
    rows: list[LayerInfo] = []
    for name in layer_names(arch):
        kind = name[:4]
        parameters = 0
        if kind == "conv":
            out_channels = BLOCK_CHANNELS[int(name[4]) - 1]
            parameters = CONV_KERNEL * CONV_KERNEL * channels * out_channels + out_channels
            channels = out_channels
            rf += (CONV_KERNEL - 1) * jump
        elif kind == "pool":
            rf += (POOL_KERNEL - 1) * jump
            jump *= POOL_STRIDE
            height, width = height // POOL_STRIDE, width // POOL_STRIDE
        rows.append(LayerInfo(name, kind, channels, height, width, rf, jump, parameters))
    return rows


def receptive_fields(arch: str = "vgg19") -> dict[str, int]:
    """``{layer name: receptive-field side in input pixels}`` for every layer of ``arch``."""
    return {row.name: row.receptive_field for row in architecture(arch)}


def markdown_table(
    rows: Sequence[LayerInfo] | Sequence[dict], columns: Sequence[str] | None = None
) -> str:
    """Rows (``LayerInfo`` or dicts) as a Markdown table, e.g. for ``IPython.display.Markdown``.

    Floats are shown with three significant digits.
    """
    dicts = [r.as_dict() if isinstance(r, LayerInfo) else dict(r) for r in rows]
    if not dicts:
        return ""
    columns = list(columns or dicts[0].keys())

    def cell(value) -> str:
        return f"{value:.3g}" if isinstance(value, float) else str(value)

    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    lines += ["| " + " | ".join(cell(d[c]) for c in columns) + " |" for d in dicts]
    return "\n".join(lines)


def activation_stats(
    features: dict[str, torch.Tensor], layers: Iterable[str] | None = None
) -> list[dict[str, float | str]]:
    """Per-layer statistics of ``{name: (1, N, H, W)}`` feature maps, in the given order.

    For each layer: ``mean`` and ``max`` of all values, ``zeros`` (the fraction that is exactly
    zero: the sparsity a ReLU creates), and ``dead_channels`` (fraction of channels never
    positive anywhere on this image: after the ReLU they are all zero).
    """
    names = list(layers) if layers is not None else list(features)
    stats: list[dict[str, float | str]] = []
    for name in names:
        f = features[name].detach().float()
        channel_max = f[0].amax(dim=(1, 2))
        stats.append(
            {
                "layer": name,
                "mean": float(f.mean()),
                "max": float(f.max()),
                "zeros": float((f == 0).float().mean()),
                "dead_channels": float((channel_max <= 0).float().mean()),
            }
        )
    return stats


def strongest_channels(features: torch.Tensor, k: int) -> list[int]:
    """Indices of the ``k`` channels of ``(1, N, H, W)`` with the largest mean response."""
    return features[0].float().mean(dim=(1, 2)).topk(min(k, features.shape[1])).indices.tolist()


def show_feature_grid(
    features: dict[str, torch.Tensor],
    layers: Sequence[str],
    *,
    k: int = 8,
    size: float = 1.5,
    receptive: dict[str, int] | None = None,
) -> Figure:
    """One row per layer: its ``k`` most active channels, each map at its own resolution.

    Row labels give the layer, its number of channels and map size (and its receptive field
    when ``receptive`` maps names to sizes). Each map is scaled to its own range.
    """
    fig, axes = plt.subplots(
        len(layers), k, figsize=(size * k, size * len(layers) + 0.3), squeeze=False
    )
    for row, name in zip(axes, layers, strict=True):
        f = features[name]
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
        for ax, channel in zip(row, strongest_channels(f, k), strict=False):
            ax.imshow(f[0, channel].detach().float().cpu().numpy(), cmap="viridis")
            ax.set_title(f"ch {channel}", fontsize=7)
        label = f"{name}\n{f.shape[1]} ch, {f.shape[2]}×{f.shape[3]}"
        if receptive and name in receptive:
            label += f"\nsees {receptive[name]} px"
        row[0].set_ylabel(label, fontsize=8)
    fig.suptitle(f"The {k} most active channels per layer (each map scaled to its own range)")
    fig.tight_layout()
    return fig


def plot_activation_stats(stats: Sequence[dict], *, title: str | None = None) -> Figure:
    """Two panels from :func:`activation_stats`: mean response, and fraction of zeros."""
    names = [s["layer"] for s in stats]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.4))
    left.bar(names, [s["mean"] for s in stats], color="tab:blue")
    left.set_ylabel("mean response")
    right.bar(names, [s["zeros"] for s in stats], color="tab:orange", label="values = 0")
    right.plot(names, [s["dead_channels"] for s in stats], "k.-", label="channels silent")
    right.set_ylim(0, 1)
    right.set_ylabel("fraction")
    right.legend(fontsize=8)
    for ax in (left, right):
        ax.tick_params(axis="x", rotation=60, labelsize=8)
        ax.grid(axis="y", alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
