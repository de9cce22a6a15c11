"""Notebook 06's extensions: colour, masks, blends, coarse-to-fine, the flags (the rescaled VGG:
test_rescale.py).

Runs on the real ImageNet VGG-16 at tiny sizes (a few seconds each on a 2-core CPU).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nst_utils.assets.images import load_image
from nst_utils.beyond import color
from nst_utils.beyond.spatial import MaskedStyleTarget, horizon_masks
from nst_utils.beyond.styles import StyleSpec, attach_masks, blend_shares, parse_style_spec, plan
from nst_utils.cli import main
from nst_utils.errors import NSTError
from nst_utils.paper.objective import Objective, StyleTarget
from nst_utils.paper.pipeline import Settings, stylize

FAST = ["--steps", "3", "--arch", "vgg16", "--quiet"]


@pytest.fixture(scope="module")
def pair(shared_images) -> tuple[torch.Tensor, torch.Tensor]:
    """The Tübingen photo and The Starry Night, longest side 64."""
    return (
        load_image(shared_images / "tubingen.jpg", 64),
        load_image(shared_images / "starry_night.jpg", 64),
    )


def correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    return torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1].item()


# --------------------------------------------------------------------------- colour


def test_yiq_round_trip_and_luminance():
    x = torch.rand(1, 3, 8, 9, generator=torch.Generator().manual_seed(0))
    for space in ("yiq", "yuv"):
        assert torch.allclose(color.yiq_to_rgb(color.rgb_to_yiq(x, space), space), x, atol=1e-5)
    grey = torch.full((1, 3, 4, 4), 0.3)
    assert torch.allclose(color.rgb_to_yiq(grey)[:, 1:], torch.zeros(1, 2, 4, 4), atol=1e-6)
    assert torch.allclose(color.luminance(grey), torch.full((1, 1, 4, 4), 0.3), atol=1e-6)


def test_luminance_only_transfer_keeps_the_content_chroma(vgg16, pair):
    content, style = pair
    result = stylize(vgg16, content, style, Settings(steps=15), progress=False,
                     extensions=[color.PreserveColour("luminance")])  # fmt: skip
    assert result.image.shape == content.shape
    out, ref = color.rgb_to_yiq(result.image), color.rgb_to_yiq(content)
    assert correlation(out[:, 1], ref[:, 1]) >= 0.95  # I
    assert correlation(out[:, 2], ref[:, 2]) >= 0.95  # Q
    # ... while the luminance was restyled
    assert (out[:, 0] - ref[:, 0]).abs().mean() > 0.01
    assert result.history[-1]["style"] < result.history[0]["style"]


@pytest.mark.parametrize("method", ["cholesky", "eigen"])
def test_histogram_matching_reproduces_mean_and_covariance(pair, method):
    content, style = pair
    matched = color.match_histogram(style, content, method, clamp=False)
    mean, cov = color.colour_stats(matched)
    target_mean, target_cov = color.colour_stats(content)
    assert torch.allclose(mean, target_mean, atol=1e-5)
    assert torch.allclose(cov, target_cov, atol=1e-5)
    # clamped to [0, 1] (the default), the statistics move only slightly
    clamped_mean, clamped_cov = color.colour_stats(color.match_histogram(style, content, method))
    assert torch.allclose(clamped_mean, target_mean, atol=0.01)
    assert torch.allclose(clamped_cov, target_cov, atol=0.005)


# --------------------------------------------------------------------------- masks


def test_masked_style_sends_no_gradient_outside_its_region(vgg16, pair):
    content, style = pair
    h, w = content.shape[-2:]
    mask = torch.zeros(1, 1, h, w)
    mask[..., 10:30, 20:40] = 1
    target = MaskedStyleTarget(vgg16, style, mask, layers=("relu1_1",))
    x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    Objective(vgg16, None, [(target, 1.0)])(x).total.backward()
    grad = x.grad.abs().sum(dim=1)[0]
    # relu1_1 sees 3x3 pixels: the gradient reaches at most 1 px beyond the region
    near = torch.nn.functional.max_pool2d(mask, 5, stride=1, padding=2)[0, 0] > 0
    assert grad[~near].abs().max() == 0
    assert (grad[mask[0, 0] > 0] > 0).float().mean() > 0.9


def test_full_mask_is_the_papers_style_loss(vgg16, pair):
    content, style = pair
    style = torch.nn.functional.interpolate(style, size=content.shape[-2:], mode="bilinear")
    features = vgg16(content, ("relu1_1", "relu3_1"))
    ones = torch.ones(1, 1, *content.shape[-2:])
    masked = MaskedStyleTarget(vgg16, style, ones, layers=("relu1_1", "relu3_1"))
    plain = StyleTarget(vgg16, style, ("relu1_1", "relu3_1"))
    assert torch.allclose(masked.loss(features), plain.loss(features), rtol=1e-4)


def test_two_regions_two_styles_run(vgg16, pair):
    content, style = pair
    sky, ground = horizon_masks(*content.shape[-2:], horizon=0.4)
    flipped = style.flip(-1)
    pairs, regions = plan([StyleSpec(style, mask=sky), StyleSpec(flipped, mask=ground)])
    result = stylize(vgg16, content, pairs, Settings(steps=3), progress=False, extensions=regions)
    assert result.image.shape == content.shape
    assert torch.allclose(sky + ground, torch.ones_like(sky))


# --------------------------------------------------------------------------- blends


def test_blend_weights_are_parsed_and_turned_into_shares():
    specs = [parse_style_spec("starry_night:0.7"), parse_style_spec("the_scream:0.7")]
    assert [s.source for s in specs] == ["starry_night", "the_scream"]
    assert [s.weight for s in blend_shares(specs)] == [0.5, 0.5]
    assert parse_style_spec("shipwreck").weight == 1.0
    # with masks, the styles sharing a region divide that region's share among themselves
    masked = attach_masks(
        [StyleSpec("a", 3), StyleSpec("b", 1), StyleSpec("c", 2)], ["sky.png", "sky.png", "g.png"]
    )
    assert [s.weight for s in blend_shares(masked)] == [0.75, 0.25, 1.0]


@pytest.mark.parametrize("spec", ["starry_night:-1", "x:abc", "", "the_scream:0", ":0.5"])
def test_bad_style_spec_is_a_one_line_error_naming_it(spec):
    with pytest.raises(NSTError) as info:
        parse_style_spec(spec)
    message = str(info.value)
    assert "\n" not in message and repr(spec) in message


def test_mask_count_must_match_styles():
    with pytest.raises(NSTError, match="one --style-mask per style"):
        attach_masks([StyleSpec("a"), StyleSpec("b")], ["sky.png"])


# --------------------------------------------------------------------------- coarse-to-fine


# --------------------------------------------------------------------------- the command


@pytest.fixture
def pictures(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:60, 0:80]
    photo = np.stack([x * 3, y * 4, (x + y) * 2], axis=-1).astype(np.uint8)
    top = np.zeros((60, 80), np.uint8)
    top[:25] = 255
    files = {
        "content": tmp_path / "photo.png",
        "style": tmp_path / "painting.png",
        "sky": tmp_path / "sky.png",
        "ground": tmp_path / "ground.png",
    }
    Image.fromarray(photo).save(files["content"])
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(files["style"])
    Image.fromarray(top).save(files["sky"])
    Image.fromarray(255 - top).save(files["ground"])
    return files


@pytest.mark.parametrize(
    "extra",
    [
        ["--preserve-color", "luminance"],
        ["--preserve-color", "histogram", "--style-scale", "0.75"],
        ["--style", "{style}:0.3", "--scales", "32,48"],
        ["--style", "{style}", "--style-mask", "{sky}", "--style-mask", "{ground}"],
        ["--rescaled-vgg"],
    ],
    ids=["luminance", "histogram+style-scale", "blend+scales", "masks", "rescaled-vgg"],
)
def test_stylize_flags_run(vgg16, pictures, tmp_path, extra, capsys):
    out, log = tmp_path / "out.png", tmp_path / "run.json"
    extra = [e.format(**{k: str(v) for k, v in pictures.items()}) for e in extra]
    args = ["stylize", pictures["content"], f"{pictures['style']}:0.7", "-o", out, "--log", log]
    size = [] if "--scales" in extra else ["--size", "48"]  # --scales ends at the output's size
    code = main([str(a) for a in [*args, *size, *FAST, *extra]])
    assert code == 0, capsys.readouterr().err
    assert Image.open(out).size == (48, 36)
    assert json.loads(log.read_text())["history"]


@pytest.mark.parametrize("spec", ["starry_night:-1", "x:abc", ""])
def test_stylize_bad_style_spec_is_one_line(pictures, tmp_path, spec, capsys):
    out = tmp_path / "never.png"
    args = ["stylize", pictures["content"], pictures["style"], "--style", spec, "-o", out]
    code = main([str(a) for a in [*args, "--size", "48", *FAST]])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and repr(spec) in err[0]
    assert not out.exists()


def test_stylize_mask_count_mismatch(pictures, tmp_path, capsys):
    args = ["stylize", pictures["content"], pictures["style"], "--style", pictures["style"]]
    args += ["--style-mask", pictures["sky"], "-o", tmp_path / "x.png", "--size", "48", *FAST]
    assert main([str(a) for a in args]) == 1
    assert "--style-mask" in capsys.readouterr().err
