"""Written files get the mode the user's umask gives (images, logs, snapshots, caches), through
the kit's one atomic write; and every check the arguments alone decide comes before any work."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nst_utils import cli
from nst_utils.assets import files, images
from nst_utils.assets.images import save_image
from nst_utils.paper import vgg

REPO = Path(__file__).resolve().parents[1]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=[0o022, 0o077, 0o002])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def test_atomic_write_gives_the_umasks_mode(tmp_path, umask):
    assert files.current_umask() == umask
    with files.atomic_write(tmp_path / "sub" / "a.txt") as tmp:
        assert mode(tmp) == 0o600  # private while it is being written
        tmp.write_text("hello")
    assert mode(tmp_path / "sub" / "a.txt") == 0o666 & ~umask
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["a.txt"]
    save_image(torch.rand(1, 3, 8, 8), tmp_path / "b.png")
    assert mode(tmp_path / "b.png") == 0o666 & ~umask


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "keep.txt"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt), files.atomic_write(target) as tmp:
        tmp.write_text("half")
        raise KeyboardInterrupt
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]


def test_weights_cache_gets_the_umasks_mode(tmp_path, umask):
    from nst_utils.assets import weights

    path = weights._save_atomically({"w": torch.zeros(2)}, tmp_path / "w.safetensors")
    assert mode(path) == 0o666 & ~umask


@pytest.mark.parametrize("mask", [0o022, 0o077])
def test_every_file_of_a_cli_run_gets_the_umasks_mode(tmp_path, mask):
    """Image, log and snapshots of a real (tiny) run, in a process started with the umask."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = tmp_path / "runs" / "out.png"
    proc = subprocess.run(
        [sys.executable, "-m", "nst_utils.cli", "stylize", "chelsea", "swirls", "-o", str(out),
         "--size", "32", "--steps", "2", "--save-every", "1", "--log", str(tmp_path / "l.json"),
         "--arch", "vgg16", "--quiet"],
        env=env, capture_output=True, text=True, preexec_fn=lambda: os.umask(mask), timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {p.name for p in written} == {"out.png", "out-00001.png", "out-00002.png", "l.json"}
    assert {oct(mode(p)) for p in written} == {oct(0o666 & ~mask)}


def _no_loading(*args, **kwargs):
    raise AssertionError("the network was loaded before the arguments were checked")


def _no_decoding(*args, **kwargs):
    raise AssertionError("an image was decoded before the arguments were checked")


@pytest.mark.parametrize("case", ["overwrite", "suffix", "masks", "missing", "layer", "memory",
                                  "scales"])  # fmt: skip
def test_argument_errors_come_before_any_work(tmp_path, capsys, monkeypatch, case):
    """Each mistake the arguments alone reveal is one line, before the network is loaded or
    an image decoded (either fails the test: no timing, which a busy machine would flake)."""
    monkeypatch.setattr(vgg, "load_vgg", _no_loading)
    monkeypatch.setattr(images, "_decode", _no_decoding)
    content = REPO / "data" / "coffee.jpg"
    out = tmp_path / "o.png"
    args = {
        "overwrite": ["stylize", content, "swirls", "-o", content],
        "suffix": ["stylize", content, "swirls", "-o", tmp_path / "o.gif"],
        "masks": ["stylize", content, "swirls", "--style", "brick", "--style-mask", content,
                  "-o", out],
        "missing": ["stylize", content, "nope/missing.png", "-o", out],
        "layer": ["stylize", content, "swirls", "--style-layers", "relu9_9", "-o", out],
        "memory": ["stylize", content, "swirls", "--size", "8192", "-o", out],
        "scales": ["stylize", content, "swirls", "--scales", "256,128", "-o", out],
    }[case]
    needle = {"overwrite": "refusing to overwrite an input", "suffix": ".gif",
              "masks": "1 style mask(s) for 2 style(s)", "missing": "missing.png",
              "layer": "relu9_9", "memory": "needs about", "scales": "must increase"}[case]
    code = cli.main([str(a) for a in [*args, "--arch", "vgg16", "--quiet"]])
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1 and needle in err, err
    assert not out.exists()


def test_ctrl_c_saves_the_best_image_and_exits_130(tmp_path, capsys, monkeypatch):
    from nst_utils.paper import pipeline
    from nst_utils.paper.optimize import Result

    def interrupted(objective, init, **kwargs):
        return Result(image=init.detach().clone(), status="interrupted", history=[
            {"iteration": 1, "seconds": 0.1, "content": 1.0, "style": 1.0, "tv": 0.0,
             "total": 2.0}], best_iteration=1)  # fmt: skip

    monkeypatch.setattr(pipeline, "optimize", interrupted)
    out, log = tmp_path / "o.png", tmp_path / "l.json"
    code = cli.main(["stylize", "chelsea", "swirls", "-o", str(out), "--log", str(log),
                     "--size", "32", "--arch", "vgg16", "--quiet"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == cli.EXIT_INTERRUPTED == 130
    assert out.exists() and '"status": "interrupted"' in log.read_text()
    assert "saving the best image so far" in err and "nst: interrupted" in err


@pytest.mark.parametrize("orientation", [1, 6, 8])
def test_probe_size_matches_the_loaded_image(tmp_path, orientation):
    """The checks before any work read only the header, EXIF rotation included."""
    import numpy as np
    from PIL import Image

    from nst_utils.assets.images import load_image, probe_size

    path = tmp_path / "photo.jpg"
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(np.zeros((60, 97, 3), np.uint8)).save(path, exif=exif)
    for size in (40, 97, 300):
        assert probe_size(path, size) == tuple(load_image(path, size).shape[-2:])
