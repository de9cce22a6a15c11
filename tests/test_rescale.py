"""The paper's rescaled VGG: mean activation 1 per channel, the same features up to scale."""

from __future__ import annotations

import pytest
import torch

from nst_utils.assets.examples import bundled_images
from nst_utils.assets.images import load_image
from nst_utils.beyond import rescale
from nst_utils.beyond.rescale import channel_means, relu_names, rescale_vgg, rescaled_vgg


@pytest.fixture(scope="module")
def pair(shared_images) -> list[torch.Tensor]:
    """The Tübingen photo and The Starry Night, longest side 64."""
    return [
        load_image(shared_images / "tubingen.jpg", 64),
        load_image(shared_images / "starry_night.jpg", 64),
    ]


def test_rescaled_vgg_has_mean_one_and_the_same_features_up_to_scale(vgg16, pair):
    net = rescale_vgg(vgg16, pair)
    assert net.rescaled and not getattr(vgg16, "rescaled", False)
    before, after = channel_means(vgg16, pair), channel_means(net, pair)
    probe = torch.rand(1, 3, 40, 52, generator=torch.Generator().manual_seed(1))
    names = relu_names(vgg16)
    f0, f1 = vgg16(probe, names), net(probe, names)
    for name in names:
        alive = before[name] > 1e-8
        # mean 1, up to float32 rounding of a near-dead channel's mean (~1e-7 in original units)
        rounding = 1e-3 + 1e-6 / before[name][alive]
        assert ((after[name][alive] - 1).abs() <= rounding).all(), name
        scale = torch.where(alive, before[name], torch.ones_like(before[name])).view(1, -1, 1, 1)
        assert torch.allclose(f0[name] / scale, f1[name], rtol=1e-3, atol=1e-4 * f1[name].max())
    # the original network is untouched
    assert torch.allclose(channel_means(vgg16, pair)["relu1_1"], before["relu1_1"])


def test_rescaled_vgg_is_cached_and_read_back(vgg16, pair, tmp_path, monkeypatch):
    from nst_utils import config

    monkeypatch.setattr(config, "cache_dir", lambda: tmp_path)
    first = rescaled_vgg(vgg16, pair)
    files = list((tmp_path / "rescaled-vgg").glob("vgg16-max-*.safetensors"))
    assert len(files) == 1 and not list(tmp_path.rglob("*.tmp"))

    def no_measuring(*args, **kwargs):
        raise AssertionError("the means should come from the cache")

    monkeypatch.setattr(rescale, "channel_means", no_measuring)
    second = rescaled_vgg(vgg16, pair)
    assert torch.equal(first.layers.conv3_1.weight, second.layers.conv3_1.weight)
    assert rescaled_vgg(second) is second  # already rescaled: nothing to do
    with pytest.raises(AssertionError, match="cache"):
        rescaled_vgg(vgg16, pair, cache=False)


def test_reference_images_are_the_bundled_pictures():
    pictures = rescale.reference_images(32)
    references = [bundled_images()[name] for name in rescale.REFERENCE_PICTURES]
    assert len(pictures) == len(references) == 9
    for picture, path in zip(pictures, references, strict=True):
        assert max(picture.shape[-2:]) == 32
        assert torch.equal(picture, load_image(path, 32))
