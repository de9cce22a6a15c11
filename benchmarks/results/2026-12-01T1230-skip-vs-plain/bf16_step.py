"""One training step in fp32 and under bf16 autocast, alternating (see README.md)."""

import time

import torch

import nst_utils  # noqa: F401
from nst_utils.networks.fast_style import StyleLoss
from nst_utils.networks.painter import StyleNet
from nst_utils.paper.pipeline import _picture
from nst_utils.paper.vgg import load_vgg

net = load_vgg("vgg19-caffe", "avg", "cpu", verbose=False)
loss = StyleLoss(net, [_picture("starry_night", 256, torch.device("cpu"))])
model = StyleNet(skip=True)
opt = torch.optim.Adam(model.parameters(), 1e-4)
photos = torch.rand(2, 3, 256, 256)


def step(bf16: bool) -> tuple[float, float]:
    t = time.perf_counter()
    with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
        value, _ = loss(model, photos, 0)
    opt.zero_grad()
    value.backward()
    opt.step()
    return time.perf_counter() - t, float(value)


for bf16 in (False, True):  # warm-up
    step(bf16)
seconds = {False: [], True: []}
for _ in range(4):
    for bf16 in (False, True):
        seconds[bf16].append(step(bf16)[0])
for bf16, times in seconds.items():
    print("bf16" if bf16 else "fp32", [round(t, 2) for t in times])
