"""``nst doctor`` (one line per check, a fix where one is needed), ``nst demo`` (what ``make
demo`` does, with Python alone) and ``nst colab-cell`` (issue 30, items 3, 5 and 6)."""

from __future__ import annotations

import json
import re
import shutil
import sys
import types
from pathlib import Path

import pytest

from nst_utils.cli import main, setup
from nst_utils.config import colab_cell
from nst_utils.errors import NSTError

REPO = Path(__file__).resolve().parents[1]
NAMES = ["python", "torch", "device", "weights", "memory", "cache", "pictures", "widgets"]


def doctor(capsys) -> dict[str, str]:
    """``nst doctor``'s lines by what they check."""
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in out] == NAMES, out
    return {line.split()[0]: line for line in out}


def test_doctor_says_one_line_each_and_no_fix_on_a_ready_machine(capsys, vgg16, monkeypatch):
    monkeypatch.setenv("NST_ARCH", "vgg16")  # cached by the fixture
    lines = doctor(capsys)
    assert "torchvision" in lines["torch"] and lines["device"].split()[1] in ("cpu", "cuda", "mps")
    assert "fp32 in the notebooks" in lines["device"] and "nst stylize" in lines["device"]
    assert "runs use vgg16" in lines["weights"] and "GB available" in lines["memory"]
    assert re.search(r" [1-9]\d* bundled", lines["pictures"])
    assert "JupyterLab shows" in lines["widgets"]
    fixes = [line for line in lines.values() if "fix:" in line]
    assert fixes == [] or fixes == [lines["pictures"]]  # paintings not fetched: a hint


def test_doctor_gives_the_fix_for_what_is_missing(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("NST_CACHE_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("NST_ARCH", "vgg16")
    real = setup.metadata.version
    monkeypatch.setattr(setup.metadata, "version", lambda name: (
        real(name) if name != "jupyterlab_widgets" else setup._version("no-such-dist")))
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    lines = doctor(capsys)
    assert "fix: nst weights fetch --arch vgg16" in lines["weights"]
    assert "fix: Runtime > Change runtime type > GPU" in lines["device"]  # Colab without a GPU
    monkeypatch.delitem(sys.modules, "google.colab")
    lines = doctor(capsys)
    assert "jupyterlab_widgets missing" in lines["widgets"]
    assert "fix: pip install" in lines["widgets"]


def test_a_cache_that_cannot_be_written_is_said_with_its_fix(capsys, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("NST_CACHE_DIR", str(blocker / "cache"))
    line = str(setup._cache())
    assert "not writable" in line and "fix: set NST_CACHE_DIR" in line


def test_a_check_that_breaks_does_not_stop_the_others(monkeypatch):
    def broken():
        raise RuntimeError("no such thing")

    monkeypatch.setattr(setup, "_memory", broken)
    lines = [str(line) for line in setup.report()]
    assert any(line.startswith("memory") and "could not check" in line for line in lines)
    assert lines[-1].startswith("widgets")


def test_notebook_00_shows_the_doctors_report():
    cells = json.loads((REPO / "notebooks" / "00_setup_and_tour.ipynb").read_text())["cells"]
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    assert any("from nst_utils.cli.setup import report" in c and "print(line)" in c for c in code)


@pytest.mark.slow
@pytest.mark.parametrize("online", [True, False])
def test_demo_paints_the_cat_as_make_demo_did(online, tmp_path, capsys, monkeypatch, vgg16):
    monkeypatch.setenv("NST_ARCH", "vgg16")
    if not online:
        def unreachable(name, **kwargs):
            raise NSTError("could not download")

        monkeypatch.setattr("nst_utils.assets.examples.fetch_example", unreachable)
    elif not (REPO.parent / "shared" / "images" / "starry_night.jpg").exists():
        pytest.skip("The Starry Night is not on this machine")
    out = tmp_path / "outputs" / "demo.png"
    assert main(["demo", "-o", str(out), "--size", "32", "--steps", "2"]) == 0
    text = capsys.readouterr().out
    assert out.is_file() and f"Open {out}" in text
    record = json.loads(out.with_suffix(".json").read_text())
    assert Path(record["styles"][0]["image"]).stem == ("starry_night" if online else "swirls")
    assert ("bundled 'swirls'" in text) is not online


def test_colab_cell_prints_the_template_and_writes_it_once(tmp_path, capsys):
    assert main(["colab-cell"]) == 0
    assert capsys.readouterr().out.strip() == colab_cell()
    copy = tmp_path / "01.ipynb"
    notebook = json.loads((REPO / "notebooks" / "01_cnn_features.ipynb").read_text())
    notebook["cells"] = [c for c in notebook["cells"] if c.get("id") != "colab-install"]
    copy.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
    assert setup.write_colab_cell(copy) and not setup.write_colab_cell(copy)
    shutil.copy(copy, tmp_path / "again.ipynb")
    cells = json.loads(copy.read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert "".join(code[0]["source"]) == colab_cell()
    assert "".join(code[1]["source"]).split("\n", 2)[:2] != ["", ""]  # the next cell kept
    assert len(cells) == len(notebook["cells"]) + 1
