"""The paper's three experiments as three functions over one engine.

* :func:`reconstruct_content` — from white noise, match one layer's responses (Fig. 1, bottom);
* :func:`synthesize_texture` — from white noise, match Gram matrices (Fig. 1, top);
* :func:`stylize` — from the content image (or noise), match both (Fig. 2 and 3).

Each builds an :class:`~nst_utils.objective.Objective` and hands it to
:func:`~nst_utils.optimize.optimize`; :class:`Settings` holds every knob with its default.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import torch

from .objective import CONTENT_LAYERS, STYLE_LAYERS, build_objective
from .optimize import Result, initial_image, optimize
from .vgg import VGGFeatures


@dataclass(frozen=True)
class Settings:
    """Everything that decides a run. ``style_weight / content_weight`` is the paper's β/α.

    ``style_weight`` ``None`` means the network's default
    (:func:`nst_utils.objective.default_style_weight`): the networks' responses differ in scale
    by orders of magnitude, so one number cannot suit all of them.
    """

    size: int = 256
    steps: int = 300
    content_weight: float = 1.0
    style_weight: float | None = None
    tv_weight: float = 0.0
    content_layers: tuple[str, ...] = CONTENT_LAYERS
    style_layers: tuple[str, ...] = STYLE_LAYERS
    init: str = "content"
    optimizer: str = "lbfgs"
    lr: float | None = None
    normalization: str = "mean"
    seed: int = 0

    def updated(self, **changes) -> Settings:
        """A copy with some fields changed (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def as_dict(self) -> dict:
        return asdict(self)


def _run(net, objective, init, settings: Settings, **engine) -> Result:
    torch.manual_seed(settings.seed)
    return optimize(
        objective,
        init,
        steps=settings.steps,
        optimizer=settings.optimizer,
        lr=settings.lr,
        **engine,
    )


def stylize(
    net: VGGFeatures,
    content: torch.Tensor,
    style: torch.Tensor | Sequence[tuple[torch.Tensor, float]],
    settings: Settings = Settings(),
    **engine,
) -> Result:
    """Paint ``content`` in the style of ``style`` (or a weighted blend of styles)."""
    objective = build_objective(
        net,
        content,
        style,
        content_layers=settings.content_layers,
        style_layers=settings.style_layers,
        content_weight=settings.content_weight,
        style_weight=settings.style_weight,
        tv_weight=settings.tv_weight,
        normalization=settings.normalization,
    )
    first_style = style if torch.is_tensor(style) else style[0][0]
    init = initial_image(settings.init, content, first_style, seed=settings.seed)
    return _run(net, objective, init, settings, **engine)


def reconstruct_content(
    net: VGGFeatures,
    image: torch.Tensor,
    layer: str = "relu4_2",
    settings: Settings = Settings(init="noise"),
    **engine,
) -> Result:
    """Find an image whose ``layer`` responses equal those of ``image``, starting from noise."""
    objective = build_objective(
        net, image, None, content_layers=(layer,), normalization=settings.normalization
    )
    init = initial_image(settings.init, image, seed=settings.seed)
    return _run(net, objective, init, settings, **engine)


def synthesize_texture(
    net: VGGFeatures,
    image: torch.Tensor,
    layers: Sequence[str] = STYLE_LAYERS,
    settings: Settings = Settings(init="noise"),
    size: tuple[int, int] | None = None,
    **engine,
) -> Result:
    """A new texture with the Gram matrices of ``image`` on ``layers``, from noise."""
    objective = build_objective(net, None, image, style_layers=tuple(layers), style_weight=1.0)
    init = initial_image("noise", None, image, size=size, seed=settings.seed)
    return _run(net, objective, init, settings, **engine)
