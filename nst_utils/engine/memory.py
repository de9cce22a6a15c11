"""Will a run fit? Its peak memory, estimated before it starts, against what is available.

A run that does not fit should be refused with one line, not ended by the operating system
(the OOM killer ends a process, or a student's whole kernel, without a word). The estimate
walks the network's own layers (any architecture) down to the deepest layer the run uses:

* **activations kept for the backward pass**: one map per convolution (its ReLU's output,
  which is also the next layer's input; whether the ReLU runs in place or not, one of the
  two is kept and the other is not), every pooling's output, and max pooling's indices
  (int64); plus, during the backward pass, two gradients of the largest map;
* **the optimiser's history**: L-BFGS keeps ``history_size`` pairs of image-sized vectors
  (``s`` and ``y``), filled one pair per iteration, plus a few working vectors; Adam two;
* **the precision**: under bf16 the maps are 2 bytes a value instead of 4 (indices stay 8);
* **the device**: on the CPU the engine keeps freed blocks for reuse
  (:func:`nst_utils.engine.speed.keep_freed_memory`), which costs :data:`CPU_ALLOCATOR_FACTOR` on
  the maps it serves (those under 1 GiB; 1 with ``NST_KEEP_FREED_MEMORY=0``); plus a fixed
  working set
  (oneDNN's scratch space, the first iteration's caches), :data:`CPU_FIXED_BYTES`. Both
  constants were fitted on the peaks measured at 256 and 512 px and checked at 1024 and
  2048 px (BENCHMARKS.md part 4). A coarse-to-fine run peaks at its last scale (the earlier
  scales' blocks are mostly reused).

What is available, on every system where it can be known: on the CPU the tightest of the
host's available memory (psutil: ``MemAvailable`` on Linux, the same figure on macOS and
Windows), the control group's limit (Linux containers, JupyterHub) and the address-space limit
(``ulimit -v``, where the system has one); on an NVIDIA GPU ``torch.cuda.mem_get_info``; on an
Apple GPU (MPS, which shares the host's memory) Metal's recommended working set less what is
allocated, and the host's limits. :func:`check_fits` raises :class:`~nst_utils.errors.NSTError`
with the estimate, what is available and what to do.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .. import config
from ..errors import NSTError
from . import speed

GB = 2**30
MB = 2**20
#: L-BFGS's memory in the engine (:func:`nst_utils.paper.optimize._make_optimizer`).
LBFGS_HISTORY = 100
#: Working vectors besides the history: image, gradient, best image, L-BFGS's flat gradient,
#: previous gradient, direction (image-sized, float32).
IMAGE_VECTORS = 8
#: CPU: freed blocks kept for reuse cost this much on top of the maps (fitted, see above).
CPU_ALLOCATOR_FACTOR = 1.4
#: CPU: oneDNN's scratch space and first-iteration caches (fitted, see above).
CPU_FIXED_BYTES = 240 * MB
BYTES = {"fp32": 4, "bf16": 2}


@dataclass
class Estimate:
    """A run's estimated peak, in bytes, by what it is for (``total`` is their sum)."""

    parts: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(self.parts.values())

    def describe(self) -> str:
        rows = ", ".join(f"{name} {gb(value)}" for name, value in self.parts.items() if value)
        return f"about {gb(self.total)} ({rows})"


def gb(nbytes: float) -> str:
    """``1.234 GB``-style text (GiB, as ``free -g``)."""
    return f"{nbytes / GB:.2f} GB"


