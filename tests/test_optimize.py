"""The one optimisation engine: behaviour that does not depend on trained weights.

A randomly initialised VGG is a perfectly good differentiable function for these checks; the
tests with the real ImageNet weights live in ``test_transfer.py``.
"""

import threading

import pytest
import torch

from nst_utils.errors import NSTError
from nst_utils.paper.objective import LossTerms, build_objective
from nst_utils.paper.optimize import StopOptimization, initial_image, optimize

LAYERS = dict(content_layers=("relu2_1",), style_layers=("relu1_1", "relu2_1"))
HISTORY_KEYS = {"iteration", "evaluations", "seconds", "content", "style", "tv", "total"}


@pytest.fixture(scope="module")
def net(random_vgg16):
    return random_vgg16


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(0)
    return torch.rand(1, 3, 32, 40, generator=g), torch.rand(1, 3, 36, 36, generator=g)


def objective(net, images, **kw):
    content, style = images
    return build_objective(net, content, style, style_weight=1e3, tv_weight=0.1, **LAYERS, **kw)


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_loss_falls_pixels_stay_in_range_and_history_is_complete(net, images, optimizer):
    init = initial_image("noise", images[0], seed=1)
    result = optimize(objective(net, images), init, steps=15, optimizer=optimizer, progress=False)
    assert result.image.shape == images[0].shape
    assert result.image.min() >= 0 and result.image.max() <= 1
    assert [h["iteration"] for h in result.history] == list(range(1, 16))
    assert all(set(h) == HISTORY_KEYS for h in result.history)
    seconds = [h["seconds"] for h in result.history]
    assert seconds == sorted(seconds)
    assert min(h["total"] for h in result.history) < 0.8 * result.history[0]["total"]
    assert result.status == "completed"


def test_returns_the_best_image_seen(net, images):
    obj = objective(net, images)
    result = optimize(obj, initial_image("noise", images[0]), steps=10, progress=False)
    best = min(result.history, key=lambda h: h["total"])
    assert result.best_iteration == best["iteration"]
    with torch.no_grad():
        assert float(obj(result.image).total) == pytest.approx(best["total"], rel=1e-4)


def test_targets_are_computed_once(net, images, monkeypatch):
    obj = objective(net, images)
    calls = []
    original = net.forward
    monkeypatch.setattr(net, "forward", lambda *a, **k: calls.append(1) or original(*a, **k))
    result = optimize(obj, images[0], steps=4, progress=False)
    # one forward pass per evaluation, none for the targets
    assert len(calls) == result.history[-1]["evaluations"] >= 4


def test_init_modes(images):
    content, style = images
    assert torch.equal(initial_image("content", content, style), content)
    resized = initial_image("style", content, style)
    assert resized.shape == content.shape
    a, b = initial_image("noise", content, seed=3), initial_image("noise", content, seed=3)
    assert torch.equal(a, b) and not torch.equal(a, initial_image("noise", content, seed=4))
    assert a.min() >= 0 and a.max() <= 1
    with pytest.raises(ValueError, match="init"):
        initial_image("zeros", content)


def test_same_seed_same_result(net, images):
    def run():
        init = initial_image("noise", images[0], seed=7)
        return optimize(objective(net, images), init, steps=5, progress=False).image

    assert torch.equal(run(), run())


def test_callback_every_n_and_stop_keeps_best(net, images):
    seen = []

    def callback(iteration, image, losses):
        seen.append(iteration)
        assert set(losses) == {"content", "style", "tv", "total"}
        if iteration == 6:
            raise StopOptimization

    result = optimize(
        objective(net, images),
        images[0],
        steps=20,
        callback=callback,
        callback_every=3,
        progress=False,
    )
    assert seen == [3, 6]
    assert result.status == "stopped" and len(result.history) == 6
    assert result.best_iteration <= 6


def test_stop_event(net, images):
    stop = threading.Event()
    result = optimize(
        objective(net, images),
        images[0],
        steps=20,
        progress=False,
        stop=stop,
        callback=lambda i, *_: stop.set() if i == 2 else None,
        callback_every=1,
    )
    assert result.status == "stopped" and len(result.history) == 2


def test_keyboard_interrupt_returns_best_so_far(net, images):
    def callback(iteration, image, losses):
        if iteration == 4:
            raise KeyboardInterrupt

    result = optimize(
        objective(net, images),
        images[0],
        steps=50,
        callback=callback,
        callback_every=1,
        progress=False,
    )
    assert result.status == "interrupted"
    assert len(result.history) == 4 and 1 <= result.best_iteration <= 4


def test_nan_stops_with_clear_error(images):
    def broken(image):
        nan = image.sum() * float("nan")
        return LossTerms(nan, nan, nan, nan)

    with pytest.raises(NSTError, match="diverged at iteration 1"):
        optimize(broken, images[0], steps=3, progress=False)


def test_bad_arguments(net, images):
    with pytest.raises(ValueError, match="optimizer"):
        optimize(objective(net, images), images[0], steps=1, optimizer="sgd", progress=False)
    with pytest.raises(NSTError, match="steps"):
        optimize(objective(net, images), images[0], steps=0, progress=False)
    with pytest.raises(ValueError, match="blend weights"):
        build_objective(net, images[0], [(images[1], 1.0), (images[1], -1.0)])
    with pytest.raises(ValueError, match="needs a content target"):
        build_objective(net)


def test_objective_terms_switch_off(net, images):
    content, style = images
    only_style = build_objective(net, None, style, style_layers=("relu1_1",))
    terms = only_style(content)
    assert terms.content == 0 and terms.style > 0 and terms.tv == 0
    only_content = build_objective(net, content, None, content_layers=("relu1_2",))
    assert only_content(content).total == 0
    assert only_content.layers == ("relu1_2",)


def test_lbfgs_step_length_does_not_depend_on_the_loss_scale(images):
    """The line search picks the step: the same objective times 1e4 takes the same path."""
    target = images[0]

    def quartic(scale):
        def objective(image):
            loss = scale * (image - target).pow(4).sum()
            zero = loss.new_zeros(())
            return LossTerms(loss, zero, zero, loss)

        return objective

    init = initial_image("noise", target, seed=1)
    small = optimize(quartic(1e-6), init, steps=30, progress=False)
    large = optimize(quartic(1e-2), init, steps=30, progress=False)
    assert small.history[-1]["total"] < small.history[0]["total"] / 100
    assert torch.allclose(small.image, large.image, atol=1e-3)


def test_evaluations_are_counted_and_an_unchanged_start_is_not_recomputed(net, images):
    calls = []
    obj = objective(net, images)

    def counted(image):
        calls.append(1)
        return obj(image)

    result = optimize(counted, images[0], steps=6, progress=False)
    evaluations = [h["evaluations"] for h in result.history]
    assert evaluations == sorted(evaluations) and evaluations[-1] == len(calls)
    # a line search evaluates at least once per iteration, and the next iteration's start
    # is the accepted point: without the reuse every iteration would cost at least two
    assert 6 <= len(calls) < 2 * 6
    adam = optimize(counted, images[0], steps=5, optimizer="adam", progress=False)
    assert [h["evaluations"] for h in adam.history] == [1, 2, 3, 4, 5]
