r"""Any style without training: AdaIN and WCT as operations on VGG features.

Both methods take the content image's responses :math:`F_c \in R^{N \times M}` at one layer
(:math:`N` channels, :math:`M` positions) and the style image's :math:`F_s \in R^{N \times
M_s}`, and return features :math:`T` that keep the content's arrangement but carry the style's
statistics. An image with those features is then found by the kit's own optimisation
(:func:`invert`: the content reconstruction of notebook 02 aimed at :math:`T`), or by a
trained decoder in one pass (:mod:`nst_utils.networks.decoder`).

**AdaIN** (Huang & Belongie 2017, eq. 8), per channel :math:`i`, with the mean
:math:`\mu_i = \frac1M \sum_k F_{ik}` and the standard deviation
:math:`\sigma_i = \sqrt{\frac1M \sum_k (F_{ik} - \mu_i)^2 + \epsilon}` over positions:

.. math:: T_{ik} = \sigma_i(F_s)\, \frac{F_{c,ik} - \mu_i(F_c)}{\sigma_i(F_c)} + \mu_i(F_s).

So :math:`\mu_i(T) = \mu_i(F_s)` and :math:`\sigma_i(T) = \sigma_i(F_s)` exactly (up to
:math:`\epsilon`; a channel the content never excites stays flat at :math:`\mu_i(F_s)`).

**The Gram matrix.** Per position, the paper's Gram matrix (:mod:`nst_utils.paper.losses`) is the
second moment :math:`\frac1M G = \frac1M F F^\top = \Sigma + \mu \mu^\top`, with the channels'
covariance :math:`\Sigma`. Its diagonal is :math:`\sigma_i^2 + \mu_i^2`: AdaIN matches the
**diagonal** of the Gram matrix exactly and leaves the off-diagonal (which channels fire
*together*) as the content had it, correlations :math:`\Sigma_{ij}/(\sigma_i \sigma_j)`
unchanged.

**WCT** (Li et al. 2017, sec. 3.1) matches the whole of it. Whitening removes the content's
covariance, colouring puts the style's in, with symmetric (ZCA) roots from the
eigendecompositions :math:`\Sigma_c = E_c D_c E_c^\top`, :math:`\Sigma_s = E_s D_s E_s^\top`:

.. math:: \hat F_c = E_c D_c^{-1/2} E_c^\top (F_c - \mu_c), \qquad
          T = E_s D_s^{1/2} E_s^\top \hat F_c + \mu_s,

so that :math:`\frac1M T T^\top = \Sigma_s + \mu_s \mu_s^\top = \frac1{M_s} G_s`: the Gram
target of the paper's style loss at that layer, met exactly (when :math:`\Sigma_c` has full
rank, i.e. :math:`M > N` and no dead channel; directions whose eigenvalue is below
``eps`` times the largest are dropped, as Li et al. drop tiny ones). On the three channels of
the pixels WCT is colour histogram matching (:func:`nst_utils.beyond.color.match_histogram`,
``method="eigen"``).

**Controls** (both papers, sec. 7 / sec. 4): the content–style trade-off interpolates
features, :math:`\alpha T + (1 - \alpha) F_c` (:func:`trade_off`); several styles mix their
transforms by weight, :math:`\sum_k w_k T_k` (:func:`mix_styles`); regions apply the operation
to the positions inside a mask, with statistics from those positions only
(:func:`in_regions`); colour preservation recolours the painting first
(:mod:`nst_utils.beyond.color`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch

from ..assets.images import ImageSource, load_image
from ..beyond import color
from ..beyond.spatial import load_mask, resize_mask
from ..beyond.styles import StyleSpec, blend_shares
from ..engine.precision import float64_on_cpu
from ..errors import NSTError
from ..paper.objective import ContentTarget
from ..paper.pipeline import Extension, Settings, Stage, run
from ..paper.vgg import VGGFeatures

#: The feature operations by name (``nst paint --method``).
Operation = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
#: AdaIN's :math:`\epsilon`, added to the variance (Huang & Belongie's code uses 1e-5).
ADAIN_EPS = 1e-5
#: WCT drops directions whose eigenvalue is below this fraction of the largest.
WCT_EPS = 1e-5
#: The layers a decoder starts from and multi-level WCT visits, deepest (coarsest) first.
LEVELS = ("relu4_1", "relu3_1", "relu2_1", "relu1_1")


# --------------------------------------------------------------------------- statistics


def channel_stats(features: torch.Tensor, eps: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Per channel mean :math:`\mu_i` and standard deviation :math:`\sqrt{\sigma_i^2 +
    \epsilon}` over the positions of ``(B, N, H, W)`` features, each ``(B, N, 1, 1)``."""
    f = features.flatten(2)
    mean = f.mean(dim=2)
    var = f.var(dim=2, unbiased=False)
    return mean[..., None, None], (var + eps).sqrt()[..., None, None]


