"""``python -m benchmarks.line_search [VARIANT ...]``: what the engine's L-BFGS does per
iteration on four course experiments, and what its handling of the pixel range costs.

The Caffe VGG-19 (the offline default) with average pooling, Tübingen × The Starry Night at
128 px, 100 iterations each. Per run: the loss reduction (start / end), evaluations per
iteration (one forward + backward pass each; an iteration is one L-BFGS step with its line
search), and the loss of the returned, clipped image over the loss the optimiser ended on.
Variants (run one after the other; counts do not depend on the machine's load):

* ``engine``: as shipped (pixels clipped only past :data:`~nst_utils.paper.optimize.PIXEL_SLACK`);
* ``noclip``: never clipped during the run (only the returned image);
* ``slackX``: clipped past ``X`` instead (e.g. ``slack0.2``).

Recorded: ``benchmarks/results/2026-12-01T0335-vm-line-search.md`` (BENCHMARKS.md).
"""

from __future__ import annotations

import sys
import time

import nst_utils  # noqa: F401  (first: OpenMP's waiting is chosen before torch loads)

# isort: split
import torch

from nst_utils.assets.images import load_image, match_size
from nst_utils.paper import optimize as engine
from nst_utils.paper.objective import STYLE_LAYERS, build_objective
from nst_utils.paper.optimize import initial_image, optimize
from nst_utils.paper.vgg import load_vgg


def experiments(net, photo, painting) -> dict:
    noise = initial_image("noise", photo, seed=0)
    return {
        "stylize relu1_1..relu3_1 at beta_0, from the photo": (
            build_objective(
                net, photo, painting, style_weight=2.5e-3, style_layers=STYLE_LAYERS[:3],
                fast=True,
            ),
            photo,
        ),
        "stylize, all layers, from noise": (
            build_objective(net, photo, painting, fast=True), noise
        ),
        "content relu4_1 from noise": (
            build_objective(net, photo, None, content_layers=("relu4_1",), fast=True),
            noise,
        ),
        "texture relu1_1..relu5_1 from noise": (
            build_objective(net, None, painting, style_layers=STYLE_LAYERS, fast=True),
            initial_image("noise", painting, seed=0),
        ),
    }


def run_variant(variant: str, steps: int = 100) -> None:
    project, slack = engine._project, engine.PIXEL_SLACK
    if variant == "noclip":
        engine._project = lambda x: None
    elif variant.startswith("slack"):
        engine.PIXEL_SLACK = float(variant.removeprefix("slack"))
    net = load_vgg("vgg19-caffe", pooling="avg", device="cpu", verbose=False)
    photo = load_image("tubingen", 128)
    painting = match_size(load_image("starry_night", 128), photo)
    try:
        for name, (objective, init) in experiments(net, photo, painting).items():
            started = time.perf_counter()
            result = optimize(objective, init, steps=steps, progress=False)
            h = result.history
            with torch.no_grad():
                clipped = float(objective(result.image).total)
            print(f"| {variant} | {name} | {h[0]['total'] / h[-1]['total']:.3g}x | "
                  f"{h[-1]['evaluations'] / steps:.2f} | {clipped / h[-1]['total']:.3f} | "
                  f"{time.perf_counter() - started:.0f} s |", flush=True)  # fmt: skip
    finally:
        engine._project, engine.PIXEL_SLACK = project, slack


if __name__ == "__main__":
    print("| variant | run | loss reduction | evaluations / iteration | clipped / end | time |")
    print("|---|---|---|---|---|---|")
    for v in sys.argv[1:] or ["engine"]:
        run_variant(v)
