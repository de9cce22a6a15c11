r"""``python -m benchmarks.calibrate_networks [--size N] [--steps N] [--pooling avg] [--out D]``.

Calibrates the default style weight β (α = 1) of the Caffe VGG-19 against VGG-16, so that
the same ``nst stylize`` command paints to a comparable degree on both networks. The result
is a **ratio** :math:`\rho = \beta_{caffe} / \beta_{vgg16}`: it depends on the networks' loss
scales, not on the optimiser, so it should survive a change of optimiser; the default is
:math:`\beta_{caffe} = \rho \cdot \beta_{vgg16}` (``nst_utils.assets.calibration.STYLE_WEIGHTS``).

Two estimates, on four content × painting pairs (bundled photos, ``$NST_EXAMPLES_DIR``'s
paintings), square images at ``--size`` px, the kit's default layers and loss normalisation:

A. **Loss scales (no optimiser).** For each network, the style loss of the photo against the
   painting, :math:`S = L_{style}(photo)` (where a transfer starts), over the content loss of
   the painting against the photo, :math:`C = L_{content}(painting)` (how far "all style"
   would be from the content): :math:`k = S / C`. Equal :math:`\beta k` is an equal balance of
   the two terms, so :math:`\rho_A = k_{vgg16} / k_{caffe}`. The ratio of the two content
   losses, :math:`C_{caffe} / C_{vgg16}`, is the content scale (``CONTENT_SCALES``) by which a
   weight on a term outside the network (total variation) must grow.

B. **Degree of painting (the engine).** Both networks run over the same grid of *balances*:
   VGG-16 at :math:`\beta_{vgg16} f` and the Caffe VGG-19 at :math:`\rho_A \beta_{vgg16} f`
   (:math:`\rho_A` of that pair), :math:`f` = 1/100, 1/10, 1, 10. Each result :math:`x` is
   measured in ways that need no agreement between the networks:

   * :math:`d = \mathrm{RMS}(x - photo)`: how far (0–1 pixel units) the picture moved;
   * :math:`c_J = L^J_{content}(x) / L^J_{content}(painting)`: how much of the way from the
     photo's to the painting's ``relu4_2`` responses it went, by judge network J (both);
   * :math:`s_J = \log_{10}(L^J_{style}(photo) / L^J_{style}(x))`: orders of magnitude of
     style mismatch removed, by judge J (each judge favours pictures made with its own
     features, so these are reported, not used).

   If :math:`\rho_A` is right, the two networks' curves over :math:`f` coincide. Per pair and
   measure, :math:`\beta^*` is where the Caffe curve (linear in :math:`\log\beta`) reaches the
   VGG-16 value at :math:`f = 1`; :math:`\rho_B` is the geometric mean of
   :math:`\beta^* / \beta_{vgg16}` over the pairs. ``--steps 0`` runs part A alone (seconds).

Both networks use ``--pooling`` (average, the kit's default, or max): pooling changes the
deep responses' scale, so each pooling has its own defaults.

Writes ``<out>/<start>-<host>-calibration.json`` and ``.md`` (also printed).
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import math
import platform
from pathlib import Path

import torch

from nst_utils.assets.calibration import STYLE_WEIGHTS
from nst_utils.paper.objective import build_objective
from nst_utils.paper.pipeline import Settings, stylize

from .common import load_net, machine, square_image

PAIRS = (
    ("chelsea", "starry_night"),
    ("tubingen", "the_scream"),
    ("astronaut", "woman-with-hat-matisse"),
    ("coffee", "shipwreck"),
)
REFERENCE, CALIBRATED = "vgg16", "vgg19-caffe"
FACTORS = (1e-2, 1e-1, 1.0, 1e1)
MEASURES = ("d", f"c_{REFERENCE}", f"c_{CALIBRATED}", f"s_{REFERENCE}", f"s_{CALIBRATED}")


def geomean(values) -> float:
    values = list(values)
    return math.exp(sum(math.log(v) for v in values) / len(values))


@torch.no_grad()
def measure(nets, photo, painting, image) -> dict:
    """``d``, and ``c_J``, ``s_J`` for every judge network J (see the module docstring)."""
    out = {"d": (image - photo).square().mean().sqrt().item()}
    for arch, net in nets.items():
        objective = build_objective(net, photo, painting, style_weight=1.0, fast=True)
        start, end, far = objective(photo), objective(image), objective(painting)
        out[f"c_{arch}"] = end.content.item() / far.content.item()
        out[f"s_{arch}"] = math.log10(start.style.item() / end.style.item())
    return out


def scale_ratio(nets, photo, painting) -> dict:
    """Part A: ``k = L_style(photo) / L_content(painting)`` per network, ``rho_A`` and the
    content scale ``C_caffe / C_vgg16``."""
    k, c = {}, {}
    for arch, net in nets.items():
        with torch.no_grad():
            objective = build_objective(net, photo, painting, style_weight=1.0, fast=True)
            c[arch] = objective(painting).content.item()
            k[arch] = objective(photo).style.item() / c[arch]
    return {"k": k, "rho": k[REFERENCE] / k[CALIBRATED],
            "content_scale": c[CALIBRATED] / c[REFERENCE]}  # fmt: skip


def crossing(betas: list[float], scores: list[float], target: float) -> float | None:
    """β where ``scores`` (rising with β) reaches ``target``, linear in log β; None outside."""
    points = sorted(zip(betas, scores, strict=True))
    for (b0, s0), (b1, s1) in itertools.pairwise(points):
        if min(s0, s1) <= target <= max(s0, s1) and s0 != s1:
            t = (target - s0) / (s1 - s0)
            return math.exp(math.log(b0) + t * (math.log(b1) - math.log(b0)))
    return None


def paint(nets, photo, painting, beta_ref, rho, size, steps, label, log=print) -> list[dict]:
    """Part B for one pair: both networks over the balances ``FACTORS``, each result measured."""
    runs = []
    for arch in (REFERENCE, CALIBRATED):
        base = beta_ref * (1.0 if arch == REFERENCE else rho)
        for f in FACTORS:
            beta = float(f"{base * f:.3g}")
            settings = Settings(fast=True, size=size, steps=steps, style_weight=beta)
            result = stylize(nets[arch], photo, painting, settings, progress=False)
            m = measure(nets, photo, painting, result.image)
            runs.append({"arch": arch, "factor": f, "beta": beta, **m})
            log(f"{label}: {arch} f={f:g} beta={beta:.3g} "
                + " ".join(f"{k}={m[k]:.3g}" for k in MEASURES), flush=True)  # fmt: skip
    return runs


def crossings(runs: list[dict]) -> dict:
    """Per measure, β* where the Caffe curve reaches VGG-16's value at f = 1 (None if not)."""
    if not runs:
        return dict.fromkeys(MEASURES)
    ref = next(r for r in runs if r["arch"] == REFERENCE and r["factor"] == 1.0)
    cal = [r for r in runs if r["arch"] == CALIBRATED]
    return {k: crossing([r["beta"] for r in cal], [r[k] for r in cal], ref[k]) for k in MEASURES}


