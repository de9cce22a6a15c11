"""Part 7: a network that paints in one pass against the paper's optimisation, and training.

``python -m benchmarks.run --parts fast_paint [--quick]`` (part of ``make bench``). Three
measurements, in one process:

1. **Per size** (256, 512 and 1024 px, square): rounds interleave the style network's forward
   pass (what ``nst paint`` computes once the model is loaded: :func:`paint`) and
   ``stylize_steps`` iterations of ``nst stylize``'s optimisation (the one pipeline with the
   command's defaults: the offline network, its own β/α, precision ``auto``), A, B, A, B, …
   ``nst stylize`` runs ``DEFAULT_STEPS`` iterations, each one or more evaluations (forward
   and backward passes; the line search asks for more in the first iterations than later),
   so the few iterations run per round give the seconds per *evaluation*, and the default
   run's time is projected as the measured set-up (targets) plus ``DEFAULT_STEPS`` times the
   evaluations per iteration of one whole default run (measured once, at ``reference_size``)
   times the seconds per evaluation. A size listed in ``full_stylize`` also runs the whole
   default once, to check the projection (off in ``make bench``: minutes per size). Images
   per second are 1 / seconds per picture; the ratio is the optimisation's seconds over the
   network's.
2. **The command, end to end**: one ``nst paint`` process at 256 px (Python and torch
   start-up, the model read, the picture read and written), timed from outside, next to the
   forward pass alone.
3. **Training**: ``steps`` steps of :func:`nst_utils.networks.training.train` with the paper's loss
   (:mod:`nst_utils.networks.fast_style`) on crops of the bundled photos at each training size, in
   fp32 and, where the processor has native bfloat16, in bf16 (``nst train-style``'s
   default there), the two precisions alternating ``train_rounds`` times; images per second
   from the median step (each run's first, warm-up step left out).

The style network is a shipped model when there is one (by name), else an untrained
:class:`~nst_utils.networks.painter.StyleNet` of the default architecture: a forward pass costs the
same whatever the weights.
"""

from __future__ import annotations

import itertools
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nst_utils  # noqa: F401  (before torch: the kit's OpenMP setting, as users get it)

# isort: split
import torch

from .common import CONTENT_IMAGE, STYLE_IMAGE, load_image

#: ``nst stylize``'s default iterations and precision (its ``--steps`` and ``--precision``).
DEFAULT_STEPS = 300
STYLIZE_PRECISION = "auto"

FULL = {"sizes": (256, 512, 1024), "rounds": 3, "paint_reps": 3, "reference_size": 128,
        "stylize_steps": {256: 10, 512: 5, 1024: 3}, "full_stylize": (),
        "command_size": 256, "train_sizes": (128, 256), "train_batch": 4, "train_steps": 6,
        "train_rounds": 2}
QUICK = {"sizes": (64, 128), "rounds": 2, "paint_reps": 2, "reference_size": 64,
         "stylize_steps": {64: 3, 128: 2}, "full_stylize": (), "command_size": 64,
         "train_sizes": (64,), "train_batch": 2, "train_steps": 3, "train_rounds": 1}


def style_network(name: str | None = None):
    """``(net, label)``: the named or first shipped single-style model, else an untrained one."""
    from nst_utils.networks import painter

    shipped = painter.shipped_models()
    if name is None:
        name = next((n for n in shipped if painter.load_model(n).styles == 1), None)
    if name is not None:
        return painter.load_model(name), f"shipped model {name!r}"
    return painter.StyleNet().eval().requires_grad_(False), "untrained StyleNet() (same cost)"


def paint(net, photo: torch.Tensor) -> torch.Tensor:
    """One forward pass, as ``nst paint`` runs it (:func:`nst_utils.networks.fast_style.paint`)."""
    from nst_utils.networks import fast_style

    return fast_style.paint(net, photo)


def stylize_once(vgg, content: torch.Tensor, style: torch.Tensor, steps: int) -> dict:
    """``steps`` iterations of ``nst stylize``'s optimisation: wall time, per iteration."""
    from nst_utils.paper.pipeline import Settings, stylize

    settings = Settings(fast=True, steps=steps, precision=STYLIZE_PRECISION)
    t0 = time.perf_counter()
    result = stylize(vgg, content, style, settings, progress=False)
    wall = time.perf_counter() - t0
    last = result.history[-1]
    return {"wall_s": wall, "setup_s": wall - last["seconds"], "iterations": len(result.history),
            "evaluations": last["evaluations"],
            "s_per_evaluation": last["seconds"] / last["evaluations"],
            "final_total": last["total"]}


def evaluations_per_iteration(vgg, size: int, log=print) -> dict:
    """One whole default run at ``size`` px: how many evaluations an iteration takes."""
    content, style = load_image(CONTENT_IMAGE, size), load_image(STYLE_IMAGE, size)
    run = stylize_once(vgg, content, style, DEFAULT_STEPS)
    run["size"] = size
    run["per_iteration"] = run["evaluations"] / run["iterations"]
    log(f"  a whole default run at {size} px: {run['evaluations']} evaluations in "
        f"{run['iterations']} iterations ({run['per_iteration']:.2f} per iteration)")
    return run


