"""``python -m benchmarks.arbitrary [--quick] [--out benchmarks/results]``: notebook 08's numbers.

Three measurements of the one-pass methods (AdaIN, multi-level WCT through the shipped
decoders, :mod:`nst_utils.networks.decoder`) against the paper's optimisation:

1. **reconstruction**: each shipped decoder's PSNR on the held-out photos
   (:data:`nst_utils.networks.photos.HELD_OUT_PHOTOS`, never used in training), at 256 px;
2. **statistics**: the relative error of the per-channel mean and standard deviation
   (:func:`nst_utils.networks.arbitrary.statistics_error`) of each result against the painting, at
   ``relu1_1`` … ``relu4_1`` of the Caffe VGG-19, for every held-out photo × every painting,
   with the photo itself as the baseline; and the paper's loss of each result (default
   settings: what ``nst score`` prints);
3. **speed**: seconds per picture at 256 and 512 px, AdaIN, WCT and ``ITERATIONS`` of the
   optimisation, interleaved A, B, C, A, B, C, ... (medians); the optimisation's time per
   iteration is also given, so that its default 300 iterations can be read off.

Only part 3 is a timing: run it under ``cpu-timing`` on a shared machine (the others need
not wait). Writes ``<out>/<start>-<host>-arbitrary.{json,md}``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import time
from pathlib import Path

import nst_utils  # noqa: F401  (first: it sets OpenMP's waiting before torch starts)

# isort: split
import torch

from nst_utils.assets.examples import load_example
from nst_utils.assets.images import load_image
from nst_utils.networks import arbitrary, decoder, photos
from nst_utils.paper.objective import build_objective
from nst_utils.paper.pipeline import Settings, stylize
from nst_utils.paper.vgg import load_vgg

from .common import interleaved, machine

PAINTINGS = ("starry_night", "the_scream", "shipwreck", "woman-with-hat-matisse")
STAT_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
ITERATIONS = 30


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1 / (a - b).pow(2).mean()))


def reconstruction(net, decoders, size: int) -> dict:
    """PSNR of each decoder on each held-out photo."""
    rows = {}
    for d in decoders:
        rows[d.layer] = {"steps": d.record.get("settings", {}).get("steps"),
                         "command": d.record.get("command")}  # fmt: skip
        for name in photos.HELD_OUT_PHOTOS:
            photo = load_image(name, size)
            picture = decoder.decode(d, net(photo, [d.layer])[d.layer], photo.shape[-2:])
            rows[d.layer][name] = round(psnr(picture, photo), 2)
    return rows


def _stats(net, image, painting) -> dict:
    ours, theirs = net(image, STAT_LAYERS), net(painting, STAT_LAYERS)
    errors = [arbitrary.statistics_error(ours[k], theirs[k]) for k in STAT_LAYERS]
    return {"mean": statistics.fmean(e["mean"] for e in errors),
            "std": statistics.fmean(e["std"] for e in errors),
            "per_layer": dict(zip(STAT_LAYERS, errors, strict=True))}  # fmt: skip


def statistics_part(net, paper_net, decoders, size: int, paintings, steps: int) -> dict:
    """Statistics errors and the paper's loss, per photo × painting and method."""
    rows = []
    for photo_name in photos.HELD_OUT_PHOTOS:
        photo = load_image(photo_name, size)
        for painting_name in paintings:
            painting = load_example(painting_name, size, fallback=None)
            if painting is None:
                continue
            painting = painting.image
            results = {"unpainted": photo}  # the baseline: the photo itself
            for method in ("adain", "wct"):
                results[method] = decoder.paint(net, decoders, photo, [painting], method,
                                                size=size)  # fmt: skip
            if steps:
                settings = Settings(fast=True, steps=steps)
                results["optimisation"] = stylize(paper_net, photo, painting, settings,
                                                  progress=False).image  # fmt: skip
            objective = build_objective(paper_net, photo, painting, fast=True)
            row = {"photo": photo_name, "painting": painting_name}
            for method, image in results.items():
                with torch.no_grad():
                    row[method] = {**_stats(net, image, painting),
                                   "paper_loss": objective(image).as_floats()}  # fmt: skip
            rows.append(row)
    return {"size": size, "optimisation_steps": steps, "rows": rows}


def speed(net, paper_net, decoders, sizes, reps: int, steps: int) -> dict:
    """Seconds per picture, interleaved; the optimisation at ``steps`` iterations."""
    out = {}
    for size in sizes:
        photo, painting = load_image("chelsea", size), load_image("swirls", size)
        timings = interleaved(_runs(net, paper_net, decoders, photo, painting, steps), reps)
        row = {k: v["median_s"] for k, v in timings.items()}
        row["optimisation_per_iteration_s"] = row["optimisation"] / steps
        row["optimisation_300_iterations_s"] = 300 * row["optimisation_per_iteration_s"]
        row["wct_speedup_vs_300"] = row["optimisation_300_iterations_s"] / row["wct"]
        out[str(size)] = {"median_s": row, "samples": timings}
    return {"sizes": list(sizes), "reps": reps, "optimisation_steps": steps, "rows": out}


