r"""One layer's style term (paper eq. 4) as a single step of autograd, for the engine's speed.

Written as in :mod:`nst_utils.losses`, a style layer costs autograd three passes over its
feature map :math:`F` (:math:`N` filters × :math:`M` positions) beyond the network's own work:
the Gram product :math:`G = F F^\top`, the product for its gradient, and one more pass to add
that gradient to the one coming back from the deeper layers. Here the features go *through*
one node, :func:`style_term`, that also returns the layer's weighted term

.. math:: w E = \frac{w}{4 N^2 M^2} \sum_{i,j} (G_{ij} - M \hat A_{ij})^2 ,

where :math:`\hat A = A / M^s` is the style target per position (as in
:class:`~nst_utils.objective.StyleTarget`). In the backward pass the node receives both
gradients at once, and the style gradient is added inside the matrix product that computes it:

.. math:: \frac{\partial L}{\partial F} = \frac{\partial L}{\partial F}\Big|_{deeper}
          + g \, \frac{w}{N^2 M^2} \, (G - M \hat A) \, F

(:math:`g` is the gradient reaching :math:`wE`; the formula uses that :math:`G` and
:math:`\hat A` are symmetric). The values are eq. 4's; only the bookkeeping changes.

On the CPU, for a channels-last feature map with many positions, both products are 1×1
convolutions, which oneDNN runs faster than a matrix multiply on that layout: :math:`G` is the
weight gradient of a 1×1 convolution whose input and output gradient are both :math:`F`, and
:math:`(G - M \hat A) F` is a 1×1 convolution of :math:`F` with weights :math:`G - M \hat A`
(the deeper gradient is then added in place).

Under bfloat16 autocast the Gram matrix and the loss stay float32, while the gradient product
runs in bfloat16 like the rest of the network's backward pass. What each step gains is
measured in BENCHMARKS.md; ``tests/test_fused_style.py`` checks it against the plain version.
"""

from __future__ import annotations

import contextlib

import torch

from .losses import _at_least_float32


