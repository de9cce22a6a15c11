"""One optimisation engine for every experiment in the kit.

Gatys et al. do not train a network: they change the *pixels* of an image ``x`` by gradient
descent until its VGG responses match the targets. This module owns that loop:

* optimisers: ``"lbfgs"`` (the paper's choice, default) and ``"adam"``;
* L-BFGS runs with a strong-Wolfe line search (:data:`LINE_SEARCH`): each iteration picks
  its step length from the objective itself, so it converges alike whatever the loss's scale
  (a relu5_1 texture whose loss is 1e-3 and the same objective times 1e4 take the same
  steps), and it sees the objective divided by its starting value (torch's L-BFGS has
  absolute thresholds that would freeze a run whose loss is tiny). An L-BFGS *iteration*
  therefore costs one or more objective *evaluations* (one forward and backward pass each);
  ``history`` counts both, and an evaluation that L-BFGS asks for again at the same pixels
  (the start of the next iteration) is not recomputed.
  Adam costs exactly one evaluation per iteration. Evaluations per iteration for the
  course's experiments are in BENCHMARKS.md;
* pixels are projected back into ``[0, 1]`` whenever one strays more than
  :data:`PIXEL_SLACK` outside (clipping after every step would cost L-BFGS a second
  evaluation per iteration); the returned image is clipped; if a step changed nothing
  (no descent direction left), L-BFGS's curvature memory restarts;
* the best image seen (lowest total loss) is what is returned;
* ``callback(iteration, image, losses)`` runs every ``callback_every`` iterations (live
  previews); it may raise :class:`StopOptimization`, or a ``stop`` event may be set, to end
  the run early and keep the best image;
* Ctrl-C (``KeyboardInterrupt``) does the same;
* a NaN or infinite loss stops with a clear :class:`~nst_utils.errors.NSTError`;
* a run whose estimated peak memory does not fit is refused before its first iteration, and
  an allocation that fails anyway ends as one actionable line (:mod:`nst_utils.engine.memory`);
* ``precision="bf16"`` runs the network's forward (and so its backward) under bfloat16
  autocast, with the Gram matrices and losses still in float32 (:mod:`nst_utils.engine.speed`);
  faster where bfloat16 is native (AVX-512 BF16, AMX, recent GPUs), and within about a
  percent of float32's loss (BENCHMARKS.md). The default ``"fp32"`` is exact everywhere;
  ``"auto"`` picks bf16 where :func:`~nst_utils.engine.precision.recommended_precision` finds
  it native (:mod:`nst_utils.engine.precision`). With bf16 the logged losses are the
  bf16-evaluated ones.

Every iteration reads the loss once on the host (history, best image, NaN check, restarts):
on the CPU that costs nothing measurable (BENCHMARKS.md), so there is no ``log_every``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from ..checks import INITS, OPTIMIZERS, PRECISIONS
from ..engine import memory, openmp
from ..engine.precision import autocast, resolve_precision
from ..errors import NSTError
from .objective import LossTerms, Objective

DEFAULT_LR = {"lbfgs": 1.0, "adam": 0.02}
#: L-BFGS's line search (torch's ``line_search_fn``); ``None`` would make the step length
#: depend on the loss's scale.
LINE_SEARCH = "strong_wolfe"
#: Evaluations one L-BFGS iteration may spend: its start (often reused) and up to 24 trial
#: steps of the line search (torch's own limit is 25). torch derives the budget from
#: ``max_iter`` (``max_iter * 5 // 4``), which with one iteration per step would be 1 and would
#: leave the line search no trial beyond the first: a step that overshoots is then dropped.
MAX_EVALUATIONS = 25
#: How far outside ``[0, 1]`` a pixel may stray during a run before all are clipped back.
PIXEL_SLACK = 0.05

Callback = Callable[[int, torch.Tensor, dict[str, float]], None]


class StopOptimization(Exception):
    """Raise inside a callback to end the run cleanly and keep the best image so far."""


@dataclass
class Result:
    """What a run produced.

    ``history`` holds one dict per logged iteration with keys ``iteration``, ``seconds``,
    ``content``, ``style``, ``tv`` and ``total``; ``status`` is ``"completed"``,
    ``"stopped"`` (callback or stop event) or ``"interrupted"`` (Ctrl-C).
    """

    image: torch.Tensor
    history: list[dict[str, float]] = field(default_factory=list)
    best_iteration: int = 0
    status: str = "completed"

    @property
    def seconds(self) -> float:
        return self.history[-1]["seconds"] if self.history else 0.0

    def final(self, key: str = "total") -> float:
        return self.history[-1][key]


def iterations_to_reach(history: list[dict], loss: float, tolerance: float = 0.0) -> int | None:
    """The fewest iterations after which a run's loss was at most ``loss × (1 + tolerance)``
    (``None``: never in ``history``). Row ``k`` of a history is measured on the image *before*
    step ``k``, so it holds the loss after ``k − 1`` iterations. This is how a one-pass method
    is worth "N iterations of the optimisation" (BENCHMARKS.md, the shipped style networks)."""
    for row in history:
        if row["total"] <= loss * (1 + tolerance):
            return int(row["iteration"]) - 1
    return None


def initial_image(
    init: str | torch.Tensor,
    content: torch.Tensor | None = None,
    style: torch.Tensor | None = None,
    *,
    size: tuple[int, int] | None = None,
    seed: int = 0,
) -> torch.Tensor:
    """The starting image: the content image, the style image resized to the content's size,
    or seeded uniform white noise in ``[0, 1]`` (the paper's choice for Fig. 1).

    ``size`` is ``(H, W)``; by default the content's (or the style's) size.
    """
    if torch.is_tensor(init):
        return init.detach().clone()
    reference = content if content is not None else style
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}: choose one of {', '.join(INITS)}")
    if reference is None and size is None:
        raise ValueError("initial_image needs a content or style image, or a size")
    h, w = size or reference.shape[-2:]
    device = reference.device if reference is not None else torch.device("cpu")
    if init == "content":
        if content is None:
            raise ValueError("init='content' needs a content image")
        return content.detach().clone()
    if init == "style":
        if style is None:
            raise ValueError("init='style' needs a style image")
        from ..assets.images import resize

        return resize(style, (h, w))
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, h, w, generator=generator).to(device)


def _make_optimizer(name: str, x: torch.Tensor, lr: float | None) -> torch.optim.Optimizer:
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}: choose one of {', '.join(OPTIMIZERS)}")
    lr = DEFAULT_LR[name] if lr is None else lr
    if name == "adam":
        return torch.optim.Adam([x], lr=lr)
    return torch.optim.LBFGS(
        [x],
        lr=lr,
        max_iter=1,
        max_eval=MAX_EVALUATIONS,
        history_size=100,
        tolerance_grad=0.0,
        tolerance_change=0.0,
        line_search_fn=LINE_SEARCH,
    )


class _Evaluations:
    """The objective as an optimiser closure that remembers this iteration's evaluations.

    L-BFGS starts every iteration by evaluating the point its line search has just accepted;
    when the pixels are bitwise the same (nothing was clipped), the stored loss and gradient
    are returned instead of a second forward and backward pass.

    With ``rescale`` the optimiser sees the objective divided by its value at the start
    image, so every run starts at 1: torch's L-BFGS has absolute thresholds (a curvature
    pair counts only if ``yᵀs > 1e-10``; the line search stops below changes of ``1e-9``)
    that would otherwise freeze a run whose loss is small, e.g. ``relu5_1`` at ``1e-3``.
    """

    def __init__(self, objective, x: torch.Tensor, precision: str, rescale: bool) -> None:
        self.objective, self.x, self.precision = objective, x, precision
        self.scale: float | None = None if rescale else 1.0
        self.count = 0
        self.seen: list[tuple[torch.Tensor, LossTerms, torch.Tensor]] = []
        self.first: tuple[LossTerms, torch.Tensor] | None = None

    def new_iteration(self) -> None:
        """Keep the previous iteration's evaluations for one lookup, then forget them."""
        self.first = None

    def __call__(self) -> torch.Tensor:
        x = self.x
        if self.first is None:  # the image this iteration starts from
            self.seen = [entry for entry in self.seen if torch.equal(entry[0], x)][:1]
            if self.seen:
                image, terms, grad = self.seen[0]
                x.grad = grad.clone()
                self.first = (terms, image)
                return terms.total * self.scale
        x.grad = None
        with autocast(self.precision, x.device):
            terms = self.objective(x)
        if self.scale is None:
            start = abs(float(terms.total.detach()))
            self.scale = 1.0 / start if math.isfinite(start) and start > 0 else 1.0
        (terms.total * self.scale).backward()
        self.count += 1
        image = x.detach().clone()
        terms = _detached(terms)
        self.seen.append((image, terms, x.grad.clone()))
        if self.first is None:
            self.first = (terms, image)
        return terms.total * self.scale


