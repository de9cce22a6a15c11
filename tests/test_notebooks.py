"""The notebooks (sources in course/, student versions in notebooks/) are committed clean and
follow the kit's conventions."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: The sources: every solution in place (the student versions are built from them).
NOTEBOOKS = sorted((ROOT / "course").glob("[0-9][0-9]_*.ipynb"))
STUDENT_VERSIONS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXPECTED = [
    "00_setup_and_tour",
    "01_cnn_features",
    "02_content_reconstruction",
    "03_style_reconstruction",
    "04_loss_weighting",
    "05_full_optimization",
    "06_beyond_gatys",
    "07_fast_style_transfer",
    "08_arbitrary_style",
    "09_video",
]


def test_the_course_is_complete():
    for notebooks in (NOTEBOOKS, STUDENT_VERSIONS):
        assert [nb.stem for nb in notebooks][: len(EXPECTED)] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS + STUDENT_VERSIONS,
                         ids=lambda p: f"{p.parent.name}/{p.stem}")  # fmt: skip
def test_committed_without_outputs(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    dirty = [
        i
        for i, cell in enumerate(cells)
        if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count"))
    ]
    assert not dirty, f"{path.name}: cells {dirty} have outputs or execution counts"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_goals_fast_mode_and_exercises(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    markdown = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    assert "goals" in markdown.lower(), "opens with learning goals"
    assert "pick(" in code or "fast_mode(" in code, "settings honour NST_FAST"
    exercises = markdown.lower().count("<details") + solved_exercises(cells)
    assert exercises >= 2, "ends with exercises and their solutions"


def solved_exercises(cells: list[dict]) -> int:
    """Solutions (``### BEGIN SOLUTION``) in the cells after the heading "Exercises"."""
    text = ["".join(c["source"]) if c["cell_type"] == "markdown" else "" for c in cells]
    headings = [i for i, source in enumerate(text) if "# Exercises" in source]
    after = cells[headings[0]:] if headings else []
    return sum("".join(c["source"]).count("### BEGIN SOLUTION") for c in after)


DETAILS = re.compile(r"<details>(.*?)</details>", re.S)
PYTHON = re.compile(r"```python\n(.*?)```", re.S)


def revealed_code(markdown: str) -> list[str]:
    """The Python blocks inside ``<details>`` blocks, in order. A block without code (an
    answer in words) adds nothing and does not swallow the next block's code."""
    return [code for block in DETAILS.findall(markdown) for code in PYTHON.findall(block)]


def solutions(path: Path) -> list[str]:
    """The code of every revealed solution of a notebook, in order."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return revealed_code(
        "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    )


def test_revealed_code_is_found_block_by_block():
    markdown = (
        "<details>an answer in words</details>\n```python\noutside = 0\n```\n"
        "<details>\n```python\na = 1\n```\n</details>"
        "<details>```python\nb = 2\n```\ntext\n```python\nc = 3\n```</details>"
    )
    assert revealed_code(markdown) == ["a = 1\n", "b = 2\n", "c = 3\n"]


# Every notebook's revealed solutions are run here (issue 13).
SOLUTIONS_CHECKED = NOTEBOOKS


@pytest.mark.parametrize("path", SOLUTIONS_CHECKED, ids=lambda p: p.stem)
def test_every_revealed_solution_runs_in_fast_mode(path, monkeypatch, shared_images):
    """Each solution runs after the notebook, as a student would reveal and run it; the
    solutions assert their stated outcomes, so a wrong direction or constant fails here."""
    nbclient = pytest.importorskip("nbclient")
    import nbformat

    codes = solutions(path)
    if not codes:
        pytest.skip("no code in the solutions")
    nb = nbformat.read(path, as_version=4)
    nb.cells += [nbformat.v4.new_code_cell(code) for code in codes]
    monkeypatch.setenv("NST_FAST", "1")
    monkeypatch.setenv("NST_EXAMPLES_DIR", str(shared_images))
    monkeypatch.setenv("PYTHONPATH", str(path.parents[1]))
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()
