"""Which number format a run computes in, and the one place the kit computes in float64.

* **A run's precision**: ``"fp32"`` (exact everywhere, the library's default), ``"bf16"``
  (the network under bfloat16 autocast, Gram matrices and losses in float32;
  :mod:`nst_utils.engine.speed`) or ``"auto"``: bf16 where it is native and fast
  (:func:`recommended_precision`). The CPU's features are read through torch (cpuinfo), on
  every system, with ``/proc/cpuinfo`` only as a fallback on Linux.
* **float64, on the CPU only** (:func:`float64_on_cpu`): a few small computations need it
  (3×3 colour covariances, WCT's eigen-decompositions of ``N × N`` feature covariances, sums
  over many positions). Apple's GPUs (MPS) have no float64 at all, and on CUDA it is slow; so
  these run on CPU copies in float64 and the results come back in float32 to the device.
  Nothing else in the kit creates a float64 tensor (``tests/test_float64.py`` watches every
  operation and allows float64 only inside this helper, and only on the CPU).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable
from typing import Any, TypeVar

import torch

from ..checks import PRECISIONS

R = TypeVar("R")
#: bfloat16 is native on CPUs with these (AVX-512 BF16, AMX), as ``/proc/cpuinfo`` names them.
BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
_INSIDE = contextvars.ContextVar("float64_on_cpu", default=False)


# --------------------------------------------------------------------------- a run's precision


def recommended_precision(device: torch.device | str = "cpu") -> str:
    """``"bf16"`` where bfloat16 is native and fast (CPUs with AVX-512 BF16 or AMX, CUDA GPUs
    with bf16 tensor cores), else ``"fp32"`` (MPS and other devices included): what
    ``precision="auto"`` means. The library and the notebooks default to fp32; ``nst
    stylize`` defaults to ``auto``.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported(including_emulation=False) else "fp32"
    if device.type != "cpu":
        return "fp32"
    return "bf16" if cpu_has_native_bf16() else "fp32"


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively: asked of torch (any system), else read
    from ``/proc/cpuinfo`` (Linux); False when neither can tell."""
    probes = [getattr(torch.cpu, name, None)
              for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]  # fmt: skip
    if all(callable(probe) for probe in probes):
        with contextlib.suppress(RuntimeError):
            return any(probe() for probe in probes)
    return bool(BF16_CPU_FLAGS & _proc_cpu_flags())


def _proc_cpu_flags() -> set[str]:
    """The ``flags`` line of ``/proc/cpuinfo`` (empty where there is none)."""
    try:
        with open("/proc/cpuinfo") as f:
            return set(next((line for line in f if line.startswith("flags")), "").split())
    except OSError:
        return set()


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """``precision`` with ``"auto"`` replaced by :func:`recommended_precision` for ``device``."""
    return recommended_precision(device) if precision == "auto" else precision


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The context one objective evaluation runs in for ``precision``."""
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    raise ValueError(f"unknown precision {precision!r}: choose one of {', '.join(PRECISIONS)}")


# --------------------------------------------------------------------------- float64, on the CPU


def float64_on_cpu(fn: Callable[..., R], *tensors: torch.Tensor, **options: Any) -> R:
    """``fn(*copies, **options)`` where the copies are ``tensors`` in float64 on the CPU; every
    tensor ``fn`` returns (alone, or in a tuple or list) comes back in float32 on the first
    tensor's device. The only place the kit computes in float64 (module docstring).

    Keep ``fn`` small: it is for covariances, eigen-decompositions and long sums, not for
    whole feature maps on their way through a network.
    """
    device = tensors[0].device
    token = _INSIDE.set(True)
    try:
        copies = [t.detach().to("cpu", torch.float64) for t in tensors]
        with torch.no_grad():
            return _back(fn(*copies, **options), device)
    finally:
        _INSIDE.reset(token)


def inside_float64_helper() -> bool:
    """True while :func:`float64_on_cpu` runs (what the float64 test allows)."""
    return _INSIDE.get()


def _back(result: Any, device: torch.device) -> Any:
    """``result``'s tensors in float32 on ``device`` (other values as they are)."""
    if torch.is_tensor(result):
        floating = result.is_floating_point()
        return result.to(device, torch.float32) if floating else result.to(device)
    if isinstance(result, (tuple, list)):
        return type(result)(_back(r, device) for r in result)
    return result