def measure_size(net, vgg, size: int, *, rounds: int, paint_reps: int, stylize_steps: int,
                 per_iteration: float, full: bool, log=print) -> dict:
    """Network forward against the optimisation at ``size`` px, interleaved in rounds."""
    content, style = load_image(CONTENT_IMAGE, size), load_image(STYLE_IMAGE, size)
    paint(net, content)  # warm-up: first-call allocations
    paint_s: list[float] = []
    runs: list[dict] = []
    for _ in range(rounds):
        for _ in range(paint_reps):
            t0 = time.perf_counter()
            paint(net, content)
            paint_s.append(time.perf_counter() - t0)
        runs.append(stylize_once(vgg, content, style, stylize_steps))
    paint_median = statistics.median(paint_s)
    per_evaluation = statistics.median(r["s_per_evaluation"] for r in runs)
    setup = statistics.median(r["setup_s"] for r in runs)
    projected = setup + DEFAULT_STEPS * per_iteration * per_evaluation
    row = {"size": size, "paint_s": paint_median, "paint_samples_s": paint_s,
           "paint_images_per_s": 1 / paint_median, "stylize_runs": runs,
           "stylize_s_per_evaluation": per_evaluation, "stylize_setup_s": setup,
           "stylize_default_projected_s": projected,
           "stylize_images_per_s": 1 / projected, "ratio": projected / paint_median}
    log(f"  {size} px: paint {paint_median:.3f} s ({1 / paint_median:.2f} images/s); stylize "
        f"{per_evaluation:.3f} s/evaluation, {DEFAULT_STEPS} iterations ~{projected:.1f} s: "
        f"x{projected / paint_median:.0f}")
    if full:
        whole = stylize_once(vgg, content, style, DEFAULT_STEPS)
        row["stylize_default_measured"] = whole
        row["ratio_measured"] = whole["wall_s"] / paint_median
        row["projection_error"] = projected / whole["wall_s"] - 1
        log(f"  {size} px: stylize, all {DEFAULT_STEPS} iterations: {whole['wall_s']:.1f} s "
            f"(projection {100 * row['projection_error']:+.0f}%)")
    return row


def measure_command(net, size: int, log=print) -> dict:
    """Wall time of one ``nst paint`` process at ``size`` px, from outside."""
    from nst_utils.assets.images import save_image
    from nst_utils.networks import painter

    with tempfile.TemporaryDirectory() as tmp:
        model, photo, out = Path(tmp) / "model.safetensors", Path(tmp) / "photo.png", \
            Path(tmp) / "out.png"
        painter.save_model(net, model, {"note": "benchmark copy"})
        save_image(load_image(CONTENT_IMAGE, size), photo)
        nst = Path(sys.executable).with_name("nst")
        cmd = [str(nst), "paint", str(photo), "--model", str(model), "-o", str(out)]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
    row = {"size": size, "wall_s": wall, "ok": proc.returncode == 0}
    if proc.returncode:
        row["error"] = (proc.stderr or proc.stdout).strip().splitlines()[-1:]
    log(f"  nst paint at {size} px, one process: {wall:.2f} s ({'ok' if row['ok'] else 'FAILED'})")
    return row


def measure_training(vgg, size: int, batch: int, steps: int, precision: str = "fp32",
                     log=print) -> dict:  # fmt: skip
    """Images per second of :func:`nst_utils.networks.training.train` on the paper's loss."""
    from nst_utils.networks import fast_style, painter, photos, training
    from nst_utils.paper.pipeline import Settings

    style = load_image(STYLE_IMAGE, size)
    loss_fn = fast_style.StyleLoss(vgg, [style], Settings(fast=True, precision=precision))
    settings = training.TrainSettings(size=size, batch=batch, steps=steps, log_every=1)
    stamps: list[float] = []
    torch.manual_seed(0)
    net = painter.StyleNet()
    batches = photos.crops(photos.photo_paths(), size, batch, seed=0)
    t0 = time.perf_counter()
    training.train(net, loss_fn, batches, settings, progress=False,
                   on_log=lambda step, numbers: stamps.append(time.perf_counter()))
    wall = time.perf_counter() - t0
    step_s = [b - a for a, b in itertools.pairwise(stamps)]
    median = statistics.median(step_s) if step_s else wall / steps
    row = {"size": size, "batch": batch, "steps": steps, "precision": precision,
           "wall_s": wall, "step_s": step_s, "images_per_s": batch / median}
    log(f"  training at {size} px, batch {batch}, {precision}: {median:.2f} s/step, "
        f"{batch / median:.2f} images/s")
    return row


