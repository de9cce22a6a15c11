"""Part 4: peak resident memory and wall time per iteration and per run, one size per process.

Each measurement runs in a fresh ``python -m benchmarks.memory`` subprocess, so the peak
(``VmHWM``, the high-water mark of the process's own memory map) belongs to that size alone.
``ru_maxrss`` would not do: Linux carries it across ``exec``, so a child would report the
benchmark parent's memory when that is larger. The kit's engine
runs ``steps`` iterations of style transfer at ``size`` x ``size`` from the content image;
``--scales 256,512,1024`` runs coarse-to-fine (:func:`nst_utils.multiscale.stylize_multiscale`)
instead. The projected class run is set-up plus 300 times the median iteration.

Each row also carries the kit's estimate of the peak (:func:`nst_utils.engine.memory.estimate_peak`,
what ``nst stylize --dry-run`` prints) added to the process's memory before the network was
loaded, so BENCHMARKS.md can compare estimate and measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import nst_utils  # noqa: F401  (before torch: the kit's OpenMP setting, as users get it)

CLASS_STEPS = 300


def _status_mb(field: str) -> float | None:
    """A ``/proc/self/status`` memory field (``VmRSS``, ``VmHWM``) in MB; None off Linux."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def estimated_peak_mb(net, sizes: list[int], steps: int, precision: str, before_mb: float
                      ) -> float:
    """The kit's estimate of this run's peak: memory before loading plus the run's estimate."""
    from nst_utils.engine.memory import MB, estimate_peak
    from nst_utils.paper.objective import CONTENT_LAYERS, STYLE_LAYERS

    estimate = estimate_peak(net, [(s, s) for s in sizes], (*CONTENT_LAYERS, *STYLE_LAYERS),
                             steps=steps, precision=precision)
    return before_mb + estimate.total / MB


def child(size: int, steps: int, precision: str, scales: list[int] | None, real: bool,
          inplace_relu: bool = True) -> dict:
    import torch

    from nst_utils.paper.objective import build_objective
    from nst_utils.paper.optimize import optimize

    from .common import images, load_net

    before_load = _status_mb("VmRSS")
    net = load_net(real=real)
    for module in net.layers:
        if isinstance(module, torch.nn.ReLU):
            module.inplace = inplace_relu
    content, style = images(size)
    after_load = _status_mb("VmRSS")
    t0 = time.perf_counter()
    if scales:
        from nst_utils.paper.pipeline import Settings, stylize

        settings = Settings(fast=True, size=scales[-1], coarse_sizes=tuple(scales[:-1]),
                            steps=steps, precision=precision)  # fmt: skip
        result = stylize(net, content, style, settings, progress=False)
        wall = time.perf_counter() - t0
        return {"size": size, "scales": scales, "steps_per_scale": steps,
                "precision": precision, "wall_s": wall, "peak_rss_mb": _status_mb("VmHWM"),
                "rss_after_load_mb": after_load, "final_total": result.history[-1]["total"],
                "torch_threads": torch.get_num_threads(),
                "estimated_peak_mb": estimated_peak_mb(net, scales, steps, precision,
                                                       before_load)}
    objective = build_objective(net, content, style, fast=True)
    setup = time.perf_counter() - t0
    result = optimize(objective, content, steps=steps, progress=False, precision=precision)
    wall = time.perf_counter() - t0
    seconds = [h["seconds"] for h in result.history]
    per_iter = sorted(b - a for a, b in zip([0.0, *seconds], seconds, strict=False))
    median = per_iter[len(per_iter) // 2]
    return {"size": size, "steps": steps, "precision": precision, "setup_s": setup,
            "wall_s": wall, "median_s_per_iteration": median,
            "projected_class_run_s": setup + CLASS_STEPS * median,
            "peak_rss_mb": _status_mb("VmHWM"), "rss_after_load_mb": after_load,
            "final_total": result.history[-1]["total"], "torch_threads": torch.get_num_threads(),
            "inplace_relu": inplace_relu,
            "estimated_peak_mb": estimated_peak_mb(net, [size], steps, precision, before_load)}


def measure(runs: list[dict], real: bool = True, log=print) -> list[dict]:
    """Each of ``runs`` (``size``, ``steps``, ``precision``, optional ``scales``) in a fresh
    subprocess."""
    out = []
    for run in runs:
        cmd = [sys.executable, "-m", "benchmarks.memory", "--size", str(run["size"]),
               "--steps", str(run["steps"]), "--precision", run.get("precision", "fp32")]
        if run.get("scales"):
            cmd += ["--scales", ",".join(map(str, run["scales"]))]
        if not real:
            cmd.append("--random-weights")
        if run.get("inplace_relu") is False:
            cmd.append("--no-inplace-relu")
        env = dict(os.environ)
        if run.get("kept_memory") is False:
            env["NST_KEEP_FREED_MEMORY"] = "0"  # glibc's own thresholds, as without the kit
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
        if proc.returncode != 0:
            row = {**run, "error": proc.stderr.strip().splitlines()[-1:]}
            log(f"  {run}: failed: {row['error']}")
        else:
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            what = (f"coarse-to-fine {','.join(map(str, row['scales']))}" if row.get("scales")
                    else f"{row['size']} px")
            extra = (f"{row['median_s_per_iteration']:.2f} s/iteration, {row['steps']} steps "
                     f"{row['wall_s']:.1f} s, 300 steps ~{row['projected_class_run_s'] / 60:.1f}"
                     " min" if "steps" in row else
                     f"{row['steps_per_scale']} steps per scale in {row['wall_s']:.1f} s")
            what += "" if row.get("inplace_relu", True) else " (ReLU not in place)"
            what += "" if run.get("kept_memory", True) else " (glibc's default allocator)"
            row["kept_memory"] = run.get("kept_memory", True)
            log(f"  {what} {row['precision']}: peak RSS {row['peak_rss_mb']:.0f} MB (estimate "
                f"{row['estimated_peak_mb']:.0f}); {extra}")
        out.append(row)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--scales", default=None)
    parser.add_argument("--random-weights", action="store_true")
    parser.add_argument("--no-inplace-relu", action="store_true")
    args = parser.parse_args(argv)
    scales = [int(s) for s in args.scales.split(",")] if args.scales else None
    print(json.dumps(child(args.size, args.steps, args.precision, scales,
                           not args.random_weights, not args.no_inplace_relu)))


if __name__ == "__main__":
    main()
