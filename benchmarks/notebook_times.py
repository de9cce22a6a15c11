"""The notebook run times the kit quotes, from one source: the recorded ``--notebooks`` runs.

``python -m benchmarks.notebook_times`` prints, per notebook, the newest recorded class-setting
time (``benchmarks/results/*.json``, part 5 of ``make bench``); ``--write`` puts those numbers
into the README's notebook table, notebook 00's course map, the run-time table of
``docs/teaching.md`` and each notebook's ``**Run time:**`` line (only the number changes);
``tests/test_notebook_times.py`` fails where they differ. A notebook re-measured on its
own (``python -m benchmarks.run --notebooks --parts notebooks --only-notebooks 05``) takes its
newest time; the others keep theirs.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import nbformat

from .common import ROOT

RESULTS = ROOT / "benchmarks" / "results"
README = ROOT / "README.md"
TEACHING = ROOT / "docs" / "teaching.md"
NOTEBOOKS = ROOT / "course"  # the sources; the student versions are built from them
#: The one way a time is written everywhere: minutes with one decimal.
TIME = r"\d+\.\d min"
README_ROW = re.compile(rf"^(\| `(\d\d)_[a-z_]+` \|.*\| )({TIME})( \|)$", re.M)
MAP_ROW = re.compile(rf"^(\| \*\*(\d\d) [^|]*\*\* \|.*\| )({TIME})( \|)$", re.M)
TEACHING_ROW = re.compile(rf"^(\| (\d\d) · [^|]*\| )({TIME})( \|)$", re.M)
HEADER = re.compile(rf"(\*\*Run time:\*\* )({TIME})")


def recorded(results: Path = RESULTS) -> dict[str, dict]:
    """Newest recorded row per notebook number (``"05"``), with the ``file`` it comes from."""
    rows: dict[str, dict] = {}
    for path in sorted(results.glob("*.json")):  # names start with the date: oldest first
        for row in json.loads(path.read_text()).get("notebooks") or []:
            rows[row["notebook"][:2]] = {**row, "file": path.name}
    return rows


def minutes(row: dict) -> str:
    """A recorded row as the kit writes it: ``"3.4 min"``."""
    return f"{row['wall_s'] / 60:.1f} min"


def _replace(pattern: re.Pattern, text: str, times: dict[str, str]) -> str:
    return pattern.sub(lambda m: m[1] + times.get(m[2], m[3]) + m[4], text)


def write(times: dict[str, str]) -> list[Path]:
    """Put ``times`` (number → ``"3.4 min"``) into the README, the teaching guide, the course
    map and the headers."""
    changed = []
    for doc, pattern in ((README, README_ROW), (TEACHING, TEACHING_ROW)):
        text = doc.read_text(encoding="utf-8")
        new = _replace(pattern, text, times)
        if new != text:
            doc.write_text(new, encoding="utf-8")
            changed.append(doc)
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        before = nbformat.writes(nb)
        number = path.name[:2]
        for cell in nb.cells:
            if cell.cell_type != "markdown":
                continue
            if number in times:
                cell.source = HEADER.sub(lambda m, t=times[number]: m[1] + t, cell.source)
            if number == "00":
                cell.source = _replace(MAP_ROW, cell.source, times)
        if nbformat.writes(nb) != before:
            nbformat.write(nb, path)
            changed.append(path)
    if any(path.suffix == ".ipynb" for path in changed):
        from course.build import write_students

        changed += write_students()
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="update README, map and headers")
    args = parser.parse_args(argv)
    rows = recorded()
    times = {n: minutes(r) for n, r in rows.items() if r["ok"]}
    for _, r in sorted(rows.items()):
        print(f"{r['notebook']:<36} {minutes(r):>8} {'ok' if r['ok'] else 'FAILED'}  {r['file']}")
    if args.write:
        for path in write(times):
            print(f"updated {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
