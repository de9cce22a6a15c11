"""Notebook 00's run-time estimate: warm-up dropped, median and quartiles, evaluations counted."""

import pytest
import torch

from nst_utils.engine.timing import RunTimeEstimate, estimate_from_history, estimate_run_time
from nst_utils.paper.pipeline import Settings


def history(seconds_per_iteration, evaluations_per_iteration):
    """An optimize() history: cumulative seconds and evaluations per iteration."""
    rows, t, n = [], 0.0, 0
    for i, (s, e) in enumerate(zip(seconds_per_iteration, evaluations_per_iteration,
                                   strict=True), start=1):
        t, n = t + s, n + e
        rows.append({"iteration": i, "seconds": t, "evaluations": n})
    return rows


def test_warm_up_is_dropped_and_one_burst_of_load_barely_moves_the_estimate():
    # a slow first iteration (one-off costs) and one burst of someone else's work at 4.0 s:
    # a single first sample would say 5 s per evaluation, the median says 0.5
    h = history([5.0, 0.5, 0.5, 4.0, 0.5, 0.5, 0.5, 0.5, 0.5], [1] * 9)
    est = estimate_from_history(h, warmup=1)
    assert len(est.seconds_per_evaluation) == 8
    assert est.median_s == pytest.approx(0.5)
    low, high = est.spread_s
    assert low == pytest.approx(0.5) and high == pytest.approx(0.5)
    assert est.minutes(300)[0] == pytest.approx(300 * 0.5 / 60)


def test_evaluations_per_iteration_scale_the_projection():
    # iterations of 1 and 2 evaluations at 0.2 s each: 1.5 evaluations per iteration
    h = history([1.0] + [0.2, 0.4] * 4, [1] + [1, 2] * 4)
    est = estimate_from_history(h, warmup=1)
    assert est.seconds_per_evaluation == pytest.approx((0.2,) * 8)
    assert est.evaluations_per_iteration == pytest.approx(1.5)
    mid, low, high = est.minutes(300)
    assert mid == pytest.approx(300 * 1.5 * 0.2 / 60)
    assert low <= mid <= high


def test_spread_is_the_quartiles_and_shows_a_noisy_machine():
    est = RunTimeEstimate(tuple(float(s) for s in range(1, 10)), 1.0)
    assert est.median_s == 5.0
    assert est.spread_s == (3.0, 7.0)
    assert RunTimeEstimate((1.0, 3.0), 1.0).spread_s == (1.0, 3.0)  # few samples: min, max
    line = est.describe(300)
    assert "median of 9" in line and "3.00–7.00 s" in line and "300 iterations ≈ 25.0 min" in line


def test_bad_inputs():
    with pytest.raises(ValueError, match="warmup"):
        estimate_from_history(history([1.0, 1.0], [1, 1]), warmup=0)
    with pytest.raises(ValueError, match="more than 2"):
        estimate_from_history(history([1.0, 1.0], [1, 1]), warmup=2)
    with pytest.raises(ValueError, match="at least one"):
        RunTimeEstimate((), 1.0)


def test_a_real_short_run(random_vgg16):
    g = torch.Generator().manual_seed(0)
    content, style = torch.rand(1, 3, 32, 32, generator=g), torch.rand(1, 3, 32, 32, generator=g)
    settings = Settings(style_weight=1e3, content_layers=("relu2_1",),
                        style_layers=("relu1_1", "relu2_1"))  # fmt: skip
    est = estimate_run_time(random_vgg16, content, style, settings, iterations=4, warmup=1)
    assert 1 <= len(est.seconds_per_evaluation) <= 4
    assert est.evaluations_per_iteration >= 1.0
    assert all(s > 0 for s in est.seconds_per_evaluation)
