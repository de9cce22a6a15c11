"""Issue 16's quality bar: trained style networks against the paper's optimisation.

``python -m benchmarks.fast_quality [--models NAME_OR_FILE,...] [--size 256] [--iterations 300]``

For every single-style model (the shipped ones by default) and every held-out photo
(:data:`nst_utils.networks.photos.HELD_OUT_PHOTOS`, never seen in training):

1. the network paints the photo at ``--size`` (longest side) in one pass, and
   :func:`nst_utils.paper.pipeline.score` gives its total loss under the default settings;
2. the paper's optimisation (L-BFGS from the content image, the same objective and size) runs
   ``--iterations`` iterations; its loss after 50 iterations is the bar (the level Johnson et
   al. report for their networks), and the *equivalent iterations* of the network are the
   first iteration whose loss is no higher than the network's.

The network passes the bar when its loss is at most the optimisation's after 50 iterations.
Both pictures of each pair are written beside the JSON so that they can be looked at side
by side. Weights: the default VGG (offline, the paper's Caffe VGG-19) with average pooling,
as ``nst score`` and ``nst train-style`` use.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

import nst_utils  # noqa: F401  (before torch, as the kit's entry points do)
from nst_utils.assets.images import load_image, save_image
from nst_utils.networks.fast_style import paint
from nst_utils.networks.painter import load_model, shipped_models
from nst_utils.networks.photos import HELD_OUT_PHOTOS
from nst_utils.paper.optimize import iterations_to_reach
from nst_utils.paper.pipeline import Settings, score, stylize
from nst_utils.paper.vgg import load_vgg

from .common import ROOT, machine

BAR_ITERATIONS = 50


def steps_taken(row: dict) -> int:
    """Iterations done before a history row (:func:`iterations_to_reach` says why)."""
    return int(row["iteration"]) - 1


def compare(net, model_name: str, photo: str, size: int, iterations: int, out: Path,
            label: str | None = None) -> dict:  # fmt: skip
    """One model on one held-out photo against the optimisation; writes both pictures,
    named after ``label`` (default: the model file's stem)."""
    model = load_model(model_name)
    style = model.record["styles"][0]
    picture = paint(model, load_image(photo, size))
    network = score(net, picture, photo, style).as_floats()
    # the last row: after ``iterations`` steps
    run = Settings(fast=True, size=size, steps=iterations + 1)
    result = stylize(net, photo, style, run, progress=False)
    bar = min(row["total"] for row in result.history if steps_taken(row) <= BAR_ITERATIONS)
    stem = f"{label or Path(model_name).stem}-{photo}-{size}"
    save_image(picture, out / f"{stem}-network.png")
    save_image(result.image, out / f"{stem}-optimisation-{iterations}.png")
    return {
        "model": str(model_name), "style": style, "photo": photo, "size": size,
        "network": network, "optimisation_after_50": bar,
        "optimisation_final": min(row["total"] for row in result.history),
        "passes": network["total"] <= bar,
        "equivalent_iterations": iterations_to_reach(result.history, network["total"]),
        "optimisation_seconds": result.seconds,
    }  # fmt: skip


def labels(models: list[str]) -> list[str]:
    """A file-name label per model: its stem, numbered where two models share one (a shipped
    ``starry_night`` beside a ``…/starry_night.safetensors`` under test)."""
    stems = [Path(m).stem for m in models]
    return [f"{s}-{i + 1}" if stems.count(s) > 1 else s for i, s in enumerate(stems)]


def single_style(name: str) -> bool:
    return len(load_model(name).style_names) == 1


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=None, help="comma-separated names or files")
    parser.add_argument("--photos", default=",".join(HELD_OUT_PHOTOS))
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    models = args.models.split(",") if args.models else shipped_models()
    models = [m for m in models if single_style(m)]
    if not models:
        parser.error("no single-style model to score (train one with 'nst train-style')")
    stamp = dt.datetime.now().strftime("%Y-%m-%dT%H%M")
    pictures = args.out / f"{stamp}-fast-quality"
    pictures.mkdir(parents=True, exist_ok=True)
    net = load_vgg(pooling="avg", verbose=False)
    rows = []
    for model, label in zip(models, labels(models), strict=True):
        for photo in args.photos.split(","):
            row = compare(net, model, photo, args.size, args.iterations, pictures, label)
            rows.append(row)
            print(
                f"{row['model']} on {photo} at {args.size} px: "
                f"network {row['network']['total']:.4g}"
                f", optimisation after {BAR_ITERATIONS} it. {row['optimisation_after_50']:.4g}"
                f" -> {'passes' if row['passes'] else 'FAILS'}; equivalent iterations "
                f"{row['equivalent_iterations']}", flush=True,
            )  # fmt: skip
    report = {"machine": machine(), "arch": net.arch, "rows": rows}
    (pictures / "report.json").write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
