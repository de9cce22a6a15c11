"""Parts 1 and 2: overhead of the full objective over a bare pass, and achieved GFLOP/s.

One *iteration* is what the engine does per L-BFGS step: one forward pass of the generated
image up to relu5_1 and one backward pass to the pixels. The *bare* pass is the same truncated
network (frozen weights) with ``sum(relu5_1)`` as the loss and the gradient w.r.t. the input
only. The *full* pass is the kit's objective (content relu4_2, style relu1_1 … relu5_1,
β = 100), plus the one host read of the loss the engine does per iteration.

Each comparison is its own interleaved group (A, B, A, B, ...; see ``GROUPS``), so that a ratio
is only ever taken between runs that alternated with each other. *Bare* and *full* both run
through :mod:`nst_utils.engine.speed`'s memory layout. What each trick of that module is worth:

* ``written``: the objective with ``fast = False``: the formulas of ``losses``/``objective`` as
  written, none of the speed module's tricks in the pass (the process keeps its memory
  setting): what the whole module gains;
* ``contiguous``: the fast route without channels-last (a copy of the network with contiguous
  weights, ``speed.channels_last`` switched off);
* ``bf16``: the engine's ``precision="bf16"`` autocast (Gram matrices and losses in fp32);
* ``nosync``: the full objective without the per-iteration ``.item()``;
* ``matmul_gram``: the fused style term with every Gram product as a matrix multiply, none
  as a 1×1 convolution (``nst_utils.engine.speed.CONVOLUTION_MIN_POSITIONS``);
* ``products_only``: not a candidate but a floor: the style nodes replaced by ones that do
  nothing but the two products per layer (the Gram matrix forward, the gradient product
  backward, by the engine's own routes) and return no loss, so that the overhead left is
  that of the products, the content loss and the autograd nodes alone;
* ``default_allocator``: the full objective with glibc's own allocator thresholds instead of
  the engine's (``nst_utils.engine.speed.keep_freed_memory``), switching before every timed call and
  running one untimed call after each switch. A lower bound: the heap the engine's setting
  built up stays in the process, so fewer blocks are faulted in again than in a process that
  never had it; part 4 compares fresh processes.

The whole part runs with the engine's allocator setting, as the fast route does.
"""

from __future__ import annotations

import contextlib
import copy
import time

import torch

from nst_utils.engine import speed
from nst_utils.engine.precision import autocast
from nst_utils.paper.objective import build_objective

from .common import (
    DEEPEST,
    fp32_peak,
    glibc_default_allocator,
    images,
    interleaved,
    iteration_flops,
    matmul_peak,
    ratio,
    summarize,
)

#: The interleaved groups: each ratio is taken within one of them.
GROUPS = {
    "overhead": ("full", "bare"),
    "speed_module": ("full", "full_written"),
    "channels_last": ("full", "full_contiguous", "bare_contiguous"),
    "bf16": ("full", "full_bf16", "bare_bf16"),
    "convolution_gram": ("full", "full_matmul_gram"),
    "sync": ("full", "full_nosync"),
    "products_floor": ("full", "full_products_only", "bare"),
}


@contextlib.contextmanager
def matmul_gram():
    """The fused style term without its 1×1-convolution route."""
    saved, speed.CONVOLUTION_MIN_POSITIONS = speed.CONVOLUTION_MIN_POSITIONS, 2**62
    try:
        yield
    finally:
        speed.CONVOLUTION_MIN_POSITIONS = saved


@contextlib.contextmanager
def contiguous_layout():
    """The fast route with the convolutions in the contiguous layout."""
    saved, speed.channels_last = speed.channels_last, lambda net, image: image
    try:
        yield
    finally:
        speed.channels_last = saved


def _allocator_pair(full, reps: int) -> dict:
    """``full`` with glibc's default thresholds and with the engine's, alternating."""
    samples: dict[str, list[float]] = {"full": [], "full_default_allocator": []}
    for _ in range(reps):
        for name in ("full_default_allocator", "full"):
            with glibc_default_allocator() if name != "full" else contextlib.nullcontext():
                full()  # untimed: the first call after a switch meets the other mode's heap
                t0 = time.perf_counter()
                full()
                samples[name].append(time.perf_counter() - t0)
    return summarize(samples)


