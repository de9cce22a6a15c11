"""Run by tests/test_training.py under ``torchrun --nproc_per_node 2``: a tiny training.

Each rank writes its final weights (``rank<r>.safetensors``) and the losses it saw
(``losses<r>.json``) into the folder given as the only argument; rank 0 also writes the
initial weights and the checkpoint.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

import nst_utils  # noqa: F401  (before torch, as users get it)
from nst_utils.networks.fast_style import train_style
from nst_utils.networks.painter import StyleNet
from nst_utils.networks.training import TrainSettings, process
from nst_utils.paper.vgg import VGGFeatures


def main(folder: Path) -> None:
    rank, world, _ = process()
    assert world == 2
    torch.manual_seed(0)
    vgg = VGGFeatures("vgg16")  # seeded random weights: the arithmetic is what is tested
    settings = TrainSettings(size=32, batch=1, steps=3, lr=1e-2, checkpoint_every=2, log_every=1)
    torch.manual_seed(settings.seed)
    model = StyleNet(channels=8, blocks=1)
    if rank == 0:
        save_file({k: v.contiguous() for k, v in model.state_dict().items()},
                  folder / "initial.safetensors")  # fmt: skip
    losses: list[float] = []
    train_style(["swirls"], vgg, settings, model=model, progress=False,
                checkpoint=folder / "m.checkpoint.safetensors",
                on_log=lambda step, numbers: losses.append(numbers["total"]))  # fmt: skip
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              folder / f"rank{rank}.safetensors")  # fmt: skip
    (folder / f"losses{rank}.json").write_text(json.dumps(losses))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