def statistics_error(output: torch.Tensor, style: torch.Tensor) -> dict[str, float]:
    r"""How far ``output``'s per-channel statistics are from ``style``'s:
    :math:`\lVert \mu(o) - \mu(s) \rVert / \lVert \mu(s) \rVert` and the same for
    :math:`\sigma` (``"mean"``, ``"std"``), over all channels (features or pixels)."""
    (mo, so), (ms, ss) = channel_stats(output), channel_stats(style)
    return {
        "mean": float((mo - ms).norm() / ms.norm().clamp_min(1e-12)),
        "std": float((so - ss).norm() / ss.norm().clamp_min(1e-12)),
    }


# --------------------------------------------------------------------------- AdaIN


def adain(content_f: torch.Tensor, style_f: torch.Tensor, eps: float = ADAIN_EPS) -> torch.Tensor:
    r"""Adaptive instance normalisation (Huang & Belongie 2017, eq. 8):
    :math:`\sigma(F_s) \frac{F_c - \mu(F_c)}{\sigma(F_c)} + \mu(F_s)`, per channel.

    ``content_f`` ``(B, N, H, W)``; ``style_f`` ``(B or 1, N, H', W')``, any size.
    """
    _check_pair(content_f, style_f)
    mu_c, sigma_c = channel_stats(content_f, eps)
    mu_s, sigma_s = channel_stats(style_f, eps)
    return sigma_s * (content_f - mu_c) / sigma_c + mu_s


# --------------------------------------------------------------------------- WCT


def wct(content_f: torch.Tensor, style_f: torch.Tensor, eps: float = WCT_EPS) -> torch.Tensor:
    r"""Whitening and colouring transform (Li et al. 2017, eq. 1-3): ``content_f`` with the
    channel mean and covariance of ``style_f`` (module docstring). The covariances are taken
    on the features' device; their roots, :math:`\Sigma_s^{1/2} \Sigma_c^{-1/2}`, in float64
    on the CPU (:func:`~nst_utils.engine.precision.float64_on_cpu`), applied in float32.

    ``content_f`` ``(B, N, H, W)``; ``style_f`` ``(B or 1, N, H', W')``, any size.
    """
    _check_pair(content_f, style_f)
    b, n, h, w = content_f.shape
    fc, fs = content_f.flatten(2).float(), style_f.flatten(2).float()
    mu_c, mu_s = fc.mean(dim=2, keepdim=True), fs.mean(dim=2, keepdim=True)
    covariances = _covariance(fc - mu_c), _covariance(fs - mu_s)
    transform = float64_on_cpu(_colouring, *covariances, eps=eps)
    coloured = transform @ (fc - mu_c) + mu_s
    return coloured.reshape(b, n, h, w).to(content_f.dtype)


def _colouring(cov_c: torch.Tensor, cov_s: torch.Tensor, eps: float) -> torch.Tensor:
    r""":math:`\Sigma_s^{1/2} \Sigma_c^{-1/2}`: whitening, then the style's colouring."""
    return _root(cov_s, 0.5, eps) @ _root(cov_c, -0.5, eps)


