"""VGG as a feature extractor with the paper's layer names.

Gatys et al. describe an image by the responses of a pretrained VGG network. This module
exposes that network as ``net(image, layers) -> {name: features}``:

* input is RGB in ``[0, 1]``, shape ``(B, 3, H, W)``; the network's own input convention
  ``(x - mean) / std`` happens *inside* the model, so callers never see it. torchvision's
  networks expect the ImageNet mean and standard deviation; the original Caffe VGG-19
  (``vgg19-caffe``) expects BGR pixels in 0–255 minus the mean pixel, which is
  ``(x - mean/255) / (1/255)`` once its first convolution takes RGB (the weights are stored
  with conv1_1's input channels already reversed, :mod:`nst_utils.assets.weights`);
* the forward pass stops at the deepest requested layer, so asking for ``conv1_2`` costs two
  convolutions, not sixteen;
* all weights are frozen and the model is always in eval mode;
* pooling is ``"max"`` (what VGG was trained with) or ``"avg"`` (what the paper prefers: "we
  found that replacing the max-pooling operation by average pooling improves the gradient
  flow and one obtains slightly more appealing results");
* each ReLU works in place on its convolution's output, as torchvision builds VGG (on a copy
  when that output was asked for).

:mod:`nst_utils.engine.speed` runs this same network faster.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

import torch
from torch import nn

from ..assets import weights as weights_lib
from ..checks import POOLINGS
from ..config import default_device
from .layers import BLOCK_DEPTHS, check_layers, layer_names

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Caffe VGG's mean pixel, in RGB order, on the 0–255 scale (Simonyan & Zisserman's release).
CAFFE_MEAN_RGB = (123.68, 116.779, 103.939)
#: Per network, ``(mean, std)`` such that the network sees ``(x - mean) / std`` for RGB ``x``
#: in [0, 1]: ImageNet statistics for torchvision's weights, ``x·255 - mean pixel`` for Caffe's.
INPUT_CONVENTION = {
    "vgg19": (IMAGENET_MEAN, IMAGENET_STD),
    "vgg16": (IMAGENET_MEAN, IMAGENET_STD),
    "vgg19-caffe": (tuple(m / 255 for m in CAFFE_MEAN_RGB), (1 / 255,) * 3),
}
BLOCK_CHANNELS = (64, 128, 256, 512, 512)


def _build_layers(arch: str, pooling: str) -> nn.Sequential:
    """The convolutional part of ``arch`` with one named module per layer."""
    modules: OrderedDict[str, nn.Module] = OrderedDict()
    in_channels = 3
    for block, (depth, channels) in enumerate(
        zip(BLOCK_DEPTHS[arch], BLOCK_CHANNELS, strict=True), 1
    ):
        for i in range(1, depth + 1):
            modules[f"conv{block}_{i}"] = nn.Conv2d(in_channels, channels, 3, padding=1)
            modules[f"relu{block}_{i}"] = nn.ReLU(inplace=True)  # as torchvision builds VGG
            in_channels = channels
        pool = nn.MaxPool2d if pooling == "max" else nn.AvgPool2d
        modules[f"pool{block}"] = pool(kernel_size=2, stride=2)
    return nn.Sequential(modules)


class VGGFeatures(nn.Module):
    """Frozen VGG-16/19 convolutional stack returning named feature maps.

    Example::

        net = load_vgg()                       # VGG-19 (torchvision, or the Caffe one offline)
        feats = net(image, ["relu1_1", "relu4_2"])
        feats["relu4_2"].shape                 # (1, 512, H/8, W/8)
    """

    def __init__(self, arch: str = "vgg19", pooling: str = "max") -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}: choose one of {', '.join(POOLINGS)}")
        self.arch = arch
        self.pooling = pooling
        self.layer_names = layer_names(arch)
        self.layers = _build_layers(arch, pooling)
        mean, std = INPUT_CONVENTION[arch]
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> VGGFeatures:
        """Always stay in eval mode: VGG has no dropout/batch-norm here, but be explicit."""
        return super().train(False)

    def load_torchvision_features(self, state: dict[str, torch.Tensor]) -> None:
        """Load a state dict of torchvision's ``vgg*().features`` (keys ``"0.weight"``, …)."""
        try:
            renamed = {}
            for key, value in state.items():
                index, param = key.split(".")
                renamed[f"{self.layer_names[int(index)]}.{param}"] = value
            self.layers.load_state_dict(renamed, strict=True)
        except (ValueError, IndexError, KeyError, RuntimeError) as err:
            first_line = str(err).strip().splitlines()[0]
            raise ValueError(f"weights do not fit {self.arch}: {first_line}") from None

    def check_layers(self, layers: Iterable[str]) -> tuple[str, ...]:
        """Validate names; ``ValueError`` lists the valid names of this architecture."""
        return check_layers(self.arch, layers)

    def forward(self, image: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
        """Feature maps ``{name: (B, N_l, H_l, W_l)}`` for ``layers``, stopping at the deepest."""
        wanted = set(self.check_layers(layers))
        out: dict[str, torch.Tensor] = {}
        x = (image - self.mean) / self.std
        returned = False  # whether x was returned: a ReLU, working in place, must take a copy
        for name, module in self.layers.named_children():
            if not wanted:
                break
            if returned and isinstance(module, nn.ReLU):
                x = x.clone()
            x = module(x)
            returned = name in wanted
            if returned:
                out[name] = x
                wanted.discard(name)
        return out

    def extra_repr(self) -> str:
        return f"arch={self.arch!r}, pooling={self.pooling!r}"


def load_vgg(
    arch: str | None = None,
    pooling: str = "avg",
    device: torch.device | str | None = None,
    *,
    verbose: bool = True,
) -> VGGFeatures:
    """A pretrained, frozen :class:`VGGFeatures` on ``device``, with the paper's average
    pooling unless ``pooling="max"`` (what VGG was trained with) is asked for.

    ``arch`` ``None`` means: ``$NST_ARCH`` if set, else torchvision's VGG-19 when its weights are
    cached or downloadable, else the paper's Caffe VGG-19 from the offline package archive (a
    one-line notice says why); see :func:`nst_utils.assets.weights.resolve_arch`.
    """
    choice = weights_lib.resolve_arch(arch)
    if verbose and choice.notice:
        print(choice.notice)
    net = VGGFeatures(choice.arch, pooling)
    net.load_torchvision_features(weights_lib.load_features_state(choice.arch))
    return net.to(torch.device(device) if device is not None else default_device())