class _ProductsOnly(torch.autograd.Function):
    """A style node that computes the layer's two products and nothing else (a floor)."""

    @staticmethod
    def forward(ctx, features, target, weight):
        gram = speed._gram(features)
        ctx.save_for_backward(features, gram)
        ctx.set_materialize_grads(False)
        return features.view_as(features), features.new_zeros(())

    @staticmethod
    def backward(ctx, grad_features, grad_loss):
        features, gram = ctx.saved_tensors
        return speed._add_product(grad_features, gram, features), None, None


@contextlib.contextmanager
def products_only():
    saved, speed.style_term = speed.style_term, _ProductsOnly.apply
    try:
        yield
    finally:
        speed.style_term = saved


def _patched(fn, context):
    def run():
        with context():
            fn()
    return run


def _steps(net, content, style, precision: str, sync: bool = True, fast: bool = True):
    objective = build_objective(net, content, style, fast=True)
    objective.fast = fast
    x = content.clone().requires_grad_(True)

    def full():
        x.grad = None
        with autocast(precision, x.device):
            terms = objective(x)
        terms.total.backward()
        if sync:
            terms.as_floats()

    def bare():
        x.grad = None
        with autocast(precision, x.device):
            out = net(speed.channels_last(net, x), [DEEPEST])[DEEPEST]
        out.float().sum().backward()

    return full, bare


def measure(net, sizes=(128, 256, 512), reps=None, arch: str = "vgg16", log=print) -> dict:
    """Interleaved per-iteration timings at every size, with overhead ratios and GFLOP/s."""
    speed.keep_freed_memory()  # the engine's setting, as the fast route makes it
    contiguous = copy.deepcopy(net)
    for module in contiguous.modules():
        if isinstance(module, torch.nn.Conv2d):
            module.weight.data = module.weight.data.contiguous()
    peaks = [fp32_peak()]  # measured again at the end: the better of the two counts
    peak_bf16 = matmul_peak(2048, dtype=torch.bfloat16)
    log(f"  fp32 matmul peak {peaks[0]['gflops']:.0f} GFLOP/s (torch.mm 2048^2 "
        f"{peaks[0]['mm']['gflops_best']:.0f}, oneDNN 1x1 conv "
        f"{peaks[0]['conv1x1']['gflops_best']:.0f}); bf16 torch.mm "
        f"{peak_bf16['gflops_best']:.0f} GFLOP/s")
    out = {"peaks_fp32": peaks, "matmul_peak_bf16": peak_bf16, "sizes": {}}
    for size in sizes:
        content, style = images(size)
        full, bare = _steps(net, content, style, "fp32")
        full_nosync, _ = _steps(net, content, style, "fp32", sync=False)
        full_c, bare_c = _steps(contiguous, content, style, "fp32")
        full_bf, bare_bf = _steps(net, content, style, "bf16")
        full_written, _ = _steps(net, content, style, "fp32", fast=False)
        fns = {"full": full, "bare": bare, "full_nosync": full_nosync,
               "full_contiguous": _patched(full_c, contiguous_layout),
               "bare_contiguous": _patched(bare_c, contiguous_layout),
               "full_bf16": full_bf, "bare_bf16": bare_bf, "full_written": full_written,
               "full_matmul_gram": _patched(full, matmul_gram),
               "full_products_only": _patched(full, products_only)}
        n = reps or {128: 81, 256: 15, 512: 5, 1024: 3}.get(size, 5)
        t0 = time.perf_counter()
        timings = {group: interleaved({k: fns[k] for k in names}, n)
                   for group, names in GROUPS.items()}
        timings["allocator"] = _allocator_pair(full, n)
        flops = iteration_flops(arch, size, size)
        bare_flops = iteration_flops(arch, size, size, grams=False)
        med = {k: v["median_s"] for k, v in timings["overhead"].items()}
        med_bf16 = timings["bf16"]["full_bf16"]["median_s"]
        med_contiguous = timings["channels_last"]["full_contiguous"]["median_s"]

        def r(group: str, a: str, b: str, timings=timings) -> float:
            return ratio(timings[group], a, b)

        row = {
            "reps": n,
            "timings": timings,
            "flops": flops,
            "overhead_full_vs_bare": r("overhead", "full", "bare") - 1,
            "overhead_full_vs_bare_contiguous": r("channels_last", "full_contiguous",
                                                  "bare_contiguous") - 1,
            "overhead_full_vs_bare_bf16": r("bf16", "full_bf16", "bare_bf16") - 1,
            "speedup_channels_last": r("channels_last", "full_contiguous", "full"),
            "speedup_bf16": r("bf16", "full", "full_bf16"),
            "speedup_speed_module": r("speed_module", "full_written", "full"),
            "speedup_convolution_gram": r("convolution_gram", "full_matmul_gram", "full"),
            "overhead_products_only_vs_bare": r("products_floor", "full_products_only", "bare") - 1,
            "overhead_full_vs_bare_floor_group": r("products_floor", "full", "bare") - 1,
            "sync_cost": r("sync", "full", "full_nosync") - 1,
            "speedup_kept_memory": r("allocator", "full_default_allocator", "full"),
            "gflops_full": flops["total"] / med["full"] / 1e9,
            "gflops_bare": bare_flops["total"] / med["bare"] / 1e9,
            "gflops_full_bf16": flops["total"] / med_bf16 / 1e9,
            "gflops_full_contiguous": flops["total"] / med_contiguous / 1e9,
        }
        row["fraction_of_bf16_peak_bf16"] = row["gflops_full_bf16"] / peak_bf16["gflops_best"]
        out["sizes"][str(size)] = row
        log(f"  {size} px ({n} interleaved reps, {time.perf_counter() - t0:.0f} s): "
            f"full {med['full']:.3f} s, bare {med['bare']:.3f} s -> overhead "
            f"{100 * row['overhead_full_vs_bare']:+.1f}% (floor: products only "
            f"{100 * row['overhead_products_only_vs_bare']:+.1f}%, full "
            f"{100 * row['overhead_full_vs_bare_floor_group']:+.1f}% in that group); "
            f"channels_last x"
            f"{row['speedup_channels_last']:.2f}, bf16 x{row['speedup_bf16']:.2f}, "
            f"speed module x{row['speedup_speed_module']:.2f}, "
            f"kept memory x{row['speedup_kept_memory']:.2f}, "
            f"Gram as 1x1 conv x{row['speedup_convolution_gram']:.2f}, "
            f".item() {100 * row['sync_cost']:+.1f}%; {row['gflops_full']:.0f} GFLOP/s")
    peaks.append(fp32_peak())
    out["peak_fp32_gflops"] = peak = max(p["gflops"] for p in peaks)
    for row in out["sizes"].values():
        row["fraction_of_fp32_peak"] = row["gflops_full"] / peak
        row["fraction_of_fp32_peak_bare"] = row["gflops_bare"] / peak
    log(f"  fp32 matmul peak (best at start and end): {peak:.0f} GFLOP/s; the full iteration "
        "reaches " + ", ".join(f"{100 * r['fraction_of_fp32_peak']:.0f}% at {s} px"
                               for s, r in out["sizes"].items()))
    return out


