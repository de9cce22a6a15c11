r"""Coarse-to-fine style transfer, and the one driver for every extension of notebook 06.

Large images are slow on a CPU: one iteration costs about :math:`\propto H W`, and the coarse
arrangement of the strokes needs many iterations to settle. Coarse-to-fine (Gatys et al. 2017,
section 6) optimises at a small size first, upsamples the result and continues at the next
size from there:

.. math:: x^{(k)}_0 = \operatorname{up}\big(x^{(k-1)}_\ast\big), \qquad
          x^{(k)}_\ast = \operatorname*{arg\,min}_x\ \alpha L_{content} + \beta L_{style}
          \ \text{at scale } k .

The targets (:math:`P^l`, :math:`A^l`) are rebuilt from the images at every scale and each
scale is one call of the same :func:`~nst_utils.optimize.optimize`. A single scale is the
ordinary transfer, with colour preservation (:mod:`nst_utils.color`), masks
(:mod:`nst_utils.spatial`), blends (:mod:`nst_utils.styles`) and the style scale applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from . import color
from .checks import MIN_SIZE, check_scales
from .errors import NSTError
from .objective import ContentTarget, Objective, StyleTarget, default_style_weight
from .optimize import Result, initial_image, optimize
from .spatial import MaskedStyleTarget, load_mask
from .styles import Source, StyleSpec, as_specs, normalized
from .transfer import Settings
from .vgg import VGGFeatures


@dataclass
class MultiscaleResult(Result):
    """A :class:`~nst_utils.optimize.Result` plus the result of every scale (``stages``).

    ``history`` runs over all scales (``seconds`` cumulative, each entry's ``scale`` says
    where it was measured); ``image`` has exactly the final scale's size.
    """

    stages: list[Result] = field(default_factory=list)
    scales: list[int] = field(default_factory=list)


def sized(size: int, shape: Sequence[int]) -> tuple[int, int]:
    """``(H, W)`` with longest side ``size`` and the aspect ratio of ``shape = (H, W)``."""
    h, w = int(shape[-2]), int(shape[-1])
    scale = size / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def load_source(source: Source, size: int, device: torch.device) -> torch.Tensor:
    """An image at longest side ``size``: a file, an example name, or a tensor (resized)."""
    if torch.is_tensor(source):
        image = source if source.dim() == 4 else source.unsqueeze(0)
        if max(image.shape[-2:]) != size:
            image = resize(image, sized(size, image.shape))
    else:
        from .examples import resolve_image
        from .images import load_image

        image = load_image(resolve_image(str(source)), size)
    if min(image.shape[-2:]) < MIN_SIZE:
        raise NSTError(
            f"{tuple(image.shape[-2:])} px is too small for VGG's five blocks: make the "
            f"shorter side at least {MIN_SIZE} px (a larger size or scale)"
        )
    return image.to(device)


def resize(image: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinear resize (antialiased when shrinking) to ``size = (H, W)``, kept in ``[0, 1]``."""
    out = F.interpolate(image, size=tuple(size), mode="bilinear", antialias=True)
    return out.clamp(0, 1)


def _style_target(net, spec: StyleSpec, content, size, settings, style_scale, preserve_color):
    style_size = round(size * style_scale)
    style = load_source(spec.source, style_size, content.device)
    style_in = color.prepare_style(style, content, preserve_color)
    layers = settings.style_layers
    if spec.mask is None and spec.style_mask is None and style_scale == 1:
        return StyleTarget(net, style_in, layers), style_in
    mask = None if spec.mask is None else load_mask(spec.mask, content.shape[-2:])
    style_mask = None if spec.style_mask is None else load_mask(spec.style_mask, style.shape[-2:])
    return MaskedStyleTarget(net, style_in, mask, style_mask, layers), style_in


