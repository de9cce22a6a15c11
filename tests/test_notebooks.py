"""The notebooks are committed clean and follow the kit's conventions."""

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
EXPECTED = [
    "00_setup_and_tour",
    "01_cnn_features",
    "02_content_reconstruction",
    "03_style_reconstruction",
    "04_loss_weighting",
    "05_full_optimization",
    "06_beyond_gatys",
]


def test_the_course_is_complete():
    names = [nb.stem for nb in NOTEBOOKS]
    assert names[: len(EXPECTED)] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
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
    exercises = markdown.lower().count("<details")
    assert exercises >= 2, "ends with exercises whose solutions can be revealed"
