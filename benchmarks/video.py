r"""``python -m benchmarks.video [--frames 16] [--size 128] [--steps 20] [--model M]``.

Video (issue 17): each way of painting the synthetic clip
(:func:`nst_utils.video.clips.synthetic_clip`,
the Chelsea photo, exact flow), measured by Lai et al.'s masked warping error (flicker), frames
per second, and the mean style loss of its frames (``pipeline.score``, the paper's objective at
default settings). Methods: ``optimize`` (frame by frame), ``temporal`` (Ruder et al., at
``temporal.TEMPORAL_WEIGHT`` and, with ``--sweep``, other weights), ``fast`` (a trained
network: ``--model``, else the first shipped one, else left out) and ``blend`` (the fast frames,
else the optimised ones, blended along the flow). Run the timings alone: ``cpu-timing``.

Writes ``<out>/<start>-<host>-clips.json`` and ``.md`` (also printed).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
from pathlib import Path

import nst_utils  # noqa: F401  (first: OpenMP's waiting, before torch starts)

# isort: split
from nst_utils.assets.examples import load_example
from nst_utils.networks import painter
from nst_utils.paper.pipeline import Settings
from nst_utils.paper.vgg import load_vgg
from nst_utils.video import clips, temporal

from .common import machine


def measure(frames: int, size: int, steps: int, model_name: str | None, sweep: bool) -> dict:
    net = load_vgg("vgg16", "max", device="cpu", verbose=False)
    style, style_name = load_example("starry_night", 256, fallback="swirls")
    clip = clips.synthetic_clip("chelsea", frames=frames, size=size)
    settings = Settings(fast=True, steps=steps)
    painted = {}
    for method in ("optimize", "temporal"):
        painted[method] = temporal.paint_clip(clip, method, net=net, style=style,
                                              settings=settings, progress=False)  # fmt: skip
    if sweep:
        for weight in (0.0, 1e3, 1e5):
            painted[f"temporal, lambda={weight:g}"] = temporal.paint_clip(
                clip, "temporal", net=net, style=style, settings=settings,
                temporal_weight=weight, progress=False,
            )  # fmt: skip
    shipped = painter.shipped_models()
    model_name = model_name or (shipped[0] if shipped else None)
    source = "optimize"
    if model_name:
        model = painter.load_model(model_name)
        painted["fast"] = temporal.paint_clip(clip, "fast", model=model, progress=False)
        source = "fast"
    painted["blend"] = temporal.paint_clip(
        clip, "blend", net=net, style=style, settings=settings,
        model=model if model_name else None, progress=False,
    )  # fmt: skip
    rows = temporal.compare(clip, painted, net=net, style=style)
    return {"clip": {"frames": frames, "size": size, "photo": "chelsea", "style": style_name},
            "steps": steps, "temporal_weight": temporal.TEMPORAL_WEIGHT, "model": model_name,
            "blend_of": source, "blend_share": temporal.BLEND,
            "input_clip_error": clip.warping_error(clip.frames), "rows": rows}  # fmt: skip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--model", default=None, help="a fast network (nst train-style)")
    parser.add_argument("--sweep", action="store_true", help="also other temporal weights")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    start = dt.datetime.now()
    results = {"machine": machine(), "started": start.isoformat(timespec="seconds"),
               **measure(args.frames, args.size, args.steps, args.model, args.sweep)}  # fmt: skip
    stem = f"{start:%Y-%m-%dT%H%M}-{platform.node()}-video"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.json").write_text(json.dumps(results, indent=2))
    clip = results["clip"]
    summary = (f"Synthetic clip ({clip['frames']} frames, {clip['size']} px, {clip['photo']}) "
               f"x {clip['style']}, {results['steps']} iterations per frame, "
               f"lambda = {results['temporal_weight']:g}, model {results['model']}; "
               f"the input clip's own warping error {results['input_clip_error']:.5f}\n\n"
               + temporal.table(results["rows"]))  # fmt: skip
    (args.out / f"{stem}.md").write_text(summary + "\n")
    print(summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
