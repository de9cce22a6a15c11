r"""The objective :math:`\alpha L_{content} + \beta L_{style} + \gamma L_{TV}` as one callable.

Targets — the content image's features :math:`P^l` and the style image's Gram matrices
:math:`A^l` — are computed **once**, when the objective is built, without autograd. Each call
then needs one forward pass of the generated image up to the deepest layer used, and the
backward pass through it.

Content reconstruction, texture synthesis and full style transfer are the same objective with
some terms switched off: no content image (texture synthesis, paper Fig. 1 top), no style image
(content reconstruction, Fig. 1 bottom), or both (Fig. 2). Later chapters add their own terms
(:attr:`Objective.extra_terms`) without this module knowing them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import torch

from ..assets.calibration import default_style_weight
from ..errors import NSTError
from .layers import CONTENT_LAYERS, STYLE_LAYERS
from .losses import REDUCTIONS, content_loss, gram_matrix, style_loss, total_variation
from .vgg import VGGFeatures

#: A term a later chapter adds: ``(weight, loss)``, with ``loss(image) -> scalar``.
ExtraTerm = tuple[float, Callable[[torch.Tensor], torch.Tensor]]


@dataclass
class LossTerms:
    """The parts of one evaluation; ``total`` is what is minimised. ``extra`` holds the terms
    a later chapter added (:attr:`Objective.extra_terms`), unweighted, by name."""

    content: torch.Tensor
    style: torch.Tensor
    tv: torch.Tensor
    total: torch.Tensor
    extra: dict[str, torch.Tensor] = field(default_factory=dict)

    def parts(self) -> dict[str, torch.Tensor]:
        """Every term by name: content, style, tv, total, then the extra terms."""
        return {"content": self.content, "style": self.style, "tv": self.tv,
                "total": self.total, **self.extra}  # fmt: skip

    def as_floats(self) -> dict[str, float]:
        """Plain numbers (one host sync), e.g. for the history log."""
        return {k: float(v.detach()) for k, v in self.parts().items()}

    def detached(self) -> LossTerms:
        extra = {k: v.detach() for k, v in self.extra.items()}
        return LossTerms(self.content.detach(), self.style.detach(), self.tv.detach(),
                         self.total.detach(), extra)  # fmt: skip


class ContentTarget:
    r"""The content image's responses :math:`P^l` on ``layers`` and the loss against them."""

    def __init__(
        self,
        net: VGGFeatures,
        image: torch.Tensor,
        layers: Sequence[str] = CONTENT_LAYERS,
        reduction: str = "mean",
    ) -> None:
        if reduction not in REDUCTIONS:
            raise ValueError(f"unknown reduction {reduction!r}: choose {', '.join(REDUCTIONS)}")
        self.layers = net.check_layers(layers)
        self.reduction = reduction
        with torch.no_grad():
            self.targets = {k: v.detach() for k, v in net(image, self.layers).items()}

    def aim_at(self, features: dict[str, torch.Tensor]) -> None:
        """Replace :math:`P^l` by ``features`` of the same shapes (feature inversion: the
        targets are transformed responses, not the image's own)."""
        for name, own in self.targets.items():
            given = features[name]
            if tuple(given.shape) != tuple(own.shape):
                raise NSTError(
                    f"content features for {name} have shape {tuple(given.shape)}, but the "
                    f"content image gives {tuple(own.shape)} at this size: compute them from "
                    "the content image at the run's size (and without coarse sizes)"
                )
            self.targets[name] = given.detach().to(own.device, own.dtype)

    def loss(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """Mean over the layers of each layer's content loss (one layer in the paper)."""
        losses = [content_loss(features[k], t, self.reduction) for k, t in self.targets.items()]
        return losses[0] if len(losses) == 1 else torch.stack(losses).mean()


class StyleTarget:
    r"""The style image's Gram matrices :math:`A^l` and :math:`\sum_l w_l E_l` against them.

    The paper's images have the same size. When they do not (another aspect ratio, a style
    image at another resolution), :math:`A^l` sums over the style image's :math:`M^s_l`
    positions but :math:`G^l` over the generated image's :math:`M_l`, so eq. 4 would ask for
    features :math:`\sqrt{M^s_l / M_l}` times too strong. The target is therefore kept per
    position, :math:`A^l / M^s_l`, and compared as :math:`A^l M_l / M^s_l`:

    .. math:: E_l = \frac{1}{4 N_l^2 M_l^2} \sum_{i,j}
              \Big(G^l_{ij} - \frac{M_l}{M^s_l} A^l_{ij}\Big)^2
              = \frac{1}{4 N_l^2} \sum_{i,j}
              \Big(\frac{G^l_{ij}}{M_l} - \frac{A^l_{ij}}{M^s_l}\Big)^2 ,

    which is eq. 4 exactly when :math:`M_l = M^s_l`.
    """

    def __init__(
        self,
        net: VGGFeatures,
        image: torch.Tensor,
        layers: Sequence[str] = STYLE_LAYERS,
        layer_weights: Sequence[float] | None = None,
    ) -> None:
        self.layers = net.check_layers(layers)
        if layer_weights is None:
            layer_weights = [1.0 / len(self.layers)] * len(self.layers)
        if len(layer_weights) != len(self.layers):
            raise ValueError("give one style-layer weight per style layer")
        self.layer_weights = dict(zip(self.layers, map(float, layer_weights), strict=True))
        with torch.no_grad():
            self.grams = self.target_grams(net, image)

    def target_grams(self, net: VGGFeatures, image: torch.Tensor) -> dict[str, torch.Tensor]:
        r""":math:`A^l / M^s_l` for every style layer (subclasses may mask or blend)."""
        return {k: gram_matrix(f) / positions(f) for k, f in net(image, self.layers).items()}

    def loss(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        r""":math:`\sum_l w_l E_l`, with :math:`E_l` from
        :func:`~nst_utils.paper.losses.style_loss`."""
        targets = {k: a * positions(features[k]) for k, a in self.grams.items()}
        return style_loss(features, targets, self.layer_weights)


def positions(features: torch.Tensor) -> int:
    """:math:`M_l = H_l W_l`, the number of positions of a ``(B, N, H, W)`` feature map."""
    return features.shape[-2] * features.shape[-1]


class Objective:
    r"""``objective(image) -> LossTerms``: :math:`\alpha L_{content} + \beta \sum_s w_s
    L_{style}^{(s)} + \gamma L_{TV}`, the thing :func:`nst_utils.paper.optimize.optimize`
    minimises.

    ``styles`` is a list of ``(target, weight)`` pairs so that several styles can be blended;
    the paper uses one with weight 1. A target is a :class:`StyleTarget` or anything with
    ``layers`` and ``loss(features)`` (e.g. :class:`nst_utils.beyond.spatial.MaskedStyleTarget`).
    ``extra_terms`` (name → ``(weight, loss)``) are terms of later chapters, added to the total
    (a video frame's temporal term, :mod:`nst_utils.video.temporal`).

    ``fast`` (default off) evaluates through :func:`nst_utils.engine.speed.evaluate`: the same
    values, computed with the speed tricks of the engine. Off, :meth:`terms` runs the formulas
    of :mod:`nst_utils.paper.losses` as written here.
    """

    def __init__(
        self,
        net: VGGFeatures,
        content: ContentTarget | None = None,
        styles: Iterable[tuple[StyleTarget, float]] = (),
        content_weight: float = 1.0,
        style_weight: float = 1.0,
        tv_weight: float = 0.0,
        *,
        fast: bool = False,
    ) -> None:
        self.net = net
        self.content = content
        self.styles = list(styles)
        self.content_weight = content_weight
        self.style_weight = style_weight
        self.tv_weight = tv_weight
        self.extra_terms: dict[str, ExtraTerm] = {}
        self.fast = fast
        if content is None and not self.styles:
            raise ValueError("an objective needs a content target, a style target, or both")
        layers = list(content.layers) if content else []
        for target, _ in self.styles:
            layers += [name for name in target.layers if name not in layers]
        self.layers = tuple(layers)

    def __call__(self, image: torch.Tensor) -> LossTerms:
        if self.fast:
            from ..engine import speed

            return speed.evaluate(self, image)
        return self.terms(image, self.net(image, self.layers))

    def terms(
        self, image: torch.Tensor, features: dict[str, torch.Tensor],
        styles: Sequence[tuple[StyleTarget, float]] | None = None,
        style_terms: Sequence[torch.Tensor] = (),
    ) -> LossTerms:  # fmt: skip
        """The loss of ``image`` from its ``features``. ``styles`` (default: all) are the style
        targets still to compute; ``style_terms`` are terms computed already."""
        zero = image.new_zeros(())
        content = self.content.loss(features) if self.content else zero
        styles = self.styles if styles is None else styles
        style_terms = [*style_terms, *(w * t.loss(features) for t, w in styles)]
        style = torch.stack(style_terms).sum() if style_terms else zero
        total = self.content_weight * content + self.style_weight * style
        tv = total_variation(image) if self.tv_weight else zero
        total = total + self.tv_weight * tv
        extra = {name: loss(image) for name, (_, loss) in self.extra_terms.items()}
        for name, value in extra.items():
            total = total + self.extra_terms[name][0] * value
        return LossTerms(content, style, tv, total, extra)


def build_objective(
    net: VGGFeatures,
    content: torch.Tensor | None = None,
    style: torch.Tensor | Sequence[tuple[torch.Tensor, float]] | None = None,
    *,
    content_layers: Sequence[str] = CONTENT_LAYERS,
    style_layers: Sequence[str] = STYLE_LAYERS,
    content_weight: float = 1.0,
    style_weight: float | None = None,
    tv_weight: float = 0.0,
    content_reduction: str = "mean",
    fast: bool = False,
) -> Objective:
    """Objective from images: ``style`` is one image or ``[(image, weight), ...]`` to blend.

    Blend weights must be positive; they are divided by their total. ``style_weight`` ``None``
    is the network's default, :func:`~nst_utils.assets.calibration.default_style_weight`;
    ``fast`` as in :class:`Objective`.
    """
    if style_weight is None:
        style_weight = default_style_weight(net)
    content_target = None
    if content is not None:
        content_target = ContentTarget(net, content, content_layers, content_reduction)
    pairs = [] if style is None else ([(style, 1.0)] if torch.is_tensor(style) else list(style))
    if any(w <= 0 for _, w in pairs):
        raise ValueError("style blend weights must be positive")
    total_w = sum(w for _, w in pairs)
    styles = [(StyleTarget(net, img, style_layers), w / total_w) for img, w in pairs]
    return Objective(net, content_target, styles, content_weight, style_weight, tv_weight,
                     fast=fast)  # fmt: skip
