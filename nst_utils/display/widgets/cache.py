"""Every layer's response to each image from **one** pass of the network, kept for the sliders.

The feature-map and Gram explorers change layer and channel far more often than image, so
:class:`FeatureCache` asks the network for all the layers an image reaches at once and keeps
the answer: changing the layer or channel then only colour-maps an array that is already
there. Gram matrices (:func:`nst_utils.paper.losses.gram_matrix`) and their clustered channel orders
(:func:`nst_utils.display.plotting.cluster_order`) are cached per image and layer.
"""

from __future__ import annotations

from collections import OrderedDict

import torch

from ...config import pick
from ...paper.losses import gram_matrix
from ...paper.vgg import VGGFeatures
from ..anatomy import architecture
from ..plotting import cluster_order
from .base import Images, ImageSet, device_of


class FeatureCache:
    """All layer outputs of each image of ``images``; at most ``max_images`` images are kept
    (the least recently used is dropped, with its Gram matrices). All layers of an image take
    hundreds of times the image's own memory, while one pass is quick to repeat when an older
    image is chosen again: by default two are kept, the Gram explorer's pair."""

    def __init__(self, net: VGGFeatures, images: ImageSet, max_images: int = 2) -> None:
        self.net = net
        self.images = images
        self.max_images = max_images
        self._features: OrderedDict[str, dict[str, torch.Tensor]] = OrderedDict()
        self._grams: dict[tuple[str, str], torch.Tensor] = {}
        self._orders: dict[tuple[str, str], torch.Tensor] = {}

    @classmethod
    def of(cls, net: VGGFeatures, images: Images, size: int | None = None) -> FeatureCache:
        """A cache over ``images``; files and example names are loaded at ``size`` (longest
        side; 256 px, 64 in fast mode)."""
        return cls(net, ImageSet(images, size or pick(256, 64), device_of(net)))

    def reachable(self, name: str) -> list[str]:
        """The layers image ``name`` reaches: a small image stops before a pooling that would
        leave no positions (sizes from :func:`nst_utils.display.anatomy.architecture`)."""
        rows = architecture(self.net.arch, tuple(self.images[name].shape[-2:]))
        return [row.name for row in rows if row.height > 0 and row.width > 0]

    def features(self, name: str) -> dict[str, torch.Tensor]:
        """``{layer: (1, N, H, W)}`` on the CPU for every layer image ``name`` reaches."""
        if name in self._features:
            self._features.move_to_end(name)
            return self._features[name]
        with torch.no_grad():
            out = self.net(self.images[name], self.reachable(name))
        self._features[name] = {k: v.detach().cpu() for k, v in out.items()}
        while len(self._features) > self.max_images:
            dropped, _ = self._features.popitem(last=False)
            for key in [k for k in self._grams if k[0] == dropped]:
                self._grams.pop(key)
                self._orders.pop(key, None)
        return self._features[name]

    def layer(self, name: str, layer: str) -> torch.Tensor:
        """``(1, N, H, W)`` responses of image ``name`` on ``layer``."""
        features = self.features(name)
        if layer not in features:
            h, w = self.images[name].shape[-2:]
            raise ValueError(
                f"{name} ({h}×{w} px) is too small to reach {layer}: use a larger size"
            )
        return features[layer]

    def gram(self, name: str, layer: str) -> torch.Tensor:
        """The ``(N, N)`` Gram matrix :math:`G = F F^\\top` of image ``name`` on ``layer``."""
        key = (name, layer)
        if key not in self._grams:
            self._grams[key] = gram_matrix(self.layer(name, layer))[0]
        return self._grams[key]

    def order(self, name: str, layer: str) -> torch.Tensor:
        """The clustered channel order of that Gram matrix."""
        key = (name, layer)
        if key not in self._orders:
            self._orders[key] = cluster_order(self.gram(name, layer))
        return self._orders[key]