def style_term(
    features: torch.Tensor, target: torch.Tensor, weight: float
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""``(features, w E)``: the features passed through, and :math:`w E` for this layer.

    ``features`` is ``(B, N, H, W)`` of any float type: the Gram matrix and the loss are
    computed in at least float32, the gradient in the features' own type (under bfloat16
    autocast, like every other gradient of the network). ``target`` is :math:`\hat A`,
    ``(1, N, N)`` or ``(B, N, N)``. Use the returned features downstream in place of the
    ones passed in: that is what lets the backward pass fuse the two gradients.
    """
    return _StyleTerm.apply(features, target, weight)


class _StyleTerm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, features: torch.Tensor, target: torch.Tensor, weight: float):
        _, n, h, w = features.shape
        m = h * w
        with _without_autocast(features.device.type):
            residual = _gram(_at_least_float32(features)).sub_(target, alpha=m)  # G - M Â
            loss = _squared_norm(residual) * (weight / (4.0 * n * n * m * m))
        ctx.save_for_backward(features, residual)
        ctx.scale = weight / (n * n * m * m)
        ctx.set_materialize_grads(False)  # no zeros for an output that nothing downstream uses
        return features.view_as(features), loss

    @staticmethod
    def backward(ctx, grad_features: torch.Tensor | None, grad_loss: torch.Tensor | None):
        features, residual = ctx.saved_tensors
        if grad_loss is None:
            return grad_features, None, None
        # The gradient has the features' type, as the network's own gradients under autocast:
        # in bfloat16 this product runs 2-5x faster (float32 accumulation inside).
        s = _as_type(residual * _coefficient(grad_loss, ctx.scale), features)
        if grad_features is not None:
            grad_features = _as_type(grad_features, features)
        with _without_autocast(features.device.type):
            return _add_product(grad_features, s, features), None, None


def _gram(features: torch.Tensor) -> torch.Tensor:
    r""":math:`G = F F^\top` per image, ``(B, N, N)``, in the features' (float) type.

    Where :func:`_via_convolution` says so, :math:`G` is computed as what it also is: the
    weight gradient of a 1×1 convolution whose input and output gradient are both :math:`F`,
    :math:`\sum_{k} F_{:k} F_{:k}^\top` over the :math:`M` positions. oneDNN's kernel for that
    sums over positions in the channels-last layout directly, where a matrix multiply must read
    :math:`F` transposed (measured inside the iteration at 512 px: 10.4 ms instead of 17.6 ms
    for ``relu1_1``).
    """
    if _via_convolution(features):
        n = features.shape[1]
        return torch.nn.grad.conv2d_weight(features, (n, n, 1, 1), features).view(1, n, n)
    flat, transposed = _as_matrix(features)
    return flat.mT @ flat if transposed else flat @ flat.mT


def _add_product(deeper: torch.Tensor | None, s: torch.Tensor, features: torch.Tensor):
    r"""``deeper`` :math:`+\, S F` in the layout of ``features`` (``deeper`` may be ``None``).

    :math:`S` is symmetric. With :func:`_via_convolution`, :math:`S F` is a 1×1 convolution
    with weights :math:`S`; otherwise one ``baddbmm`` adds it to ``deeper`` as it computes it.
    """
    if _via_convolution(features):
        n = features.shape[1]
        grad = torch.nn.functional.conv2d(features, s.view(n, n, 1, 1))
        return grad if deeper is None else grad.add_(deeper)
    flat, transposed = _as_matrix(features)
    if deeper is None:
        grad = flat @ s if transposed else s @ flat
    else:
        deeper = _as_matrix(deeper, transposed)[0]
        grad = torch.baddbmm(deeper, flat, s) if transposed else torch.baddbmm(deeper, s, flat)
    return _as_features(grad, features.shape, transposed)


#: The fewest positions for which the 1×1-convolution route pays (below, oneDNN's fixed cost
#: per call outweighs its faster kernel: BENCHMARKS.md).
CONVOLUTION_MIN_POSITIONS = 4096


def _via_convolution(features: torch.Tensor) -> bool:
    """Whether the products run as 1×1 convolutions: on the CPU, for one channels-last image
    with many positions, at least twice as many as filters (where oneDNN measured faster)."""
    b, n, h, w = features.shape
    return (features.device.type == "cpu" and b == 1
            and h * w >= max(CONVOLUTION_MIN_POSITIONS, 2 * n)
            and features.is_contiguous(memory_format=torch.channels_last))


def _coefficient(grad_loss: torch.Tensor, scale: float) -> torch.Tensor | float:
    """``grad_loss * scale``; a plain number on the CPU, where reading it costs no device sync
    and saves a tensor operation (each one counts at small sizes: BENCHMARKS.md)."""
    return grad_loss.item() * scale if grad_loss.device.type == "cpu" else grad_loss * scale


def _as_type(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return x if x.dtype == like.dtype else x.to(like.dtype)


def _squared_norm(x: torch.Tensor) -> torch.Tensor:
    r""":math:`\sum x^2` as one dot product."""
    flat = x.reshape(-1)
    return torch.dot(flat, flat)


def _without_autocast(device_type: str) -> contextlib.AbstractContextManager:
    """Autocast off (the Gram matrix stays in float32), entering a context only when it is on:
    a no-op context costs nothing, ``torch.autocast`` tens of microseconds per layer."""
    if torch.is_autocast_enabled(device_type):
        return torch.autocast(device_type, enabled=False)
    return contextlib.nullcontext()


def _as_matrix(
    features: torch.Tensor, transposed: bool | None = None
) -> tuple[torch.Tensor, bool]:
    """``(B, N, M)`` view, or ``(B, M, N)`` (``transposed``) for channels-last features, so that
    neither layout is copied. ``transposed=None`` picks by the layout of ``features``."""
    b, n, h, w = features.shape
    if transposed is None:
        transposed = n > 1 and not features.is_contiguous() and features.is_contiguous(
            memory_format=torch.channels_last
        )
    if transposed:
        return features.permute(0, 2, 3, 1).reshape(b, h * w, n), True
    return features.reshape(b, n, h * w), False


def _as_features(grad: torch.Tensor, shape: torch.Size, transposed: bool) -> torch.Tensor:
    b, n, h, w = shape
    if transposed:
        return grad.view(b, h, w, n).permute(0, 3, 1, 2)
    return grad.view(b, n, h, w)