def _project(x: torch.Tensor) -> bool:
    """Clip the pixels into ``[0, 1]`` once they stray more than :data:`PIXEL_SLACK` outside;
    True if it did.

    Clipping moves the image, so L-BFGS must evaluate it afresh: doing it only past a small
    slack, not after every step, saves that evaluation on most iterations.
    """
    with torch.no_grad():
        if x.min() < -PIXEL_SLACK or x.max() > 1 + PIXEL_SLACK:
            x.clamp_(0, 1)
            return True
    return False


def _record_step_taken(opt: torch.optim.Optimizer, x: torch.Tensor, before: torch.Tensor) -> None:
    """After a clip, tell L-BFGS the step the image really took.

    L-BFGS learns the curvature from pairs :math:`s_k = x_{k+1} - x_k`,
    :math:`y_k = g_{k+1} - g_k`, and takes :math:`s_k` to be the step it proposed
    (``t * d``). A clip moves :math:`x_{k+1}`, so that pair would describe a step never taken
    and spoil the next directions (deep reconstructions from noise clip nearly every
    iteration). Storing the actual displacement keeps every pair a true secant.
    """
    state = opt.state[x]
    if "d" in state:
        state["d"] = (x.detach() - before).flatten()
        state["t"] = 1.0


def _detached(terms: LossTerms) -> LossTerms:
    return terms.detached()


