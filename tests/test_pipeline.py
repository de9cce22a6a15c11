"""The paper's experiments on the real ImageNet VGG-16 and real pictures, at tiny sizes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from nst_utils.assets.images import load_image
from nst_utils.beyond.color import PreserveColour
from nst_utils.beyond.spatial import MaskedStyleTarget
from nst_utils.beyond.styles import StyleSpec, plan
from nst_utils.engine import speed
from nst_utils.errors import NSTError
from nst_utils.paper.objective import StyleTarget, build_objective
from nst_utils.paper.optimize import initial_image, optimize
from nst_utils.paper.pipeline import (
    Extension,
    Settings,
    objective_at,
    picture,
    reconstruct_content,
    run,
    stylize,
    synthesize_texture,
)


def test_stylize_lowers_style_loss_tenfold_with_bounded_content(vgg16, shared_images):
    content = load_image(shared_images / "tubingen.jpg", 96)
    style = load_image(shared_images / "starry_night.jpg", 96)
    result = stylize(vgg16, content, style, Settings(steps=40), progress=False)
    first, last = result.history[0], result.history[-1]
    assert first["content"] < 1e-9  # starts from the content image (0 up to rounding)
    assert last["style"] < first["style"] / 8  # measured: 9.7x in 40 line-searched steps
    # Content is traded for style but stays bounded: the result keeps more of the photo's
    # relu4_2 responses than the painting itself does (measured: 8.5 against 11.3).
    objective = build_objective(vgg16, content, style)
    with torch.no_grad():
        painting_only = objective(initial_image("style", content, style)).content
    assert 0 < last["content"] < 0.9 * float(painting_only)
    assert result.image.shape == content.shape


def test_content_reconstruction_from_a_low_layer_is_nearly_exact(vgg16, shared_images):
    image = load_image(shared_images / "tubingen.jpg", 64)
    result = reconstruct_content(
        vgg16, image, "relu1_2", Settings(init="noise", steps=60), progress=False
    )
    assert result.history[-1]["total"] < result.history[0]["total"] / 100
    # white noise starts about 0.3 away from the photo on average
    assert (result.image - image).abs().mean() < 0.1


def test_texture_synthesis_matches_gram_matrices(vgg16, shared_images):
    style = load_image(shared_images / "starry_night.jpg", 64)
    layers = ("relu1_1", "relu2_1")
    result = synthesize_texture(
        vgg16, style, layers, Settings(init="noise", steps=40), progress=False
    )
    assert result.history[-1]["total"] < result.history[0]["total"] / 20
    # a texture, not a copy: pixels differ from the style image everywhere on average
    assert (result.image - style).abs().mean() > 0.1
    assert torch.isfinite(result.image).all()


def _relu5_1_objectives(net, scale: float):
    image = load_image(Path(__file__).resolve().parents[1] / "data" / "chelsea.jpg", 64)
    content = build_objective(net, image, None, content_layers=("relu5_1",))
    texture = build_objective(net, None, image, style_layers=("relu5_1",), style_weight=scale)
    content.content_weight = scale
    return image, content, texture


@pytest.fixture(scope="module")
def vgg16_avg():
    """VGG-16 with the paper's average pooling, the default of the reconstructions."""
    from nst_utils.paper.vgg import load_vgg

    return load_vgg("vgg16", pooling="avg", device="cpu", verbose=False)


def test_relu5_1_alone_optimises_at_any_loss_scale(vgg16_avg):
    """The deepest layer's losses are tiny (1e-3); the engine must not depend on that."""
    finals = {}
    for scale in (1.0, 1e4):
        image, content, texture = _relu5_1_objectives(vgg16_avg, scale)
        init = initial_image("noise", image, seed=0)
        for name, objective in (("content", content), ("texture", texture)):
            history = optimize(objective, init, steps=40, progress=False).history
            # relu5_1 has 2x4 positions at 64 px; measured: content 10.7x, texture 7.2x
            # (before the line search had its evaluations: frozen at 1.00x at scale 1)
            wanted = 8 if name == "content" else 4
            assert history[-1]["total"] < history[0]["total"] / wanted, (name, scale)
            finals[name, scale] = history[-1]["total"] / scale
    for name in ("content", "texture"):  # the same run up to rounding, which the line search's
        # branches amplify a little over 40 iterations (measured: 4%)
        assert finals[name, 1e4] == pytest.approx(finals[name, 1.0], rel=0.1)


