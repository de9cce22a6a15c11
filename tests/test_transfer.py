"""The paper's experiments on the real ImageNet VGG-16 and real pictures, at tiny sizes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nst_utils.images import load_image
from nst_utils.objective import build_objective
from nst_utils.optimize import initial_image, optimize
from nst_utils.transfer import Settings, reconstruct_content, stylize, synthesize_texture


def test_stylize_lowers_style_loss_tenfold_with_bounded_content(vgg16, shared_images):
    content = load_image(shared_images / "tubingen.jpg", 96)
    style = load_image(shared_images / "starry_night.jpg", 96)
    result = stylize(vgg16, content, style, Settings(steps=40), progress=False)
    first, last = result.history[0], result.history[-1]
    assert first["content"] == 0  # starts from the content image
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
    from nst_utils.vgg import load_vgg

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