def calibrate(size: int, steps: int, pooling: str = "avg", log=print) -> dict:
    """Parts A and B on every pair (see the module docstring); B only when ``steps`` > 0."""
    nets = {arch: load_net(arch, pooling=pooling) for arch in (REFERENCE, CALIBRATED)}
    beta_ref = STYLE_WEIGHTS[REFERENCE][pooling]
    pairs = []
    for content, style in PAIRS:
        photo = square_image(content, size)
        painting = square_image(style, size)
        part_a = scale_ratio(nets, photo, painting)
        runs = []
        if steps > 0:
            label = f"{content} x {style}"
            runs = paint(nets, photo, painting, beta_ref, part_a["rho"], size, steps, label, log)
        pairs.append({"content": content, "style": style, "part_a": part_a, "runs": runs,
                      "beta_star": crossings(runs)})  # fmt: skip
    rho_b, found = {}, {}
    for k in MEASURES:
        stars = [p["beta_star"][k] / beta_ref for p in pairs if p["beta_star"][k] is not None]
        rho_b[k], found[k] = (geomean(stars) if stars else None), len(stars)
    curves = {
        arch: {f: {k: sum(r[k] for p in pairs for r in p["runs"]
                          if r["arch"] == arch and r["factor"] == f) / len(pairs)
                   for k in MEASURES} for f in FACTORS}
        for arch in (REFERENCE, CALIBRATED)
    } if steps > 0 else {}  # fmt: skip
    return {"size": size, "steps": steps, "pooling": pooling, "beta_reference": beta_ref,
            "pairs": pairs, "rho_a": geomean(p["part_a"]["rho"] for p in pairs),
            "content_scale": geomean(p["part_a"]["content_scale"] for p in pairs),
            "rho_b": rho_b, "crossings_found": found, "curves": curves}  # fmt: skip