@pytest.mark.parametrize("kind", ["content", "texture"])
def test_relu5_1_alone_cuts_its_loss_eightfold(vgg16_avg, kind):
    """Fig. 1 at depth: a reconstruction from relu5_1 and a texture from relu5_1 alone, on a
    bundled photo, both from white noise, each lose most of their loss within 60 iterations
    (issue 13: the engine once left such a texture at its starting noise). Measured at 64 px
    (2x4 positions): content 15.9x, texture 10.0x, both reached by iteration 60."""
    image = load_image(Path(__file__).resolve().parents[1] / "data" / "chelsea.jpg", 64)
    if kind == "content":
        objective = build_objective(vgg16_avg, image, None, content_layers=("relu5_1",))
    else:
        objective = build_objective(vgg16_avg, None, image, style_layers=("relu5_1",))
    init = initial_image("noise", image, seed=0)
    history = optimize(objective, init, steps=60, progress=False).history
    drop = history[0]["total"] / min(h["total"] for h in history)
    assert drop >= 8, f"relu5_1 {kind}: loss only {drop:.1f}x lower after 60 iterations"


# --------------------------------------------------------------------------- one pipeline


@pytest.fixture(scope="module")
def pair(shared_images) -> tuple[torch.Tensor, torch.Tensor]:
    """The Tübingen photo and The Starry Night, longest side 64."""
    return (
        load_image(shared_images / "tubingen.jpg", 64),
        load_image(shared_images / "starry_night.jpg", 64),
    )


#: A change to every field of Settings, from BASE, and what it must change.
BASE = Settings(size=48, steps=3, init="noise", seed=0)
CHANGES = {
    "size": 40,
    "coarse_sizes": (32,),
    "steps": 4,
    "content_weight": 5.0,
    "style_weight": 1.0,
    "tv_weight": 10.0,
    "content_layers": ("relu2_2",),
    "style_layers": ("relu1_1",),
    "style_layer_weights": (0.6, 0.1, 0.1, 0.1, 0.1),
    "content_reduction": "paper",
    "style_scale": 0.75,
    "init": "content",
    "optimizer": "adam",
    "lr": 0.5,
    "precision": "bf16",
    "seed": 1,
}
#: Settings that change how fast a run goes, not what it computes: each has its own test.
SPEED_FIELDS = {"fast"}


def test_every_settings_field_changes_the_run(random_vgg16, pair):
    """A setting that nothing reads is a bug: changing any one field changes the image or the
    history (the log), starting from the same inputs."""
    assert set(CHANGES) | SPEED_FIELDS == {f.name for f in dataclasses.fields(Settings)}
    content, style = pair

    def outcome(settings):
        result = run(random_vgg16, content, style, settings, progress=False)
        history = [{k: v for k, v in row.items() if k != "seconds"} for row in result.history]
        return result.image, history

    base_image, base_history = outcome(BASE)
    for name, value in CHANGES.items():
        image, history = outcome(dataclasses.replace(BASE, **{name: value}))
        same_image = image.shape == base_image.shape and torch.equal(image, base_image)
        assert not (same_image and history == base_history), f"Settings.{name} changed nothing"


def test_run_starts_from_init_and_needs_something_to_match(random_vgg16, pair):
    content, style = pair
    start = torch.full_like(content, 0.5)
    one = run(random_vgg16, content, style, Settings(steps=1), init=start, progress=False)
    with torch.no_grad():
        objective = objective_at(random_vgg16, content, style, 64)
        assert one.history[0]["total"] == pytest.approx(objective(start).total.item(), rel=1e-4)
    with pytest.raises(NSTError, match="nothing to match"):
        run(random_vgg16, None, None)
    with pytest.raises(NSTError, match="content image"):
        run(random_vgg16, None, style, extensions=[PreserveColour("luminance")])


def test_files_names_and_tensors_are_the_same_input(random_vgg16, shared_images):
    settings = Settings(size=48, steps=2)
    by_file = stylize(random_vgg16, shared_images / "tubingen.jpg", "starry_night", settings,
                      progress=False)  # fmt: skip
    tensors = [load_image(shared_images / f, 48) for f in ("tubingen.jpg", "starry_night.jpg")]
    by_tensor = stylize(random_vgg16, *tensors, settings, progress=False)
    for a, b in zip(by_file.history, by_tensor.history, strict=True):
        assert a["total"] == pytest.approx(b["total"], rel=1e-5)
    torch.testing.assert_close(by_file.image, by_tensor.image)


