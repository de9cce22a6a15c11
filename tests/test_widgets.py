"""The explorers of ``nst_utils.display.widgets``, driven from code as a student would with the
mouse.

Every test changes a control and checks that what is shown changed (image bytes, title), so a
test fails if an observer stops updating its output. A random VGG-16 and tiny images keep
them fast; the optimisation explorers run the real pipeline for a few steps.
"""

from __future__ import annotations

import threading
import time

import pytest
import torch

from nst_utils.display.plotting import cluster_order
from nst_utils.display.widgets import FeatureMapExplorer, GramExplorer, Playground, RatioExplorer
from nst_utils.display.widgets.base import ImageSet
from nst_utils.display.widgets.cache import FeatureCache
from nst_utils.display.widgets.feature_maps import feature_grid_png
from nst_utils.display.widgets.render import png_bytes
from nst_utils.paper import pipeline
from nst_utils.paper.losses import gram_matrix, style_layer_loss


@pytest.fixture(scope="module")
def net(random_vgg16):
    return random_vgg16


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(1)
    ramp = torch.linspace(0, 1, 40).view(1, 1, 1, 40).expand(1, 3, 32, 40).clone()
    return {
        "noise": torch.rand(1, 3, 32, 40, generator=g),
        "ramp": ramp,
        "blocks": (
            torch.rand(1, 3, 4, 5, generator=g).repeat_interleave(8, 2).repeat_interleave(8, 3)
        ),
    }