def build_scale_objective(
    net: VGGFeatures,
    content: torch.Tensor,
    specs: Sequence[StyleSpec],
    settings: Settings,
    *,
    style_scale: float = 1.0,
    preserve_color: str | None = None,
) -> tuple[Objective, torch.Tensor, torch.Tensor]:
    """The objective at ``content``'s size; also the content and first style as optimised.

    ``specs`` must already carry normalised weights (:func:`nst_utils.styles.normalized`).
    """
    size = max(content.shape[-2:])
    content_in = color.prepare_content(content, preserve_color)
    targets, first_style = [], None
    for spec in specs:
        target, style_in = _style_target(
            net, spec, content, size, settings, style_scale, preserve_color
        )
        targets.append((target, spec.weight))
        first_style = style_in if first_style is None else first_style
    content_target = ContentTarget(net, content_in, settings.content_layers, settings.normalization)
    objective = Objective(
        net,
        content_target,
        targets,
        settings.content_weight,
        default_style_weight(net) if settings.style_weight is None else settings.style_weight,
        settings.tv_weight,
    )
    return objective, content_in, first_style


def _steps(steps_per_scale, n: int, default: int) -> list[int]:
    if steps_per_scale is None:
        return [default] * n
    if isinstance(steps_per_scale, int):
        return [steps_per_scale] * n
    steps = [int(s) for s in steps_per_scale]
    if len(steps) != n:
        raise NSTError(f"give one step count per scale: {len(steps)} for {n} scales")
    return steps


def _merge(stages: list[Result], scales: list[int], image: torch.Tensor) -> MultiscaleResult:
    history, offset_t, offset_i = [], 0.0, 0
    for stage, scale in zip(stages, scales, strict=False):
        for h in stage.history:
            row = {**h, "iteration": h["iteration"] + offset_i, "seconds": h["seconds"] + offset_t}
            history.append({**row, "scale": scale})
        offset_t += stage.seconds
        offset_i += len(stage.history)
    last = stages[-1]
    best = offset_i - len(last.history) + last.best_iteration
    status = next((s.status for s in stages if s.status != "completed"), "completed")
    return MultiscaleResult(image, history, best, status, stages, scales[: len(stages)])


def stylize_multiscale(
    net: VGGFeatures,
    content_source: Source,
    style_source: Source | StyleSpec | Sequence,
    scales: Sequence[int],
    settings: Settings | None = None,
    steps_per_scale: int | Sequence[int] | None = None,
    *,
    style_scale: float = 1.0,
    preserve_color: str | None = None,
    **engine,
) -> MultiscaleResult:
    """Style transfer over increasing ``scales`` (longest side in px; the last is the output).

    ``style_source``: one image, a :class:`~nst_utils.styles.StyleSpec`, or a list of specs /
    ``(source, weight)`` pairs. ``steps_per_scale`` defaults to ``settings.steps`` at each
    scale. ``style_scale`` sizes the style image at that fraction of the content's size;
    ``preserve_color`` is ``None``, ``"luminance"`` or ``"histogram"``. ``engine`` goes to
    :func:`~nst_utils.optimize.optimize` (``progress``, ``callback``, ``stop``, ...).
    """
    scales, specs = check_scales(scales), normalized(as_specs(style_source))
    settings = settings or Settings()
    color.check_mode(preserve_color)
    if not (style_scale > 0 and round(scales[0] * style_scale) >= MIN_SIZE):
        raise NSTError(f"style scale {style_scale}: the style would be under {MIN_SIZE} px")
    device = net.mean.device
    stages: list[Result] = []
    previous, content = None, None
    for size, steps in zip(scales, _steps(steps_per_scale, len(scales), settings.steps),
                           strict=True):  # fmt: skip
        content = load_source(content_source, size, device)
        objective, content_in, style_in = build_scale_objective(
            net, content, specs, settings, style_scale=style_scale, preserve_color=preserve_color
        )
        if previous is None:
            init = initial_image(settings.init, content_in, style_in, seed=settings.seed)
        else:
            init = resize(previous, content.shape[-2:])
        torch.manual_seed(settings.seed)
        stage = optimize(
            objective, init, steps=steps, optimizer=settings.optimizer, lr=settings.lr,
            **{"description": f"{size} px", **engine},
        )  # fmt: skip
        stages.append(stage)
        previous = stage.image
        if stage.status != "completed":
            break
    if len(stages) < len(scales):  # stopped early: still return the final size
        content = load_source(content_source, scales[-1], device)
        previous = resize(previous, content.shape[-2:])
    return _merge(stages, scales, color.finish(previous, content, preserve_color))
