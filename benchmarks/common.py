"""Shared helpers: machine description, images, interleaved timing, analytic FLOP counts.

Timings on a shared machine are noisy, so every comparison here is measured *side by side*:
the variants run interleaved (A, B, A, B, ...) in one process and we report the ratio of the
medians, which a steady background load cancels out of.
"""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from nst_utils.assets.images import load_image, resize
from nst_utils.paper.layers import BLOCK_DEPTHS
from nst_utils.paper.objective import STYLE_LAYERS
from nst_utils.paper.vgg import BLOCK_CHANNELS

ROOT = Path(__file__).resolve().parent.parent
CONTENT_IMAGE = ROOT / "data" / "chelsea.jpg"
STYLE_IMAGE = ROOT / "data" / "swirls.png"
#: The deepest of the paper's layers (style conv1_1 … conv5_1, content conv4_2, rectified).
DEEPEST = STYLE_LAYERS[-1]


def machine() -> dict:
    """CPU model, cores, torch version and threads: what the numbers were measured on."""
    cpu, flags = platform.processor() or "unknown", ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = line.split(":", 1)[1]
    except OSError:
        pass
    mem_gb = None
    with contextlib.suppress(ValueError, OSError, AttributeError):
        mem_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    return {
        "host": platform.node(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": mem_gb,
        "avx512_bf16": "avx512_bf16" in flags.split(),
        "amx_bf16": "amx_bf16" in flags.split(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "cuda": torch.cuda.is_available(),
        "loadavg_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def square_image(source, size: int) -> torch.Tensor:
    """``(1, 3, size, size)`` in ``[0, 1]``: the kit's loader, then its one filter to a square
    (so "512 px" means 512 x 512). ``source``: anything :func:`nst_utils.assets.images.load_image`
    takes.
    """
    return resize(load_image(source), (size, size))


def images(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    return square_image(CONTENT_IMAGE, size), square_image(STYLE_IMAGE, size)


def load_net(arch: str = "vgg16", *, real: bool = True, pooling: str = "max"):
    """The kit's VGG on the CPU; random weights when ``real`` is False (timing only)."""
    from nst_utils.paper.vgg import VGGFeatures, load_vgg

    if real:
        return load_vgg(arch, pooling=pooling, device="cpu", verbose=False)
    torch.manual_seed(0)
    return VGGFeatures(arch, pooling)


def interleaved(fns: dict[str, Callable[[], object]], reps: int, warmup: int = 1) -> dict:
    """Run every function ``warmup`` times, then ``reps`` rounds A, B, A, B, ...

    Returns ``{name: {"median_s", "min_s", "samples_s"}}``.
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - t0)
    return summarize(samples)


def summarize(samples: dict[str, list[float]]) -> dict:
    """``{name: {"median_s", "min_s", "samples_s"}}`` from lists of seconds."""
    return {
        k: {"median_s": statistics.median(v), "min_s": min(v),
            "samples_s": [round(s, 5) for s in v]}
        for k, v in samples.items()
    }


@contextlib.contextmanager
def glibc_default_allocator():
    """Within: glibc's own thresholds (their steady state), as in a process that has not run
    the kit's engine; afterwards the engine's setting again
    (:func:`nst_utils.engine.speed.keep_freed_memory`)."""
    from nst_utils.engine import speed

    speed.set_thresholds(*speed.GLIBC_DEFAULT_STEADY_STATE)
    try:
        yield
    finally:
        speed.set_thresholds(speed.KEEP, speed.KEEP)


def ratio(results: dict, a: str, b: str) -> float:
    """median(a) / median(b)."""
    return results[a]["median_s"] / results[b]["median_s"]


# ---- analytic FLOP counts ------------------------------------------------------------------


def conv_shapes(arch: str, height: int, width: int, deepest: str = DEEPEST):
    """``[(name, Cin, Cout, H, W)]`` for every conv up to and including ``deepest``'s conv."""
    out, cin, h, w = [], 3, height, width
    target = deepest.replace("relu", "conv")
    for block, (depth, cout) in enumerate(zip(BLOCK_DEPTHS[arch], BLOCK_CHANNELS, strict=True), 1):
        for i in range(1, depth + 1):
            name = f"conv{block}_{i}"
            out.append((name, cin, cout, h, w))
            cin = cout
            if name == target:
                return out
        h, w = h // 2, w // 2
    return out


def feature_shape(arch: str, layer: str, height: int, width: int) -> tuple[int, int, int]:
    """``(N, H, W)`` of a conv/relu layer's output."""
    for name, _, cout, h, w in conv_shapes(arch, height, width, layer):
        if name == layer.replace("relu", "conv"):
            return cout, h, w
    raise ValueError(layer)


def iteration_flops(arch: str, height: int, width: int, *, grams: bool = True) -> dict:
    """FLOPs of one iteration: conv forward ``2 Cin Cout 9 H W`` + the same for the input
    gradient (no weight gradients), the first conv's input gradient included; plus, for the
    full objective, each style layer's Gram ``2 N^2 M`` forward and ``2 N^2 M`` backward
    (``dF = (dG + dG^T) F``). Elementwise work (ReLU, pooling, losses) is not counted.
    """
    conv = sum(2 * ci * co * 9 * h * w for _, ci, co, h, w in conv_shapes(arch, height, width))
    gram = 0
    if grams:
        for layer in STYLE_LAYERS:
            n, h, w = feature_shape(arch, layer, height, width)
            gram += 2 * (2 * n * n * h * w)
    return {"conv_forward": conv, "conv_backward_input": conv, "gram": gram,
            "total": 2 * conv + gram}


def best_seconds(fn: Callable[[], object], reps: int) -> tuple[float, float]:
    """``(best, median)`` wall time of ``fn`` over ``reps`` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def matmul_peak(n: int = 2048, reps: int = 10, dtype=torch.float32) -> dict:
    """Achieved GFLOP/s of a large square ``torch.mm`` (the machine's practical peak)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    best, median = best_seconds(lambda: torch.mm(a, b), reps)
    flops = 2 * n**3
    return {"n": n, "dtype": str(dtype).replace("torch.", ""), "median_s": median,
            "gflops_median": flops / median / 1e9, "gflops_best": flops / best / 1e9}


def conv_peak(channels: int = 1024, size: int = 64, reps: int = 10) -> dict:
    """Achieved GFLOP/s of a large fp32 1x1 convolution: a matrix multiply through oneDNN,
    the library VGG's convolutions use (torch.mm goes through MKL instead)."""
    x = torch.randn(1, channels, size, size).contiguous(memory_format=torch.channels_last)
    w = torch.randn(channels, channels, 1, 1).contiguous(memory_format=torch.channels_last)
    best, median = best_seconds(lambda: F.conv2d(x, w), reps)
    flops = 2 * channels * channels * size * size
    return {"shape": f"{channels}x{channels} 1x1 conv on {size}x{size}",
            "gflops_median": flops / median / 1e9, "gflops_best": flops / best / 1e9}


def fp32_peak() -> dict:
    """The machine's practical fp32 matrix-multiply peak: the better of MKL's ``torch.mm``
    and oneDNN's 1x1 convolution (best of 10 each)."""
    mm, conv = matmul_peak(), conv_peak()
    return {"mm": mm, "conv1x1": conv, "gflops": max(mm["gflops_best"], conv["gflops_best"])}