def summary(out: dict) -> str:
    lines = [
        f"# Per-network style weight: {CALIBRATED} against {REFERENCE}",
        "",
        f"{out['size']} px (square), {out['pooling']} pooling, {out['steps']} iterations, "
        f"beta_{REFERENCE} = "
        f"{out['beta_reference']:g}. k = L_style(photo) / L_content(painting) per network; "
        "d = RMS(result - photo); c_J = L_content(result) / L_content(painting) and "
        "s_J = log10(L_style(photo) / L_style(result)) by judge network J.",
        "",
        f"| pair | k_{REFERENCE} | k_{CALIBRATED} | rho_A | "
        + " | ".join(f"beta* by {k}" for k in MEASURES) + " |",
        "|---|---|---|---|" + "---|" * len(MEASURES),
    ]
    for p in out["pairs"]:
        star = [f"{b:.3g}" if b is not None else "-" for b in p["beta_star"].values()]
        lines.append(
            f"| {p['content']} x {p['style']} | {p['part_a']['k'][REFERENCE]:.3g} | "
            f"{p['part_a']['k'][CALIBRATED]:.3g} | {p['part_a']['rho']:.3g} | "
            + " | ".join(star) + " |"
        )
    lines += ["", "Mean over the pairs, per balance f (beta = f x 100 on VGG-16, "
              "f x rho_A x 100 on the Caffe VGG-19):", "",
              "| network | f | " + " | ".join(MEASURES) + " |",
              "|---|---|" + "---|" * len(MEASURES)]  # fmt: skip
    for arch, curve in out["curves"].items():
        for f, m in curve.items():
            cells = " | ".join(f"{m[k]:.3g}" for k in MEASURES)
            lines.append(f"| {arch} | {f:g} | {cells} |")
    lines += ["", f"rho_A (loss scales, no optimiser) = {out['rho_a']:.3g}",
              f"content scale C_{CALIBRATED} / C_{REFERENCE} = {out['content_scale']:.3g}"]
    for k in MEASURES:
        value = out["rho_b"][k]
        shown = "n/a" if value is None else f"{value:.3g}"
        lines.append(f"rho_B by {k}: {shown} ({out['crossings_found'][k]}/{len(out['pairs'])} "
                     "pairs bracketed)")  # fmt: skip
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=100, help="0: part A only")
    parser.add_argument("--pooling", choices=("avg", "max"), default="avg")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    stamp = dt.datetime.now().strftime("%Y-%m-%dT%H%M")
    out = {"machine": machine(), **calibrate(args.size, args.steps, args.pooling)}
    text = summary(out)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"{stamp}-{platform.node()}-calibration"
    stem.with_suffix(".json").write_text(json.dumps(out, indent=2))
    stem.with_suffix(".md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
