"""How long will a run take on this machine? A short run of the real engine, read robustly.

An L-BFGS iteration costs one or more *evaluations* (a forward pass up to the deepest layer
used and a backward pass, :mod:`nst_utils.paper.optimize`), so the time of a run is

.. math:: T \\approx \\text{iterations} \\times \\frac{\\text{evaluations}}{\\text{iteration}}
          \\times \\text{seconds per evaluation}.

The count of evaluations does not depend on the machine; the seconds do, and a single timed
pass misleads twice: the first passes pay one-off costs (oneDNN picks its kernels, the
allocator grows), and on a shared machine any one sample can land on a burst of someone
else's work. So :func:`estimate_run_time` runs a few *warm-up* iterations that are not
counted, then takes one sample of seconds per evaluation from each further iteration, and
:class:`RunTimeEstimate` reports the **median** with the **quartiles** as the spread.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from ..paper.pipeline import Settings, Source, StyleInput, run
from ..paper.vgg import VGGFeatures


@dataclass(frozen=True)
class RunTimeEstimate:
    """Samples of seconds per evaluation and the evaluations an iteration took on average."""

    seconds_per_evaluation: tuple[float, ...]
    evaluations_per_iteration: float

    def __post_init__(self) -> None:
        if not self.seconds_per_evaluation:
            raise ValueError("an estimate needs at least one timed sample")

    @property
    def median_s(self) -> float:
        """Median seconds per evaluation (one burst of load moves it little)."""
        return statistics.median(self.seconds_per_evaluation)

    @property
    def spread_s(self) -> tuple[float, float]:
        """Lower and upper quartile of the seconds per evaluation (min and max under 4 samples)."""
        s = sorted(self.seconds_per_evaluation)
        if len(s) < 4:
            return s[0], s[-1]
        q1, _, q3 = statistics.quantiles(s, n=4, method="inclusive")
        return q1, q3

    def minutes(self, iterations: int) -> tuple[float, float, float]:
        """``(median, low, high)`` minutes for ``iterations`` iterations."""
        per_iteration = iterations * self.evaluations_per_iteration / 60
        low, high = self.spread_s
        return self.median_s * per_iteration, low * per_iteration, high * per_iteration

    def describe(self, iterations: int) -> str:
        """One line for a notebook: seconds per evaluation, spread, and the projected run."""
        low, high = self.spread_s
        mid, lo, hi = self.minutes(iterations)
        n, per_iteration = len(self.seconds_per_evaluation), self.evaluations_per_iteration
        return (f"one evaluation {self.median_s:.2f} s (median of {n}, quartiles "
                f"{low:.2f}–{high:.2f} s), {per_iteration:.2f} evaluations per iteration → "
                f"{iterations} iterations ≈ {mid:.1f} min ({lo:.1f}–{hi:.1f})")


def estimate_from_history(history: Sequence[dict], warmup: int) -> RunTimeEstimate:
    """Read an estimate from an :func:`~nst_utils.paper.optimize.optimize` history.

    ``history`` holds cumulative ``seconds`` and ``evaluations`` per iteration; the first
    ``warmup`` iterations are dropped and each later one gives a sample (its seconds divided
    by its evaluations).
    """
    if warmup < 1:
        raise ValueError("warmup must be at least 1 (the first iteration pays one-off costs)")
    if len(history) <= warmup:
        raise ValueError(f"need more than {warmup} iterations of history, got {len(history)}")
    samples = []
    for before, after in zip(history[warmup - 1 :], history[warmup:], strict=False):
        evaluations = after["evaluations"] - before["evaluations"]
        if evaluations > 0:  # an iteration can reuse its start's evaluation entirely
            samples.append((after["seconds"] - before["seconds"]) / evaluations)
    timed = history[warmup:]
    evaluations = history[-1]["evaluations"] - history[warmup - 1]["evaluations"]
    return RunTimeEstimate(tuple(samples), evaluations / len(timed))


def estimate_run_time(
    net: VGGFeatures, content: Source | None, style: StyleInput | None,
    settings: Settings | None = None, *, iterations: int = 8, warmup: int = 2,
) -> RunTimeEstimate:  # fmt: skip
    """Time ``warmup + iterations`` iterations of the run ``settings`` describe.

    The run is the kit's one pipeline (:func:`nst_utils.paper.pipeline.run`) on real inputs,
    so what is timed is what a notebook or ``nst`` will do (line search included); only its
    ``steps`` are replaced (default: the kit's default settings).
    """
    settings = Settings() if settings is None else settings
    if iterations < 1:
        raise ValueError(f"iterations must be at least 1, got {iterations}")
    result = run(net, content, style, settings.updated(steps=warmup + iterations),
                 progress=False)  # fmt: skip
    return estimate_from_history(result.history, warmup)
