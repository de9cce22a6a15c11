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
:math:`\hat A` are symmetric). The values are eq. 4's; only the bookkeeping changes. Under
bfloat16 autocast the Gram matrix and the loss stay float32, while the gradient product runs
in bfloat16 like the rest of the network's backward pass. What it gains is measured in
BENCHMARKS.md; ``tests/test_fused_style.py`` checks it against the plain version.
"""

from __future__ import annotations

import contextlib

import torch


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
        flat, transposed = _as_matrix(features)
        with _without_autocast(features.device.type):
            flat32 = flat.float() if flat.dtype in (torch.float16, torch.bfloat16) else flat
            gram = flat32.mT @ flat32 if transposed else flat32 @ flat32.mT
            residual = gram.sub_(target, alpha=m)  # G - M Â, in at least float32
            loss = residual.pow(2).sum() * (weight / (4.0 * n * n * m * m))
        ctx.save_for_backward(flat, residual)
        ctx.transposed, ctx.shape = transposed, features.shape
        ctx.scale = weight / (n * n * m * m)
        ctx.set_materialize_grads(False)  # no zeros for an output that nothing downstream uses
        return features.view_as(features), loss

    @staticmethod
    def backward(ctx, grad_features: torch.Tensor | None, grad_loss: torch.Tensor | None):
        flat, residual = ctx.saved_tensors
        if grad_loss is None:
            return grad_features, None, None
        # The gradient has the features' type, as the network's own gradients under autocast:
        # in bfloat16 this product runs 2-5x faster (float32 accumulation inside).
        s = (residual * (grad_loss * ctx.scale)).to(flat.dtype)
        with _without_autocast(flat.device.type):
            if grad_features is None:
                grad = flat @ s if ctx.transposed else s @ flat
            else:
                deeper = _as_matrix(grad_features.to(flat.dtype), ctx.transposed)[0]
                grad = torch.baddbmm(deeper, flat, s) if ctx.transposed else torch.baddbmm(
                    deeper, s, flat
                )
        return _as_features(grad, ctx.shape, ctx.transposed), None, None


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
