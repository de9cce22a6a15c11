"""Part 3: wall time for the kit's engine to reach the tutorial-style reference's final loss.

The reference (:mod:`benchmarks.reference_tutorial`) runs ``steps`` evaluations (its loop
ends at the next multiple of 20 past ``steps``: ``E`` evaluations in all). Its final image is
scored with the kit's objective in fp32: that total is the target. The kit's engine then
runs the same objective from the same start (the content image) until it reaches the target
(at most ``2 E`` iterations at full size), four ways: single scale and coarse-to-fine
(``--scales``: a quarter and half the size first, ``E/2`` iterations each), each in fp32 and
in bf16. Time to target = set-up (targets) + optimisation up to the first history entry at
or below the target; the reference's set-up is counted the same way. The reference runs with
glibc's own allocator thresholds, as in a tutorial user's process; the kit's runs with the
engine's (``nst_utils.allocator``).

:func:`precision_check` is the bf16 adoption test: fp32 and bf16 runs at class settings
(256 px, 300 iterations), both scored in fp32, beside a second fp32 run from a start
perturbed by 1e-3 noise, which shows how far two fp32 runs drift apart anyway.
"""

from __future__ import annotations

import time

import torch

from nst_utils.checks import PRECISIONS
from nst_utils.paper.objective import build_objective
from nst_utils.paper.optimize import StopOptimization, optimize
from nst_utils.paper.pipeline import Settings, run

from .common import glibc_default_allocator, images
from .reference_tutorial import run_style_transfer


def _score(objective, image: torch.Tensor) -> float:
    with torch.no_grad():
        return objective(image).total.item()