def feature_maps(
    net: nn.Module, size: tuple[int, int], deepest: str, precision: str = "fp32"
) -> tuple[list[int], int]:
    """``(kept, largest)``: the bytes of each tensor one pass down to ``deepest`` at ``size``
    (H, W) keeps for the backward pass, and of its largest map.

    ``net.layers`` is the network's sequence of named layers (convolutions, ReLUs, poolings);
    shapes follow from each layer's own settings, so any VGG works.
    """
    h, w = size
    value = BYTES[precision]
    channels = 3
    kept = [3 * h * w * value]  # the normalised input the first convolution keeps
    largest = kept[0]
    for name, module in net.layers.named_children():
        if isinstance(module, nn.Conv2d):
            h = _out_size(h, module, 0)
            w = _out_size(w, module, 1)
            channels = module.out_channels
            kept.append(channels * h * w * value)
        elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
            h = _pool_size(h, module)
            w = _pool_size(w, module)
            kept.append(channels * h * w * value)
            if isinstance(module, nn.MaxPool2d):
                kept.append(channels * h * w * 8)  # the int64 indices of the maxima
        largest = max(largest, channels * h * w * value)
        if name == deepest:
            return kept, largest
    raise ValueError(f"layer {deepest!r} is not in the network")


def _allocator_factor(nbytes: float, on_cpu: bool) -> float:
    """What a block costs with freed memory kept: :data:`CPU_ALLOCATOR_FACTOR` for blocks
    the heap serves; blocks of :data:`~nst_utils.engine.speed.KEEP` and more are mapped and
    returned to the system as before, and cost themselves."""
    if on_cpu and config.keep_freed_memory() and nbytes < speed.KEEP:
        return CPU_ALLOCATOR_FACTOR
    return 1.0


def _out_size(n: int, conv: nn.Conv2d, axis: int) -> int:
    k, s, p, d = (conv.kernel_size[axis], conv.stride[axis], conv.padding[axis],
                  conv.dilation[axis])  # fmt: skip
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def _pool_size(n: int, pool: nn.Module) -> int:
    k = pool.kernel_size if isinstance(pool.kernel_size, int) else pool.kernel_size[0]
    s = pool.stride if isinstance(pool.stride, int) else pool.stride[0]
    return (n - k) // s + 1


def skeleton(arch: str, pooling: str = "max") -> nn.Module:
    """The network's layers without weights or memory (on the ``meta`` device): enough to
    estimate a run before loading anything."""
    from ..paper.vgg import VGGFeatures

    with torch.device("meta"):
        return VGGFeatures(arch, pooling)


def deepest_layer(net: nn.Module, layers: Iterable[str]) -> str:
    """The one of ``layers`` that comes last in ``net.layers``."""
    order = {name: i for i, (name, _) in enumerate(net.layers.named_children())}
    return max(layers, key=lambda name: order[name])


def estimate_peak(
    net: nn.Module,
    sizes: Sequence[tuple[int, int]],
    layers: Iterable[str],
    *,
    steps: int,
    optimizer: str = "lbfgs",
    precision: str = "fp32",
    device: torch.device | str = "cpu",
) -> Estimate:
    """The peak of a run at ``sizes`` (one ``(H, W)`` per scale, the output's last) that
    uses ``layers`` of ``net``, in addition to what the process holds before it starts.

    ``precision`` is ``"fp32"`` or ``"bf16"`` (resolve ``"auto"`` first).
    """
    device = torch.device(device)
    deepest = deepest_layer(net, layers)
    weights = sum(p.numel() * 4 for p in net.parameters())
    if precision == "bf16":
        weights *= 1.5  # autocast keeps a bf16 copy of every weight
    on_cpu = device.type == "cpu"
    maps = []
    for hw in sizes:
        kept, largest = feature_maps(net, hw, deepest, precision)
        maps.append(sum(t * _allocator_factor(t, on_cpu) for t in kept)
                    + 2 * largest * _allocator_factor(largest, on_cpu))  # fmt: skip
    activations = max(maps)  # coarse-to-fine: the earlier scales' blocks are mostly reused
    h, w = sizes[-1]
    image = 3 * h * w * 4
    pairs = min(steps, LBFGS_HISTORY) if optimizer == "lbfgs" else 1  # Adam: two moments
    return Estimate({
        "network": weights,
        "activations": activations,
        "optimiser": 2 * pairs * image,
        "images": IMAGE_VECTORS * image,
        "working set": CPU_FIXED_BYTES if on_cpu else 0,
    })  # fmt: skip


