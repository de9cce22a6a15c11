"""Layer names of VGG-16 and VGG-19, as the paper writes them.

The convolutional part of VGG is five blocks. Block *b* holds ``n_b`` convolutions, each
followed by a ReLU, and ends with a 2×2 pooling::

    conv{b}_{i} -> relu{b}_{i}   for i = 1..n_b,   then pool{b}

VGG-16 has ``n = (2, 2, 3, 3, 3)`` and VGG-19 ``n = (2, 2, 4, 4, 4)``; ``vgg19-caffe`` is VGG-19
with the original Oxford (Caffe) weights, so it has VGG-19's layers. The names below are listed
in forward order, so the position of a name is its index in torchvision's ``vgg*().features``.

A note on names. Gatys et al. used Caffe, where each ReLU runs *in place*: the blob the paper
calls ``conv4_2`` holds the **rectified** responses. In this kit ``conv4_2`` is the raw
convolution output and ``relu4_2`` is what the paper calls ``conv4_2``. The defaults in
:mod:`nst_utils.paper.objective` therefore use the ``relu`` names.
"""

from __future__ import annotations

#: ``vgg19``: torchvision's VGG-19 (online); ``vgg19-caffe``: the paper's own VGG-19, the original
#: Oxford weights trained in Caffe (offline, :mod:`nst_utils.assets.weights`); ``vgg16``:
#: torchvision's.
ARCHS = ("vgg19", "vgg19-caffe", "vgg16")
BLOCK_DEPTHS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4), "vgg19-caffe": (2, 2, 4, 4, 4)}
#: The torchvision model whose ``features`` have the same layout (keys and shapes).
TORCHVISION_LAYOUT = {"vgg16": "vgg16", "vgg19": "vgg19", "vgg19-caffe": "vgg19"}
#: The paper's content layer ("conv4_2" in Caffe, whose ReLUs run in place, so rectified).
CONTENT_LAYERS = ("relu4_2",)
#: The paper's style layers ("conv1_1" … "conv5_1", rectified), each weighted 1/5.
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def layer_names(arch: str) -> tuple[str, ...]:
    """All layer names of ``arch`` in forward order (conv, relu, ..., pool per block)."""
    check_arch(arch)
    names: list[str] = []
    for block, depth in enumerate(BLOCK_DEPTHS[arch], start=1):
        for i in range(1, depth + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
        names.append(f"pool{block}")
    return tuple(names)


def conv_layer_names(arch: str) -> tuple[str, ...]:
    """Only the convolution layers of ``arch``, in order."""
    return tuple(name for name in layer_names(arch) if name.startswith("conv"))


def check_arch(arch: str) -> None:
    """Raise ``ValueError`` if ``arch`` is not one of :data:`ARCHS`."""
    if arch not in BLOCK_DEPTHS:
        raise ValueError(f"unknown architecture {arch!r}: choose one of {', '.join(ARCHS)}")


def check_layers(arch: str, names) -> tuple[str, ...]:
    """Return ``names`` as a tuple, or raise ``ValueError`` listing the valid names."""
    valid = layer_names(arch)
    names = tuple(names)
    unknown = [n for n in names if n not in valid]
    if unknown:
        raise ValueError(
            f"unknown layer {', '.join(map(repr, unknown))} for {arch}: "
            f"valid names are {', '.join(valid)}"
        )
    return names