def optimize(
    objective: Objective | Callable[[torch.Tensor], LossTerms],
    init: torch.Tensor,
    *,
    steps: int = 300,
    optimizer: str = "lbfgs",
    lr: float | None = None,
    callback: Callback | None = None,
    callback_every: int = 10,
    stop: threading.Event | None = None,
    progress: bool = True,
    description: str = "optimising",
    precision: str = "fp32",
) -> Result:
    """Minimise ``objective`` over the pixels of ``init`` for ``steps`` iterations.

    ``precision`` is ``"fp32"`` (default), ``"bf16"`` (see the module docstring) or ``"auto"``
    (:func:`~nst_utils.engine.precision.recommended_precision` for the image's device).
    """
    if steps < 1:
        raise NSTError(f"steps must be at least 1, got {steps}")
    precision = resolve_precision(precision, init.device)
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    check_memory(objective, init, steps=steps, optimizer=optimizer, precision=precision)
    if init.device.type == "cpu":
        openmp.warn_if_too_late()  # torch imported before nst_utils: say what that costs
    x = init.detach().clone(memory_format=torch.contiguous_format).clamp_(0, 1)
    x.requires_grad_(True)
    lr = DEFAULT_LR[optimizer] if lr is None and optimizer in DEFAULT_LR else lr
    opt = _make_optimizer(optimizer, x, lr)
    result = Result(image=x.detach().clone())
    best = math.inf
    closure = _Evaluations(objective, x, precision, rescale=optimizer == "lbfgs")

    start = time.perf_counter()
    bar = tqdm(total=steps, desc=description, disable=not progress, leave=False)
    try:
        for iteration in range(1, steps + 1):
            closure.new_iteration()
            before = x.detach().clone()
            opt.step(closure)
            if _project(x) and optimizer == "lbfgs":
                _record_step_taken(opt, x, before)
            terms, image = closure.first
            losses = terms.as_floats()
            if not math.isfinite(losses["total"]):
                raise NSTError(
                    f"optimisation diverged at iteration {iteration} (loss is {losses['total']}): "
                    "lower the learning rate or the loss weights, or use --optimizer adam"
                )
            result.history.append(
                {
                    "iteration": iteration,
                    "evaluations": closure.count,
                    "seconds": time.perf_counter() - start,
                    **losses,
                }
            )
            if losses["total"] < best:  # measured on the image before this step
                best, result.best_iteration = losses["total"], iteration
                result.image = image.clamp(0, 1)
            if optimizer == "lbfgs" and torch.equal(before, x):  # no descent direction left
                opt = _make_optimizer(optimizer, x, lr)
            bar.update(1)
            bar.set_postfix(loss=f"{losses['total']:.4g}", refresh=False)
            if callback is not None and (iteration % callback_every == 0 or iteration == steps):
                callback(iteration, x.detach(), losses)
            if stop is not None and stop.is_set():
                result.status = "stopped"
                break
    except StopOptimization:
        result.status = "stopped"
    except KeyboardInterrupt:
        result.status = "interrupted"
    except (RuntimeError, MemoryError) as err:  # allocation failures: one actionable line
        advice = memory.out_of_memory_message(err)
        if advice is None:
            raise
        raise NSTError(advice) from None
    finally:
        bar.close()
    return result


def check_memory(objective, init: torch.Tensor, *, steps: int, optimizer: str,
                 precision: str) -> None:
    """Refuse a run whose estimated peak does not fit (:mod:`nst_utils.engine.memory`), before its
    first iteration; objectives that are plain functions are not estimated."""
    net, layers = getattr(objective, "net", None), getattr(objective, "layers", None)
    if net is None or not layers or not hasattr(net, "layers"):
        return
    estimate = memory.estimate_peak(
        net, [tuple(init.shape[-2:])], layers, steps=steps, optimizer=optimizer,
        precision=precision, device=init.device,
    )  # fmt: skip
    estimate.parts["network"] = 0  # already loaded
    memory.check_fits(estimate, init.device)
