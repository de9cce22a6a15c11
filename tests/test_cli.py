"""The ``nst`` command end to end, with the real offline VGG-16 weights at tiny sizes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nst_utils.cli import main
from nst_utils.engine.precision import recommended_precision

FAST = ["--size", "48", "--steps", "4", "--arch", "vgg16", "--quiet"]


@pytest.fixture(autouse=True)
def _weights_ready(vgg16):
    """Load (and if needed fetch) the VGG-16 weights once, before any command runs."""


@pytest.fixture
def pictures(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:60, 0:80]
    photo = np.stack([x * 3, y * 4, (x + y) * 2], axis=-1).astype(np.uint8)
    painting = rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    content, style = tmp_path / "photo.png", tmp_path / "painting.jpg"
    Image.fromarray(photo).save(content)
    Image.fromarray(painting).save(style)
    return content, style


def run(args, capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_stylize_writes_image_and_log(pictures, tmp_path, capsys):
    content, style = pictures
    out, log = tmp_path / "out" / "result.png", tmp_path / "run.json"
    code, _, err = run(["stylize", content, style, "-o", out, "--log", log, *FAST], capsys)
    assert code == 0, err
    assert Image.open(out).size == (48, 36)  # longest side 48, aspect 80:60 kept
    data = json.loads(log.read_text())
    assert data["arch"] == "vgg16" and data["device"] == "cpu"
    assert data["settings"]["size"] == 48 and data["settings"]["steps"] == 4
    assert data["settings"]["style_layers"] == [
        "relu1_1",
        "relu2_1",
        "relu3_1",
        "relu4_1",
        "relu5_1",
    ]
    assert [h["iteration"] for h in data["history"]] == [1, 2, 3, 4]
    keys = {"iteration", "evaluations", "seconds", "content", "style", "tv", "total", "size"}
    assert set(data["history"][0]) == keys
    assert data["precision"] == recommended_precision("cpu")  # stylize defaults to auto


def test_reconstructions_default_to_fp32(pictures, tmp_path, capsys):
    out, log = tmp_path / "content.png", tmp_path / "run.json"
    args = ["reconstruct-content", pictures[0], "-o", out, "--log", log, *FAST]
    code, _, err = run(args, capsys)
    assert code == 0, err
    assert json.loads(log.read_text())["precision"] == "fp32"


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_precision_option_reaches_the_engine(pictures, tmp_path, capsys, precision):
    content, style = pictures
    out, log = tmp_path / "result.png", tmp_path / "run.json"
    args = ["stylize", content, style, "-o", out, "--log", log, "--precision", precision, *FAST]
    code, _, err = run(args, capsys)
    assert code == 0, err
    used = json.loads(log.read_text())["precision"]
    assert used == precision


def test_same_seed_gives_the_same_image(pictures, tmp_path, capsys):
    content, style = pictures
    outputs = []
    for name in ("a.png", "b.png"):
        path = tmp_path / name
        args = ["stylize", content, style, "-o", path, "--init", "noise", "--seed", "3", *FAST]
        assert run(args, capsys)[0] == 0
        outputs.append(np.asarray(Image.open(path)))
    assert np.array_equal(*outputs)


def test_reconstruct_and_synthesize(pictures, tmp_path, capsys):
    content, style = pictures
    rec, tex = tmp_path / "rec.png", tmp_path / "tex.jpg"
    assert (
        run(["reconstruct-content", content, "--layer", "conv2_2", "-o", rec, *FAST], capsys)[0]
        == 0
    )
    layers = "relu1_1,relu2_1"
    assert run(["synthesize-texture", style, "--layers", layers, "-o", tex, *FAST], capsys)[0] == 0
    assert Image.open(rec).size == (48, 36) and Image.open(tex).size == (48, 48)


def test_save_every_writes_snapshots(pictures, tmp_path, capsys):
    content, style = pictures
    out = tmp_path / "r.png"
    assert run(["stylize", content, style, "-o", out, "--save-every", "2", *FAST], capsys)[0] == 0
    assert sorted(p.name for p in tmp_path.glob("r-*.png")) == ["r-00002.png", "r-00004.png"]


def test_save_every_with_scales_keeps_every_scales_snapshots(pictures, tmp_path, capsys):
    content, style = pictures
    out = tmp_path / "r.png"
    args = ["stylize", content, style, "-o", out, "--save-every", "2", "--scales", "32,48",
            *FAST[2:]]  # --scales replaces --size
    assert run(args, capsys)[0] == 0
    assert sorted(p.name for p in tmp_path.glob("r-*.png")) == [
        "r-32px-00002.png",
        "r-32px-00004.png",
        "r-48px-00002.png",
        "r-48px-00004.png",
    ]


def _truncated_png(folder: Path) -> Path:
    whole = folder / "whole.png"
    Image.fromarray(np.zeros((40, 40, 3), dtype=np.uint8) + 90).save(whole)
    cut = folder / "cut.png"
    cut.write_bytes(whole.read_bytes()[:60])
    return cut


BAD_FILES = {
    "missing.png": None,
    "empty.png": b"",
    "notes.jpg": b"hello, not a picture",
    "cut.png": _truncated_png,
}


@pytest.mark.parametrize("needle", list(BAD_FILES))
def test_bad_content_image(pictures, tmp_path, capsys, needle):
    bad = tmp_path / needle
    content = BAD_FILES[needle]
    if isinstance(content, bytes):
        bad.write_bytes(content)
    elif content is not None:
        bad = content(tmp_path)
    out = tmp_path / "never.png"
    code, _, err = run(["stylize", bad, pictures[1], "-o", out, *FAST], capsys)
    assert_one_line_error(code, err, needle)
    assert not out.exists()


def test_unknown_layer_lists_valid_names(pictures, tmp_path, capsys):
    out = tmp_path / "never.png"
    args = ["stylize", *pictures, "-o", out, "--style-layers", "relu1_1,conv5_4", *FAST]
    code, _, err = run(args, capsys)
    assert_one_line_error(code, err, "conv5_4", "valid names are conv1_1")
    assert not out.exists()


def test_refuses_to_overwrite_an_input(pictures, capsys):
    content, style = pictures
    before = content.read_bytes()
    code, _, err = run(["stylize", content, style, "-o", content, *FAST], capsys)
    assert_one_line_error(code, err, "photo.png")
    assert content.read_bytes() == before


@pytest.mark.parametrize(
    ("option", "value"),
    [("--size", "0"), ("--steps", "-3"), ("--style-weight", "nan"), ("--precision", "fp8")],
)
def test_impossible_numbers_are_usage_errors(pictures, tmp_path, option, value, capsys):
    out = tmp_path / "never.png"
    with pytest.raises(SystemExit) as exit_info:
        main(["stylize", *map(str, pictures), "-o", str(out), option, value])
    assert exit_info.value.code == 2
    assert_one_line_error(2, capsys.readouterr().err, option)
    assert not out.exists()


def test_bad_output_suffix(pictures, tmp_path, capsys):
    code, _, err = run(["stylize", *pictures, "-o", tmp_path / "x.gif", *FAST], capsys)
    assert_one_line_error(code, err, "x.gif", ".png")


def test_debug_shows_the_traceback(pictures, tmp_path):
    missing = tmp_path / "missing.png"
    args = ["--debug", "stylize", missing, pictures[1], "-o", tmp_path / "o.png", *FAST]
    with pytest.raises(Exception, match=r"missing\.png"):
        main([str(a) for a in args])


def test_console_script_exit_status(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "nst_utils.cli",
            "stylize",
            "nope.png",
            "nope2.png",
            "-o",
            str(tmp_path / "o.png"),
            *FAST,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert_one_line_error(proc.returncode, proc.stderr, "nope.png")


def test_weights_status_and_examples_list(capsys):
    code, out, _ = run(["weights", "status"], capsys)
    assert code == 0 and "vgg16: cached" in out and "would use:" in out
    assert "vgg19-caffe:" in out
    code, out, _ = run(["examples", "list"], capsys)
    assert code == 0
    names = [line.split()[0] for line in out.splitlines()]
    assert {"chelsea", "swirls", "tubingen", "starry_night"} <= set(names)


def test_example_names_work_as_inputs(tmp_path, capsys):
    out = tmp_path / "named.png"
    code, _, err = run(["stylize", "chelsea", "swirls", "-o", out, *FAST], capsys)
    assert code == 0, err
    assert Image.open(out).size == (48, 32)


def test_stylize_on_the_caffe_vgg19_uses_its_own_style_weight(pictures, tmp_path, capsys):
    from nst_utils.assets.calibration import STYLE_WEIGHTS

    content, style = pictures
    out, log = tmp_path / "caffe.png", tmp_path / "caffe.json"
    fast = [*FAST[:4], "--arch", "vgg19-caffe", "--quiet"]
    code, _, err = run(["stylize", content, style, "-o", out, "--log", log, *fast], capsys)
    assert code == 0, err
    data = json.loads(log.read_text())
    assert data["arch"] == "vgg19-caffe"
    assert data["settings"]["style_weight"] == STYLE_WEIGHTS["vgg19-caffe"]["avg"]  # CLI: avg
    first, beta = data["history"][0], STYLE_WEIGHTS["vgg19-caffe"]["avg"]
    assert first["total"] == pytest.approx(first["content"] + beta * first["style"], rel=1e-3)
    code, _, err = run(["stylize", content, style, "-o", out, "--log", log, *FAST], capsys)
    assert json.loads(log.read_text())["settings"]["style_weight"] == STYLE_WEIGHTS["vgg16"]["avg"]


def test_nst_arch_accepts_the_caffe_network(pictures, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NST_ARCH", "vgg19-caffe")
    out, log = tmp_path / "pinned.png", tmp_path / "pinned.json"
    args = ["stylize", *pictures, "-o", out, "--log", log, "--size", "32", "--steps", "2"]
    code, _, err = run([*args, "--quiet"], capsys)
    assert code == 0, err
    assert json.loads(log.read_text())["arch"] == "vgg19-caffe"


ARGUMENT_MISTAKES = {
    "missing input": (["stylize", "no-such-photo.png", "chelsea", "-o", "{out}"], "file not found"),
    "output format": (["stylize", "chelsea", "coffee", "-o", "{out}.gif"], "cannot save as .gif"),
    "overwrite": (["stylize", "chelsea", "coffee", "-o", "{chelsea}"], "overwrite an input"),
    "layer": (
        ["stylize", "chelsea", "coffee", "-o", "{out}", "--style-layers", "relu9_1"],
        "unknown layer",
    ),
    "layer of VGG-16": (
        [
            "stylize",
            "chelsea",
            "coffee",
            "-o",
            "{out}",
            "--arch",
            "vgg16",
            "--style-layers",
            "relu5_4",
        ],
        "for vgg16",
    ),
    "scales": (["stylize", "chelsea", "coffee", "-o", "{out}", "--scales", "8,64"], ">= 16 px"),
    "weight": (["stylize", "chelsea", "coffee:abc", "-o", "{out}"], "is not a number"),
    "masks": (
        [
            "stylize",
            "chelsea",
            "coffee",
            "-o",
            "{out}",
            "--style-mask",
            "chelsea",
            "--style-mask",
            "coffee",
        ],
        "mask",
    ),
    "content layer": (
        ["reconstruct-content", "chelsea", "--layer", "relu4_9", "-o", "{out}"],
        "unknown layer",
    ),
}


@pytest.mark.parametrize("mistake", ARGUMENT_MISTAKES)
def test_argument_mistakes_are_reported_before_torch_is_imported(mistake, tmp_path):
    """Importing torch alone takes 1-2 s: every mistake the arguments reveal is reported
    without it (issue 14: "well under a second"), as one line, exit 1, nothing written."""
    from nst_utils.assets.examples import resolve_image

    argv, expected = ARGUMENT_MISTAKES[mistake]
    out = tmp_path / "out.png"
    argv = [a.format(out=out, chelsea=resolve_image("chelsea")) for a in argv]
    probe = (
        "import sys\nfrom nst_utils.cli import main\n"
        f"status = main({argv!r})\n"
        "print('torch imported' if 'torch' in sys.modules else 'torch not imported')\n"
        "sys.exit(status)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 1, done.stderr
    assert expected in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stdout.strip() == "torch not imported"
    assert list(tmp_path.iterdir()) == []
