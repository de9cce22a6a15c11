"""AdaIN and WCT as feature operations, their controls, and inversion by the pipeline."""

from __future__ import annotations

import pytest
import torch

from nst_utils.beyond import color
from nst_utils.errors import NSTError
from nst_utils.networks import arbitrary
from nst_utils.networks.arbitrary import (
    adain,
    channel_stats,
    in_regions,
    mix_styles,
    trade_off,
    wct,
)
from nst_utils.paper.losses import gram_matrix
from nst_utils.paper.pipeline import Settings, run


def features(seed: int, n: int = 8, h: int = 12, w: int = 10) -> torch.Tensor:
    """Positive features with channels of their own scale, offset and correlations, every
    channel active somewhere (a channel the content never excites: see the dead-channel test)."""
    g = torch.Generator().manual_seed(seed)
    mixing = torch.randn(n, n, generator=g)
    raw = torch.einsum("ij,bjhw->bihw", mixing, torch.randn(1, n, h, w, generator=g))
    scale = torch.rand(n, generator=g).view(1, n, 1, 1) * 3 + 0.5
    return (raw * scale + torch.randn(n, generator=g).view(1, n, 1, 1) * 2).abs() + 0.1


def per_position_gram(f: torch.Tensor) -> torch.Tensor:
    return gram_matrix(f)[0] / (f.shape[-2] * f.shape[-1])


def correlation(f: torch.Tensor) -> torch.Tensor:
    return torch.corrcoef(f.flatten(2)[0])


def test_adain_gives_exactly_the_style_channel_mean_and_std():
    content, style = features(0), features(1, h=7, w=9)  # the style at another size
    out = adain(content, style)
    (mo, so), (ms, ss) = channel_stats(out), channel_stats(style)
    assert torch.allclose(mo, ms, rtol=1e-5, atol=1e-5)
    assert torch.allclose(so, ss, rtol=1e-4)
    assert arbitrary.statistics_error(out, style)["std"] < 1e-4
    assert arbitrary.statistics_error(content, style)["std"] > 0.1  # the content had others


def test_adain_leaves_a_channel_the_content_never_excites_flat_at_the_style_mean():
    content, style = features(0), features(1)
    content[:, 2] = 0.0
    out = adain(content, style)
    assert torch.allclose(out[:, 2], channel_stats(style)[0][:, 2].expand_as(out[:, 2]))
    assert channel_stats(out)[1][0, 2] == 0


def test_adain_matches_the_gram_diagonal_and_keeps_the_content_correlations():
    content, style = features(0), features(1)
    out = adain(content, style)
    gram_out, gram_style = per_position_gram(out), per_position_gram(style)
    # the diagonal of G/M is sigma^2 + mu^2: exactly the style's
    assert torch.allclose(gram_out.diagonal(), gram_style.diagonal(), rtol=1e-4)
    # the off-diagonal is not: which channels fire together is still the content's
    off = ~torch.eye(8, dtype=torch.bool)
    assert (gram_out - gram_style)[off].abs().max() > 0.05 * gram_style[off].abs().max()
    assert torch.allclose(correlation(out), correlation(content), atol=1e-4)


def test_wct_gives_the_whole_style_gram_matrix():
    content, style = features(0), features(1, h=9, w=11)
    out = wct(content, style)
    assert torch.allclose(per_position_gram(out), per_position_gram(style), rtol=1e-4, atol=1e-4)
    assert torch.allclose(correlation(out), correlation(style), atol=1e-4)
    # … which AdaIN, the same content and style, does not
    assert not torch.allclose(per_position_gram(adain(content, style)), per_position_gram(style),
                              rtol=1e-2, atol=1e-2)  # fmt: skip


def test_wct_on_pixels_is_colour_histogram_matching():
    g = torch.Generator().manual_seed(3)
    painting, photo = torch.rand(1, 3, 20, 16, generator=g), torch.rand(1, 3, 14, 18, generator=g)
    photo = photo * torch.tensor([1.0, 0.6, 0.3]).view(1, 3, 1, 1)
    matched = color.match_histogram(painting, photo, method="eigen", clamp=False)
    assert torch.allclose(wct(painting, photo), matched, atol=1e-4)


def test_wct_drops_directions_the_content_lacks_instead_of_blowing_up():
    content = features(0)
    content[:, 3] = 0.0  # a channel the content never excites
    out = wct(content, features(1))
    assert torch.isfinite(out).all()
    assert out.abs().max() < 10 * features(1).abs().max()


