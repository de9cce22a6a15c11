r"""One pipeline for every experiment of the kit: inputs + :class:`Settings` → :class:`Result`.

Gatys et al. run one procedure throughout the paper: compute the targets from the images, then
change the pixels of a start image until its VGG responses match them,

.. math:: x_\ast = \operatorname*{arg\,min}_x\ \alpha L_{content}(x, p)
          + \beta L_{style}(x, a) \quad (\text{eq. 7}).

Every experiment of the course is this with some parts left out:

==========================  =============================================================
experiment                  what changes
==========================  =============================================================
content reconstruction      no style image; start from noise (Fig. 1, bottom)
texture synthesis           no content image; start from noise (Fig. 1, top)
style transfer              both (Fig. 2, 3)
coarse-to-fine              the same run at increasing sizes, each starting from the last
==========================  =============================================================

Coarse-to-fine is a loop over the same single-size run, as in Gatys' own notebook: the
targets are recomputed from the images at each size and the previous result, upsampled, is
the next start: :math:`x^{(k)}_0 = \operatorname{up}\big(x^{(k-1)}_\ast\big)`.

**Extensions.** The chapters after the paper change the run without this module knowing them:
an :class:`Extension` sees each size's :class:`Stage` and may change the pictures the targets
are computed from (colour preservation), swap a target in (a style per region, transformed
features), add a term (a video frame's temporal term) or finish the image.

:func:`stylize`, :func:`reconstruct_content` and :func:`synthesize_texture` are presets of
:func:`run`; the CLI, the explorers and the notebooks call them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from ..assets import images
from ..assets.calibration import default_style_weight
from ..checks import MIN_SIZE, check_scales
from ..errors import NSTError
from .layers import CONTENT_LAYERS, STYLE_LAYERS
from .objective import ContentTarget, ExtraTerm, LossTerms, Objective, StyleTarget
from .optimize import Callback, initial_image, optimize
from .optimize import Result as StageResult
from .vgg import VGGFeatures

#: The longest side a file or example name is loaded at when ``Settings.size`` is ``None``.
DEFAULT_SIZE = 256

#: A file, an example name or an image tensor (:func:`nst_utils.assets.images.load_image`).
Source = str | Path | torch.Tensor
#: One painting, or several to blend as ``[(painting, weight), ...]``.
StyleInput = Source | Sequence[tuple[Source, float]]


@dataclass(frozen=True)
class Settings:
    r"""Everything that decides a run; :func:`run` reads every field.

    ``style_weight / content_weight`` is the paper's :math:`\beta/\alpha`; ``None`` means the
    network's default (:func:`nst_utils.assets.calibration.default_style_weight`: the networks'
    responses differ in scale by orders of magnitude, so one number cannot suit all).
    ``style_layer_weights`` are eq. 5's :math:`w_l`, one per style layer (default
    :math:`1/L` each).

    ``size`` is the result's longest side in pixels; ``None`` keeps a tensor's own size (a file
    or example name is loaded at :data:`DEFAULT_SIZE`). ``coarse_sizes`` are optimised first,
    in order, each for ``steps`` iterations (coarse-to-fine). ``style_scale`` sizes the
    painting at that fraction of the photo. ``content_reduction`` is ``"mean"`` (eq. 1 divided
    by :math:`N_l M_l`) or ``"paper"`` (eq. 1 as printed),
    :func:`nst_utils.paper.losses.content_loss`.

    ``fast`` is the one speed switch: off, every evaluation runs the formulas of
    :mod:`nst_utils.paper.losses` as written; on, :func:`nst_utils.engine.speed.evaluate`
    computes the same values faster (``nst stylize`` turns it on). ``precision`` is
    ``"fp32"``, ``"bf16"`` or ``"auto"`` (:mod:`nst_utils.engine.precision`): bfloat16 is
    meant with ``fast`` on, which keeps the Gram matrices and losses in float32; with it off
    the formulas run under bfloat16 autocast as written.
    """

    size: int | None = None
    coarse_sizes: tuple[int, ...] = ()
    steps: int = 300
    content_weight: float = 1.0
    style_weight: float | None = None
    tv_weight: float = 0.0
    content_layers: tuple[str, ...] = CONTENT_LAYERS
    style_layers: tuple[str, ...] = STYLE_LAYERS
    style_layer_weights: tuple[float, ...] | None = None
    content_reduction: str = "mean"
    style_scale: float = 1.0
    init: str = "content"
    optimizer: str = "lbfgs"
    lr: float | None = None
    precision: str = "fp32"
    fast: bool = False
    seed: int = 0

    def updated(self, **changes) -> Settings:
        """A copy with some fields changed (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Stage:
    """One size of a run, as the :class:`Extension` hooks see it.

    ``photo`` is the content image at this size as loaded (``None`` for a texture), ``content``
    the same as the optimisation sees it, ``paintings`` the style images as it sees them (with
    their blend ``weights``). ``view`` turns any photo-like picture into what the optimisation
    sees (identity unless an extension changes it). Targets still ``None`` after the
    extensions' ``aim`` are the paper's, built by :func:`run`; ``extra_terms`` are added to the
    objective.
    """

    net: VGGFeatures
    settings: Settings
    size: int
    photo: torch.Tensor | None
    content: torch.Tensor | None
    paintings: list[torch.Tensor]
    weights: list[float]
    view: Callable[[torch.Tensor], torch.Tensor] = lambda picture: picture
    content_target: ContentTarget | None = None
    style_targets: list[StyleTarget | None] = field(default_factory=list)
    extra_terms: dict[str, ExtraTerm] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)`` of the image being optimised."""
        reference = self.photo if self.photo is not None else self.paintings[0]
        return tuple(reference.shape[-2:])


class Extension:
    """A later chapter's change to the one run. At every size :func:`run` calls ``see`` of
    every extension, then ``aim`` of every extension, then builds the paper's targets where
    none was set; ``finish`` turns the last result into the final image. The defaults change
    nothing."""

    def see(self, stage: Stage) -> None:
        """Change the pictures the targets are computed from (``stage.content``,
        ``stage.paintings``, ``stage.view``)."""

    def aim(self, stage: Stage) -> None:
        """Swap targets in (``stage.content_target``, ``stage.style_targets``) or add terms
        (``stage.extra_terms``)."""

    def finish(self, image: torch.Tensor, photo: torch.Tensor | None) -> torch.Tensor:
        """The final image from the optimised one and the photo at the final size."""
        return image


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
    extensions: Sequence[Extension] = (),
    init: torch.Tensor | None = None,
    callback: Callback | None = None,
    callback_every: int = 10,
    stop: threading.Event | None = None,
    progress: bool = True,
) -> Result:
    """Optimise an image against ``content`` and/or ``style`` as ``settings`` say.

    ``content`` and each painting are a file, an example name, a picture or a tensor
    (:func:`nst_utils.assets.images.load_image`); ``style`` is one painting or a list of
    ``(painting, weight)`` pairs to blend (weights are divided by their total). ``init`` is a
    start image that replaces ``settings.init`` (resized to fit). ``callback``,
    ``callback_every``, ``stop`` and ``progress`` go to :func:`nst_utils.paper.optimize.optimize`.
    ``extensions`` are the later chapters' changes (:class:`Extension`).
    """
    paintings = _as_pairs(style)
    if content is None and not paintings:
        raise NSTError("nothing to match: give a content image, a style image, or both")
    reference_source = content if content is not None else paintings[0][0]
    hooks = dict(callback=callback, callback_every=callback_every, stop=stop, progress=progress)
    stages: list[StageResult] = []
    start, photo = init, None
    for size in _sizes(settings, reference_source):
        stage = _stage(net, content, paintings, settings, size, extensions)
        photo = stage.photo
        result = _optimise(stage, start, hooks)
        stages.append(result)
        start = result.image
        if result.status != "completed":
            break
    final = _final_size(settings, reference_source)
    image = stages[-1].image
    if max(image.shape[-2:]) != final:  # stopped before the last size: still return it
        photo = picture(content, final, image.device) if content is not None else None
        image = images.resize(image, images.shape_for(final, image.shape[-2:]))
    for extension in extensions:
        image = extension.finish(image, photo)
    return _merged(stages, image)


def _as_pairs(style: StyleInput | None) -> list[tuple[Source, float]]:
    """``style`` as ``[(painting, share), ...]`` with the shares summing to 1."""
    if style is None:
        return []
    pairs = [(style, 1.0)] if isinstance(style, str | Path | torch.Tensor) else list(style)
    if any(not weight > 0 for _, weight in pairs):
        raise NSTError("style blend weights must be positive")
    total = sum(weight for _, weight in pairs)
    return [(source, weight / total) for source, weight in pairs]


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


def picture(source: Source, size: int, device: torch.device) -> torch.Tensor:
    """``source`` at longest side ``size`` on ``device``, big enough for VGG's five blocks."""
    loaded = images.load_image(source, size)
    if min(loaded.shape[-2:]) < MIN_SIZE:
        raise NSTError(
            f"{tuple(loaded.shape[-2:])} px is too small for VGG's five blocks: make the "
            f"shorter side at least {MIN_SIZE} px (a larger size or scale)"
        )
    return loaded.to(device)


