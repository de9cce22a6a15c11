"""Each network's default style weight β, measured: the networks see pixels on different scales.

The same β/α paints to very different degrees on torchvision's VGGs (ImageNet-normalised input)
and on the paper's Caffe VGG-19 (pixels in 0–255), and average pooling changes the deep
responses' scale again. The tables below were calibrated so that the same command paints to a
comparable degree on each network (BENCHMARKS.md, "Per-network style weight";
``benchmarks/calibrate_networks.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..paper.vgg import VGGFeatures

#: β with α = 1 on torchvision's networks (ImageNet-normalised input): with the kit's loss
#: normalisation, β/α from about 0.1 (content dominates) to 1000 (style dominates) spans the
#: paper's Fig. 3; 100 gives a clearly painted photo.
STYLE_WEIGHT = 1e2
#: The default β per network and pooling, calibrated so that the same command paints to a
#: comparable degree on each (BENCHMARKS.md, "Per-network style weight";
#: ``benchmarks/calibrate_networks.py``). The Caffe VGG-19 sees pixels in 0–255, so its
#: responses are tens of times larger: the content loss grows with their square and the style
#: loss with their fourth power; average pooling changes the deep responses' scale again.
#: torchvision's VGG-19 shares VGG-16's input convention and training recipe; it keeps VGG-16's
#: value (its weights cannot be had offline, so it was not calibrated here).
STYLE_WEIGHTS = {
    "vgg16": {"avg": STYLE_WEIGHT, "max": STYLE_WEIGHT},
    "vgg19": {"avg": STYLE_WEIGHT, "max": STYLE_WEIGHT},
    "vgg19-caffe": {"avg": 2.5e-3, "max": 1e-3},
}
#: How large each network's content loss is for the same images, relative to VGG-16's with the
#: same pooling (the geometric mean over the calibration pairs, BENCHMARKS.md): a weight on a
#: term that does not go through the network (total variation, say) must grow by this factor
#: to keep its share.
CONTENT_SCALES = {
    "vgg16": {"avg": 1.0, "max": 1.0},
    "vgg19": {"avg": 1.0, "max": 1.0},
    "vgg19-caffe": {"avg": 1.15e5, "max": 4.4e4},
}


def default_style_weight(net: VGGFeatures) -> float:
    """β for ``net`` when none is given: :data:`STYLE_WEIGHTS` by architecture and pooling.

    A rescaled VGG (:mod:`nst_utils.beyond.rescale`: every channel's mean response 1) keeps
    :data:`STYLE_WEIGHT` whatever the network, since its responses no longer carry the input
    convention's scale.
    """
    if getattr(net, "rescaled", False):
        return STYLE_WEIGHT
    return STYLE_WEIGHTS[net.arch][net.pooling]


def content_scale(net: VGGFeatures) -> float:
    """:data:`CONTENT_SCALES` for ``net``: 1 on torchvision's networks and a rescaled VGG."""
    if getattr(net, "rescaled", False):
        return 1.0
    return CONTENT_SCALES[net.arch][net.pooling]


