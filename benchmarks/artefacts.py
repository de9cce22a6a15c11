"""Stripes and edge bands in the one-pass networks' pictures, measured (issue 32, item 2).

``python -m benchmarks.artefacts [--models NAME_OR_FILE,...] [--photos tubingen,chelsea,FILE,...]
[--size 256] [--iterations 50] [--out benchmarks/results] [--reuse FAST_QUALITY_FOLDER]
[--weights]``

Two measures of a picture ``(1, 3, H, W)`` in ``[0, 1]``, each read against the same measure of
the optimisation's picture of the same photo and style (50 L-BFGS iterations, the pipeline with
``Settings(fast=True)``):

* :func:`stripe_ratio`, the **stripes**: the mean squared difference between neighbouring rows
  over that between neighbouring columns. Horizontal stripes raise it above the photo's own;
  an isotropic picture scores about 1.
* :func:`edge_band`, the **edge bands**: per side, the mean absolute difference between the
  outermost :data:`BAND` pixels and the :data:`BAND` pixels inside them (row ``i`` against row
  ``i + BAND``); a frame of another colour raises it.

For every shipped model (each style of a multi-style one) and photo the run paints the photo as
shipped and with inference-side variants of the same weights (zero or replicate padding instead
of reflection, bilinear instead of nearest upsampling), paints the photo turned by 90° and
turns the picture back (stripes that follow the network's frame, not the photo's, turn with
it), paints isotropic noise and a flat grey picture (the network's own patterns), and measures
the style painting itself. Where the row-to-row energy sits modulo 4 (the two ×2 upsamplings
repeat every 4 rows) is :func:`phase_profile`. The record (JSON, a markdown table and a contact
sheet) goes to ``<out>/<stamp>-artefacts/``.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime as dt
import json
import shlex
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from nst_utils.assets.images import load_image, save_image
from nst_utils.networks import painter
from nst_utils.networks.fast_style import paint
from nst_utils.networks.painter import load_model, shipped_models, style_mix
from nst_utils.networks.photos import HELD_OUT_PHOTOS
from nst_utils.paper.pipeline import score

from .common import ROOT, machine
from .fast_quality import contact_sheet, optimise

#: Pixels of each side's band, and of the band inside it that it is compared with.
BAND = 4
SIDES = ("top", "bottom", "left", "right")
#: Inference-side variants of the shipped weights: (padding mode, upsampling mode).
VARIANTS = {"shipped": ("reflect", "nearest"), "zeros": ("zeros", "nearest"),
            "replicate": ("replicate", "nearest"), "bilinear": ("reflect", "bilinear")}  # fmt: skip


# --------------------------------------------------------------------------- the measures


def stripe_ratio(image: torch.Tensor) -> float:
    """Row-to-row over column-to-column gradient energy (mean squared neighbour differences)."""
    x = image.detach().float()
    rows = (x[..., 1:, :] - x[..., :-1, :]).pow(2).mean()
    columns = (x[..., :, 1:] - x[..., :, :-1]).pow(2).mean()
    return float(rows / columns)


def edge_band(image: torch.Tensor, band: int = BAND) -> dict[str, float]:
    """Per side, the mean absolute difference between the outermost ``band`` pixels and the
    ``band`` pixels inside them; ``mean`` is the four sides' mean."""
    x = image.detach().float()
    pairs = {
        "top": (x[..., :band, :], x[..., band : 2 * band, :]),
        "bottom": (x[..., -band:, :], x[..., -2 * band : -band, :]),
        "left": (x[..., :, :band], x[..., :, band : 2 * band]),
        "right": (x[..., :, -band:], x[..., :, -2 * band : -band]),
    }
    sides = {side: float((outer - inner).abs().mean()) for side, (outer, inner) in pairs.items()}
    return {**sides, "mean": sum(sides.values()) / len(sides)}


def measure(image: torch.Tensor) -> dict:
    """Both measures of a picture."""
    return {"stripes": stripe_ratio(image), "edges": edge_band(image)}


def phase_profile(image: torch.Tensor, period: int = 4) -> dict[str, list[float]]:
    """The mean squared row-to-row (and column-to-column) difference by position modulo
    ``period``, each over its mean: a pattern locked to the upsampling's grid is uneven here."""
    x = image.detach().float()
    rows = (x[..., 1:, :] - x[..., :-1, :]).pow(2).mean(dim=(0, 1, 3))
    columns = (x[..., :, 1:] - x[..., :, :-1]).pow(2).mean(dim=(0, 1, 2))
    return {"rows": _by_phase(rows, period), "columns": _by_phase(columns, period)}