def test_style_scale_keeps_the_plain_style_target(random_vgg16, pair):
    """A painting at another size is eq. 4 per position (StyleTarget), not a masked target."""
    content, style = pair
    objective = objective_at(random_vgg16, content, style, 64, Settings(style_scale=0.5))
    (target, _), = objective.styles
    assert type(target) is StyleTarget
    assert target.grams["relu1_1"].shape == (1, 64, 64)
    sky = torch.ones(1, 1, 64, 64)
    pairs, regions = plan(StyleSpec(style, mask=sky))
    masked = objective_at(random_vgg16, content, pairs, 64, Settings(style_scale=0.5),
                          extensions=regions)  # fmt: skip
    assert isinstance(masked.styles[0][0], MaskedStyleTarget)


def test_coarse_to_fine_returns_exactly_the_final_size(vgg16, pair):
    content, style = pair
    odd = torch.nn.functional.interpolate(content, size=(45, 71), mode="bilinear")
    settings = Settings(size=61, coarse_sizes=(32,), steps=2)
    result = stylize(vgg16, odd, style, settings, progress=False)
    assert result.image.shape[-2:] == (39, 61)  # 45:71 at longest side 61
    assert [s.image.shape[-1] for s in result.stages] == [32, 61]
    assert [h["size"] for h in result.history] == [32, 32, 61, 61]


def test_coarse_to_fine_is_no_worse_at_equal_work(vgg16, pair):
    """Final-size loss, at equal work counted in final-size iterations.

    Coarse-to-fine is a loop over the same run: here written out as two calls, the second
    starting from the first's result. Wall time is not used: other jobs share the CPU. One
    iteration at half the size costs about a quarter of one at full size, so ``N`` coarse +
    ``3N/4`` fine iterations cost about as much as ``N`` at full size. Measured here (64 px,
    Tübingen / Starry Night): the coarse-to-fine loss is 10–20 % *lower*; the 5 % margin only
    absorbs platform noise.
    """
    content, style = pair
    n = 40
    single = stylize(vgg16, content, style, Settings(steps=n), progress=False)
    coarse = stylize(vgg16, content, style, Settings(size=32, steps=n), progress=False)
    fine = run(vgg16, content, style, Settings(steps=n - n // 4), init=coarse.image,
               progress=False)  # fmt: skip
    objective = objective_at(vgg16, content, style, 64)
    with torch.no_grad():
        single_loss, multi_loss = objective(single.image).total, objective(fine.image).total
    assert multi_loss <= 1.05 * single_loss


class _Probe(Extension):
    """An extension that records what it saw, swaps the content target for a shifted one and
    adds a term: the one mechanism the later chapters use."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.finished = False

    def see(self, stage) -> None:
        self.sizes.append(stage.size)
        stage.view = lambda picture: picture.flip(-1)
        stage.content = stage.view(stage.photo)

    def aim(self, stage) -> None:
        stage.extra_terms["brightness"] = (10.0, lambda x: (x.mean() - 1.0) ** 2)

    def finish(self, image, photo):
        self.finished = photo is not None and photo.shape == image.shape
        return image


def test_extensions_change_pictures_add_terms_and_finish(random_vgg16, pair):
    content, style = pair
    probe = _Probe()
    settings = Settings(size=48, coarse_sizes=(32,), steps=2)
    result = run(random_vgg16, content, style, settings, extensions=[probe], progress=False)
    assert probe.sizes == [32, 48] and probe.finished
    assert all("brightness" in row for row in result.history)
    probed = objective_at(random_vgg16, content, style, 48, extensions=[_Probe()])
    photo = picture(content, 48, torch.device("cpu"))
    with torch.no_grad():
        expected = random_vgg16(photo.flip(-1), ["relu4_2"])["relu4_2"]
        terms = probed(photo)
    torch.testing.assert_close(probed.content.targets["relu4_2"], expected)
    weighted = terms.content + probed.style_weight * terms.style + 10 * terms.extra["brightness"]
    assert float(terms.total) == pytest.approx(float(weighted), rel=1e-5)


def test_fast_is_one_switch_with_the_same_numbers(random_vgg16, pair, monkeypatch):
    """``Settings.fast`` sends every evaluation through the engine's speed path and nothing
    else; off (the default) the objective computes the formulas as written. Both give the same
    losses."""
    content, style = pair
    calls = []
    real = speed.evaluate
    monkeypatch.setattr(speed, "evaluate", lambda *a: calls.append(1) or real(*a))
    settings = Settings(size=48, steps=3)
    written = run(random_vgg16, content, style, settings, progress=False)
    assert calls == []
    fast = run(random_vgg16, content, style, settings.updated(fast=True), progress=False)
    assert len(calls) >= 3
    for a, b in zip(written.history, fast.history, strict=True):
        assert a["total"] == pytest.approx(b["total"], rel=1e-4)
