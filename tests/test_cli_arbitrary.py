"""``nst paint --style`` and ``nst train-decoder``: results, records, one-line errors."""

from __future__ import annotations

import torch

from nst_utils.assets.images import load_image, save_image
from nst_utils.cli import main
from nst_utils.networks import decoder


def test_the_parser_names_the_libraries_layers_and_methods():
    from nst_utils.cli import networks, options
    from nst_utils.networks import arbitrary, training

    assert networks.DECODER_LAYERS == decoder.LAYERS
    assert tuple(arbitrary.METHODS) == networks.ANY_STYLE_METHODS
    assert options.LR_SCHEDULES == training.SCHEDULES


def test_paint_with_any_style_writes_the_photo_size(tmp_path, capsys):
    out = tmp_path / "painted.png"
    status = main(["paint", "chelsea", "--style", "swirls", "--method", "adain", "--size", "64",
                   "--decoders", "relu1_1", "-o", str(out)])  # fmt: skip
    assert status == 0, capsys.readouterr().err
    picture = load_image(out)
    assert picture.shape[-2:] == load_image("chelsea", 64).shape[-2:]
    assert (picture - load_image("chelsea", 64)).abs().mean() > 0.02  # painted, not copied
    assert "adain, decoders relu1_1" in capsys.readouterr().out


def test_paint_mixes_styles_and_keeps_colours(tmp_path, capsys):
    plain, kept = tmp_path / "plain.png", tmp_path / "kept.png"
    common = ["paint", "chelsea", "--style", "swirls:3", "--style", "brick:1", "--size", "64",
              "--decoders", "relu1_1", "--quiet"]  # fmt: skip
    assert main([*common, "-o", str(plain)]) == 0
    assert main([*common, "--preserve-color", "luminance", "-o", str(kept)]) == 0
    assert capsys.readouterr().out == ""
    from nst_utils.beyond import color

    photo = color.rgb_to_yiq(load_image("chelsea", 64))[:, 1:]

    def chroma_gap(path):
        return float((color.rgb_to_yiq(load_image(path))[:, 1:] - photo).abs().mean())

    assert chroma_gap(kept) < 0.5 * chroma_gap(plain)


def test_paint_errors_are_one_line_and_write_nothing(tmp_path, capsys):
    out = tmp_path / "x.png"
    assert main(["paint", "chelsea", "--style", "swirls", "--model", "x", "-o", str(out)]) == 2
    assert "either --model" in capsys.readouterr().err
    assert main(["paint", "chelsea", "--style", "no_such_painting", "-o", str(out)]) == 1
    assert "no_such_painting" in capsys.readouterr().err
    assert main(["paint", "chelsea", "--style", "swirls", "--decoders", "relu9_9", "-o",
                 str(out)]) == 1  # fmt: skip
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "relu9_9" in err and "Traceback" not in err
    assert not out.exists()


def test_train_decoder_writes_a_decoder_with_its_command(tmp_path, capsys):
    photos_dir = tmp_path / "photos"
    photos_dir.mkdir()
    for i in range(2):
        save_image(torch.rand(1, 3, 40, 48), photos_dir / f"p{i}.png")
    out = tmp_path / "d.safetensors"
    status = main(["train-decoder", "relu1_1", "-o", str(out), "--images", str(photos_dir),
                   "--size", "32", "--batch", "2", "--steps", "3", "--lr-schedule", "cosine",
                   "--quiet"])  # fmt: skip
    assert status == 0, capsys.readouterr().err
    trained = decoder.load_decoder(out)
    assert trained.record["command"].startswith("nst train-decoder relu1_1 -o d.safetensors")
    assert "--steps 3" in trained.record["command"]
    assert "--lr-schedule cosine" in trained.record["command"]
    assert trained.record["settings"]["schedule"] == "cosine"
    assert trained.record["settings"]["steps"] == 3 and trained.record["photos"] == [
        "p0.png", "p1.png"]  # fmt: skip
    assert main(["train-decoder", "relu1_1", "-o", str(tmp_path / "d.png")]) == 1
    assert ".safetensors" in capsys.readouterr().err