def _by_phase(energy: torch.Tensor, period: int) -> list[float]:
    phases = torch.stack([energy[k::period].mean() for k in range(period)])
    return [round(float(v), 3) for v in phases / phases.mean()]


# --------------------------------------------------------------------------- the probes


@contextlib.contextmanager
def inference_variant(model: painter.StyleNet, padding: str, upsampling: str) -> Iterator[None]:
    """``model`` with another padding mode in every convolution and another upsampling mode,
    the same weights; restored on leaving."""
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    before = [c.padding_mode for c in convs]
    real = F.interpolate

    def interpolate(x, size=None, scale_factor=None, mode="nearest", align_corners=None, **kw):
        if mode == "nearest" and upsampling != "nearest":
            mode, align_corners = upsampling, False
        return real(x, size, scale_factor, mode, align_corners, **kw)

    try:
        for conv in convs:
            conv.padding_mode = padding
        painter.F.interpolate = interpolate
        yield
    finally:
        painter.F.interpolate = real
        for conv, mode in zip(convs, before, strict=True):
            conv.padding_mode = mode


def turned(model: painter.StyleNet, photo: torch.Tensor, mix: torch.Tensor) -> torch.Tensor:
    """The photo turned by 90°, painted, and turned back."""
    return paint(model, photo.rot90(1, (2, 3)), mix).rot90(-1, (2, 3))