# --------------------------------------------------------------------------- what is there


def available(device: torch.device | str = "cpu") -> tuple[float, str]:
    """``(bytes, what)``: the memory this process can still take on ``device``, and which
    limit that is (the tightest); ``(inf, "no limit known")`` where nothing can be read."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return float(free), f"free on {device}"
    limits = _mps_limits() if device.type == "mps" else []
    if device.type in ("cpu", "mps"):  # an Apple GPU shares the host's memory
        limits += _host_limits()
    known = [(v, what) for v, what in limits if v is not None]
    return min(known) if known else (math.inf, "no limit known")


def _mps_limits() -> list[tuple[float | None, str]]:
    """Metal's recommended working set minus what the MPS driver has already allocated."""
    mps = getattr(torch, "mps", None)
    try:
        room = mps.recommended_max_memory() - mps.driver_allocated_memory()
    except (AttributeError, RuntimeError):
        return []
    return [(float(room), "the Apple GPU's recommended working set")]


def _host_limits() -> list[tuple[float | None, str]]:
    return [
        (_host_available(), "the system's available memory"),
        (_cgroup_room(), "the control group's limit"),
        (_address_space_room(), "the address-space limit (ulimit -v)"),
    ]


def _host_available() -> float | None:
    """What the system can still give without swapping (psutil: any system); None if psutil
    cannot tell (it reads ``/proc/meminfo`` on Linux)."""
    try:
        import psutil

        return float(psutil.virtual_memory().available)
    except (ImportError, OSError, RuntimeError):
        return None


def _cgroup_room() -> float | None:
    """The control group's limit minus its usage (cgroup v2, else v1; Linux containers and
    JupyterHub); None without one or on other systems."""
    v1 = "/sys/fs/cgroup/memory/memory."
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        (f"{v1}limit_in_bytes", f"{v1}usage_in_bytes"),
    ):
        try:
            limit = Path(limit_file).read_text().strip()
            usage = int(Path(usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit == "max" or int(limit) >= 2**60:
            return None
        return float(int(limit) - usage)
    return None


def _address_space_room() -> float | None:
    """``RLIMIT_AS`` minus the address space already mapped; None without a limit or where
    there are no such limits (Windows has no ``resource`` module)."""
    try:
        import resource
    except ImportError:
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    return float(soft - (_mapped_bytes() or 0))


def _mapped_bytes() -> float | None:
    """The address space this process has mapped (VmSize), through psutil."""
    try:
        import psutil

        return float(psutil.Process().memory_info().vms)
    except (ImportError, OSError, RuntimeError):
        return None


# --------------------------------------------------------------------------- the check


#: What to do about a run that does not fit, in the library's words (the CLI has its own).
ADVICE = "use a smaller size, coarse-to-fine scales or precision='bf16'"


def check_fits(
    estimate: Estimate, device: torch.device | str = "cpu", advice: str = ADVICE
) -> None:
    """Raise :class:`NSTError` if ``estimate`` is more than the memory available."""
    room, what = available(device)
    if estimate.total > room:
        raise NSTError(
            f"this run needs {estimate.describe()}, but {gb(room)} is available ({what}): "
            f"{advice}"
        )


def out_of_memory_message(err: BaseException) -> str | None:
    """The one-line advice for an allocation failure, or ``None`` if ``err`` is not one."""
    text = str(err)
    if isinstance(err, MemoryError) or "can't allocate memory" in text or (
        "out of memory" in text.lower()
    ):
        first = " ".join(text.split())[:160]
        return (
            f"out of memory ({first or type(err).__name__}): use a smaller --size, "
            "coarse-to-fine --scales or --precision bf16, or close other programs"
        )
    return None
