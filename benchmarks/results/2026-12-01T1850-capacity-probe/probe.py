"""Capacity probe: ``StyleNet(channels=C)`` trained the same way at 128 px.

Prints and writes (beside this file, ``c{C}-{STEPS}.json``) the training-loss curve, the
seconds per step and the held-out photos' score at 128 px.
Usage, from the repository root: ``python benchmarks/results/<this folder>/probe.py C STEPS``.
"""

import json  # noqa: I001  (nst_utils before torch, as the kit's entry points)
import sys
import time
from pathlib import Path

import nst_utils  # noqa: F401  (before torch, as the kit's entry points do)
import torch
from nst_utils.networks.fast_style import paint, train_style
from nst_utils.assets.images import load_image
from nst_utils.networks.painter import StyleNet
from nst_utils.paper.pipeline import Settings, score
from nst_utils.networks.training import TrainSettings
from nst_utils.paper.vgg import load_vgg

channels, steps = int(sys.argv[1]), int(sys.argv[2])
net = load_vgg(pooling="avg", verbose=False)
torch.manual_seed(0)
model = StyleNet(channels=channels)
params = sum(p.numel() for p in model.parameters())
log = []
t0 = time.perf_counter()
settings = TrainSettings(size=128, batch=4, steps=steps, seed=0, checkpoint_every=10**6,
                         log_every=10)  # fmt: skip
train_style(["starry_night"], net, settings, model=model, progress=False,
            on_log=lambda step, numbers: log.append((step, numbers["total"])))  # fmt: skip
seconds = time.perf_counter() - t0
held = {}
for photo in ("tubingen", "chelsea"):
    picture = paint(model, load_image(photo, 128))
    held[photo] = score(net, picture, photo, "starry_night", Settings(size=128)).as_floats()
tail = [v for s, v in log if s > steps - 50]
out = {"channels": channels, "params": params, "steps": steps, "seconds": seconds,
       "s_per_step": seconds / steps, "train_loss_last50": sum(tail) / len(tail),
       "log": log, "held_out": held}  # fmt: skip
(Path(__file__).parent / f"c{channels}-{steps}.json").write_text(json.dumps(out, indent=1))
print(
    channels,
    params,
    f"{seconds / steps:.2f} s/step",
    f"train {out['train_loss_last50']:.3g}",
    {k: f"{v['total']:.3g}" for k, v in held.items()},
)