def wait_until(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


@pytest.fixture
def pipeline_runs(monkeypatch):
    """Counts the explorers' calls of :func:`nst_utils.paper.pipeline.run`; ``slow`` seconds of
    sleep
    per callback make a run long enough to be stopped."""
    real = pipeline.run

    class Runs:
        calls = 0
        slow = 0.0

    def counting(*args, callback=None, **kwargs):
        Runs.calls += 1

        def slowed(i, image, losses):
            time.sleep(Runs.slow)
            callback(i, image, losses)

        return real(*args, callback=slowed, **kwargs)

    monkeypatch.setattr(pipeline, "run", counting)
    return Runs


@pytest.fixture
def forward_passes(net, monkeypatch):
    """Counts the network's forward passes (a list, one entry per pass)."""
    calls = []
    real = net.forward

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(net, "forward", counting)
    return calls


def changes(widget, name="value"):
    """A list that receives every new value of ``widget.name``."""
    seen = []
    widget.observe(lambda change: seen.append(change["new"]), name)
    return seen


# --------------------------------------------------------------------------- rendering


def test_png_helpers_produce_pngs(images):
    assert png_bytes(images["noise"]).startswith(b"\x89PNG")
    grid = feature_grid_png(torch.rand(5, 6, 7), [0, 3, 4], tile=32, ncols=2)
    assert grid.startswith(b"\x89PNG")


def test_example_names_are_loaded_at_the_size_and_tensors_keep_theirs():
    tensor = torch.rand(1, 3, 30, 50)
    images = ImageSet({"cat": "chelsea", "mine": tensor}, 40)
    assert max(images["cat"].shape[-2:]) == 40
    assert torch.equal(images["mine"], tensor)


# --------------------------------------------------------------------------- feature maps


def test_feature_maps_redraw_on_every_control(net, images, forward_passes):
    ex = FeatureMapExplorer(net, images, layer="relu1_1", channel=0)
    assert len(forward_passes) == 1
    assert "relu1_1" in ex.title.value and "channel 0" in ex.title.value
    shown = ex.image_widget.value

    ex.channel.value = 5
    assert ex.image_widget.value != shown and "channel 5 " in ex.title.value
    shown = ex.image_widget.value

    ex.layer.value = "relu3_1"
    assert ex.image_widget.value != shown
    assert "relu3_1" in ex.title.value and "of 256" in ex.title.value
    assert ex.channel.max == 255
    shown = ex.image_widget.value

    ex.mode.value = "grid"
    assert ex.image_widget.value != shown and "most active" in ex.title.value
    assert ex.channel.disabled and not ex.k.disabled
    shown = ex.image_widget.value

    ex.k.value = 4
    assert ex.image_widget.value != shown and "the 4 most active" in ex.title.value
    shown = ex.image_widget.value

    input_shown = ex.input_widget.value
    ex.image.value = "ramp"
    assert ex.image_widget.value != shown and "ramp" in ex.title.value
    assert ex.input_widget.value != input_shown
    # Layer and channel changes reuse the one forward pass per image.
    assert len(forward_passes) == 2
    ex.layer.value = "pool5"
    ex.image.value = "noise"
    ex.layer.value = "conv1_2"
    assert len(forward_passes) == 2


def test_feature_layer_change_clamps_channel_once(net, images):
    ex = FeatureMapExplorer(net, images, layer="relu5_1", channel=400)
    shown = changes(ex.image_widget)
    ex.layer.value = "relu1_2"  # 64 channels: the channel is clamped, one redraw only
    assert ex.channel.value == 63 and "channel 63 of 64" in ex.title.value
    assert len(shown) == 1


def test_feature_maps_strongest_button(net, images):
    ex = FeatureMapExplorer(net, images, layer="relu2_1", channel=0, mode="grid")
    ex.strongest.click()
    with torch.no_grad():
        best = int(net(images["noise"], ["relu2_1"])["relu2_1"][0].mean(dim=(1, 2)).argmax())
    assert ex.mode.value == "channel" and ex.channel.value == best
    assert f"channel {best} " in ex.title.value


def test_feature_explorer_lists_every_layer(net, images):
    ex = FeatureMapExplorer(net, images)
    assert list(ex.layer.options) == list(net.layer_names)
    assert ex.widget is not None and hasattr(ex, "_ipython_display_")


def test_cached_features_equal_the_network(net, images):
    cache = FeatureCache(net, ImageSet(images, 32))
    with torch.no_grad():
        direct = net(images["ramp"], ["conv2_2", "relu2_2", "pool3"])
    for layer, expected in direct.items():
        assert torch.allclose(cache.layer("ramp", layer), expected)


def test_tiny_images_stop_before_an_empty_pooling(net):
    cache = FeatureCache(net, ImageSet({"tiny": torch.rand(1, 3, 24, 48)}, 48))
    assert cache.layer("tiny", "relu5_1").shape[-2:] == (1, 3)
    with pytest.raises(ValueError, match="too small to reach pool5"):
        cache.layer("tiny", "pool5")


# --------------------------------------------------------------------------- Gram matrices


def test_gram_explorer_redraws(net, images):
    ex = GramExplorer(net, images, layer="relu1_1", first="noise", second="ramp")
    assert "relu1_1" in ex.title.value and "64×64" in ex.title.value
    shown, title = ex.image_widget.value, ex.title.value

    ex.layer.value = "relu2_1"
    assert ex.image_widget.value != shown and "relu2_1" in ex.title.value
    assert "128×128" in ex.title.value
    shown, title = ex.image_widget.value, ex.title.value

    thumb = ex.second_widget.value
    ex.second.value = "blocks"
    assert ex.image_widget.value != shown and ex.title.value != title
    assert ex.second_widget.value != thumb
    shown = ex.image_widget.value

    ex.first.value = "ramp"
    assert ex.image_widget.value != shown


def test_gram_distance_is_the_papers_style_loss(net, images):
    ex = GramExplorer(net, images, layer="relu3_1", first="ramp", second="ramp")
    assert ex.distance() == 0
    ex.second.value = "noise"
    with torch.no_grad():
        f = net(images["ramp"], ["relu3_1"])["relu3_1"]
        a = net(images["noise"], ["relu3_1"])["relu3_1"]
    n, m = f.shape[1], f.shape[2] * f.shape[3]
    expected = style_layer_loss(gram_matrix(f), gram_matrix(a), n, m)
    assert ex.distance() == pytest.approx(float(expected), rel=1e-5)
    assert f"{ex.distance():.4g}" in ex.title.value


def test_gram_distance_compares_per_position_across_sizes(net, images):
    small = images["ramp"][..., ::2, ::2].contiguous()  # 16×20: a quarter of the positions
    ex = GramExplorer(
        net, {"big": images["noise"], "small": small}, layer="relu1_1", first="big",
        second="small",
    )  # fmt: skip
    with torch.no_grad():
        f = net(images["noise"], ["relu1_1"])["relu1_1"]
        a = net(small, ["relu1_1"])["relu1_1"]
    g_per_m = gram_matrix(f)[0] / (32 * 40)
    a_per_m = gram_matrix(a)[0] / (16 * 20)
    expected = (g_per_m - a_per_m).pow(2).sum() / (4 * 64**2)
    assert ex.distance() == pytest.approx(float(expected), rel=1e-5)


def test_gram_explorer_orders_channels_as_the_library(net, images):
    ex = GramExplorer(net, images, layer="relu2_1", first="blocks", second="ramp")
    assert torch.equal(ex.cache.order("blocks", "relu2_1"), cluster_order(ex.cache.gram(
        "blocks", "relu2_1")))  # fmt: skip


# --------------------------------------------------------------------------- playground


def test_playground_preview_and_result(net, images, pipeline_runs):
    pg = Playground(
        net, images, content="ramp", style="noise", steps=6, preview_every=2,
        content_layers=["relu2_1"], style_layers=["relu1_1", "relu2_1"],
    )  # fmt: skip
    start = pg.image_widget.value
    shown = changes(pg.image_widget)
    progress = changes(pg.progress)
    pg.run_button.click()
    assert pg.wait(120)
    assert len(shown) >= 3, "the preview is updated every 2 of 6 steps"
    assert progress == [1, 2, 3, 4, 5, 6]
    assert pipeline_runs.calls == 1 and pg.last_error is None
    assert pg.result is not None and pg.result.status == "completed"
    assert pg.image_widget.value != start
    assert pg.image_widget.value == png_bytes(pg.result.image)
    assert "style transfer" in pg.title.value and "finished" in pg.title.value
    assert not pg.run_button.disabled and pg.stop_button.disabled


def test_playground_runs_the_pipeline_with_its_controls(net, images):
    pg = Playground(net, images, content="ramp", style="noise", init="content", steps=3)
    pg.content_layers.value, pg.style_layers.value = ("relu2_2",), ("relu1_2", "relu3_1")
    pg.ratio.value, pg.steps.value, pg.init.value = 1000.0, 4, "noise"
    s = pg.settings()
    assert (s.content_layers, s.style_layers) == (("relu2_2",), ("relu1_2", "relu3_1"))
    assert (s.style_weight, s.content_weight, s.steps, s.init) == (1000.0, 1.0, 4, "noise")
    pg.run(block=True)
    start = pg._init_image()
    direct = pipeline.run(net, images["ramp"], images["noise"], s, init=start, progress=False)
    assert torch.allclose(pg.result.image, direct.image, atol=1e-5)
    assert pg.result.history[-1]["total"] == pytest.approx(direct.history[-1]["total"])


def test_playground_ratio_starts_at_the_networks_beta(net, images, monkeypatch):
    from nst_utils.display.widgets import playground

    monkeypatch.setattr(playground, "default_style_weight", lambda net: 2.5e-3)  # Caffe's
    assert Playground(net, images).ratio.value == pytest.approx(2.5e-3)


def test_playground_init_control_redraws(net, images):
    pg = Playground(net, images, init="noise")
    shown = pg.image_widget.value
    pg.init.value = "content"
    assert pg.image_widget.value != shown and "content" in pg.title.value


def test_playground_modes_follow_the_layers(net, images):
    pg = Playground(
        net, images, steps=2, preview_every=1, content_layers=["relu1_1"], style_layers=[]
    )
    pg.run(block=True)
    assert "content reconstruction" in pg.title.value
    pg.content_layers.value, pg.style_layers.value = (), ("relu1_1",)
    pg.run(block=True)
    assert "texture synthesis" in pg.title.value
    pg.style_layers.value = ()
    pg.run(block=True)
    assert "at least one layer" in pg.status.value


def test_playground_stop_keeps_the_best_image(net, images, pipeline_runs):
    pipeline_runs.slow = 0.05
    pg = Playground(
        net, images, content="ramp", style="noise", steps=500, preview_every=1,
        content_layers=["relu1_1"], style_layers=["relu1_1"],
    )  # fmt: skip
    pg.run_button.click()
    assert pg.running and pg.run_button.disabled and not pg.stop_button.disabled
    assert wait_until(lambda: pg.progress.value >= 3)
    pg.stop_button.click()  # from this (the "kernel") thread while the worker runs
    assert pg.wait(60)
    result = pg.result
    assert result.status == "stopped" and len(result.history) < 500
    totals = [h["total"] for h in result.history]
    assert result.history[result.best_iteration - 1]["total"] == min(totals)
    assert pg.image_widget.value == png_bytes(result.image)
    assert "stopped at" in pg.title.value and "best image" in pg.title.value
    assert not pg.run_button.disabled


def test_widget_updates_from_a_thread_reach_the_widget(net, images):
    """The preview is set from the worker thread; the value must land on the widget."""
    pg = Playground(
        net, images, steps=4, preview_every=1, content_layers=["relu1_1"], style_layers=[]
    )
    seen = []
    pg.image_widget.observe(lambda c: seen.append(threading.current_thread().name), "value")
    pg.run(block=True)
    assert seen and all(name == "nst-widget-worker" for name in seen)


# --------------------------------------------------------------------------- β/α explorer


def test_ratio_explorer_caches_results(net, images, pipeline_runs):
    ex = RatioExplorer(
        net, images, content="ramp", style="noise", ratios=[1.0, 10.0, 100.0], ratio=1.0,
        steps=3, content_layers=["relu2_1"], style_layers=["relu1_1"],
    )  # fmt: skip
    assert pipeline_runs.calls == 0 and "not computed" in ex.title.value  # nothing at build
    ex.compute_button.click()
    assert ex.wait(120)
    assert pipeline_runs.calls == 1 and 1.0 in ex.results
    first = ex.image_widget.value
    assert first == png_bytes(ex.results[1.0]) and "β/α = <b>1</b>" in ex.title.value

    ex.ratio.value = 10.0  # new: computed on demand
    assert ex.wait(120)
    assert pipeline_runs.calls == 2 and ex.image_widget.value != first
    assert ex.image_widget.value == png_bytes(ex.results[10.0])
    assert ex.progress.value == 3 and "cached: 1, 10" in ex.status.value

    ex.ratio.value = 1.0  # cached: shown at once, no new run
    assert ex.image_widget.value == first and pipeline_runs.calls == 2 and not ex.running
    ex.ratio.value = 10.0
    assert ex.image_widget.value == png_bytes(ex.results[10.0]) and pipeline_runs.calls == 2


def test_ratio_explorer_result_is_the_pipelines(net, images):
    ex = RatioExplorer(
        net, images, content="ramp", style="noise", ratios=[30.0], steps=3, init="noise",
        content_layers=["relu2_1"], style_layers=["relu1_1", "relu2_1"], seed=5,
    )  # fmt: skip
    ex.compute_button.click()
    assert ex.wait(120)
    settings = pipeline.Settings(
        steps=3, style_weight=30.0, init="noise", content_layers=("relu2_1",),
        style_layers=("relu1_1", "relu2_1"), seed=5,
    )  # fmt: skip
    direct = pipeline.run(net, images["ramp"], images["noise"], settings, progress=False)
    assert torch.allclose(ex.results[30.0], direct.image, atol=1e-5)


def test_ratio_explorer_compute_all_and_precomputed(net, images, pipeline_runs):
    seeded = torch.rand(1, 3, 32, 40)
    ex = RatioExplorer(
        net, images, ratios=[1.0, 100.0], ratio=1.0, steps=2, precomputed={1.0: seeded},
        content_layers=["relu1_1"], style_layers=["relu1_1"],
    )  # fmt: skip
    assert ex.image_widget.value == png_bytes(seeded)
    ex.compute_all.click()
    assert ex.wait(120)
    assert pipeline_runs.calls == 1 and set(ex.results) == {1.0, 100.0}


def test_ratio_explorer_stop_does_not_cache(net, images, pipeline_runs):
    pipeline_runs.slow = 0.05
    ex = RatioExplorer(
        net, images, ratios=[1.0, 10.0], ratio=1.0, steps=400, content_layers=["relu1_1"],
        style_layers=["relu1_1"],
    )  # fmt: skip
    ex.compute_button.click()
    assert wait_until(lambda: ex.progress.value >= 2)
    ex.stop_button.click()
    assert ex.wait(60)
    assert ex.results == {} and pipeline_runs.calls == 1
    assert ex.computing is None and "not computed" in ex.title.value
