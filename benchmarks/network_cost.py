"""``python -m benchmarks.network_cost [--size 256] [--reps 9]``: VGG-19 against VGG-16.

One style-transfer iteration (the kit's objective, forward to ``relu5_1`` and backward, fp32)
on the real Caffe VGG-19 and the real VGG-16, interleaved A, B, A, B, ... in one process;
prints the ratio of the medians and the analytic ratio of convolution FLOPs. Run it under
``cpu-timing`` on a shared machine.
"""

from __future__ import annotations

import argparse
import json

import torch

from nst_utils.paper.objective import build_objective

from .common import images, interleaved, iteration_flops, load_net, ratio


def measure(size: int, reps: int) -> dict:
    content, style = images(size)
    steps = {}
    for arch in ("vgg19-caffe", "vgg16"):
        net = load_net(arch)
        objective = build_objective(net, content, style, fast=True)
        x = content.clone().requires_grad_(True)

        def step(objective=objective, x=x):
            x.grad = None
            objective(x).total.backward()

        steps[arch] = step
    results = interleaved(steps, reps)
    flops = {a: iteration_flops(a, size, size)["total"] for a in steps}
    return {
        "size": size,
        "reps": reps,
        "threads": torch.get_num_threads(),
        "median_s": {a: r["median_s"] for a, r in results.items()},
        "measured_ratio": ratio(results, "vgg19-caffe", "vgg16"),
        "flops_ratio": flops["vgg19-caffe"] / flops["vgg16"],
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--reps", type=int, default=9)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.size, args.reps), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