def _stage(net, content, paintings, settings: Settings, size: int, extensions) -> Stage:
    """The pictures and targets of one size: the paper's, as the extensions change them."""
    device = net.mean.device
    photo = None if content is None else picture(content, size, device)
    style_size = round(size * settings.style_scale)
    stage = Stage(
        net, settings, size, photo, photo,
        [picture(source, style_size, device) for source, _ in paintings],
        [weight for _, weight in paintings],
    )  # fmt: skip
    stage.style_targets = [None] * len(stage.paintings)
    for extension in extensions:
        extension.see(stage)
    for extension in extensions:
        extension.aim(stage)
    if stage.content is not None and stage.content_target is None:
        stage.content_target = ContentTarget(
            net, stage.content, settings.content_layers, settings.content_reduction
        )
    stage.style_targets = [
        target or StyleTarget(net, painting, settings.style_layers, settings.style_layer_weights)
        for target, painting in zip(stage.style_targets, stage.paintings, strict=True)
    ]
    return stage


def _objective(stage: Stage) -> Objective:
    r""":math:`\alpha L_{content} + \beta L_{style} + \gamma L_{TV}` (+ extra terms) of a stage."""
    s = stage.settings
    beta = default_style_weight(stage.net) if s.style_weight is None else s.style_weight
    objective = Objective(
        stage.net, stage.content_target, zip(stage.style_targets, stage.weights, strict=True),
        content_weight=s.content_weight, style_weight=beta, tv_weight=s.tv_weight, fast=s.fast,
    )  # fmt: skip
    objective.extra_terms.update(stage.extra_terms)
    return objective