def noise(shape: tuple[int, int], seed: int = 0) -> torch.Tensor:
    """Isotropic test input: uniform noise blurred by a 5×5 box, about the photo's grey."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, 3, shape[0] + 4, shape[1] + 4, generator=g)
    return F.avg_pool2d(x, 5, stride=1).clamp(0, 1)


def network_rows(net, model: painter.StyleNet, style: int, photo: torch.Tensor,
                 source: str, style_name: str) -> dict:  # fmt: skip
    """Every probe of one model's style on one photo, each with both measures and the total
    loss (:func:`nst_utils.paper.pipeline.score`): the inference variants, the photo turned,
    the average of the photo's picture and the turned one's (a test-time fix that needs no
    training), and the photo cropped to multiples of 4 px (no uneven upsampling)."""
    mix = style_mix(model, style)
    pictures = {}
    for name, (padding, upsampling) in VARIANTS.items():
        with inference_variant(model, padding, upsampling):
            pictures[name] = paint(model, photo, mix)
    pictures["turned"] = turned(model, photo, mix)
    pictures["averaged"] = (pictures["shipped"] + pictures["turned"]) / 2
    h, w = photo.shape[-2:]
    pictures["crop4"] = paint(model, photo[..., : h - h % 4, : w - w % 4], mix)
    return {name: {**measure(picture), "total": total(net, picture, source, style_name)}
            for name, picture in pictures.items()}  # fmt: skip


def total(net, picture: torch.Tensor, photo: str, style: str) -> float:
    """The paper's total loss of ``picture`` (``nst score``'s objective)."""
    return float(score(net, picture, photo, style).total)


def own_patterns(model: painter.StyleNet, style: int, shape: tuple[int, int]) -> dict:
    """What the network paints on inputs without structure: noise and a flat grey."""
    mix = style_mix(model, style)
    grey = paint(model, torch.full((1, 3, *shape), 0.5), mix)
    textured = paint(model, noise(shape), mix)
    return {"noise_input": stripe_ratio(noise(shape)), "noise": measure(textured),
            "noise_phases": phase_profile(textured),
            "grey_spread": float(grey.std(dim=(2, 3)).max())}  # fmt: skip


def optimisation(net, photo: str, style: str, size: int, iterations: int,
                 reuse: Sequence[Path] = ()) -> torch.Tensor:  # fmt: skip
    """The paper's picture after ``iterations`` L-BFGS iterations (the fast engine path,
    :func:`benchmarks.fast_quality.optimise`), or that picture as a ``fast_quality`` run or an
    earlier record of this module with the same size and iterations wrote it into one of the
    folders ``reuse`` (8-bit PNG)."""
    stem = Path(photo).stem
    patterns = (f"*{style}-{stem}-{size}-optimisation-{iterations}.png",
                f"{style}-{stem}-optimisation.png")  # fmt: skip
    found = [p for folder in reuse for pattern in patterns for p in sorted(folder.glob(pattern))]
    if found:
        return load_image(found[0])
    return optimise(net, photo, style, size, iterations).image


# --------------------------------------------------------------------------- the weights

#: Groups of convolutions whose kernels :func:`symmetrised` averages with their transposes.
GROUPS = {"out": ("out",), "residual": ("residual",), "up+out": ("up", "out"),
          "all": ("down", "residual", "up", "out")}  # fmt: skip


def kernel_anisotropy(weight: torch.Tensor) -> float:
    """How much more a convolution's kernels vary from row to row than from column to column
    (1 for a kernel and its transpose alike; a new network's are within 2 % of 1)."""
    return stripe_ratio(weight.reshape(1, -1, *weight.shape[-2:]))


def symmetrised(model: painter.StyleNet, prefixes: tuple[str, ...]) -> painter.StyleNet:
    """A copy of ``model`` whose convolutions under ``prefixes`` have each kernel replaced by
    the mean of itself and its transpose: those layers can no longer tell rows from columns."""
    twin = copy.deepcopy(model)
    for name, module in twin.named_modules():
        if isinstance(module, torch.nn.Conv2d) and name.startswith(prefixes):
            module.weight.data = (module.weight.data + module.weight.data.mT) / 2
    return twin


def weight_probes(net, model_name: str, style: int, photo: str, size: int) -> dict:
    """Each convolution's kernel anisotropy, and, once a group of layers is made symmetric,
    the stripes of the photo's and of noise's pictures, how far the picture moves and its
    total loss (does the same network without its anisotropy paint better?)."""
    model, image = load_model(model_name), load_image(photo, size)
    mix, textured = style_mix(model, style), noise(tuple(image.shape[-2:]))
    style_name = model.style_names[style]
    shipped = paint(model, image, mix)
    layers = {name: kernel_anisotropy(m.weight.data) for name, m in model.named_modules()
              if isinstance(m, torch.nn.Conv2d)}  # fmt: skip
    groups = {}
    for group, prefixes in {"none": (), **GROUPS}.items():
        twin = symmetrised(model, prefixes) if prefixes else model
        picture = paint(twin, image, mix)
        groups[group] = {"stripes": stripe_ratio(picture),
                         "noise": stripe_ratio(paint(twin, textured, mix)),
                         "change": float((picture - shipped).abs().mean()),
                         "total": total(net, picture, photo, style_name)}  # fmt: skip
    return {"layers": layers, "symmetrised": groups}


def weights_table(probes: dict) -> str:
    """Markdown: the stripes when each group of layers is symmetrised, per model and style."""
    head = ("| model | style | output conv anisotropy | " + " | ".join(
        f"{g} symmetric: stripes (noise; change; total)" for g in ["none", *GROUPS]) + " |")
    lines = [head, "|---" * (3 + 1 + len(GROUPS)) + "|"]
    for key, probe in probes.items():
        cells = [f"{v['stripes']:.2f} ({v['noise']:.2f}; {v['change']:.3f}; {v['total']:.3g})"
                 for v in probe["symmetrised"].values()]  # fmt: skip
        lines.append(f"| {key.replace('/', ' | ')} | {probe['layers']['out']:.2f} | "
                     + " | ".join(cells) + " |")  # fmt: skip
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- the run


def styles_of(names: list[str]) -> list[tuple[str, int, str]]:
    """``(model, style index, style name)`` for every style of every model."""
    return [(name, i, style) for name in names
            for i, style in enumerate(load_model(name).style_names)]  # fmt: skip


def run(net, photos: list[str], size: int, iterations: int, out: Path,
        reuse: Sequence[Path] = (), models: list[str] | None = None) -> dict:  # fmt: skip
    """Measure every model's style on every photo against the optimisation's picture."""
    rows, cache = [], {}
    for model_name, index, style in styles_of(models or shipped_models()):
        model = load_model(model_name)
        own = own_patterns(model, index, (size, size))
        for photo in photos:
            image = load_image(photo, size)
            key = (style, photo)
            if key not in cache:
                cache[key] = optimisation(net, photo, style, size, iterations, reuse)
                save_image(cache[key], out / f"{style}-{Path(photo).stem}-optimisation.png")
            picture = paint(model, image, style_mix(model, index))
            label = Path(model_name).stem
            save_image(picture, out / f"{label}-{style}-{Path(photo).stem}-network.png")
            optimised = {**measure(cache[key]), "total": total(net, cache[key], photo, style)}
            rows.append({
                "model": model_name, "style": style, "photo": photo,
                "photo_itself": measure(image), "optimisation": optimised,
                "network": network_rows(net, model, index, image, photo, style),
                "phases": phase_profile(picture), "own_patterns": own,
                "painting": stripe_ratio(load_image(style, size)),
            })  # fmt: skip
            print(_line(rows[-1]), flush=True)
    return {"rows": rows}


def _line(row: dict) -> str:
    net, opt = row["network"]["shipped"], row["optimisation"]
    return (f"{row['model']}/{row['style']} on {Path(row['photo']).stem}: stripes "
            f"{net['stripes']:.2f} (optimisation {opt['stripes']:.2f}), edges "
            f"{net['edges']['mean']:.4f} ({opt['edges']['mean']:.4f})")  # fmt: skip


#: The record's three tables: (title, format, the probes of each row, what each one shows).
TABLES = (
    ("stripes: row-to-row over column-to-column gradient energy", "{:.2f}",
     ("shipped", "optimisation", "photo", "turned", "crop4", "zeros", "replicate", "bilinear",
      "averaged"), "stripes"),
    ("edges: outer 4 px against the 4 inside, mean absolute difference", "{:.4f}",
     ("shipped", "optimisation", "zeros", "replicate", "bilinear", "averaged"), "edges"),
    ("total loss (nst score's objective)", "{:.3g}",
     ("shipped", "optimisation", "zeros", "replicate", "bilinear", "averaged"), "total"),
)  # fmt: skip


def _value(row: dict, probe: str, what: str) -> float:
    source = {"optimisation": row["optimisation"], "photo": row["photo_itself"]}.get(
        probe, row["network"].get(probe, {}))
    value = source[what]
    return value["mean"] if isinstance(value, dict) else value


def table(rows: list[dict]) -> str:
    """The record's markdown tables: each measure of each probe against the optimisation."""
    parts = []
    for title, fmt, probes, what in TABLES:
        head = "| model | style | photo | " + " | ".join(probes) + " |"
        lines = [f"**{title}**", "", head, "|---" * (3 + len(probes)) + "|"]
        lines += [f"| {Path(r['model']).stem} | {r['style']} | {Path(r['photo']).stem} | "
                  + " | ".join(fmt.format(_value(r, p, what)) for p in probes) + " |"
                  for r in rows]  # fmt: skip
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def sheet(report: dict, out: Path) -> Path:
    """``sheet.png``: each row's network picture beside the optimisation's, a row per model
    and style, a pair of columns per photo (:func:`benchmarks.fast_quality.contact_sheet`)."""
    rows = [{**r, "pictures": [f"{Path(r['model']).stem}-{r['style']}-{Path(r['photo']).stem}"
                               "-network.png",
                               f"{r['style']}-{Path(r['photo']).stem}-optimisation.png"]}
            for r in report["rows"]]  # fmt: skip
    return contact_sheet(rows, out)


def weights_record(net, photo: str, size: int, out: Path, command: str,
                   models: list[str] | None = None) -> dict:  # fmt: skip
    """``weights.json`` and ``weights.md`` in ``out``: :func:`weight_probes` of every style
    of every model (default: the shipped ones) on ``photo``."""
    probes = {f"{Path(name).stem}/{style}": weight_probes(net, name, index, photo, size)
              for name, index, style in styles_of(models or shipped_models())}  # fmt: skip
    record = {"command": command, "photo": photo, "size": size, "probes": probes}
    out.mkdir(parents=True, exist_ok=True)
    (out / "weights.json").write_text(json.dumps(record, indent=1))
    (out / "weights.md").write_text(f"`{command}`\n\n" + weights_table(probes))
    return record


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", default=",".join(HELD_OUT_PHOTOS),
                        help="comma-separated example names or files")  # fmt: skip
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--reuse", type=Path, action="append", default=[], metavar="DIR",
                        help="a fast_quality run's or an earlier record's folder (same --size "
                        "and --iterations): its optimisation pictures instead of optimising "
                        "again; repeat for more")  # fmt: skip
    parser.add_argument("--models", default=None,
                        help="comma-separated model names or files (default: the shipped ones)")
    parser.add_argument("--weights", action="store_true",
                        help="only the weight probes, on the first photo (no optimisation)")
    args = parser.parse_args(argv)
    models = args.models.split(",") if args.models else None
    from nst_utils.paper.vgg import load_vgg

    command = shlex.join(["python", "-m", "benchmarks.artefacts", *(argv or sys.argv[1:])])
    net = load_vgg(pooling="avg", verbose=False)
    if args.weights:
        return weights_record(net, args.photos.split(",")[0], args.size, args.out, command,
                              models)  # fmt: skip
    stamp = dt.datetime.now().strftime("%Y-%m-%dT%H%M")
    out = args.out / f"{stamp}-artefacts"
    out.mkdir(parents=True, exist_ok=True)
    report = run(net, args.photos.split(","), args.size, args.iterations, out, args.reuse,
                 models)  # fmt: skip
    report = {"command": command, "machine": machine(), "arch": net.arch, "band": BAND,
              "size": args.size, "iterations": args.iterations, **report}  # fmt: skip
    (out / "artefacts.json").write_text(json.dumps(report, indent=1))
    (out / "table.md").write_text(f"`{command}`\n\n" + table(report["rows"]))
    sheet(report, out)
    return report


if __name__ == "__main__":
    main()
