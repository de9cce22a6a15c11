"""Fine-tune the shipped starry_night (4000 steps) under one recipe change; score held-out photos.

Usage, from the repository root:
``python benchmarks/results/<this folder>/finetune.py ARM STEPS`` with ARM one of
``const256`` (crops of 256 px, constant learning rate 1e-3), ``crop192`` (crops of 192 px from
photos whose shorter side is 192-384 px, nearer the scale the held-out photos are judged at;
the painting stays at 256 px), ``decay256`` (256 px, cosine decay to zero). Every arm starts
from the same weights with a fresh Adam, in fp32, on the crops of seed 1. Writes ``ARM.json``
beside this file: the training loss of every step and, every 100 steps, the held-out photos'
total loss at 256 px (``pipeline.score``, as ``nst score``).
The ``decay256`` arm was run as the kit's own command instead (``--from starry_night
--lr-schedule cosine --seed 1``, the same stream of crops and the same schedule).
"""

import json  # noqa: I001  (nst_utils before torch, as the kit's entry points)
import math
import sys
import time
from pathlib import Path

import nst_utils  # noqa: F401
import torch
from nst_utils.networks import photos
from nst_utils.networks.fast_style import StyleLoss, paint
from nst_utils.assets.images import load_image
from nst_utils.networks.painter import load_model
from nst_utils.paper.pipeline import Settings, _picture, score
from nst_utils.paper.vgg import load_vgg

EVAL_EVERY = 100
arm, steps = sys.argv[1], int(sys.argv[2])
size = 192 if arm.startswith("crop192") else 256
decay = arm.endswith("decay")
net = load_vgg(pooling="avg", verbose=False)
model = load_model("starry_night").train().requires_grad_(True)
loss_settings = Settings(precision="fp32", style_scale=256 / size)
painting = _picture("starry_night", 256, net.mean.device)
loss = StyleLoss(net, [painting], loss_settings)
stream = photos.crops(photos.photo_paths(), size, 4, seed=1)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
sched = torch.optim.lr_scheduler.LambdaLR(
    opt, (lambda t: 0.5 * (1 + math.cos(math.pi * t / steps))) if decay else (lambda t: 1.0)
)


def held_out() -> dict[str, float]:
    model.eval()
    out = {}
    for photo in ("tubingen", "chelsea"):
        pic = paint(model, load_image(photo, 256))
        out[photo] = score(net, pic, photo, "starry_night").as_floats()["total"]
    model.train()
    return out


log, evals, t0 = [], [{"step": 0, **held_out()}], time.perf_counter()
print(arm, evals[-1], flush=True)
for step in range(1, steps + 1):
    value, _ = loss(model, next(stream), step)
    opt.zero_grad(set_to_none=True)
    value.backward()
    opt.step()
    sched.step()
    log.append(float(value.detach()))
    if step % EVAL_EVERY == 0:
        evals.append({"step": step, "train_last100": sum(log[-100:]) / 100, **held_out(),
                      "seconds": time.perf_counter() - t0})  # fmt: skip
        print(arm, evals[-1], flush=True)
record = {"arm": arm, "size": size, "decay": decay, "steps": steps, "log": log, "evals": evals}
(Path(__file__).parent / f"{arm}.json").write_text(json.dumps(record, indent=1))
