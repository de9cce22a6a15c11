r"""Painting a clip: frame by frame, with the temporal loss, or blended along the flow.

Ruder, Dosovitskiy & Brox (2016) observe that painting the frames of a video one by one makes
it flicker: each frame's optimisation (or network) lands on a different arrangement of brush
strokes. Their remedy has two parts. Frame :math:`k` **starts** from the previous stylised
frame warped onto it, :math:`\omega = \operatorname{warp}(x_{k-1}, \hat w_k)`, and a
**temporal term** keeps it there where the flow is reliable (weights :math:`c`):

.. math:: L(x) = \alpha L_{content} + \beta L_{style}
          + \lambda\,\frac1D \sum_k c_k (x_k - \omega_k)^2 .

The methods (:data:`METHODS`), each measured by Lai et al.'s warping error and frames per
second (BENCHMARKS.md, "Video"):

``optimize``  the paper's optimisation on every frame alone (starts from the frame itself)
``temporal``  Ruder et al.: starts from the warped previous result (the frame itself where
              the mask is 0), temporal term on
``fast``      a trained feed-forward network (:mod:`nst_utils.networks.painter`) on every frame
``blend``     each frame painted alone (``fast`` with a model, else ``optimize``), then mixed
              with the warped previous *output* where the flow is reliable:
              :math:`o_k = (1 - b\,c)\,y_k + b\,c\,\operatorname{warp}(o_{k-1})`
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from ..assets.images import resize
from ..checks import BLEND, TEMPORAL_WEIGHT, VIDEO_METHODS
from ..errors import NSTError
from ..paper.pipeline import Extension, Settings, Stage, run, score
from .clips import Clip

#: The methods, how much of the warped previous output ``blend`` keeps where the flow is
#: reliable, and the temporal term's weight :math:`\lambda` (defined in :mod:`nst_utils.checks`,
#: which the CLI reads without torch).
METHODS, BLEND, TEMPORAL_WEIGHT = VIDEO_METHODS, BLEND, TEMPORAL_WEIGHT


def temporal_loss(image: torch.Tensor, warped: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    r"""Ruder, Dosovitskiy & Brox (2016), eq. 7: :math:`\frac1D \sum_k c_k (x_k - \omega_k)^2`.

    :math:`\omega` is the previous stylised frame warped onto this one along the optical flow,
    :math:`c \in [0, 1]` (``mask``, one channel) is 1 where that flow is reliable, and
    :math:`D` counts the image's values (pixels × channels).
    """
    return (mask * (image - warped).pow(2)).sum() / image.numel()


class TemporalTerm(Extension):
    r"""The temporal term :math:`\lambda L_{temporal}` in a run of
    :func:`nst_utils.paper.pipeline.run`: the previous stylised frame warped onto this one,
    ``warped``, trusted where ``mask`` is 1; at every size both are resized to the image and
    the frame is seen as the optimisation sees photos (its luminance, say)."""

    def __init__(self, warped: torch.Tensor, mask: torch.Tensor,
                 weight: float = TEMPORAL_WEIGHT) -> None:  # fmt: skip
        if warped.shape[-2:] != mask.shape[-2:]:
            raise ValueError("the warped frame and its mask must have the same size")
        self.warped, self.mask, self.weight = warped.detach(), mask.detach(), weight

    def aim(self, stage: Stage) -> None:
        device = stage.net.mean.device
        warped = stage.view(resize(self.warped.to(device), stage.shape))
        mask = resize(self.mask.to(device), stage.shape)
        stage.extra_terms["temporal"] = (self.weight, lambda x: temporal_loss(x, warped, mask))


@dataclass
class PaintedClip:
    """The painted frames ``(T, 3, H, W)`` (fewer than the clip's when cut short), the
    seconds the painting took, and ``status`` (``"completed"`` or ``"interrupted"``)."""

    frames: torch.Tensor
    seconds: float
    method: str
    status: str = "completed"
    frame_seconds: list[float] = field(default_factory=list)

    @property
    def fps(self) -> float:
        """Frames painted per second of painting."""
        return len(self.frames) / self.seconds if self.seconds > 0 else float("inf")


def paint_clip(
    clip: Clip,
    method: str,
    *,
    net=None,
    style=None,
    settings: Settings | None = None,
    model: torch.nn.Module | None = None,
    blend: float = BLEND,
    temporal_weight: float = TEMPORAL_WEIGHT,
    extensions: Sequence[Extension] = (),
    progress: bool = True,
    on_frame: Callable[[int, torch.Tensor], None] | None = None,
) -> PaintedClip:
    """Paint every frame of ``clip`` by ``method`` (:data:`METHODS`).

    ``net``, ``style``, ``settings`` and ``extensions`` are the optimisation's
    (:func:`nst_utils.paper.pipeline.run`; ``settings.size`` ``None`` keeps the clip's size),
    ``temporal_weight`` the :math:`\\lambda` of ``temporal``; ``model`` is the feed-forward
    network of ``fast`` (and of ``blend``, which otherwise paints by optimisation).
    ``on_frame(k, frame)`` is called as each frame is done (the CLI saves it). Ctrl-C stops
    after the frames done; a frame with NaN or infinite values stops the run with a one-line
    :class:`NSTError` naming it, before it is passed on.
    """
    optimisation = (net, style, settings or Settings(), extensions, temporal_weight)
    painter = _painter(method, optimisation, model)
    needs_flow = method in ("temporal", "blend")
    if needs_flow and not clip.has_flow:
        raise NSTError(f"{method} follows the optical flow: the clip has none (estimate it first)")
    done: list[torch.Tensor] = []
    seconds: list[float] = []
    status = "completed"
    bar = tqdm(total=len(clip), desc=f"{method} frames", disable=not progress, unit="frame")
    try:
        for k, frame in enumerate(clip.frames):
            start = time.perf_counter()
            previous = clip.warped_previous(k, done[-1]) if k and needs_flow else None
            mask = clip.masks[k - 1 : k] if previous is not None else None
            painted = painter(frame[None], previous, mask)
            if method == "blend" and previous is not None:
                painted = blend_step(painted, previous, mask, blend)
            if not bool(torch.isfinite(painted).all()):  # never pass a broken frame on
                raise NSTError(f"frame {k + 1} of {len(clip)} came out with NaN or infinite "
                               f"values ({method}); stopped there")  # fmt: skip
            seconds.append(time.perf_counter() - start)
            done.append(painted.detach().cpu())
            if on_frame is not None:
                on_frame(k, done[-1])
            bar.update(1)
    except KeyboardInterrupt:
        status = "interrupted"
    finally:
        bar.close()
    frames = torch.cat(done) if done else clip.frames[:0]
    return PaintedClip(frames, sum(seconds), method, status, seconds)


def _painter(method: str, optimisation: tuple, model):
    """``paint(frame, warped_previous, mask) -> frame`` for ``method``; ``optimisation`` is
    ``(net, style, settings, extensions, temporal_weight)``."""
    if method not in METHODS:
        raise NSTError(f"unknown method {method!r}: choose one of {', '.join(METHODS)}")
    if method == "fast" or (method == "blend" and model is not None):
        if model is None:
            raise NSTError("the fast method paints with a trained network: give a model "
                           "(nst paint --list shows the shipped ones)")  # fmt: skip
        return _network_painter(model)
    net, style, settings, extensions, temporal_weight = optimisation
    if net is None or style is None:
        raise NSTError(f"{method} optimises every frame: give a network and a style image")
    temporal = method == "temporal"

    def optimise(frame, previous, mask):
        follow = temporal and previous is not None
        term = [TemporalTerm(previous, mask, temporal_weight)] if follow else []
        # the warped previous result where it can be trusted, the frame itself elsewhere: a
        # stale pixel (the ghost of the ball where it was) would otherwise survive as a start
        start = None if not term else mask * previous + (1 - mask) * frame
        result = run(net, frame, style, settings, extensions=[*extensions, *term], init=start,
                     progress=False)  # fmt: skip
        if result.status == "interrupted":
            raise KeyboardInterrupt
        return result.image

    return optimise


def _network_painter(model: torch.nn.Module):
    device = next(model.parameters()).device

    @torch.no_grad()
    def paint(frame, previous, mask):
        model.eval()
        return model(frame.to(device)).clamp(0, 1).cpu()

    return paint


def blend_step(painted: torch.Tensor, previous: torch.Tensor, mask: torch.Tensor,
               share: float = BLEND) -> torch.Tensor:  # fmt: skip
    r""":math:`o_k = (1 - b\,c)\,y_k + b\,c\,\omega`: the frame painted alone, ``painted``
    (:math:`y_k`), mixed with the previous output warped onto it, ``previous``
    (:math:`\omega`), by ``share`` (:math:`b`) where the flow is reliable (``mask``, :math:`c`)."""
    return (1 - share * mask) * painted + share * mask * previous


def blend(clip: Clip, frames: torch.Tensor, share: float = BLEND) -> torch.Tensor:
    """Frames painted one by one (``(T, 3, H, W)``), blended along ``clip``'s flow after the
    fact: the same frames as ``paint_clip(clip, "blend", ...)`` paints as it goes."""
    out = [frames[:1]]
    for k in range(1, len(frames)):
        warped = clip.warped_previous(k, out[-1])
        out.append(blend_step(frames[k : k + 1], warped, clip.masks[k - 1 : k], share))
    return torch.cat(out)


def compare(clip: Clip, painted: dict[str, PaintedClip], net=None, style=None) -> list[dict]:
    """One row per method: its warping error on ``clip``, frames per second and, given
    ``net`` and ``style``, the mean style loss of its frames
    (:func:`nst_utils.paper.pipeline.score`,
    the paper's objective at default settings: how *painted* the frames are)."""
    rows = []
    for name, p in painted.items():
        row = {"method": name, "warping error": clip.warping_error(p.frames), "fps": p.fps,
               "frames": len(p.frames)}  # fmt: skip
        if net is not None and style is not None:
            losses = [float(score(net, f[None], c[None], style).style)
                      for f, c in zip(p.frames, clip.frames, strict=False)]  # fmt: skip
            row["style loss"] = sum(losses) / len(losses)
        rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    """``rows`` of :func:`compare` as a plain-text table."""
    keys = list(rows[0])
    cells = [[_cell(row.get(k)) for k in keys] for row in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    lines = ["  ".join(k.rjust(w) for k, w in zip(keys, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(cs, widths, strict=True)) for cs in cells]
    return "\n".join(lines)


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)
