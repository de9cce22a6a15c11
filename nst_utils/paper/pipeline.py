r"""One pipeline for every experiment of the kit: inputs + :class:`Settings` → :class:`Result`.

Gatys et al. run one procedure throughout the paper: compute the targets from the images, then
change the pixels of a start image until its VGG responses match them,

.. math:: x_\ast = \operatorname*{arg\,min}_x\ \alpha L_{content}(x, p)
          + \beta L_{style}(x, a) \quad (\text{eq. 7}).

Every experiment of the course is this with some parts left out or added:

==========================  =============================================================
experiment                  what changes
==========================  =============================================================
content reconstruction      no style image; start from noise (Fig. 1, bottom)
texture synthesis           no content image; start from noise (Fig. 1, top)
style transfer              both (Fig. 2, 3)
blends, regions             several styles, each with a weight and optional masks
colour preservation         the optimisation sees luminance (or recoloured paintings)
style scale                 the painting at another size than the photo
coarse-to-fine              the same run at increasing sizes, each starting from the last
a video frame               a temporal target: the previous frame, warped (Ruder 2016)
==========================  =============================================================

Coarse-to-fine is a loop over the same single-size run, as in Gatys' own notebook: the
targets are recomputed from the images at each size and the previous result, upsampled, is
the next start:

.. math:: x^{(k)}_0 = \operatorname{up}\big(x^{(k-1)}_\ast\big).

:func:`stylize`, :func:`reconstruct_content` and :func:`synthesize_texture` are presets of
:func:`run`; the CLI, the explorers and the notebooks call them.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace

import torch

from ..assets import images
from ..beyond import color
from ..beyond.spatial import MaskedStyleTarget, load_mask
from ..beyond.styles import Source, StyleSpec, as_specs, blend_shares
from ..checks import MIN_SIZE, check_scales
from ..errors import NSTError
from .layers import CONTENT_LAYERS, STYLE_LAYERS
from .objective import (
    ContentTarget,
    LossTerms,
    Objective,
    StyleTarget,
    TemporalTarget,
    default_style_weight,
)
from .optimize import Callback, initial_image, optimize
from .optimize import Result as StageResult
from .vgg import VGGFeatures

#: The longest side a file or example name is loaded at when ``Settings.size`` is ``None``.
DEFAULT_SIZE = 256
#: :math:`\lambda`, the temporal term's weight with α = 1 (BENCHMARKS.md, "Video").
TEMPORAL_WEIGHT = 1e4

StyleInput = Source | StyleSpec | Sequence


@dataclass(frozen=True)
class Settings:
    r"""Everything that decides a run; :func:`run` reads every field.

    ``style_weight / content_weight`` is the paper's :math:`\beta/\alpha`; ``None`` means the
    network's default (:func:`nst_utils.paper.objective.default_style_weight`: the networks'
    responses differ in scale by orders of magnitude, so one number cannot suit all).

    ``size`` is the result's longest side in pixels; ``None`` keeps a tensor's own size (a file
    or example name is loaded at :data:`DEFAULT_SIZE`). ``coarse_sizes`` are optimised first,
    in order, each for ``steps`` iterations (coarse-to-fine). ``style_scale`` sizes the
    painting at that fraction of the photo. ``content_reduction`` is ``"mean"`` (eq. 1 divided
    by :math:`N_l M_l`) or ``"paper"`` (eq. 1 as printed),
    :func:`nst_utils.paper.losses.content_loss`.
    ``temporal_weight`` is :math:`\lambda` of the temporal term when :func:`run` is given a
    ``temporal`` target (a video frame, :mod:`nst_utils.video.temporal`; calibrated in
    BENCHMARKS.md, "Video").
    """

    size: int | None = None
    coarse_sizes: tuple[int, ...] = ()
    steps: int = 300
    content_weight: float = 1.0
    style_weight: float | None = None
    tv_weight: float = 0.0
    content_layers: tuple[str, ...] = CONTENT_LAYERS
    style_layers: tuple[str, ...] = STYLE_LAYERS
    content_reduction: str = "mean"
    style_scale: float = 1.0
    preserve_color: str | None = None
    init: str = "content"
    optimizer: str = "lbfgs"
    lr: float | None = None
    precision: str = "fp32"
    seed: int = 0
    temporal_weight: float = TEMPORAL_WEIGHT

    def updated(self, **changes) -> Settings:
        """A copy with some fields changed (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Result(StageResult):
    """What :func:`run` produced: the final image, one history over every size, and the
    result of each size in ``stages``. History rows carry the ``size`` they were measured at
    (the longest side); ``seconds`` and ``iteration`` count on across sizes."""

    stages: list[StageResult] = field(default_factory=list)


def run(
    net: VGGFeatures,
    content: Source | None,
    style: StyleInput | None,
    settings: Settings = Settings(),
    *,
    init: torch.Tensor | None = None,
    callback: Callback | None = None,
    callback_every: int = 10,
    stop: threading.Event | None = None,
    progress: bool = True,
    content_features: Mapping[str, torch.Tensor] | None = None,
    temporal: TemporalTarget | None = None,
) -> Result:
    """Optimise an image against ``content`` and/or ``style`` as ``settings`` say.

    ``content`` and each style are a file, an example name, a picture or a tensor
    (:func:`nst_utils.assets.images.load_image`). ``style`` is one of those, a
    :class:`~nst_utils.beyond.styles.StyleSpec` or a list of specs / ``(source, weight)`` pairs.
    ``init`` is a start image that replaces ``settings.init`` (resized to fit). ``callback``,
    ``callback_every``, ``stop`` and ``progress`` go to :func:`nst_utils.paper.optimize.optimize`.

    ``content_features`` (feature inversion, :mod:`nst_utils.networks.arbitrary`) are the content
    term's targets :math:`P^l` given directly, ``{layer: (1, N_l, H_l, W_l)}``, instead of the
    content image's own responses; the content image still decides the size, the start and
    the colours, and each target must have the shape its responses have at that size.

    ``temporal`` (a video frame: the previous result warped onto this one, and where to trust
    it) adds ``settings.temporal_weight`` times its loss, at every size.
    """
    specs = [] if style is None else blend_shares(as_specs(style))
    if content is None and not specs:
        raise NSTError("nothing to match: give a content image, a style image, or both")
    if content_features is not None:
        if content is None:
            raise NSTError("content features need a content image (its size and start)")
        settings = settings.updated(content_layers=tuple(content_features))
    if content is None and settings.preserve_color is not None:
        raise NSTError("colour preservation keeps a photo's colours: give a content image")
    color.check_mode(settings.preserve_color)
    hooks = dict(callback=callback, callback_every=callback_every, stop=stop, progress=progress)
    stages: list[StageResult] = []
    start = init
    for size in _sizes(settings, content if content is not None else specs[0].source):
        stage, reference = _run_at(
            net, content, specs, settings, size, start, hooks, content_features, temporal
        )
        stages.append(stage)
        start = stage.image
        if stage.status != "completed":
            break
    final = _final_size(settings, content if content is not None else specs[0].source)
    image = stages[-1].image
    if max(image.shape[-2:]) != final:  # stopped before the last size: still return it
        reference = _picture(content, final, image.device) if content is not None else None
        image = images.resize(image, images.shape_for(final, image.shape[-2:]))
    if reference is not None:
        image = color.finish(image, reference, settings.preserve_color)
    return _merged(stages, image)


def _final_size(settings: Settings, source: Source) -> int:
    if settings.size is not None:
        return settings.size
    return max(source.shape[-2:]) if torch.is_tensor(source) else DEFAULT_SIZE


def _sizes(settings: Settings, source: Source) -> list[int]:
    """The sizes to optimise at, coarse to fine; the last is the result's."""
    sizes = check_scales([*settings.coarse_sizes, _final_size(settings, source)])
    smallest_style = round(sizes[0] * settings.style_scale)
    if not (settings.style_scale > 0 and smallest_style >= MIN_SIZE):
        raise NSTError(
            f"style scale {settings.style_scale}: the painting would be {smallest_style} px, "
            f"under {MIN_SIZE} px; use a larger scale or size"
        )
    return sizes


def _picture(source: Source, size: int, device: torch.device) -> torch.Tensor:
    """``source`` at longest side ``size`` on ``device``, big enough for VGG's five blocks."""
    picture = images.load_image(source, size)
    if min(picture.shape[-2:]) < MIN_SIZE:
        raise NSTError(
            f"{tuple(picture.shape[-2:])} px is too small for VGG's five blocks: make the "
            f"shorter side at least {MIN_SIZE} px (a larger size or scale)"
        )
    return picture.to(device)


def _run_at(net, content, specs, settings: Settings, size: int, start, hooks, given=None,
           temporal=None):  # fmt: skip
    """One size of :func:`run`: targets from the images at ``size``, then the optimisation.
    Returns the stage's result and the content picture at that size (``None`` without one).
    ``given`` are content targets given as features (:func:`run`'s ``content_features``)."""
    device = net.mean.device
    photo = None if content is None else _picture(content, size, device)
    objective, first_style = _objective(net, photo, specs, settings, size)
    if given is not None:
        _aim_content(objective.content, given)
    shape = tuple((photo if photo is not None else first_style).shape[-2:])
    if temporal is not None:
        objective.temporal = _temporal_at(temporal, shape, device, settings.preserve_color)
        objective.temporal_weight = settings.temporal_weight
    if start is None:
        seen = None if photo is None else color.prepare_content(photo, settings.preserve_color)
        x0 = initial_image(settings.init, seen, first_style, size=shape, seed=settings.seed)
    else:
        x0 = images.resize(start.to(device), shape)
    torch.manual_seed(settings.seed)
    stage = optimize(
        objective, x0, steps=settings.steps, optimizer=settings.optimizer, lr=settings.lr,
        precision=settings.precision, description=f"{shape[1]}x{shape[0]} px", **hooks,
    )  # fmt: skip
    return stage, photo


def _temporal_at(temporal: TemporalTarget, shape, device, preserve_color) -> TemporalTarget:
    """``temporal`` at this size, as the optimisation sees images (luminance, say)."""
    target = temporal.at(torch.empty(1, 3, *shape, device=device))
    seen = color.prepare_content(target.warped, preserve_color)
    return TemporalTarget(seen, target.mask)


def _objective(net, photo, specs, settings: Settings, size: int):
    """:math:`\\alpha L_{content} + \\beta L_{style} + \\gamma L_{TV}` at one size, and the
    first painting as the optimisation sees it (for ``init="style"`` and textures)."""
    content_target = None
    if photo is not None:
        seen = color.prepare_content(photo, settings.preserve_color)
        content_target = ContentTarget(
            net, seen, settings.content_layers, settings.content_reduction
        )
    shape = None if photo is None else photo.shape[-2:]
    targets, first_style = [], None
    for spec in specs:
        target, painting = _style_target(net, spec, photo, settings, size, shape)
        targets.append((target, spec.weight))
        first_style = painting if first_style is None else first_style
    beta = default_style_weight(net) if settings.style_weight is None else settings.style_weight
    objective = Objective(
        net, content_target, targets, content_weight=settings.content_weight,
        style_weight=beta, tv_weight=settings.tv_weight,
    )  # fmt: skip
    return objective, first_style


def _aim_content(target: ContentTarget, given: Mapping[str, torch.Tensor]) -> None:
    """Replace the content image's responses by ``given`` features of the same shapes."""
    for name, own in target.targets.items():
        features = given[name]
        if tuple(features.shape) != tuple(own.shape):
            raise NSTError(
                f"content features for {name} have shape {tuple(features.shape)}, but the "
                f"content image gives {tuple(own.shape)} at this size: compute them from the "
                "content image at the run's size (and without coarse sizes)"
            )
        target.targets[name] = features.detach().to(own.device, own.dtype)


def _style_target(net, spec: StyleSpec, photo, settings: Settings, size: int, shape):
    """The target of one painting: its Gram matrices, within its masks if it has any."""
    painting = _picture(spec.source, round(size * settings.style_scale), net.mean.device)
    if photo is not None:
        painting = color.prepare_style(painting, photo, settings.preserve_color)
    layers = settings.style_layers
    if spec.mask is None and spec.style_mask is None:
        return StyleTarget(net, painting, layers), painting
    shape = painting.shape[-2:] if shape is None else shape
    mask = None if spec.mask is None else load_mask(spec.mask, shape)
    inside = None if spec.style_mask is None else load_mask(spec.style_mask, painting.shape[-2:])
    return MaskedStyleTarget(net, painting, mask, inside, layers), painting


def _merged(stages: list[StageResult], image: torch.Tensor) -> Result:
    """One :class:`Result` from the sizes' results, iterations and seconds counted on."""
    history, seconds, iterations = [], 0.0, 0
    for stage in stages:
        size = max(stage.image.shape[-2:])
        for row in stage.history:
            history.append({**row, "iteration": row["iteration"] + iterations,
                            "seconds": row["seconds"] + seconds, "size": size})  # fmt: skip
        seconds += stage.seconds
        iterations += len(stage.history)
    best = iterations - len(stages[-1].history) + stages[-1].best_iteration
    status = next((s.status for s in stages if s.status != "completed"), "completed")
    return Result(image, history, best, status, stages)


def score(
    net: VGGFeatures, image: Source, content: Source, style: StyleInput,
    settings: Settings = Settings(),
) -> LossTerms:  # fmt: skip
    """The paper's content, style and total loss of any picture, as :func:`run` would count it.

    The objective is the one :func:`run` optimises under ``settings`` (by default the
    kit's defaults), built at the picture's size (``settings.size`` resizes it first); the
    content image is cropped to the picture's aspect ratio and resized to it
    (:func:`nst_utils.assets.images.match_size`). So the result of any method (the optimisation, a
    trained network, another program) is scored on the same objective.
    """
    picture = images.load_image(image, settings.size)
    size = max(picture.shape[-2:])
    specs = blend_shares(as_specs(style))
    if not specs:
        raise NSTError("score needs a style image")
    photo = images.match_size(_picture(content, size, net.mean.device), picture)
    objective, _ = _objective(net, photo, specs, settings, size)
    with torch.no_grad():
        return objective(picture.to(net.mean.device))


# --------------------------------------------------------------------------- presets


def stylize(
    net: VGGFeatures, content: Source, style: StyleInput, settings: Settings = Settings(),
    **hooks,
) -> Result:  # fmt: skip
    """Paint ``content`` in the style of ``style`` (Fig. 2 and 3): :func:`run` with both."""
    return run(net, content, style, settings, **hooks)


def reconstruct_content(
    net: VGGFeatures, image: Source, layer: str = "relu4_2",
    settings: Settings = Settings(init="noise"), **hooks,
) -> Result:  # fmt: skip
    """An image whose ``layer`` responses equal ``image``'s, from noise (Fig. 1, bottom)."""
    return run(net, image, None, settings.updated(content_layers=(layer,)), **hooks)


def synthesize_texture(
    net: VGGFeatures, image: Source, layers: Sequence[str] = STYLE_LAYERS,
    settings: Settings = Settings(init="noise"), **hooks,
) -> Result:  # fmt: skip
    """A new texture with ``image``'s Gram matrices on ``layers``, from noise (Fig. 1, top)."""
    return run(net, None, image, settings.updated(style_layers=tuple(layers)), **hooks)
