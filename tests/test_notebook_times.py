"""One source of notebook times: the README's table, notebook 00's course map and each
notebook's ``**Run time:**`` line quote the newest recorded class-setting run of that notebook
(``benchmarks/results/*.json``, part 5 of ``make bench``; ``python -m benchmarks.notebook_times
--write`` copies the numbers). Re-measure, then write: these fail until the quotes agree."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "course").glob("[0-9][0-9]_*.ipynb"))  # the sources
TARGET_MIN = 4.0  # each notebook at class settings on an idle 2-core CPU (issue 13)


def recorded() -> dict[str, dict]:
    """Newest recorded row per notebook number; result files are named by their start time."""
    rows = {}
    for path in sorted((ROOT / "benchmarks" / "results").glob("*.json")):
        for row in json.loads(path.read_text()).get("notebooks") or []:
            rows[row["notebook"][:2]] = {**row, "file": path.name}
    return rows


RECORDED = recorded()
#: What may be quoted: successful runs (a failed one is reported by the first test).
QUOTABLE = {n: f"{r['wall_s'] / 60:.1f}" for n, r in RECORDED.items() if r["ok"]}


def markdown(path: Path) -> list[str]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]


def last_column(rows: list[str]) -> dict[str, str]:
    """``{"05": "3.4"}`` from table rows whose first cell names the notebook."""
    out = {}
    for number, row in rows:
        cell = row.rstrip().rstrip("|").rsplit("|", 1)[1].strip()
        match = re.fullmatch(r"(\d+\.\d) min", cell)
        out[number] = match[1] if match else cell
    return out


def test_every_notebook_has_a_recorded_successful_run_within_the_target():
    for path in NOTEBOOKS:
        row = RECORDED.get(path.name[:2])
        assert row, f"{path.name}: no recorded run (python -m benchmarks.run --notebooks)"
        assert row["ok"], f"{path.name} failed in {row['file']}: {row.get('error')}"
        assert row["wall_s"] <= TARGET_MIN * 60, (
            f"{path.name}: {row['wall_s'] / 60:.1f} min in {row['file']}, over {TARGET_MIN} min")


def test_readme_table_quotes_the_record():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\d\d)_\w+` (\|.*)$", text, re.M)
    assert {n for n, _ in rows} == {p.name[:2] for p in NOTEBOOKS}
    assert_quotes(last_column(rows), "README")


def assert_quotes(quotes: dict[str, str], where: str) -> None:
    wrong = [f"{n}: {t} min, recorded {QUOTABLE[n]} min" for n, t in quotes.items()
             if n in QUOTABLE and t != QUOTABLE[n]]
    assert not wrong, f"{where} disagrees with benchmarks/results: {wrong}"


def test_teaching_guide_quotes_the_record():
    text = (ROOT / "docs" / "teaching.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d\d) · [^|]*(\|.*)$", text, re.M)
    assert {n for n, _ in rows} == {p.name[:2] for p in NOTEBOOKS}
    assert_quotes(last_column(rows), "docs/teaching.md")


def test_course_map_in_notebook_00_quotes_the_record():
    (course_map,) = [m for m in markdown(NOTEBOOKS[0]) if "map of the course" in m]
    rows = re.findall(r"^\| \*\*(\d\d) [^|]*\*\* (\|.*)$", course_map, re.M)
    assert {n for n, _ in rows} == {p.name[:2] for p in NOTEBOOKS}
    assert_quotes(last_column(rows), "notebook 00's course map")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_header_quotes_the_record(path):
    header = markdown(path)[0]
    found = re.findall(r"\*\*Run time:\*\* (\d+\.\d) min", header)
    assert found, f"{path.name}: the header has no '**Run time:** X.Y min' line"
    assert len(found) == 1, f"{path.name}: one run time in the header, found {found}"
    assert_quotes({path.name[:2]: found[0]}, f"{path.name}'s header")
