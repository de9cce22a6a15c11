"""``nst train-style``, ``nst paint`` and ``nst score`` end to end, at tiny sizes."""

from __future__ import annotations

import json
import os

import pytest
import torch
from PIL import Image
from test_cli import assert_one_line_error, run  # the CLI tests' helpers (tests/ is on the path)

from nst_utils.assets import model_files
from nst_utils.assets.images import load_image
from nst_utils.cli import main
from nst_utils.engine.precision import recommended_precision
from nst_utils.networks.painter import StyleNet, load_model, save_model
from nst_utils.networks.training import read_checkpoint
from nst_utils.paper.pipeline import Settings, score

TRAIN = ["--size", "32", "--steps", "2", "--batch", "1", "--arch", "vgg16", "--quiet"]


@pytest.fixture(autouse=True)
def _weights_ready(vgg16):
    """Load (and if needed fetch) the VGG-16 weights once, before any command runs."""


def test_train_paint_and_resume_end_to_end(tmp_path, capsys):
    model = tmp_path / "swirls.safetensors"
    code, _, err = run(["train-style", "swirls", "-o", model, *TRAIN], capsys)
    assert code == 0, err
    net = load_model(model)
    assert net.style_names == ["swirls"]
    record = net.record
    assert record["command"] == "nst train-style swirls -o " + str(model) + " " + " ".join(TRAIN)
    assert record["settings"]["size"] == 32 and record["steps"] == 2
    assert record["vgg"] == {"arch": "vgg16", "pooling": "avg"}
    assert record["loss"]["precision"] == recommended_precision("cpu")  # auto, resolved
    assert "chelsea" not in record["data"] and "coffee" in record["data"]
    assert {"platform", "cpus", "torch"} <= set(record["machine"])
    checkpoint = tmp_path / "swirls.checkpoint.safetensors"
    assert read_checkpoint(checkpoint)[0]["step"] == 2

    # a second run without --resume would overwrite that checkpoint: refused
    code, _, err = run(["train-style", "swirls", "-o", model, *TRAIN], capsys)
    assert_one_line_error(code, err, "--resume")
    code, _, err = run(["train-style", "swirls", "-o", model, *TRAIN, "--steps", "3",
                        "--resume"], capsys)  # fmt: skip
    assert code == 0, err
    assert load_model(model).record["steps"] == 3 and read_checkpoint(checkpoint)[0]["step"] == 3
    # the record's time covers both sittings, as the checkpoint counts it
    assert load_model(model).record["seconds"] == read_checkpoint(checkpoint)[0]["seconds"]

    out_png = tmp_path / "painted.png"
    code, out, err = run(["paint", "chelsea", "--model", model, "-o", out_png, "--size", "40"],
                         capsys)  # fmt: skip
    assert code == 0, err
    assert Image.open(out_png).size == (40, 27)  # chelsea is 384 x 255
    assert out.startswith(f"wrote {out_png} (model {model}, 40x27 px")


def test_a_multi_style_model_paints_blends(tmp_path, capsys):
    model = tmp_path / "two.safetensors"
    code, _, err = run(["train-style", "swirls", "brick", "-o", model, *TRAIN,
                        "--precision", "fp32", "--lr-schedule", "cosine"], capsys)  # fmt: skip
    assert code == 0, err
    assert load_model(model).style_names == ["swirls", "brick"]
    assert load_model(model).record["loss"]["precision"] == "fp32"
    assert load_model(model).record["settings"]["schedule"] == "cosine"
    outputs = {}
    for mix in ("1,0", "0,1", "0.5,0.5"):
        path = tmp_path / f"mix-{mix}.png"
        code, _, err = run(["paint", "coffee", "--model", model, "--style-mix", mix, "-o", path,
                            "--size", "32"], capsys)  # fmt: skip
        assert code == 0, err
        outputs[mix] = load_image(path)
    assert not torch.equal(outputs["1,0"], outputs["0,1"])
    code, _, err = run(["paint", "coffee", "--model", model, "--style-mix", "1,2,3",
                        "-o", tmp_path / "bad.png"], capsys)  # fmt: skip
    assert_one_line_error(code, err, "one weight per style")
    assert not (tmp_path / "bad.png").exists()


