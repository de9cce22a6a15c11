r"""The paper's rescaled VGG: every filter's mean activation is 1.

Gatys et al. (2015, *Methods*): "We used the feature space provided by the 16 convolutional and
5 pooling layers of the 19 layer VGG-Network. We normalized the network by scaling the weights
such that the mean activation of each convolutional filter over images and positions is equal
to one. Such re-scaling can be done for the VGG network without changing its output, because
it contains only rectifying linear activation functions and no normalization or pooling over
feature maps."

The paper calls this network *normalized*; the kit calls it **rescaled** (:func:`rescale_vgg`,
:func:`rescaled_vgg`, ``net.rescaled``) because "normalise" already names the ImageNet input
convention inside :class:`~nst_utils.paper.vgg.VGGFeatures`.

Let :math:`a^l_c` be channel :math:`c`'s rectified response at layer :math:`l` and
:math:`m^l_c` its mean over a set of images and all positions. ReLU, max- and average-pooling
and zero padding commute with a positive per-channel scale, so with

.. math:: \tilde W^l_{o i} = W^l_{o i}\, \frac{m^{l-1}_i}{m^l_o}, \qquad
          \tilde b^l_o = \frac{b^l_o}{m^l_o}, \qquad m^0 \equiv 1,

the new network computes :math:`\tilde a^l_c = a^l_c / m^l_c` at every layer: the same feature
maps up to a positive scale per channel, each with mean 1 on those images. (The factor
:math:`m^{l-1}_i` undoes the previous layer's rescaling of its input.) Gram matrices change
as :math:`\tilde G_{ij} = G_{ij} / (m_i m_j)`, which rebalances the style layers: without it,
layers whose responses are large dominate :math:`\sum_l w_l E_l`.

The means are computed once from nine of the kit's bundled images (:data:`REFERENCE_PICTURES`,
loaded by :func:`nst_utils.assets.images.load_image`; pictures bundled later do not change them)
and cached as safetensors under :func:`nst_utils.config.cache_dir`, keyed by architecture,
pooling, the weights and the images.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .. import config
from ..assets.examples import bundled_images
from ..assets.files import atomic_write
from ..assets.images import load_image
from ..engine.precision import float64_on_cpu
from ..paper.vgg import VGGFeatures

REFERENCE_SIZE = 128
#: The bundled pictures the means are taken over (the kit's first nine, fixed so that the
#: rescaled network, and every loss the kit has recorded, stay the same as pictures are added).
REFERENCE_PICTURES: tuple[str, ...] = (
    "astronaut", "brick", "chelsea", "coffee", "hubble_deep_field", "immunohistochemistry",
    "retina", "rocket", "swirls",
)  # fmt: skip
DEAD = 1e-8  # a channel that never fires on the images keeps its scale


def relu_names(net: VGGFeatures) -> tuple[str, ...]:
    """The rectified layer after every convolution, in forward order."""
    return tuple(n for n in net.layer_names if n.startswith("relu"))


def reference_images(size: int = REFERENCE_SIZE) -> list[torch.Tensor]:
    """:data:`REFERENCE_PICTURES` at longest side ``size``, in that order."""
    bundled = bundled_images()
    return [load_image(bundled[name], size) for name in REFERENCE_PICTURES]


@torch.no_grad()
def channel_means(net: VGGFeatures, images: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
    r""":math:`m^l_c`: each rectified channel's mean over all images and positions (each
    picture's sums on the network's device, their total in float64 on the CPU)."""
    names = relu_names(net)
    sums: dict[str, list[torch.Tensor]] = {name: [] for name in names}
    count: dict[str, int] = dict.fromkeys(names, 0)
    for image in images:
        for name, f in net(image.to(net.mean.device), names).items():
            sums[name].append(f.float().sum(dim=(0, 2, 3)))
            count[name] += f.shape[0] * f.shape[2] * f.shape[3]
    return {name: float64_on_cpu(_mean, torch.stack(sums[name]), count=count[name])
            for name in names}  # fmt: skip


def _mean(sums: torch.Tensor, count: int) -> torch.Tensor:
    """The total of one sum per picture ``(pictures, channels)``, divided by ``count``."""
    return sums.sum(dim=0) / count


def rescale_vgg(
    net: VGGFeatures,
    images: Sequence[torch.Tensor] | None = None,
    *,
    means: dict[str, torch.Tensor] | None = None,
) -> VGGFeatures:
    """A copy of ``net`` whose every rectified channel has mean 1 on ``images`` (or ``means``)."""
    if means is None:
        means = channel_means(net, images if images is not None else reference_images())
    out = copy.deepcopy(net)
    previous = torch.ones(3, device=net.mean.device)
    with torch.no_grad():
        for relu in relu_names(net):
            conv = out.layers.get_submodule(relu.replace("relu", "conv"))
            m = means[relu].to(previous.device)
            m = torch.where(m > DEAD, m, torch.ones_like(m))
            conv.weight.mul_(previous.view(1, -1, 1, 1) / m.view(-1, 1, 1, 1))
            conv.bias.div_(m)
            previous = m
    out.rescaled = True
    return out


def _fingerprint(net: VGGFeatures, images: Sequence[torch.Tensor]) -> str:
    digest = hashlib.sha256()
    digest.update(f"{net.arch}/{net.pooling}".encode())
    digest.update(net.layers.get_submodule("conv1_1").weight.detach().cpu().numpy().tobytes())
    for image in images:
        digest.update(str(tuple(image.shape)).encode())
        digest.update(image.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def cache_path(net: VGGFeatures, images: Sequence[torch.Tensor]) -> Path:
    """Where the means for this network and image set are cached."""
    name = f"{net.arch}-{net.pooling}-{_fingerprint(net, images)}.safetensors"
    return config.cache_dir() / "rescaled-vgg" / name


def rescaled_vgg(
    net: VGGFeatures,
    images: Sequence[torch.Tensor] | None = None,
    *,
    cache: bool = True,
) -> VGGFeatures:
    """:func:`rescale_vgg` with the means read from (or written to) the cache."""
    if getattr(net, "rescaled", False):
        return net
    images = list(images) if images is not None else reference_images()
    path = cache_path(net, images)
    if cache and path.exists():
        means = load_file(str(path))
    else:
        means = channel_means(net, images)
        if cache:
            with atomic_write(path) as tmp:
                save_file({k: v.contiguous().cpu() for k, v in means.items()}, str(tmp))
    return rescale_vgg(net, means=means)