def measure_compile(net, size: int = 256, reps: int = 5, log=print) -> dict:
    """``torch.compile`` of the objective: compile time, then eager vs compiled per iteration."""
    content, style = images(size)
    objective = build_objective(net, content, style, fast=True)

    def loss(x):
        terms = objective(x)
        return terms.total, terms.content, terms.style

    compiled = torch.compile(loss)
    x = content.clone().requires_grad_(True)

    def run(fn):
        def step():
            x.grad = None
            total, _, _ = fn(x)
            total.backward()
            total.item()
        return step

    try:
        t0 = time.perf_counter()
        run(compiled)()  # first call compiles forward and backward
        compile_s = time.perf_counter() - t0
    except Exception as err:
        log(f"  torch.compile failed: {type(err).__name__}: {str(err).splitlines()[0][:200]}")
        return {"size": size, "error": f"{type(err).__name__}: {err}"[:500]}
    timings = interleaved({"eager": run(loss), "compiled": run(compiled)}, reps)
    eager, comp = timings["eager"]["median_s"], timings["compiled"]["median_s"]
    saved = eager - comp
    row = {"size": size, "reps": reps, "compile_s": compile_s, "timings": timings,
           "speedup": eager / comp,
           "break_even_iterations": compile_s / saved if saved > 0 else None}
    log(f"  torch.compile at {size} px: first call {compile_s:.1f} s, then x{row['speedup']:.2f}"
        f" per iteration (eager {eager:.3f} s, compiled {comp:.3f} s); break-even after "
        f"{round(row['break_even_iterations']) if row['break_even_iterations'] else 'never'}")
    return row
