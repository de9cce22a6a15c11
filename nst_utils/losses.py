r"""The losses of Gatys, Ecker & Bethge (2015), written as in the paper.

Notation. A layer :math:`l` has :math:`N_l` filters, each with a feature map of
:math:`M_l = H_l W_l` positions. Its responses form a matrix :math:`F^l \in R^{N_l \times M_l}`
for the generated image and :math:`P^l` for the content image.

Content (paper eq. 1):

.. math:: L_{content} = \tfrac12 \sum_{i,j} (F^l_{ij} - P^l_{ij})^2

Style representation, the Gram matrix (eq. 3): :math:`G^l_{ij} = \sum_k F^l_{ik} F^l_{jk}`,
i.e. :math:`G = F F^\top`: which filters fire *together*, wherever they fire.

Per-layer style term against the style image's Gram :math:`A^l` (eq. 4):

.. math:: E_l = \frac{1}{4 N_l^2 M_l^2} \sum_{i,j} (G^l_{ij} - A^l_{ij})^2

Style loss (eq. 5): :math:`L_{style} = \sum_l w_l E_l` with :math:`w_l = 1/L` over the
:math:`L` chosen layers. Total (eq. 7): :math:`\alpha L_{content} + \beta L_{style}`.

*Normalisation.* :math:`E_l` does not change with image size (:math:`G` grows with
:math:`M_l`, and is divided by it), but the paper's content loss is a **sum** over
:math:`N_l M_l` values, so it grows with the image area and the right :math:`\alpha/\beta`
changes with resolution. The kit's default (``normalization="mean"``) therefore divides the
content loss by :math:`N_l M_l`; ``normalization="paper"`` gives eq. 1 exactly. Both are
provided by :func:`content_loss`.
"""

from __future__ import annotations

import torch

NORMALIZATIONS = ("mean", "paper")


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    r"""Gram matrices :math:`G = F F^\top` of a ``(B, N, H, W)`` batch, shape ``(B, N, N)``.

    One matrix multiply per layer, in at least float32: half-precision features from autocast
    are promoted and autocast is switched off for the multiply; float64 stays float64.
    Channels-last features are multiplied as ``(B, M, N)`` views, without a copy. The backward
    pass is one multiply too, :math:`dF = (dG + dG^\top) F` (plain autograd would do two and
    add them; BENCHMARKS.md).
    """
    b, n, h, w = features.shape
    with torch.autocast(features.device.type, enabled=False):
        if n > 1 and not features.is_contiguous() and features.is_contiguous(
            memory_format=torch.channels_last
        ):
            flat = _at_least_float32(features.permute(0, 2, 3, 1).reshape(b, h * w, n))
            return _gram(flat, True)
        return _gram(_at_least_float32(features.reshape(b, n, h * w)), False)


def _gram(flat: torch.Tensor, transposed: bool) -> torch.Tensor:
    """``flat`` is ``(B, N, M)``, or ``(B, M, N)`` when ``transposed``. A separate function so
    that ``benchmarks/iteration.py`` can swap in plain autograd to measure the difference."""
    return _SymmetricGram.apply(flat, transposed)


class _SymmetricGram(torch.autograd.Function):
    """:math:`G = F F^\top` whose backward is one multiply, :math:`(dG + dG^\top) F`."""

    @staticmethod
    def forward(ctx, flat: torch.Tensor, transposed: bool) -> torch.Tensor:
        ctx.save_for_backward(flat)
        ctx.transposed = transposed
        return flat.transpose(1, 2) @ flat if transposed else flat @ flat.transpose(1, 2)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (flat,) = ctx.saved_tensors
        with torch.autocast(flat.device.type, enabled=False):
            sym = grad + grad.transpose(1, 2)
            return (flat @ sym if ctx.transposed else sym @ flat), None


def _at_least_float32(x: torch.Tensor) -> torch.Tensor:
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def content_loss(
    features: torch.Tensor, target: torch.Tensor, normalization: str = "mean"
) -> torch.Tensor:
    r""":math:`\tfrac12 \sum (F - P)^2`, divided by :math:`N_l M_l` unless ``"paper"``.

    (``mse_loss(..., reduction="sum")`` is :math:`\sum (F - P)^2` in one step of autograd.)
    """
    f, p = _at_least_float32(features), _at_least_float32(target)
    squared = torch.nn.functional.mse_loss(f, p, reduction="sum")
    if normalization == "paper":
        return 0.5 * squared
    if normalization == "mean":
        return squared * (0.5 / features[0].numel())
    raise ValueError(f"unknown normalization {normalization!r}: choose one of {NORMALIZATIONS}")


def style_layer_loss(gram: torch.Tensor, target_gram: torch.Tensor, n: int, m: int) -> torch.Tensor:
    r""":math:`E_l = \sum (G - A)^2 / (4 N_l^2 M_l^2)` for one layer (summed over the batch)."""
    return (gram - target_gram).pow(2).sum() / (4.0 * n**2 * m**2)


def style_loss(
    features: dict[str, torch.Tensor],
    target_grams: dict[str, torch.Tensor],
    layer_weights: dict[str, float] | None = None,
) -> torch.Tensor:
    r""":math:`\sum_l w_l E_l` over the layers of ``target_grams`` (default :math:`w_l = 1/L`)."""
    if layer_weights is None:
        layer_weights = {name: 1.0 / len(target_grams) for name in target_grams}
    total = torch.zeros((), device=next(iter(features.values())).device)
    for name, target in target_grams.items():
        f = features[name]
        n, m = f.shape[1], f.shape[2] * f.shape[3]
        total = total + layer_weights[name] * style_layer_loss(gram_matrix(f), target, n, m)
    return total


def total_variation(image: torch.Tensor) -> torch.Tensor:
    r"""Smoothness prior :math:`\sum (x_{i+1,j} - x_{i,j})^2 + (x_{i,j+1} - x_{i,j})^2`.

    Not in the 2015 paper; later work (Johnson et al. 2016) adds it to suppress the
    high-frequency noise that optimisation in pixel space leaves behind. Divided by the number
    of pixels so its weight does not depend on resolution.
    """
    dy = image[..., 1:, :] - image[..., :-1, :]
    dx = image[..., :, 1:] - image[..., :, :-1]
    return (dy.pow(2).sum() + dx.pow(2).sum()) / image[0, 0].numel()