def training_precisions(device: str = "cpu") -> tuple[str, ...]:
    """fp32, and bf16 where it is native (what ``nst train-style`` then uses by default)."""
    from nst_utils.engine.precision import recommended_precision

    return ("fp32", "bf16") if recommended_precision(device) == "bf16" else ("fp32",)


def measure_all_training(vgg, cfg: dict, log=print) -> list[dict]:
    """Every training size and precision, the precisions alternating round by round; one row
    per size and precision with the steps of all its rounds pooled."""
    rows: dict[tuple[int, str], dict] = {}
    for size in cfg["train_sizes"]:
        for _ in range(cfg.get("train_rounds", 1)):
            for precision in training_precisions():
                run = measure_training(vgg, size, cfg["train_batch"], cfg["train_steps"],
                                       precision, log=log)  # fmt: skip
                row = rows.setdefault((size, precision), {**run, "step_s": [], "wall_s": 0.0})
                row["step_s"] += run["step_s"]
                row["wall_s"] += run["wall_s"]
                row["images_per_s"] = row["batch"] / statistics.median(row["step_s"])
    return list(rows.values())


def measure(config: dict | None = None, *, real: bool = True, model: str | None = None,
            log=print) -> dict:
    """Every measurement of this part, with ``config`` (default :data:`FULL`)."""
    from nst_utils.paper.vgg import VGGFeatures, load_vgg

    cfg = FULL if config is None else config
    if real:
        vgg = load_vgg(pooling="max", device="cpu", verbose=False)
    else:
        torch.manual_seed(0)
        vgg = VGGFeatures("vgg16", "avg").eval().requires_grad_(False)
    net, label = style_network(model)
    log(f"  style network: {label}; optimisation on {vgg.arch}")
    out = {"network": label, "vgg": vgg.arch, "default_steps": DEFAULT_STEPS,
           "precision": STYLIZE_PRECISION, "config": cfg, "sizes": {}}
    out["reference"] = evaluations_per_iteration(vgg, cfg["reference_size"], log=log)
    for size in cfg["sizes"]:
        out["sizes"][str(size)] = measure_size(
            net, vgg, size, rounds=cfg["rounds"], paint_reps=cfg["paint_reps"],
            stylize_steps=cfg["stylize_steps"][size],
            per_iteration=out["reference"]["per_iteration"],
            full=size in cfg["full_stylize"], log=log)  # fmt: skip
    if cfg.get("command_size"):
        out["command"] = measure_command(net, cfg["command_size"], log=log)
    out["training"] = measure_all_training(vgg, cfg, log=log)
    return out


def section(res: dict) -> list[str]:
    """The part's lines of the summary (BENCHMARKS.md quotes them)."""
    p = res["fast_paint"]
    lines = ["", f"## 7. One pass of a style network against the optimisation ({p['network']}; "
             f"`nst stylize` {p['default_steps']} iterations on {p['vgg']}, precision "
             f"{p['precision']})", "",
             "| size | paint s | paint images/s | stylize s/evaluation | stylize s (default "
             "steps) | stylize images/s | optimisation / network |",
             "|---|---|---|---|---|---|---|"]
    for size, r in p["sizes"].items():
        whole = r.get("stylize_default_measured")
        seconds = (f"{whole['wall_s']:.1f} measured ({r['stylize_default_projected_s']:.1f} "
                   f"projected)" if whole else f"{r['stylize_default_projected_s']:.1f} projected")
        ratio = r.get("ratio_measured", r["ratio"])
        images = 1 / whole["wall_s"] if whole else r["stylize_images_per_s"]
        lines.append(f"| {size} | {r['paint_s']:.3f} | {r['paint_images_per_s']:.2f} | "
                     f"{r['stylize_s_per_evaluation']:.3f} | {seconds} | {images:.4f} | "
                     f"x{ratio:,.0f} |")
    ref = p["reference"]
    lines += ["", f"Projected: set-up + {p['default_steps']} iterations x "
              f"{ref['per_iteration']:.2f} evaluations per iteration (a whole default run at "
              f"{ref['size']} px: "
              f"{ref['evaluations']} evaluations, {ref['wall_s']:.1f} s) x seconds per "
              "evaluation."]
    cmd = p.get("command")
    if cmd:
        forward = p["sizes"].get(str(cmd["size"]), {}).get("paint_s")
        lines += ["", f"`nst paint` as one process at {cmd['size']} px (start-up, model, "
                  f"picture in and out): {cmd['wall_s']:.2f} s"
                  + (f" (the forward pass alone {forward:.3f} s)" if forward else "")
                  + ("" if cmd["ok"] else f", FAILED: {cmd.get('error')}") + "."]
    lines += ["", "Training (`nst train-style`'s loop, the paper's loss): " + ", ".join(
        f"{t['size']} px batch {t['batch']} {t.get('precision', 'fp32')}: "
        f"{t['images_per_s']:.2f} images/s" for t in p["training"]) + "."]
    return lines