def _runs(net, paper_net, decoders, photo, painting, steps: int) -> dict:
    """The three ways to paint ``photo``, as functions of nothing (for :func:`interleaved`)."""
    size = max(photo.shape[-2:])

    def one_pass(method):
        return lambda: decoder.paint(net, decoders, photo, [painting], method, size=size)

    def optimisation():
        return stylize(paper_net, photo, painting, Settings(fast=True, steps=steps), progress=False)

    return {"adain": one_pass("adain"), "wct": one_pass("wct"), "optimisation": optimisation}


def summary(res: dict) -> str:
    """The readable report of the parts that ran."""
    m = res["machine"]
    lines = [f"# Arbitrary style {res['date']} on {m['host']}", "",
             f"{m['cpu']}, {m['cores']} cores; torch {m['torch']}, {m['threads']} threads; "
             f"load average at start {m['loadavg_start']}. Mode: {res['mode']}; decoders "
             f"{', '.join(res['decoders'])}.", ""]  # fmt: skip
    if "reconstruction" in res:
        lines += ["## Decoder reconstruction (PSNR, dB, held-out photos, 256 px)", "",
                  "| decoder | steps | " + " | ".join(photos.HELD_OUT_PHOTOS) + " |",
                  "|---|---|" + "---|" * len(photos.HELD_OUT_PHOTOS)]  # fmt: skip
        for layer, row in res["reconstruction"].items():
            lines.append(f"| {layer} | {row['steps']} | "
                         + " | ".join(f"{row[p]:.1f}" for p in photos.HELD_OUT_PHOTOS) + " |")
        lines.append("")
    if "statistics" in res:
        lines += _statistics_section(res["statistics"])
    if "speed" in res:
        lines += _speed_section(res["speed"])
    return "\n".join(lines) + "\n"


def _statistics_section(stats: dict) -> list[str]:
    methods = [k for k in ("unpainted", "adain", "wct", "optimisation") if k in stats["rows"][0]]
    lines = [f"## Statistics against the painting ({stats['size']} px; relative error of the "
             "per-channel mean / std, averaged over relu1_1-relu4_1) and the paper's style "
             f"loss (optimisation: {stats['optimisation_steps']} iterations)", "",
             "| photo | painting | " + " | ".join(methods) + " |",
             "|---|---|" + "---|" * len(methods)]  # fmt: skip
    for row in stats["rows"]:
        cells = [f"{row[k]['mean']:.3f} / {row[k]['std']:.3f}; "
                 f"style {row[k]['paper_loss']['style']:.3g}" for k in methods]  # fmt: skip
        lines.append(f"| {row['photo']} | {row['painting']} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _speed_section(sp: dict) -> list[str]:
    lines = [f"## Seconds per picture (medians of {sp['reps']}, interleaved; the optimisation "
             f"at {sp['optimisation_steps']} iterations)", "",
             "| size | AdaIN | WCT | optimisation | per iteration | 300 iterations | "
             "300 iterations / WCT |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for size, row in sp["rows"].items():
        r = row["median_s"]
        lines.append(f"| {size} | {r['adain']:.2f} | {r['wct']:.2f} | {r['optimisation']:.1f} | "
                     f"{r['optimisation_per_iteration_s']:.2f} | "
                     f"{r['optimisation_300_iterations_s']:.0f} | ×{r['wct_speedup_vs_300']:.0f} |")
    return [*lines, ""]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the code only")
    parser.add_argument("--parts", default="reconstruction,statistics,speed")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    net = load_vgg(decoder.ARCH, decoder.POOLING, "cpu", verbose=False)
    paper_net = load_vgg(decoder.ARCH, "avg", "cpu", verbose=False)
    decoders = [decoder.load_decoder(k) for k in decoder.shipped_decoders()]
    if not decoders:
        raise SystemExit("no shipped decoders: train them first (BENCHMARKS.md, Arbitrary style)")
    quick = args.quick
    parts = args.parts.split(",")
    res = {"date": dt.datetime.now().isoformat(timespec="minutes"), "machine": machine(),
           "mode": "quick" if quick else "full",
           "decoders": [d.layer for d in decoders]}  # fmt: skip
    if "reconstruction" in parts:
        res["reconstruction"] = reconstruction(net, decoders, 64 if quick else 256)
    if "statistics" in parts:
        res["statistics"] = statistics_part(
            net, paper_net, decoders, 64 if quick else 256,
            PAINTINGS[:1] if quick else PAINTINGS, 2 if quick else ITERATIONS,
        )  # fmt: skip
    if "speed" in parts:
        res["speed"] = speed(net, paper_net, decoders, (64,) if quick else (256, 512),
                             1 if quick else 2, 2 if quick else 20)  # fmt: skip
    text = summary(res)
    stamp = time.strftime("%Y-%m-%dT%H%M") + f"-{res['machine']['host']}-arbitrary"
    stamp += "-quick" if quick else ""
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stamp}.json").write_text(json.dumps(res, indent=1))
    (args.out / f"{stamp}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