def test_ctrl_c_in_training_says_where_it_stopped_in_one_line(tmp_path, capsys, monkeypatch):
    from nst_utils.networks import fast_style, training

    checkpoint = tmp_path / "m.checkpoint.safetensors"

    def stopped(*_args, **_kwargs):
        raise training.TrainingInterrupted(3, checkpoint)

    monkeypatch.setattr(fast_style, "train_style", stopped)
    code, _, err = run(["train-style", "swirls", "-o", tmp_path / "m.safetensors", *TRAIN],
                       capsys)  # fmt: skip
    assert code == 130
    assert err.strip() == (f"nst: interrupted: after step 3: checkpoint {checkpoint}; continue "
                           "with the same command and --resume")  # fmt: skip
    assert not (tmp_path / "m.safetensors").exists()


def test_training_can_start_from_a_trained_model(tmp_path, capsys):
    torch.manual_seed(0)
    start = StyleNet(channels=4, blocks=1)  # not the default network: --from must be read
    save_model(start, tmp_path / "start.safetensors", {"command": "the test's network"})
    model = tmp_path / "on.safetensors"
    code, _, err = run(["train-style", "swirls", "-o", model, *TRAIN, "--steps", "1", "--from",
                        tmp_path / "start.safetensors"], capsys)  # fmt: skip
    assert code == 0, err
    trained = load_model(model)
    assert trained.architecture() == start.architecture()
    moved = [(a - b).abs().max() for a, b in zip(trained.parameters(), start.parameters(),
                                                  strict=True)]  # fmt: skip
    assert 0 < max(moved) <= 1.01e-3  # one Adam step of lr 1e-3 from the start's weights
    assert trained.record["started_from"] == {
        "model": str(tmp_path / "start.safetensors"), "record": {"command": "the test's network"}}
    two = tmp_path / "two.safetensors"
    save_model(StyleNet(styles=2, channels=4, blocks=0), two, {})
    code, _, err = run(["train-style", "swirls", "-o", tmp_path / "x.safetensors", *TRAIN,
                        "--from", two], capsys)  # fmt: skip
    assert_one_line_error(code, err, "one painting per style")
    assert not (tmp_path / "x.safetensors").exists()


def test_training_errors_are_one_line_and_write_nothing(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        (["train-style", "swirls", "-o", tmp_path / "m.png"], ".safetensors"),
        (["train-style", "no_such_painting", "-o", tmp_path / "m.safetensors"], "no_such"),
        (["train-style", "swirls", "-o", tmp_path / "m.safetensors", "--images", empty],
         "holds no images"),
        (["train-style", "swirls", "-o", tmp_path / "m.safetensors", "--resume"],
         "no checkpoint"),
        (["train-style", "swirls", "-o", tmp_path / "m.safetensors", "--from",
          tmp_path / "none.safetensors"], "not found"),
    ]  # fmt: skip
    for args, needle in cases:
        code, _, err = run([*args, "--arch", "vgg16", "--quiet"], capsys)
        assert_one_line_error(code, err, needle)
    with pytest.raises(SystemExit) as usage:  # a usage mistake: argparse's one line, status 2
        main(["train-style", "swirls", "-o", str(tmp_path / "m.safetensors"), "--lr", "0"])
    assert usage.value.code == 2
    assert_one_line_error(2, capsys.readouterr().err, "--lr", "> 0")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


