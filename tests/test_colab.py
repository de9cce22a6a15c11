"""Colab (issue 30, item 5): every notebook's first code cell installs the kit there (one
template, :func:`nst_utils.config.colab_cell`), an install from the repository's address carries
the bundled pictures, and the class settings have a GPU preset.

The stand-in for Colab: a fresh virtual environment that sees an existing torch (the project's
own packages, without the kit, stand in for Colab's preinstalled ones, through
``--system-site-packages`` and a path file) and in which ``google.colab`` is imported at start,
as in Colab. Notebook 00 runs there: its first cell installs the kit from a copy of this
working tree, and the rest of the notebook then runs on that installed (not editable) copy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

from nst_utils import config
from nst_utils.assets import examples

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
#: The fake Colab module: a path-file line that runs at start, as Colab imports its own.
FAKE_COLAB = (
    "import sys, types; colab = types.ModuleType('google.colab'); "
    "colab.output = types.SimpleNamespace(enable_custom_widget_manager=lambda: None); "
    "sys.modules['google.colab'] = colab\n"
)


def code_cells(path: Path) -> list[str]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_opens_with_the_one_install_cell(path):
    cells = code_cells(path)
    assert cells[0] == config.colab_cell(), f"{path.name}: run 'nst colab-cell --write {path}'"
    assert "nst_utils" in cells[1].split("import torch")[0]  # then the kit, before torch


def test_the_install_cell_reads_the_address_from_one_place():
    cell = config.colab_cell()
    assert config.REPOSITORY_URL in cell and 'os.environ.get("NST_REPO"' in cell
    assert "--constraint" in cell and "torch==" in cell  # Colab's torch stays as it is
    assert config.REPOSITORY_URL in (REPO / "README.md").read_text(encoding="utf-8")


def test_the_package_list_is_every_folder_and_the_pictures():
    from setuptools import find_packages

    listed = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = find_packages(str(REPO), include=["nst_utils*"])
    assert sorted(listed["packages"]) == sorted([*found, "nst_utils.assets.bundled"])
    assert listed["package-dir"] == {"nst_utils.assets.bundled": "data"}


def test_an_installed_kit_finds_its_own_copy_of_the_pictures(tmp_path, monkeypatch):
    package = tmp_path / "assets"
    (package / "bundled").mkdir(parents=True)
    shutil.copy(REPO / "data" / "examples.json", package / "bundled")
    shutil.copy(REPO / "data" / "swirls.png", package / "bundled")
    monkeypatch.setattr(examples.resources, "files", lambda name: package)
    monkeypatch.delenv("NST_DATA_DIR", raising=False)
    assert examples.data_dir() == package / "bundled"
    assert list(examples.bundled_images()) == ["swirls"]


def test_the_gpu_preset_is_chosen_on_a_cuda_gpu_only(monkeypatch):
    import torch

    monkeypatch.delenv("NST_FAST", raising=False)
    monkeypatch.setattr(config, "default_device", lambda: torch.device("cuda"))
    assert config.pick(128, 48, gpu=384) == 384
    assert config.pick(128, 48) == 128  # no preset given
    monkeypatch.setattr(config, "default_device", lambda: torch.device("mps"))
    assert config.pick(128, 48, gpu=384) == 128
    monkeypatch.setenv("NST_FAST", "1")
    assert config.pick(128, 48, gpu=384) == 48  # the tests' tiny settings win


def stand_in_for_colab(root: Path) -> Path:
    """A fresh venv that sees this project's packages except the kit (Colab's preinstalled
    torch, numpy, Jupyter...), with ``google.colab`` imported at start; its python."""
    site = Path(sysconfig.get_paths()["purelib"])  # the project's venv
    preinstalled = root / "preinstalled"
    preinstalled.mkdir()
    for entry in site.iterdir():
        if not entry.name.startswith(("nst_utils", "__editable__", "nst-utils")):
            (preinstalled / entry.name).symlink_to(entry)
    venv = root / "colab"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip",
                    str(venv)], check=True)  # fmt: skip
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    own_site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()"
                               "['purelib'])"], capture_output=True, text=True, check=True)
    (Path(own_site.stdout.strip()) / "colab_stand_in.pth").write_text(
        f"{preinstalled}\n{FAKE_COLAB}")  # fmt: skip
    return python


def copy_of_this_tree(target: Path) -> Path:
    """The working tree's files (tracked and new, not ignored): what a clone would hold."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        if (REPO / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, target / name)
    return target


@pytest.mark.slow
def test_the_install_cell_installs_the_kit_in_a_stand_in_for_colab_and_00_runs(tmp_path):
    python = stand_in_for_colab(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NST_DATA_DIR")}
    before = subprocess.run([python, "-c", "import nst_utils"], capture_output=True, cwd=run,
                            env=env)  # fmt: skip
    assert before.returncode != 0  # no kit yet
    repo = copy_of_this_tree(tmp_path / "repo")
    shutil.copy(REPO / "notebooks" / "00_setup_and_tour.ipynb", run / "00.ipynb")
    env.update(NST_REPO=repo.as_uri(), NST_FAST="1", PIP_QUIET="1")
    proc = subprocess.run(
        [python, "-m", "nbconvert", "--to", "notebook", "--execute", "--output", "ran.ipynb",
         "--ExecutePreprocessor.timeout=900", "00.ipynb"],
        cwd=run, env=env, capture_output=True, text=True, timeout=1500,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    cells = json.loads((run / "ran.ipynb").read_text())["cells"]
    shown = ["".join(o.get("text", "")) for c in cells if c["cell_type"] == "code"
             for o in c["outputs"]]  # fmt: skip
    assert any("No GPU: Runtime > Change runtime type > GPU" in text for text in shown)
    doctor = next(text for text in shown if "\nwidgets " in text)  # nst doctor's lines
    installed = subprocess.run(
        [python, "-c", "import nst_utils, torch; print(nst_utils.__file__, torch.__file__)"],
        capture_output=True, text=True, check=True, env=env, cwd=run).stdout.split()  # fmt: skip
    assert str(tmp_path / "colab") in installed[0]  # installed into the stand-in, not editable
    assert str(tmp_path / "preinstalled") in installed[1]  # Colab's own torch, untouched
    assert str(Path(installed[0]).parent / "assets" / "bundled") in doctor  # the pictures came
