"""Overhead of the full objective over a bare pass, for two checkouts side by side (issue 12).

``python -m benchmarks.before_after --base DIR [--rounds 3] [--sizes 256,512]``

The redesign moved every speed trick into ``nst_utils.engine.speed``; its budget is that the
per-iteration overhead over a bare forward+backward rises by at most 2 points. Two versions of
a package cannot share a process, so each round runs one fresh process per checkout (``DIR``,
the version before, and this one), alternating, and each process measures *full* and *bare*
interleaved (A, B, A, B, ...) at every size: a ratio is only ever taken between timings that
alternated with each other, and the two versions alternate round by round. A process's
overhead is the median over its pairs of full/bare (each full call against the bare call right
after it, so that a burst of other work on the machine mostly cancels); the median over the
rounds is reported.

*Full*: ``build_objective(net, content, style, fast=True)`` (content relu4_2, style relu1_1 …
relu5_1,
the default β), called under the engine's settings, backward, and one host read of the loss.
*Bare*: the same network's pass to relu5_1 with ``sum`` as the loss, through the same memory
layout the full pass uses. Weights: VGG-16 (offline, real). Images: the bundled chelsea and
swirls, square.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import nst_utils  # before torch, as the kit's entry points do

HERE = Path(__file__).resolve()
REPS = {128: 41, 256: 21, 512: 9}


def _worker(sizes: list[int]) -> dict:
    """Runs inside a checkout (``PYTHONPATH``): overhead of full over bare at ``sizes``."""
    import numpy as np
    import torch
    from PIL import Image

    from nst_utils.paper.vgg import load_vgg

    try:  # this checkout: the speed module
        from nst_utils.engine import speed

        speed.keep_freed_memory()

        def layout(net, x):
            return speed.channels_last(net, x)
    except ImportError:  # before the redesign: the allocator module, channels-last inside vgg
        from nst_utils.allocator import keep_freed_memory

        keep_freed_memory()

        def layout(net, x):
            return x

    torch.manual_seed(0)
    net = load_vgg("vgg16", pooling="max", device="cpu", verbose=False)
    data = Path(nst_utils.__file__).resolve().parents[1] / "data"

    def picture(name: str, size: int) -> torch.Tensor:
        image = Image.open(data / name).convert("RGB").resize((size, size), Image.BICUBIC)
        return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).permute(2, 0, 1)[None]

    out = {}
    for size in sizes:
        pictures = picture("chelsea.jpg", size), picture("swirls.png", size)
        out[str(size)] = _overhead(net, layout, *pictures, REPS.get(size, 5))
    return out


def _overhead(net, layout, content, style, reps: int) -> dict:
    """Median seconds of full and bare, alternated ``reps`` times, and full/bare - 1."""
    from nst_utils.paper.objective import build_objective

    objective = build_objective(net, content, style, fast=True)
    x = content.clone().requires_grad_(True)

    def full():
        x.grad = None
        terms = objective(x)
        terms.total.backward()
        float(terms.total.detach())

    def bare():
        x.grad = None
        net(layout(net, x), ["relu5_1"])["relu5_1"].sum().backward()

    samples: dict[str, list[float]] = {"full": [], "bare": []}
    full(), bare()  # warm-up
    for _ in range(reps):
        for name, fn in (("full", full), ("bare", bare)):
            t0 = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - t0)
    medians = {k: statistics.median(v) for k, v in samples.items()}
    pairs = [f / b for f, b in zip(samples["full"], samples["bare"], strict=True)]
    return {"full_s": medians["full"], "bare_s": medians["bare"],
            # each full call against the bare call right after it: the noise they share cancels
            "overhead": statistics.median(pairs) - 1,
            "overhead_of_minima": min(samples["full"]) / min(samples["bare"]) - 1}  # fmt: skip


def compare(base: Path, rounds: int, sizes: list[int], log=print) -> dict:
    """Alternate fresh processes of ``base`` and this checkout; every round's overheads."""
    checkouts = {"before": base.resolve(), "after": HERE.parents[1]}
    runs: dict[str, list[dict]] = {"before": [], "after": []}
    for round_ in range(1, rounds + 1):
        for label, root in checkouts.items():
            env = {**os.environ, "PYTHONPATH": str(root)}
            command = [sys.executable, str(HERE), "--worker", "--sizes", ",".join(map(str, sizes))]
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
            result = json.loads(done.stdout.strip().splitlines()[-1])
            runs[label].append(result)
            log(f"round {round_} {label}: " + ", ".join(
                f"{s} px {100 * r['overhead']:+.1f}% ({r['full_s']:.3f} / {r['bare_s']:.3f} s)"
                for s, r in result.items()))  # fmt: skip
    summary = {}
    for size in map(str, sizes):
        before = statistics.median(r[size]["overhead"] for r in runs["before"])
        after = statistics.median(r[size]["overhead"] for r in runs["after"])
        full_ratio = statistics.median(
            a[size]["full_s"] / b[size]["full_s"] for a, b in zip(runs["after"], runs["before"],
                                                                  strict=True))  # fmt: skip
        summary[size] = {"overhead_before": before, "overhead_after": after,
                         "points": 100 * (after - before), "full_after_over_before": full_ratio}
        log(f"{size} px: overhead {100 * before:+.1f}% before, {100 * after:+.1f}% after "
            f"({100 * (after - before):+.1f} points); full iteration x{full_ratio:.3f} of before")
    return {"base": str(checkouts["before"]), "rounds": runs, "summary": summary}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, help="a checkout of the version before")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", default="256,512")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None, help="write the JSON here")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.worker:
        print(json.dumps(_worker(sizes)))
        return
    if args.base is None:
        parser.error("give --base, a checkout of the version to compare with")
    result = compare(args.base, args.rounds, sizes)
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