def _optimise(stage: Stage, start: torch.Tensor | None, hooks: dict) -> StageResult:
    """One size of :func:`run`: the optimisation from ``start`` (or ``settings.init``)."""
    s, shape = stage.settings, stage.shape
    if start is None:
        first = stage.paintings[0] if stage.paintings else None
        x0 = initial_image(s.init, stage.content, first, size=shape, seed=s.seed)
    else:
        x0 = images.resize(start.to(stage.net.mean.device), shape)
    torch.manual_seed(s.seed)
    return optimize(
        _objective(stage), x0, steps=s.steps, optimizer=s.optimizer, lr=s.lr,
        precision=s.precision, description=f"{shape[1]}x{shape[0]} px", **hooks,
    )  # fmt: skip


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


def objective_at(
    net: VGGFeatures, content: Source | None, style: StyleInput | None, size: int,
    settings: Settings = Settings(), *, extensions: Sequence[Extension] = (),
) -> Objective:  # fmt: skip
    """The objective :func:`run` optimises at longest side ``size`` (its targets built from
    the images at that size), for scoring or inspecting any picture."""
    stage = _stage(net, content, _as_pairs(style), settings, size, extensions)
    return _objective(stage)


def score(
    net: VGGFeatures, image: Source, content: Source, style: StyleInput,
    settings: Settings = Settings(), *, extensions: Sequence[Extension] = (),
) -> LossTerms:  # fmt: skip
    """The paper's content, style and total loss of any picture, as :func:`run` would count it.

    The objective is the one :func:`run` optimises under ``settings`` and ``extensions`` (by
    default the kit's defaults), built at the picture's size (``settings.size`` resizes it
    first); the content image is cropped to the picture's aspect ratio and resized to it
    (:func:`nst_utils.assets.images.match_size`). So the result of any method (the
    optimisation, a trained network, another program) is scored on the same objective.
    """
    scored = images.load_image(image, settings.size)
    size = max(scored.shape[-2:])
    if style is None or not _as_pairs(style):
        raise NSTError("score needs a style image")
    photo = images.match_size(picture(content, size, net.mean.device), scored)
    objective = objective_at(net, photo, style, size, settings, extensions=extensions)
    with torch.no_grad():
        return objective(scored.to(net.mean.device))


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
