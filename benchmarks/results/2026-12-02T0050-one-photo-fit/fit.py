"""Can the network paint *one* photo as well as the optimisation does? (issue 16's gap)

The shipped networks' held-out loss is 3-4x the optimisation's after 50 L-BFGS iterations,
and their loss on the training crops is not much lower. This asks whether the network could
reach the bar at all: Adam trains ``StyleNet`` on a single held-out photo at 256 px, on the
very objective ``nst score`` counts for it (the photo its own content target, the painting's
Gram matrices at 256 px, the network's beta), and logs that total every 25 steps. Arms:

* ``shipped``: from the shipped ``starry_night`` weights, Adam at 1e-3;
* ``scratch``: from a new network (seed 0), Adam at 1e-3.

If even a network fitted to the one photo it is judged on stays above the bar after
hundreds of steps, the gap lies in the network and its training (parametrisation, steps),
not in the twelve training pictures.

Usage, from the repository root:
``python benchmarks/results/<this folder>/fit.py [--steps N] [--photo P] [--model M]``;
writes ``fit.json`` beside this file.
"""

import argparse  # noqa: I001  (nst_utils before torch, as the kit's entry points)
import json
import time
from pathlib import Path

import nst_utils  # noqa: F401
import torch
from nst_utils.networks.fast_style import StyleLoss
from nst_utils.assets.images import load_image
from nst_utils.networks.painter import StyleNet, load_model
from nst_utils.paper.pipeline import Settings, _picture, score
from nst_utils.paper.vgg import load_vgg

SIZE = 256


def fit(net, model, photo, painting, steps: int, lr: float, label: str) -> list[dict]:
    """Adam on ``model``'s weights for ``steps`` steps; the total every 25 steps."""
    loss = StyleLoss(net, [painting], Settings())
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    log, start = [], time.perf_counter()
    for step in range(steps + 1):
        terms = loss.terms(model.train(), photo, 0)
        if step % 25 == 0:
            row = {"arm": label, "step": step, **terms.as_floats(),
                   "seconds": round(time.perf_counter() - start, 1)}  # fmt: skip
            log.append(row)
            print(" ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                           for k, v in row.items()), flush=True)  # fmt: skip
        if step == steps:
            break
        optimiser.zero_grad()
        terms.total.backward()
        optimiser.step()
    return log


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--photo", default="tubingen")
    parser.add_argument("--model", default="starry_night")
    parser.add_argument("--arms", default="shipped,scratch")
    args = parser.parse_args()
    torch.set_num_threads(2)
    net = load_vgg(pooling="avg", verbose=False)
    shipped = load_model(args.model)
    style = shipped.record["styles"][0]
    photo = load_image(args.photo, SIZE)
    painting = _picture(style, SIZE, net.mean.device)
    with torch.no_grad():  # the check that this objective is nst score's
        check = score(net, shipped.eval()(photo), args.photo, style).as_floats()
    print("nst score of the shipped network's picture:", check, flush=True)
    rows = []
    for arm in args.arms.split(","):
        if arm == "shipped":
            model = load_model(args.model).requires_grad_(True)
        else:
            torch.manual_seed(0)
            model = StyleNet()
        rows += fit(net, model, photo, painting, args.steps, 1e-3, arm)
        out = Path(__file__).with_name(f"fit-{args.model}-{args.photo}.json")
        out.write_text(json.dumps({"score_check": check, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