def test_paint_errors_are_one_line_and_write_nothing(tmp_path, capsys):
    out = tmp_path / "out.png"
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(b"not a model")
    cases = [
        (["paint", "chelsea", "-o", out], "--model"),
        (["paint", "chelsea", "--model", "no_such_model", "-o", out], "shipped"),
        (["paint", "chelsea", "--model", damaged, "-o", out], "damaged.safetensors"),
        (["paint", "no_such_photo", "--model", damaged, "-o", out], "no_such_photo"),
        (["paint", "chelsea", "--model", damaged, "-o", tmp_path / "out.gif"], ".gif"),
    ]
    for args, needle in cases:
        code, _, err = run(args, capsys)
        assert_one_line_error(code, err, needle)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["damaged.safetensors"]


def test_paint_writes_atomically(tmp_path, capsys, monkeypatch):
    model = save_model(StyleNet(channels=4, blocks=0), tmp_path / "m.safetensors", {})
    out = tmp_path / "out.png"
    out.write_bytes(b"previous picture")

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    code, _, err = run(["paint", "chelsea", "--model", model, "-o", out], capsys)
    assert code != 0 and "disk full" in err
    assert out.read_bytes() == b"previous picture"  # untouched, no half-written picture
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors", "out.png"]


def test_paint_list_prints_shipped_models_name_first(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(model_files, "MODELS_DIR", tmp_path)
    code, out, err = run(["paint", "--list"], capsys)
    assert code == 0 and out == "" and "no shipped models" in err
    save_model(StyleNet(channels=4, blocks=0), tmp_path / "starry.safetensors",
               {"settings": {"size": 256, "steps": 2000}})  # fmt: skip
    code, out, _ = run(["paint", "--list"], capsys)
    assert code == 0
    assert out.splitlines() == ["starry  styles: style0  (size 256, steps 2000)"]


def test_score_prints_the_pipelines_objective(tmp_path, capsys, vgg16):
    picture = load_image("coffee", 48)
    path = tmp_path / "picture.png"
    Image.fromarray((picture[0].permute(1, 2, 0).numpy() * 255).round().astype("uint8")).save(path)
    code, out, err = run(["score", path, "--content", "chelsea", "--style", "swirls",
                          "--arch", "vgg16", "--pooling", "max"], capsys)  # fmt: skip
    assert code == 0, err
    printed = dict(line.split() for line in out.splitlines())
    expected = score(vgg16, load_image(path), "chelsea", "swirls").as_floats()
    for key in ("content", "style", "total"):
        assert float(printed[key]) == pytest.approx(expected[key], rel=1e-5)
    code, _, err = run(["score", tmp_path / "missing.png", "--content", "chelsea", "--style",
                        "swirls"], capsys)  # fmt: skip
    assert_one_line_error(code, err, "missing.png")


def test_score_equals_the_objective_the_optimisation_minimises(vgg16):
    from nst_utils.assets.images import match_size
    from nst_utils.paper.objective import build_objective, default_style_weight

    result_like = load_image("coffee", 48)
    terms = score(vgg16, result_like, "chelsea", "swirls")
    photo = match_size(load_image("chelsea", 48), result_like)
    painting = load_image("swirls", 48)
    objective = build_objective(vgg16, photo, painting, style_weight=default_style_weight(vgg16))
    objective.fast = False  # the formulas as written
    with torch.no_grad():
        expected = objective(result_like)
    for key in ("content", "style", "total"):
        assert float(getattr(terms, key)) == pytest.approx(float(getattr(expected, key)), rel=1e-4)
    # settings change the objective as they change run's
    heavier = score(vgg16, result_like, "chelsea", "swirls", Settings(style_weight=1e3))
    assert float(heavier.style) == pytest.approx(float(terms.style), rel=1e-5)
    assert float(heavier.total) > float(terms.total)
    # the same numbers as the pipeline's own history for its start image
    from nst_utils.paper.pipeline import run as pipeline_run

    result = pipeline_run(vgg16, "chelsea", "swirls", Settings(size=48, steps=1), progress=False)
    start = score(vgg16, load_image("chelsea", 48), "chelsea", "swirls")
    first = result.history[0]
    assert json.dumps(first)  # plain numbers
    assert float(start.total) >= first["total"] * 0.999  # one step can only lower it
