r"""Every speed trick of the kit, behind one call and one switch: :func:`evaluate`.

:mod:`nst_utils.paper.losses`, :mod:`nst_utils.paper.objective` and :mod:`nst_utils.paper.vgg`
hold the paper's formulas as written. :func:`evaluate` computes the same values faster, with
the tricks that BENCHMARKS.md ("What the engine does, and what each part is worth") measured
to pay. It runs only where a run asks for it (``Settings.fast``, which ``nst stylize`` turns
on; ``Objective.fast``); otherwise the objective computes the formulas as written. The tricks:

1. **Channels-last convolutions** on the CPU: oneDNN runs VGG faster on that memory layout
   (:func:`channels_last`).
2. **The style term fused into the network's pass** (:func:`style_term`). Written as in
   :mod:`nst_utils.paper.losses`, a style layer costs autograd three passes over its feature map
   :math:`F` (:math:`N` filters × :math:`M` positions) beyond the network's own work: the Gram
   product :math:`G = F F^\top`, the product for its gradient, and one more pass to add that
   gradient to the one coming back from the deeper layers. Here the features go *through* one
   node that also returns the layer's weighted term

   .. math:: w E = \frac{w}{4 N^2 M^2} \sum_{i,j} (G_{ij} - M \hat A_{ij})^2 ,

   where :math:`\hat A = A / M^s` is the style target per position (as in
   :class:`~nst_utils.paper.objective.StyleTarget`). In the backward pass the node receives both
   gradients at once and adds the style gradient inside the one matrix product that
   computes it (autograd would do two products for :math:`G` and a sum):

   .. math:: \frac{\partial L}{\partial F} = \frac{\partial L}{\partial F}\Big|_{deeper}
             + g \, \frac{w}{N^2 M^2} \, (G - M \hat A) \, F

   (:math:`g` is the gradient reaching :math:`wE`; :math:`G` and :math:`\hat A` are
   symmetric). Under bfloat16 autocast the Gram matrix and the loss stay float32, while the
   gradient product runs in bfloat16 like the rest of the network's backward pass.
3. **Gram products as 1×1 convolutions** on the CPU for channels-last maps with many
   positions: :math:`G` is the weight gradient of a 1×1 convolution whose input and output
   gradient are both :math:`F`, and :math:`(G - M \hat A) F` a 1×1 convolution of :math:`F`
   with weights :math:`G - M \hat A`; oneDNN sums over positions in that layout directly.
4. **Freed memory kept for the next iteration** (glibc only; :func:`keep_freed_memory`):
   every iteration allocates and frees the same large tensors, and glibc returns each block
   above its mmap threshold (at most 32 MB) to the operating system, so each iteration pays
   page faults for the same pages again. Raising the mmap and trim thresholds keeps them in
   the heap, at the price of a higher peak that the process keeps until it exits.
   ``NST_KEEP_FREED_MEMORY=0`` turns this off.

Only targets of class :class:`~nst_utils.paper.objective.StyleTarget` (eq. 4) are fused; any
other target (masks, :mod:`nst_utils.beyond.spatial`) runs its own ``loss``.
``tests/test_speed.py`` checks every value and gradient against the formulas as written.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import threading
from typing import TYPE_CHECKING

import torch

from .. import config

if TYPE_CHECKING:
    from ..paper.objective import LossTerms, Objective
    from ..paper.vgg import VGGFeatures


def evaluate(objective: Objective, image: torch.Tensor) -> LossTerms:
    """``objective(image)`` with every trick of this module: the same values."""
    from ..paper.objective import StyleTarget

    if image.device.type == "cpu":
        keep_freed_memory()
    fused = [(t, w) for t, w in objective.styles if type(t) is StyleTarget]
    rest = [(t, w) for t, w in objective.styles if type(t) is not StyleTarget]
    terms: list[torch.Tensor] = []
    hooks = [_fuse_at(objective.net, name, pairs, terms) for name, pairs in _by_layer(fused)]
    try:
        features = objective.net(channels_last(objective.net, image), objective.layers)
    finally:
        for hook in hooks:
            hook.remove()
    with _without_autocast(image.device.type):  # the other terms in float32 too
        features = {name: _at_least_float32(f) for name, f in features.items()}
        return objective.terms(image, features, rest, terms)


def channels_last(net: VGGFeatures, image: torch.Tensor) -> torch.Tensor:
    """On the CPU: ``image`` and ``net``'s convolution weights in the channels-last layout
    (the weights converted once), so that every convolution runs in it; elsewhere ``image``
    unchanged."""
    if image.device.type != "cpu":
        return image
    convolutions = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    if not convolutions[0].weight.is_contiguous(memory_format=torch.channels_last):
        for module in convolutions:
            module.weight.data = module.weight.data.contiguous(memory_format=torch.channels_last)
    return image.contiguous(memory_format=torch.channels_last)


def _by_layer(styles) -> list[tuple[str, list[tuple[torch.Tensor, float]]]]:
    """Per style layer, ``(Â, w_s w_l)`` of every style to fuse there."""
    per_layer: dict[str, list[tuple[torch.Tensor, float]]] = {}
    for target, weight in styles:
        for name, a in target.grams.items():
            per_layer.setdefault(name, []).append((a, weight * target.layer_weights[name]))
    return list(per_layer.items())


def _fuse_at(net: VGGFeatures, name: str, pairs, terms: list[torch.Tensor]):
    """A forward hook on layer ``name`` that passes its output through :func:`style_term`
    for each ``(Â, w)`` and appends each :math:`wE` to ``terms``.

    The hook acts only in the thread that registered it: one network may serve several runs
    at once (an explorer's run in its thread beside a notebook cell, or the contention
    benchmark's threads), and another thread's forward pass must go through untouched."""
    owner = threading.get_ident()

    def hook(_module, _inputs, features: torch.Tensor) -> torch.Tensor | None:
        if threading.get_ident() != owner:
            return None  # another run's pass: not ours to fuse
        for a, w in pairs:
            features, term = style_term(features, a, w)
            terms.append(term)
        return features

    return net.layers.get_submodule(name).register_forward_hook(hook)


# --------------------------------------------------------------------------- fused style term


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
    r""":math:`G = F F^\top` per image, ``(B, N, N)``, in the features' (float) type; as the
    weight gradient of a 1×1 convolution where :func:`_via_convolution` says so."""
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
    and saves a tensor operation."""
    return grad_loss.item() * scale if grad_loss.device.type == "cpu" else grad_loss * scale


def _at_least_float32(x: torch.Tensor) -> torch.Tensor:
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


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


# --------------------------------------------------------------------------- kept memory

# mallopt(3) parameter numbers, from glibc's <malloc.h>.
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
M_MMAP_THRESHOLD = -3
DEFAULT_MMAP_MAX = 65536
KEEP = 2**30  # blocks up to 1 GiB come from the heap; up to 1 GiB of free heap is kept
#: glibc's steady state for large tensors: its dynamic threshold stops at 32 MB (64-bit) and
#: the trim threshold follows at twice that.
GLIBC_DEFAULT_STEADY_STATE = (32 * 2**20, 64 * 2**20)


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        return libc if libc is not None and hasattr(libc, "gnu_get_libc_version") else None
    except OSError:
        return None


def set_thresholds(mmap_threshold: int, trim_threshold: int) -> bool:
    """Set glibc's mmap and trim thresholds; ``False`` where this is not glibc."""
    libc = _glibc()
    if libc is None:
        return False
    accepted = libc.mallopt(M_MMAP_THRESHOLD, mmap_threshold)
    # Older glibc refuses thresholds above 32 MB: then it serves no block with mmap at all.
    libc.mallopt(M_MMAP_MAX, DEFAULT_MMAP_MAX if accepted else 0)
    return bool(libc.mallopt(M_TRIM_THRESHOLD, trim_threshold))


@functools.cache
def keep_freed_memory() -> bool:
    """Keep freed blocks for reuse, once per process; whether it took effect (glibc only,
    and not with ``NST_KEEP_FREED_MEMORY=0``)."""
    if not config.keep_freed_memory():
        return False
    return set_thresholds(KEEP, KEEP)
