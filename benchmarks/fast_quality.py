"""Issue 16's quality bar: trained style networks against the paper's optimisation.

``python -m benchmarks.fast_quality [--models NAME_OR_FILE,...] [--photos NAME_OR_FILE,...]
[--size 256] [--iterations 300]``

For every style of every model (the shipped ones by default; each style of a multi-style model
alone, as ``nst paint --style-mix`` with one style) and every held-out photo (by default
:data:`nst_utils.networks.photos.HELD_OUT_PHOTOS`, never seen in training; files too, e.g.
photos of a Debian package no network trained on, issue 32):

1. the network paints the photo at ``--size`` (longest side) in one pass, and
   :func:`nst_utils.paper.pipeline.score` gives its total loss under the default settings;
2. the paper's optimisation (L-BFGS from the content image, the same objective and size) runs
   ``--iterations`` iterations; its loss after 50 iterations is the bar (the level Johnson et
   al. report for their networks), and the *equivalent iterations* of the network are the
   first iteration whose loss is no higher than the network's.

The network passes the bar when its loss is at most the optimisation's after 50 iterations.
Both pictures of each pair are written beside the JSON so that they can be looked at side
by side, with ``sheet.png``, a contact sheet of all of them (a row per model and style: the
network's picture, then the optimisation's, for each photo), and ``report.md``, the table.
The optimisation of a style on a photo runs once however many models paint that style.
Weights: the default VGG (offline, the paper's Caffe VGG-19) with average pooling, as ``nst
score`` and ``nst train-style`` use.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import itertools
import json
import shlex
import sys
from pathlib import Path

import nst_utils  # noqa: F401  (before torch, as the kit's entry points do)
from nst_utils.assets.images import load_image, save_image
from nst_utils.networks.fast_style import paint
from nst_utils.networks.painter import load_model, shipped_models, style_mix
from nst_utils.networks.photos import HELD_OUT_PHOTOS
from nst_utils.paper.optimize import iterations_to_reach
from nst_utils.paper.pipeline import Settings, score, stylize
from nst_utils.paper.vgg import load_vgg

from .common import ROOT, machine

BAR_ITERATIONS = 50


def steps_taken(row: dict) -> int:
    """Iterations done before a history row (:func:`iterations_to_reach` says why)."""
    return int(row["iteration"]) - 1


def optimise(net, photo: str, style: str, size: int, iterations: int):
    """The paper's optimisation of ``photo`` in ``style``: ``iterations`` L-BFGS iterations
    from the photo (the last history row is measured after the last of them)."""
    run = Settings(fast=True, size=size, steps=iterations + 1)
    return stylize(net, photo, style, run, progress=False)


def compare(
    net, model_name: str, photo: str, size: int, iterations: int, out: Path,
    label: str | None = None, *, style: int = 0, cache: dict | None = None,
) -> dict:  # fmt: skip
    """One model's style number ``style`` on one held-out photo (a name or a file) against the
    optimisation; writes both pictures, named after ``label`` (default: the model file's
    stem) and, for a multi-style model, the style. ``cache`` keeps optimisations across calls
    (several models paint one style)."""
    model = load_model(model_name)
    style_name = model.record.get("styles", model.style_names)[style]
    picture = paint(model, load_image(photo, size), style_mix(model, style))
    network = score(net, picture, photo, style_name).as_floats()
    key = (style_name, str(photo), size, iterations)
    result = (cache or {}).get(key) or optimise(net, photo, style_name, size, iterations)
    if cache is not None:
        cache[key] = result
    bar = min(row["total"] for row in result.history if steps_taken(row) <= BAR_ITERATIONS)
    part = f"-{Path(style_name).stem}" if model.styles > 1 else ""
    stem = f"{label or Path(model_name).stem}{part}-{Path(photo).stem}-{size}"
    save_image(picture, out / f"{stem}-network.png")
    save_image(result.image, out / f"{stem}-optimisation-{iterations}.png")
    return {
        "model": str(model_name), "style": style_name, "photo": str(photo), "size": size,
        "network": network, "optimisation_after_50": bar,
        "optimisation_final": min(row["total"] for row in result.history),
        "passes": network["total"] <= bar,
        "equivalent_iterations": iterations_to_reach(result.history, network["total"]),
        "optimisation_seconds": result.seconds,
        "pictures": [f"{stem}-network.png", f"{stem}-optimisation-{iterations}.png"],
    }  # fmt: skip


def labels(models: list[str]) -> list[str]:
    """A file-name label per model: its stem, numbered where two models share one (a shipped
    ``starry_night`` beside a ``…/starry_night.safetensors`` under test)."""
    stems = [Path(m).stem for m in models]
    return [f"{s}-{i + 1}" if stems.count(s) > 1 else s for i, s in enumerate(stems)]


def photo_record(photo: str) -> dict:
    """A photo as the record names it: the name or file, and a file's SHA-256."""
    path = Path(photo)
    if not path.is_file():
        return {"photo": photo}
    return {"photo": photo, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def table(rows: list[dict]) -> str:
    """The report's markdown table, one row per model, style and photo."""
    lines = ["| model | style | photo | content | β · style | total | optimisation after 50 it. "
             "| equivalent iterations |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        n = r["network"]
        lines.append(f"| `{Path(r['model']).stem}` | {r['style']} | {Path(r['photo']).stem} | "
                     f"{n['content']:.2e} | {n['total'] - n['content'] - n['tv']:.2e} | "
                     f"{n['total']:.2e} | "
                     f"{r['optimisation_after_50']:.2e} | {r['equivalent_iterations']} |")
    return "\n".join(lines) + "\n"


def contact_sheet(rows: list[dict], folder: Path, cell: int = 192) -> Path:
    """``sheet.png``: a row per model and style, for each photo the network's picture and the
    optimisation's side by side, each fitted into ``cell`` px."""
    from PIL import Image, ImageDraw

    keys = list(dict.fromkeys((r["model"], r["style"]) for r in rows))
    photos = list(dict.fromkeys(r["photo"] for r in rows))
    sheet = Image.new("RGB", (2 * cell * len(photos), (cell + 16) * len(keys)), "white")
    draw = ImageDraw.Draw(sheet)
    for r in rows:
        y = keys.index((r["model"], r["style"])) * (cell + 16)
        for k, name in enumerate(r["pictures"]):
            x = (2 * photos.index(r["photo"]) + k) * cell
            with Image.open(folder / name) as image:
                image.thumbnail((cell - 4, cell - 4))
                sheet.paste(image, (x + 2, y + 14))
            what = "network" if k == 0 else "optimisation"
            draw.text((x + 2, y + 1), f"{Path(r['model']).stem}/{r['style']} {what}"[:34],
                      fill="black")  # fmt: skip
    sheet.save(folder / "sheet.png")
    return folder / "sheet.png"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=None, help="comma-separated names or files")
    parser.add_argument("--photos", default=",".join(HELD_OUT_PHOTOS))
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    models = args.models.split(",") if args.models else shipped_models()
    if not models:
        parser.error("no model to score (train one with 'nst train-style')")
    stamp = dt.datetime.now().strftime("%Y-%m-%dT%H%M")
    pictures = args.out / f"{stamp}-fast-quality"
    pictures.mkdir(parents=True, exist_ok=True)
    net = load_vgg(pooling="avg", verbose=False)
    rows, cache = [], {}
    for model, label in zip(models, labels(models), strict=True):
        for style, photo in itertools.product(range(load_model(model).styles),
                                              args.photos.split(",")):  # fmt: skip
            row = compare(net, model, photo, args.size, args.iterations, pictures, label,
                          style=style, cache=cache)  # fmt: skip
            rows.append(row)
            print(
                f"{row['model']} ({row['style']}) on {photo} at {args.size} px: "
                f"network {row['network']['total']:.4g}"
                f", optimisation after {BAR_ITERATIONS} it. {row['optimisation_after_50']:.4g}"
                f" -> {'passes' if row['passes'] else 'FAILS'}; equivalent iterations "
                f"{row['equivalent_iterations']}", flush=True,
            )  # fmt: skip
    command = shlex.join(["python", "-m", "benchmarks.fast_quality", *(argv or sys.argv[1:])])
    report = {"command": command, "machine": machine(), "arch": net.arch,
              "photos": [photo_record(p) for p in args.photos.split(",")], "rows": rows}
    (pictures / "report.json").write_text(json.dumps(report, indent=1))
    (pictures / "report.md").write_text(f"`{command}`\n\n" + table(rows))
    contact_sheet(rows, pictures)
    return report


if __name__ == "__main__":
    main()