def _covariance(centred: torch.Tensor) -> torch.Tensor:
    r""":math:`\frac1M (F - \mu)(F - \mu)^\top` of ``(B, N, M)`` centred features."""
    return centred @ centred.mT / centred.shape[-1]


def _root(cov: torch.Tensor, power: float, eps: float) -> torch.Tensor:
    r""":math:`E D^{p} E^\top` over the eigenvalues above ``eps`` times the largest (the
    others contribute nothing)."""
    values, vectors = torch.linalg.eigh(cov)
    keep = values > eps * values.amax(dim=-1, keepdim=True).clamp_min(1e-30)
    scaled = torch.where(keep, values.clamp_min(1e-30).pow(power), torch.zeros_like(values))
    return (vectors * scaled.unsqueeze(-2)) @ vectors.mT


METHODS: dict[str, Operation] = {"adain": adain, "wct": wct}


def operation(method: str) -> Operation:
    """The feature operation called ``method`` (:data:`METHODS`)."""
    if method not in METHODS:
        raise NSTError(f"unknown method {method!r}: choose {', '.join(METHODS)}")
    return METHODS[method]


def _check_pair(content_f: torch.Tensor, style_f: torch.Tensor) -> None:
    if content_f.dim() != 4 or style_f.dim() != 4 or content_f.shape[1] != style_f.shape[1]:
        raise ValueError(
            f"features of shapes {tuple(content_f.shape)} and {tuple(style_f.shape)}: both must "
            "be (B, N, H, W) from the same layer"
        )


# --------------------------------------------------------------------------- controls


def trade_off(content_f: torch.Tensor, transformed: torch.Tensor, alpha: float) -> torch.Tensor:
    r""":math:`\alpha T + (1 - \alpha) F_c`: 0 keeps the content's features, 1 the transform's."""
    if not 0 <= alpha <= 1:
        raise NSTError(f"style strength {alpha}: give a number from 0 to 1")
    return alpha * transformed + (1 - alpha) * content_f


def mix_styles(
    op: Operation, content_f: torch.Tensor, styles_f: Sequence[torch.Tensor],
    weights: Sequence[float] | None = None,
) -> torch.Tensor:  # fmt: skip
    r""":math:`\sum_k w_k\, \mathrm{op}(F_c, F_{s_k})` with the weights' shares
    :math:`w_k / \sum w` (equal shares by default): interpolation between paintings."""
    weights = [1.0] * len(styles_f) if weights is None else list(weights)
    if len(weights) != len(styles_f) or not styles_f:
        raise NSTError(f"{len(styles_f)} styles and {len(weights)} weights: give one each")
    if any(not w > 0 for w in weights):
        raise NSTError(f"style weights {weights}: each must be > 0")
    total = sum(weights)
    return sum((w / total) * op(content_f, f) for w, f in zip(weights, styles_f, strict=True))


def in_regions(
    op: Operation, content_f: torch.Tensor, styles_f: Sequence[torch.Tensor],
    masks: Sequence[torch.Tensor],
) -> torch.Tensor:  # fmt: skip
    r"""Each style in its own region: ``masks[k]`` (any size, white = in, averaged down to the
    features' positions and taken where it is at least ½) selects the positions of
    ``content_f`` that get ``op`` with ``styles_f[k]``, with the content statistics taken over
    those positions only. Positions no mask covers keep the content's features."""
    if len(masks) != len(styles_f):
        raise NSTError(f"{len(styles_f)} styles and {len(masks)} masks: give one mask per style")
    out = content_f.clone()
    for style_f, mask in zip(styles_f, masks, strict=True):
        inside = resize_mask(mask, content_f.shape[-2:])[0, 0] >= 0.5
        if int(inside.sum()) < 2:
            continue  # a region too small to have statistics at this layer
        region = content_f[..., inside].unsqueeze(-1)  # (B, N, K, 1)
        out[..., inside] = op(region, style_f).squeeze(-1)
    return out


