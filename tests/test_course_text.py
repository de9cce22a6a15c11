"""What students read and do (issue 29): short prose that speaks to them, short cells, a
prediction before each main figure, the paper's equations written by them and checked, and
exercises whose answers a cell checks."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from course.build import SOURCES, STUDENTS, sources

#: Words of prose per notebook before the course was cut to half (the students' reading).
WORDS_BEFORE = {"00": 1355, "01": 1916, "02": 1816, "03": 2347, "04": 2181, "05": 1838,
                "06": 2369, "07": 2933, "08": 2273, "09": 1721}  # fmt: skip
MAX_CELL_WORDS = 150
MAX_CODE_LINES = 25  # in notebooks 00-06, where students tweak cells
#: Maintainer talk that does not belong in what students read.
MAINTAINER = re.compile(r"BENCHMARKS|tests/|test_\w+\.py|\bissue \d+|noqa|fmt:|isort|make bench",
                        re.I)  # fmt: skip
#: Equations students write, per notebook: at least this many stubs, each checked.
STUBS = {"02": 3, "03": 4, "05": 2, "07": 1, "08": 1}
STUB = re.compile(r"def (\w+)\([^)]*\)[^:]*:\n(?:[^\n]*\n)*?\s*### BEGIN SOLUTION")


def cells(path: Path, kind: str) -> list[str]:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == kind]


def words(text: str) -> int:
    return len(re.findall(r"\S+", text))


STUDENT_VERSIONS = [STUDENTS / p.name for p in sources()]


@pytest.mark.parametrize("path", STUDENT_VERSIONS, ids=lambda p: p.stem)
def test_prose_is_half_of_what_it_was_in_short_cells(path):
    prose = cells(path, "markdown")
    assert sum(map(words, prose)) <= WORDS_BEFORE[path.name[:2]] / 2
    long = [text.split("\n")[0][:60] for text in prose if words(text) > MAX_CELL_WORDS]
    assert not long, f"{path.name}: cells over {MAX_CELL_WORDS} words: {long}"


@pytest.mark.parametrize("path", STUDENT_VERSIONS, ids=lambda p: p.stem)
def test_students_read_no_maintainer_talk(path):
    found = [m.group(0) for text in cells(path, "markdown") + cells(path, "code")
             for m in MAINTAINER.finditer(text)]  # fmt: skip
    assert not found, f"{path.name}: {found}"


@pytest.mark.parametrize("path", [p for p in sources() if p.name[:2] <= "06"],
                         ids=lambda p: p.stem)  # fmt: skip
def test_code_cells_are_short_enough_to_tweak(path):
    for version in (path, STUDENTS / path.name):
        long = [len(c.splitlines()) for c in cells(version, "code")[1:]]  # after the install
        assert max(long) <= MAX_CODE_LINES, f"{version}: a code cell of {max(long)} lines"


@pytest.mark.parametrize("number", ["01", "02", "03", "04", "05"])
def test_a_prediction_comes_before_each_main_figure(number):
    (path,) = SOURCES.glob(f"{number}_*.ipynb")
    assert sum(text.count("**Predict:**") for text in cells(path, "markdown")) >= 2


@pytest.mark.parametrize("number", sorted(STUBS))
def test_students_write_the_equations_and_each_is_checked(number):
    (path,) = SOURCES.glob(f"{number}_*.ipynb")
    code = cells(path, "code")
    names = [m.group(1) for text in code for m in STUB.finditer(text)]
    assert len(names) >= STUBS[number], f"{path.name}: stubs {names}"
    checked = "\n".join(code)
    for name in names:
        assert re.search(rf"check(?:_gradient)?\(\s*{name}\b", checked), f"{name} is not checked"


@pytest.mark.parametrize("path", sources(), ids=lambda p: p.stem)
def test_an_exercise_asks_for_code_or_a_prediction_that_a_cell_checks(path):
    notebook = json.loads(path.read_text(encoding="utf-8"))["cells"]
    text = ["".join(c["source"]) for c in notebook]
    start = next(i for i, t in enumerate(text) if "# Exercises" in t)
    code = [i for i in range(start, len(text)) if notebook[i]["cell_type"] == "code"]
    answers = [i for i in code if "### BEGIN SOLUTION" in text[i]]
    checked = [i for i in answers
               if re.search(r"\bcheck\w*\(|\bassert\b", "\n".join(text[i:i + 2]))]  # fmt: skip
    assert checked, f"{path.name}: no exercise answer is checked by a cell"