def test_trade_off_and_style_mixing():
    content, a, b = features(0), features(1), features(2)
    t = adain(content, a)
    assert torch.equal(trade_off(content, t, 0.0), content)
    assert torch.equal(trade_off(content, t, 1.0), t)
    assert torch.allclose(trade_off(content, t, 0.25), 0.25 * t + 0.75 * content)
    mixed = mix_styles(adain, content, [a, b], [3, 1])
    assert torch.allclose(mixed, 0.75 * adain(content, a) + 0.25 * adain(content, b))
    assert torch.allclose(mix_styles(wct, content, [a]), wct(content, a))
    with pytest.raises(NSTError, match="from 0 to 1"):
        trade_off(content, t, 1.5)
    with pytest.raises(NSTError, match="> 0"):
        mix_styles(adain, content, [a, b], [1, 0])


def test_regions_get_their_own_style_and_statistics():
    content, a, b = features(0, h=12, w=12), features(1), features(2)
    top = torch.zeros(1, 1, 48, 48)
    top[..., :24, :] = 1  # the upper half at 4x the features' size
    left = torch.zeros(1, 1, 48, 48)
    left[..., 24:, :12] = 1  # a quarter of the lower half
    out = in_regions(adain, content, [a, b], [top, left])
    upper, lower_left = out[..., :6, :], out[..., 6:, :3]
    assert torch.allclose(channel_stats(upper)[0], channel_stats(a)[0], rtol=1e-4, atol=1e-4)
    assert torch.allclose(channel_stats(upper)[1], channel_stats(a)[1], rtol=1e-3)
    assert torch.allclose(channel_stats(lower_left)[1], channel_stats(b)[1], rtol=1e-3)
    assert torch.equal(out[..., 6:, 3:], content[..., 6:, 3:])  # uncovered: the content's
    with pytest.raises(NSTError, match="one mask per style"):
        in_regions(adain, content, [a, b], [top])


def test_unknown_method_is_one_clear_line():
    with pytest.raises(NSTError, match="choose adain, wct"):
        arbitrary.operation("gram")


def test_transform_targets_have_the_content_shape_and_the_style_statistics(random_vgg16):
    g = torch.Generator().manual_seed(0)
    photo, painting = torch.rand(1, 3, 40, 48, generator=g), torch.rand(1, 3, 56, 40, generator=g)
    painting = painting * 0.5 + 0.5
    layers = ("relu1_1", "relu2_1")
    targets = arbitrary.transform(random_vgg16, photo, [painting], layers, "adain")
    own, style = random_vgg16(photo, layers), random_vgg16(painting, layers)
    for name in layers:
        assert targets[name].shape == own[name].shape
        assert arbitrary.statistics_error(targets[name], style[name])["mean"] < 1e-4
    half = arbitrary.transform(random_vgg16, photo, [painting], layers, "adain", alpha=0.5)
    assert torch.allclose(half["relu1_1"], 0.5 * (targets["relu1_1"] + own["relu1_1"]), atol=1e-5)


def test_inverting_the_photo_own_features_is_content_reconstruction(random_vgg16):
    g = torch.Generator().manual_seed(1)
    photo = torch.rand(1, 3, 40, 40, generator=g)
    settings = Settings(init="noise", steps=4, content_layers=("relu2_1",))
    plain = run(random_vgg16, photo, None, settings, progress=False)
    own = random_vgg16(photo, ["relu2_1"])
    given = run(random_vgg16, photo, None, settings, progress=False,
                extensions=[arbitrary.FeatureTargets(own)])  # fmt: skip
    assert torch.allclose(plain.image, given.image, atol=1e-5)  # layouts differ in rounding


def test_inversion_moves_the_picture_towards_the_style_statistics(random_vgg16):
    g = torch.Generator().manual_seed(2)
    photo = torch.rand(1, 3, 40, 40, generator=g) * 0.4  # dark
    painting = torch.rand(1, 3, 40, 40, generator=g) * 0.4 + 0.6  # bright
    targets = arbitrary.transform(random_vgg16, photo, [painting], ["relu1_1"], "wct")
    result = arbitrary.invert(random_vgg16, photo, targets, Settings(steps=10), progress=False)
    assert result.history[-1]["content"] < 0.1 * result.history[0]["content"]
    before = arbitrary.statistics_error(photo, painting)["mean"]
    after = arbitrary.statistics_error(result.image, painting)["mean"]
    assert after < 0.5 * before


def test_content_features_of_the_wrong_shape_are_refused(random_vgg16):
    photo = torch.rand(1, 3, 40, 40)
    wrong = random_vgg16(torch.rand(1, 3, 48, 40), ["relu1_1"])
    given = [arbitrary.FeatureTargets(wrong)]
    with pytest.raises(NSTError, match="relu1_1 have shape"):
        run(random_vgg16, photo, None, Settings(steps=1), extensions=given, progress=False)
    with pytest.raises(NSTError, match="need a content image"):
        run(random_vgg16, None, photo, Settings(steps=1), extensions=given, progress=False)