# --------------------------------------------------------------------------- images


def transform(
    net: VGGFeatures,
    content: torch.Tensor,
    styles: Sequence[torch.Tensor],
    layers: Sequence[str],
    method: str = "adain",
    *,
    alpha: float = 1.0,
    weights: Sequence[float] | None = None,
    masks: Sequence[torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """The transformed features of ``content`` at each of ``layers``: ``method`` with every
    painting in ``styles`` (mixed by ``weights``, or each in its region of ``masks``), then the
    trade-off ``alpha``. Inputs are ``(1, 3, H, W)`` pictures in [0, 1]."""
    op = operation(method)
    layers = net.check_layers(layers)
    with torch.no_grad():
        content_fs = net(content, layers)
        styles_fs = [net(s, layers) for s in styles]
        targets = {}
        for name, f in content_fs.items():
            per_style = [s[name] for s in styles_fs]
            if masks is None:
                t = mix_styles(op, f, per_style, weights)
            else:
                t = in_regions(op, f, per_style, masks)
            targets[name] = trade_off(f, t, alpha)
    return targets


def prepare(
    photo: torch.Tensor, styles: Sequence[ImageSource | StyleSpec], style_size: int,
    preserve_color: str | None = None,
) -> tuple[torch.Tensor, list[torch.Tensor], list[float], list[torch.Tensor] | None]:  # fmt: skip
    """What the operations see: the photo and the paintings (loaded at ``style_size``) under
    ``preserve_color`` (:mod:`nst_utils.beyond.color`), the styles' weight shares, and their masks
    at
    the photo's size (``None`` when no style has one)."""
    specs = blend_shares([s if isinstance(s, StyleSpec) else StyleSpec(s) for s in styles])
    seen = color.prepare_content(photo, preserve_color)
    paintings = [
        color.prepare_style(load_image(s.source, style_size).to(photo.device), photo,
                            preserve_color)
        for s in specs
    ]  # fmt: skip
    masks = None
    if any(s.mask is not None for s in specs):
        if any(s.mask is None for s in specs):
            raise NSTError("give every style a mask, or none")
        masks = [load_mask(s.mask, photo.shape[-2:]) for s in specs]
    return seen, paintings, [s.weight for s in specs], masks


def invert(
    net: VGGFeatures,
    content: torch.Tensor,
    targets: Mapping[str, torch.Tensor],
    settings=None,
    **hooks,
):
    """An image whose responses on ``targets``' layers match ``targets``: the content
    reconstruction of notebook 02 (:func:`nst_utils.paper.pipeline.run` without a style)
    aimed at the transformed features (:class:`FeatureTargets`). ``content`` gives the size
    and, with ``init="content"``, the start. Returns the pipeline's
    :class:`~nst_utils.paper.pipeline.Result`."""
    settings = Settings(init="content") if settings is None else settings
    extensions = [*hooks.pop("extensions", ()), FeatureTargets(targets)]
    return run(net, content, None, settings, extensions=extensions, **hooks)


class FeatureTargets(Extension):
    r"""Content targets given as features: :math:`P^l` of a run are ``features``
    (``{layer: (1, N_l, H_l, W_l)}``, e.g. AdaIN's or WCT's transformed responses) instead of
    the content image's own; the content image still decides the size, the start and the
    colours, and each target must have the shape its responses have at that size."""

    def __init__(self, features: Mapping[str, torch.Tensor]) -> None:
        self.features = dict(features)

    def aim(self, stage: Stage) -> None:
        if stage.content is None:
            raise NSTError("content features need a content image (its size and start)")
        reduction = stage.settings.content_reduction
        target = ContentTarget(stage.net, stage.content, tuple(self.features), reduction)
        target.aim_at(self.features)
        stage.content_target = target
