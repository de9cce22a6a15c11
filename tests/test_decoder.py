"""Decoders of VGG features: architecture, training, files, one-pass painting."""

from __future__ import annotations

import math

import pytest
import torch

from nst_utils.assets.images import load_image
from nst_utils.beyond import color
from nst_utils.errors import NSTError
from nst_utils.networks import decoder
from nst_utils.networks.decoder import Decoder, decode, load_decoder, paint, save_decoder
from nst_utils.paper.vgg import VGGFeatures


@pytest.fixture(scope="module")
def random_vgg19():
    """VGG-19 (max pooling, as decoders use) with seeded random weights: arithmetic only."""
    torch.manual_seed(0)
    return VGGFeatures("vgg19-caffe", "max")


@pytest.mark.parametrize("layer", decoder.LAYERS)
def test_a_decoder_returns_a_picture_the_size_of_the_input(random_vgg19, layer):
    photo = torch.rand(2, 3, 32, 48)
    features = random_vgg19(photo, [layer])[layer]
    picture = Decoder(layer, width=0.25)(features)
    assert picture.shape == photo.shape


def test_decoders_grow_with_depth_and_width():
    sizes = [sum(p.numel() for p in Decoder(k).parameters()) for k in decoder.LAYERS]
    assert sizes == sorted(sizes) and sizes[0] == 64 * 3 * 9 + 3  # relu1_1: one convolution
    assert sum(p.numel() for p in Decoder("relu3_1", width=0.5).parameters()) < sizes[2] / 2
    with pytest.raises(NSTError, match="choose one of relu1_1"):
        Decoder("relu5_1")


def test_the_reconstruction_loss_is_zero_for_a_perfect_decoder(random_vgg19):
    class Identity(torch.nn.Module):  # "decodes" by returning the photo it was given
        def forward(self, features):
            return self.photo

    photo = torch.rand(2, 3, 32, 32)
    perfect = Identity()
    perfect.photo = photo
    loss, parts = decoder.reconstruction_loss(perfect, random_vgg19, "relu2_1", photo)
    assert float(loss) == 0 and parts["pixel"] == 0 and parts["feature"] == 0
    perfect.photo = photo.flip(-1)
    loss, parts = decoder.reconstruction_loss(perfect, random_vgg19, "relu2_1", photo)
    assert parts["pixel"] > 0.01 and parts["feature"] > 0.01
    assert math.isclose(float(loss), parts["pixel"] + parts["feature"], rel_tol=1e-5)


def test_files_keep_weights_architecture_and_record(tmp_path):
    d = Decoder("relu2_1", width=0.25)
    d.whiten_like(torch.rand(2, 128, 8, 8) * 5 + 2)
    d.record = {"steps": 7, "command": "nst train-decoder relu2_1 ..."}
    path = save_decoder(d, tmp_path / "d.safetensors")
    back = load_decoder(path)
    features = torch.rand(1, 128, 8, 8)
    assert torch.equal(back(features), d.eval()(features))
    assert back.record == d.record and back.architecture() == d.architecture()


def test_bad_decoder_files_are_one_clear_line(tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a model")
    with pytest.raises(NSTError, match="not a decoder of this kit"):
        load_decoder(junk)
    with pytest.raises(NSTError, match="nor a shipped decoder"):
        load_decoder("relu9_9")


def count_calls(module: torch.nn.Module) -> list:
    calls = []
    module.register_forward_hook(lambda *_: calls.append(1))
    return calls


def test_wct_decodes_once_per_level_coarse_to_fine_and_adain_once(random_vgg19):
    photo, painting = torch.rand(1, 3, 40, 56), torch.rand(1, 3, 48, 48)
    decoders = [Decoder(k, width=0.25).eval() for k in ("relu1_1", "relu2_1", "relu3_1")]
    calls = [count_calls(d) for d in decoders]
    out = paint(random_vgg19, decoders, photo, [painting], "wct", size=56)
    assert out.shape == photo.shape and out.min() >= 0 and out.max() <= 1
    assert [len(c) for c in calls] == [1, 1, 1]
    paint(random_vgg19, decoders, photo, [painting], "adain", size=56)
    assert [len(c) for c in calls] == [1, 1, 2]  # AdaIN: the deepest decoder only


def test_painting_keeps_the_photo_colours_when_asked(random_vgg19):
    photo = 0.3 + 0.4 * torch.rand(1, 3, 32, 32)  # mid-tones: little is clipped
    painting = torch.rand(1, 3, 32, 32)
    decoders = [Decoder("relu1_1").eval()]
    photo_chroma = color.rgb_to_yiq(photo)[:, 1:]

    def chroma_error(mode):
        out = paint(random_vgg19, decoders, photo, [painting], "adain", size=32,
                    preserve_color=mode)  # fmt: skip
        return float((color.rgb_to_yiq(out)[:, 1:] - photo_chroma).abs().mean())

    kept, plain = chroma_error("luminance"), chroma_error(None)
    assert kept < 0.02 < plain  # the photo's chroma, up to clipping to [0, 1]


def test_a_decoder_for_another_network_is_refused(random_vgg19):
    other = Decoder("relu1_1", arch="vgg16")
    with pytest.raises(NSTError, match="trained for vgg16"):
        paint(random_vgg19, [other], torch.rand(1, 3, 32, 32), [torch.rand(1, 3, 32, 32)])


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1 / (a - b).pow(2).mean()))


#: Lowest PSNR (dB) each shipped decoder must reach on a photo it never saw (BENCHMARKS.md
#: has the measured values).
SHIPPED_PSNR = {"relu1_1": 30.0, "relu2_1": 22.0, "relu3_1": 18.0, "relu4_1": 15.0}


@pytest.mark.parametrize("layer", decoder.shipped_decoders())
def test_shipped_decoders_reconstruct_a_photo_they_never_saw(layer):
    from nst_utils.networks import photos
    from nst_utils.paper.vgg import load_vgg

    d = load_decoder(layer)
    assert "chelsea" in photos.HELD_OUT_PHOTOS
    assert d.record["command"].startswith(f"nst train-decoder {layer}")
    net = load_vgg(d.arch, d.pooling, "cpu", verbose=False)
    photo = load_image("chelsea", 128)
    picture = decode(d, net(photo, [layer])[layer], photo.shape[-2:])
    assert psnr(picture, photo) > SHIPPED_PSNR[layer]


def test_the_whitening_sees_every_training_picture_once(random_vgg19, tmp_path, monkeypatch):
    from PIL import Image

    from nst_utils.networks.training import TrainSettings

    paths = []
    for i, colour in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255), (90, 90, 90), (9, 9, 9)]):
        paths.append(tmp_path / f"{i}.png")
        Image.new("RGB", (24, 24), colour).save(paths[-1])
    seen = []
    original = Decoder.whiten_like
    monkeypatch.setattr(Decoder, "whiten_like", lambda d, f: seen.append(f) or original(d, f))
    settings = TrainSettings(size=16, batch=2, steps=1, seed=0)
    decoder.train_decoder("relu1_1", random_vgg19, settings, paths=paths, progress=False)
    assert seen[-1].shape[0] == 6  # ceil(5 / 2) batches of 2: all five pictures
    means = seen[-1].mean(dim=(2, 3))
    assert len({tuple(m.round(decimals=3).tolist()) for m in means[:5]}) == 5
    monkeypatch.setattr(decoder, "WHITENING_BATCHES", 2)
    decoder.train_decoder("relu1_1", random_vgg19, settings, paths=paths, progress=False)
    assert seen[-1].shape[0] == 4  # capped