def _median_step(history: list[dict]) -> float:
    seconds = [h["seconds"] for h in history]
    steps = sorted(b - a for a, b in zip([0.0, *seconds], seconds, strict=False))
    return steps[len(steps) // 2]


def _stopper(size: int, target: float):
    """A callback that ends the run once the full-size loss is at or below ``target``."""

    def stop_when_done(iteration, x, losses):
        if x.shape[-1] == size and losses["total"] <= target:
            raise StopOptimization

    return stop_when_done


def measure(net, size: int = 512, steps: int = 50, log=print) -> dict:
    content, style = images(size)
    with glibc_default_allocator():  # as in a tutorial user's process
        t0 = time.perf_counter()
        ref_image, ref_history = run_style_transfer(net, content, style, content,
                                                    num_steps=steps)
        ref_wall = time.perf_counter() - t0
    scorer = build_objective(net, content, style, fast=True)
    target = _score(scorer, ref_image)
    evals = len(ref_history)
    log(f"  reference ({evals} evaluations at {size} px): {ref_wall:.1f} s, final total "
        f"{target:.5g} ({_median_step(ref_history):.2f} s per evaluation)")
    out = {"size": size, "steps": steps, "target_total": target,
           "reference": {"wall_s": ref_wall, "setup_s": ref_wall - ref_history[-1]["seconds"],
                         "evaluations": evals,
                         "median_s_per_evaluation": _median_step(ref_history),
                         "history": ref_history}}
    for precision in PRECISIONS:
        row = _single_scale(net, content, style, target, evals, precision)
        row["final_total_fp32"] = _score(scorer, row.pop("image_after_E"))
        row["per_iteration_speedup"] = (out["reference"]["median_s_per_evaluation"]
                                        / row["median_s_per_iteration"])
        out[f"kit_{precision}"] = _with_speedup(row, ref_wall)
        log(f"  kit {precision}: {_reached(row)}; {row['median_s_per_iteration']:.2f} s per "
            f"iteration; fp32-scored total after {evals}: {row['final_total_fp32']:.5g}")
    for precision in PRECISIONS:
        row = _with_speedup(_coarse_to_fine(net, content, style, target, evals, precision),
                            ref_wall)
        out[f"kit_{precision}_coarse_to_fine"] = row
        log(f"  kit {precision} coarse-to-fine {row['scales']}: {_reached(row)}")
    out["bf16_vs_fp32_after_E"] = (out["kit_bf16"]["final_total_fp32"]
                                   / out["kit_fp32"]["final_total_fp32"] - 1)
    return out


def _single_scale(net, content, style, target: float, evals: int, precision: str) -> dict:
    t0 = time.perf_counter()
    objective = build_objective(net, content, style, fast=True)
    setup = time.perf_counter() - t0
    at_evals: dict[str, torch.Tensor] = {}
    stop = _stopper(content.shape[-1], target)

    def callback(iteration, x, losses):
        if iteration == evals:
            at_evals["image"] = x.clone()
        if iteration >= evals:  # run at least as long as the reference, to compare at E
            stop(iteration, x, losses)

    result = optimize(objective, content, steps=2 * evals, progress=False,
                      precision=precision, callback=callback, callback_every=1)
    reached = next((h for h in result.history if h["total"] <= target), None)
    return {"setup_s": setup, "median_s_per_iteration": _median_step(result.history),
            "iterations_run": len(result.history),
            "reached_at_iteration": reached and reached["iteration"],
            "time_to_target_s": reached and setup + reached["seconds"],
            "image_after_E": at_evals.get("image", result.image),
            "history": result.history}


def _coarse_to_fine(net, content, style, target: float, evals: int, precision: str) -> dict:
    """``--scales size/4,size/2,size``: ``evals/2`` iterations at each coarse scale (1/16 and
    1/4 of the cost per iteration), then full size from the upsampled result."""
    size = content.shape[-1]
    scales, coarse = [size // 4, size // 2, size], [evals // 2, evals // 2]
    t0 = time.perf_counter()
    stages, start = [], None
    for scale, steps in zip(scales, [*coarse, 2 * evals], strict=True):  # the pipeline per size
        settings = Settings(fast=True, size=scale, steps=steps, precision=precision)
        stages.append(run(net, content, style, settings, init=start, progress=False,
                          callback=_stopper(size, target), callback_every=1))  # fmt: skip
        start = stages[-1].image
    wall = time.perf_counter() - t0
    full = stages[-1].history
    reached = next((h for h in full if h["total"] <= target), None)
    history = [{**h, "scale": scale} for scale, stage in zip(scales, stages, strict=True)
               for h in stage.history]  # fmt: skip
    return {"scales": scales, "coarse_iterations": coarse, "wall_s": wall,
            "reached_at_iteration": reached and reached["iteration"],
            # everything up to the stop: set-up of every scale included
            "time_to_target_s": reached and wall - (full[-1]["seconds"] - reached["seconds"]),
            "history": history}


def _with_speedup(row: dict, ref_wall: float) -> dict:
    if row["time_to_target_s"]:
        row["speedup_vs_reference"] = ref_wall / row["time_to_target_s"]
    return row


def _reached(row: dict) -> str:
    if not row["time_to_target_s"]:
        return "did not reach the reference's loss"
    return (f"reached the reference's loss after {row['reached_at_iteration']} full-size "
            f"iterations, {row['time_to_target_s']:.1f} s -> x{row['speedup_vs_reference']:.2f}")


def precision_check(net, size: int = 256, steps: int = 300, log=print) -> dict:
    """Final fp32-scored loss of fp32, bf16 and perturbed-fp32 runs at class settings."""
    content, style = images(size)
    objective = build_objective(net, content, style, fast=True)
    noise = torch.randn(content.shape, generator=torch.Generator().manual_seed(1))
    runs = {"fp32": (content, "fp32"), "bf16": (content, "bf16"),
            "fp32_perturbed": ((content + 1e-3 * noise).clamp(0, 1), "fp32")}
    out: dict = {"size": size, "steps": steps}
    for name, (init, precision) in runs.items():
        result = optimize(objective, init, steps=steps, progress=False, precision=precision)
        out[name] = {"final_total_fp32": _score(objective, result.image),
                     "median_s_per_iteration": _median_step(result.history),
                     "wall_s": result.seconds}
    base = out["fp32"]["final_total_fp32"]
    out["bf16_vs_fp32"] = out["bf16"]["final_total_fp32"] / base - 1
    out["perturbed_vs_fp32"] = out["fp32_perturbed"]["final_total_fp32"] / base - 1
    out["bf16_adopted"] = abs(out["bf16_vs_fp32"]) <= 0.01
    log(f"  {size} px, {steps} iterations: fp32 {base:.5g}, bf16 "
        f"{out['bf16']['final_total_fp32']:.5g} ({100 * out['bf16_vs_fp32']:+.2f}%), fp32 from "
        f"a perturbed start {100 * out['perturbed_vs_fp32']:+.2f}% -> bf16 "
        f"{'within' if out['bf16_adopted'] else 'NOT within'} 1%")
    return out
