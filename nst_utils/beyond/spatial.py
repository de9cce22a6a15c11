r"""Spatial control: a style per region, through masked Gram matrices (Gatys et al. 2017, sec. 4).

A mask :math:`m \in [0, 1]^{H \times W}` picks a region of the generated image (white = in).
At each style layer :math:`l` the mask is averaged down to the layer's resolution,
:math:`m^l`, and the features are multiplied by it before the Gram matrix, which is divided by
the region's area :math:`|m^l| = \sum_k (m^l_k)^2` (the number of positions for a binary mask):

.. math:: \hat G^l_{ij} = \frac{1}{|m^l|} \sum_k m^l_k F^l_{ik}\, m^l_k F^l_{jk}, \qquad
          E_l = \frac{1}{4 N_l^2} \sum_{i,j} (\hat G^l_{ij} - \hat A^l_{ij})^2 .

The target :math:`\hat A^l` comes from the style image the same way, with its own mask if one
is given (else the whole image). With a mask of ones and a style image the size of the content
this is exactly the paper's :math:`E_l = \sum (G - A)^2 / (4 N_l^2 M_l^2)`; the division by the
area also makes the loss independent of the style image's size (used by ``--style-scale``).

Outside the region the features are multiplied by zero, so the style term sends no gradient
there (beyond the receptive field of the units at the region's border): that part of the image
is shaped by the content loss alone, or by another region's style.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from ..assets.images import load_image
from ..paper.layers import STYLE_LAYERS
from ..paper.losses import gram_matrix
from ..paper.objective import StyleTarget, positions
from ..paper.pipeline import Extension, Stage
from ..paper.vgg import VGGFeatures

MaskSource = str | Path | torch.Tensor


def as_mask(mask: torch.Tensor) -> torch.Tensor:
    """A ``(1, 1, H, W)`` float mask from ``(H, W)``, ``(1, H, W)`` or ``(1, C, H, W)``."""
    m = mask.detach().float()
    while m.dim() < 4:
        m = m.unsqueeze(0)
    if m.shape[0] != 1:
        raise ValueError(f"a mask is one image, got a batch of shape {tuple(mask.shape)}")
    return m.mean(dim=1, keepdim=True).clamp(0, 1)


def resize_mask(mask: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """``mask`` averaged (or interpolated, when enlarging) to ``size = (H, W)``."""
    m = as_mask(mask)
    h, w = int(size[0]), int(size[1])
    if tuple(m.shape[-2:]) == (h, w):
        return m
    if m.shape[-2] >= h and m.shape[-1] >= w:
        return F.adaptive_avg_pool2d(m, (h, w))
    return F.interpolate(m, size=(h, w), mode="bilinear", align_corners=False).clamp(0, 1)


def load_mask(source: MaskSource, size: Sequence[int]) -> torch.Tensor:
    """A mask from an image file (grey level, white = region) or a tensor, at ``(H, W)``."""
    if not torch.is_tensor(source):
        source = load_image(source)
    return resize_mask(source, size)


def horizon_masks(h: int, w: int, horizon: float = 0.5, feather: float = 0.0):
    """``(sky, ground)``: above and below a horizontal line at ``horizon`` × height.

    ``feather`` (a fraction of the height) softens the edge linearly; the two masks sum to 1.
    """
    rows = (torch.arange(h, dtype=torch.float32) + 0.5) / h
    if feather > 0:
        ground = ((rows - horizon) / feather + 0.5).clamp(0, 1)
    else:
        ground = (rows >= horizon).float()
    ground = ground.view(1, 1, h, 1).expand(1, 1, h, w).contiguous()
    return 1 - ground, ground


def masked_gram(features: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    r""":math:`\hat G = (F m)(F m)^\top / |m|` with ``mask`` at the features' resolution."""
    if mask is None:
        return gram_matrix(features) / positions(features)
    area = mask.pow(2).sum().clamp_min(1e-8)
    return gram_matrix(features * mask) / area


class MaskedStyleTarget(StyleTarget):
    """A style target restricted to a region of the generated image (and of the style image).

    ``mask`` (generated image) and ``style_mask`` (style image) may be ``None``: the whole image.
    """

    def __init__(
        self,
        net: VGGFeatures,
        image: torch.Tensor,
        mask: torch.Tensor | None = None,
        style_mask: torch.Tensor | None = None,
        layers: Sequence[str] = STYLE_LAYERS,
        layer_weights: Sequence[float] | None = None,
    ) -> None:
        self.mask = None if mask is None else as_mask(mask).to(image.device)
        self.style_mask = None if style_mask is None else as_mask(style_mask).to(image.device)
        self._resized: dict[tuple[int, int], torch.Tensor] = {}
        super().__init__(net, image, layers, layer_weights)

    def target_grams(self, net: VGGFeatures, image: torch.Tensor) -> dict[str, torch.Tensor]:
        r""":math:`\hat A^l` for every style layer, from the style image's own region."""
        grams = {}
        for name, f in net(image, self.layers).items():
            m = None if self.style_mask is None else resize_mask(self.style_mask, f.shape[-2:])
            grams[name] = masked_gram(f, m)
        return grams

    def _mask_at(self, size: Sequence[int]) -> torch.Tensor | None:
        if self.mask is None:
            return None
        key = (int(size[0]), int(size[1]))
        if key not in self._resized:
            self._resized[key] = resize_mask(self.mask, key)
        return self._resized[key]

    def loss(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        r""":math:`\sum_l w_l \sum (\hat G^l - \hat A^l)^2 / (4 N_l^2)`."""
        terms = [
            self.layer_weights[name] * self._layer_loss(features[name], target)
            for name, target in self.grams.items()
        ]
        return torch.stack(terms).sum()

    def _layer_loss(self, f: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        gram = masked_gram(f, self._mask_at(f.shape[-2:]))
        return (gram - target).pow(2).sum() / (4.0 * f.shape[1] ** 2)


class Regions(Extension):
    """A style per region in a run of :func:`nst_utils.paper.pipeline.run`: painting ``k``
    gets ``masks[k]`` (its region of the result) and ``style_masks[k]`` (the part of the
    painting to take it from), either ``None`` for the whole image, and the blend weight
    ``shares[k]`` (:func:`nst_utils.beyond.styles.blend_shares`: shares per region)."""

    def __init__(
        self, masks: Sequence[MaskSource | None], style_masks: Sequence[MaskSource | None],
        shares: Sequence[float],
    ) -> None:  # fmt: skip
        self.masks, self.style_masks, self.shares = list(masks), list(style_masks), list(shares)

    def aim(self, stage: Stage) -> None:
        stage.weights = list(self.shares)
        layers, weights = stage.settings.style_layers, stage.settings.style_layer_weights
        for k, painting in enumerate(stage.paintings):
            mask, inside = self.masks[k], self.style_masks[k]
            if mask is None and inside is None:
                continue
            mask = None if mask is None else load_mask(mask, stage.shape)
            inside = None if inside is None else load_mask(inside, painting.shape[-2:])
            stage.style_targets[k] = MaskedStyleTarget(
                stage.net, painting, mask, inside, layers, weights
            )
