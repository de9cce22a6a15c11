"""The benchmark suite's part 1 runs and reports every comparison, and its floor device (a
style node doing only the two products) computes the engine's products.

Timings are not checked (they are the suite's job, not the tests'): a tiny size and one
round, with random weights.
"""

import math

import torch

from benchmarks import iteration
from nst_utils.engine import speed


def test_part_1_reports_every_comparison(random_vgg16):
    out = iteration.measure(random_vgg16, sizes=(32,), reps=1, log=lambda *_: None)
    row = out["sizes"]["32"]
    for group, names in iteration.GROUPS.items():
        assert set(row["timings"][group]) == set(names), group
    ratios = [v for k, v in row.items() if k.startswith(("speedup_", "overhead_"))]
    assert len(ratios) >= len(iteration.GROUPS)
    assert all(math.isfinite(v) and v > -1 for v in ratios)
    assert 0 < row["fraction_of_fp32_peak"] < 2


def test_floor_node_computes_the_engines_products():
    torch.manual_seed(0)
    f = torch.rand(1, 8, 64, 72).contiguous(memory_format=torch.channels_last)
    f.requires_grad_(True)
    deeper = torch.randn(1, 8, 64, 72)
    with iteration.products_only():
        out, term = speed.style_term(f, None, 1.0)
    out.backward(deeper)
    flat = f.detach().permute(0, 2, 3, 1).reshape(-1, 8)
    gram = flat.T @ flat
    expected = deeper + (flat @ gram).reshape(1, 64, 72, 8).permute(0, 3, 1, 2)
    assert speed._via_convolution(f)  # 4608 positions: the 1×1-convolution route
    assert term.item() == 0.0
    torch.testing.assert_close(f.grad, expected, rtol=1e-4, atol=1e-3)


def test_contention_part_compares_every_policy_with_the_fair_share():
    """Part 6 at a tiny size: every policy, 1 and 2 processes and 2 threads, ratios present
    (not checked: speed is the benchmark's job), and each policy's setting reached the runs."""
    from benchmarks import contention

    out = contention.measure(size=32, steps=2, counts=(1, 2), rounds=1, single_repeats=1,
                             single_steps=3, log=lambda *_: None)
    assert set(out["alone_interleaved_s"]) == set(contention.POLICIES)
    assert set(out["policies"]) == set(contention.POLICIES)
    for row in out["policies"].values():
        assert set(row["runs"]) == {"1", "2"} and set(row["threads"]) == {"2"}
        assert len(row["runs"]["2"]["samples_s"]) == 2
        assert all(r["vs_fair_share"] > 0 for r in row["runs"].values())
    assert out["policies"]["default"]["wait"]["GOMP_SPINCOUNT"] == "300000"
    assert out["policies"]["kit"]["wait"]["choice"] == "kit"
    assert out["policies"]["passive"]["wait"]["OMP_WAIT_POLICY"] == "PASSIVE"


def test_fast_paint_part_measures_both_methods_side_by_side_and_training(monkeypatch):
    """Part 7 at a tiny size with random weights: the network's passes and the optimisation's
    runs alternate in every round, a size marked for it also runs the whole default (patched
    small here) to check the projection, the command runs, and training reports its steps."""
    from benchmarks import fast_paint, run

    monkeypatch.setattr(fast_paint, "DEFAULT_STEPS", 4)
    order: list[str] = []
    paint, stylize_once = fast_paint.paint, fast_paint.stylize_once
    monkeypatch.setattr(fast_paint, "paint", lambda *a: order.append("paint") or paint(*a))
    monkeypatch.setattr(fast_paint, "stylize_once",
                        lambda *a: order.append("stylize") or stylize_once(*a))
    config = {"sizes": (32,), "rounds": 2, "paint_reps": 2, "stylize_steps": {32: 2},
              "reference_size": 32,
              "full_stylize": (32,), "command_size": 32, "train_sizes": (32,),
              "train_batch": 2, "train_steps": 3, "train_rounds": 2}
    monkeypatch.setattr(fast_paint, "training_precisions", lambda: ("fp32", "bf16"))
    out = fast_paint.measure(config, real=False, log=lambda *_: None)
    # the whole default run for evaluations per iteration, then per size: warm-up, rounds,
    # and the whole default run that checks the projection
    assert order == ["stylize", "paint"] + ["paint", "paint", "stylize"] * 2 + ["stylize"]
    row = out["sizes"]["32"]
    assert [r["iterations"] for r in row["stylize_runs"]] == [2, 2]
    assert row["stylize_default_measured"]["iterations"] == 4
    assert out["reference"]["iterations"] == 4 and out["reference"]["per_iteration"] >= 1
    assert len(row["paint_samples_s"]) == 4
    for key in ("ratio", "ratio_measured", "paint_images_per_s", "stylize_images_per_s"):
        assert math.isfinite(row[key]) and row[key] > 0, key
    assert out["command"]["ok"], out["command"]
    fp32, bf16 = out["training"]  # two rounds of each, pooled
    assert (fp32["precision"], bf16["precision"]) == ("fp32", "bf16")
    for training in (fp32, bf16):
        assert training["batch"] == 2 and len(training["step_s"]) == 4  # steps 2, 3 twice
        assert training["images_per_s"] > 0
    text = "\n".join(run.summary({"machine": run.machine(), "date": "now", "mode": "test",
                                  "fast_paint": out}).splitlines())
    assert "| 32 |" in text and "Training" in text and "nst paint" in text and "bf16" in text


def test_fast_quality_scores_a_network_against_the_optimisation(random_vgg16, tmp_path):
    from benchmarks import fast_quality
    from nst_utils.networks.painter import StyleNet, save_model

    torch.manual_seed(0)
    model = save_model(StyleNet(channels=8, blocks=1), tmp_path / "m.safetensors",
                       {"styles": ["swirls"]})  # fmt: skip
    row = fast_quality.compare(random_vgg16, str(model), "coffee", 48, 4, tmp_path)
    assert row["style"] == "swirls" and row["photo"] == "coffee"
    assert row["passes"] == (row["network"]["total"] <= row["optimisation_after_50"])
    assert row["optimisation_final"] <= row["optimisation_after_50"]
    assert len(list(tmp_path.glob("m-coffee-48-*.png"))) == 2
    # two models of one name (a shipped one and a file under test) keep their pictures apart
    assert fast_quality.labels(["starry_night", "/tmp/x/starry_night.safetensors", "m"]) == [
        "starry_night-1", "starry_night-2", "m"]


def test_iterations_to_reach_counts_the_steps_taken_to_reach_the_loss():
    from nst_utils.paper.optimize import iterations_to_reach as equivalent_iterations

    # as the engine logs: row k is measured before step k, so row 1 is the starting image
    history = [{"iteration": i, "total": t} for i, t in enumerate([9.0, 5.0, 3.0, 2.0], 1)]
    assert equivalent_iterations(history, 3.0) == 2
    assert equivalent_iterations(history, 4.0) == 2
    assert equivalent_iterations(history, 9.5) == 0
    assert equivalent_iterations(history, 1.0) is None
    assert equivalent_iterations(history, 2.9, tolerance=0.05) == 2  # 3.0 <= 2.9 x 1.05
