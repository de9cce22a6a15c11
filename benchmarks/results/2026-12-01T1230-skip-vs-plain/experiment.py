"""Quick recipe comparison for issue 16: skip vs no skip (held-out score at 256 px)."""
import json
import sys
import time

import torch

import nst_utils  # noqa
from nst_utils.assets.images import load_image
from nst_utils.networks import fast_style
from nst_utils.networks.painter import StyleNet
from nst_utils.networks.training import TrainSettings
from nst_utils.paper.pipeline import score
from nst_utils.paper.vgg import load_vgg

skip = sys.argv[1] == "skip"
steps, size, lr = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
net = load_vgg("vgg19-caffe", "avg", "cpu", verbose=False)
torch.manual_seed(0)
model = StyleNet(skip=skip)
t = time.perf_counter()
settings = TrainSettings(size=size, batch=2, steps=steps, lr=lr, log_every=steps)
model = fast_style.train_style(["starry_night"], net, settings, model=model, progress=False)
secs = time.perf_counter() - t
out = {"skip": skip, "steps": steps, "size": size, "lr": lr, "seconds": round(secs)}
for photo in ("tubingen", "chelsea"):
    pic = fast_style.paint(model, load_image(photo, 256))
    out[photo] = score(net, pic, photo, "starry_night").as_floats()
    from nst_utils.assets.images import save_image
    save_image(pic, f"/work/exp16/{'skip' if skip else 'base'}-{steps}-{size}-{photo}.png")
print(json.dumps(out), flush=True)
