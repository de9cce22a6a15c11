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

*Image size.* :math:`E_l` does not change with image size (:math:`G` grows with
:math:`M_l`, and is divided by it), but the paper's content loss is a **sum** over
:math:`N_l M_l` values, so it grows with the image area and the right :math:`\alpha/\beta`
changes with resolution. The kit's default (``reduction="mean"``) therefore divides the
content loss by :math:`N_l M_l`; ``reduction="paper"`` gives eq. 1 exactly. Both are
provided by :func:`content_loss`.
"""

from __future__ import annotations

import torch

#: How the content loss is reduced: ``"mean"`` over the layer's values, or eq. 1's ``"paper"`` sum.
REDUCTIONS = ("mean", "paper")


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    r"""Gram matrices :math:`G = F F^\top` of a ``(B, N, H, W)`` batch, shape ``(B, N, N)``.

    :math:`F` is each image's ``(N, M)`` matrix of responses, one row per filter.
    """
    F = features.flatten(2)  # (B, N, M)
    return F @ F.mT


def content_loss(
    features: torch.Tensor, target: torch.Tensor, reduction: str = "mean"
) -> torch.Tensor:
    r""":math:`\tfrac12 \sum (F - P)^2` (``"paper"``), or that divided by :math:`N_l M_l`
    (``"mean"``, the kit's default)."""
    squared = (features - target).pow(2).sum()
    if reduction == "paper":
        return 0.5 * squared
    if reduction == "mean":
        return 0.5 * squared / features[0].numel()
    raise ValueError(f"unknown reduction {reduction!r}: choose one of {', '.join(REDUCTIONS)}")


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
