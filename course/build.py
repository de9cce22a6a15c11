"""The course's two versions from one source: ``python -m course.build [student|key]``.

``course/`` holds one source notebook per chapter, with every solution between nbgrader's
markers (``### BEGIN SOLUTION`` / ``### END SOLUTION``, in code and in markdown cells).

* ``student`` writes the student versions to ``notebooks/`` (what a class opens): nbgrader's
  ``ClearSolutions`` replaces each marked region by a stub (code) or an answer prompt
  (markdown), and outputs are cleared. ``tests/test_course.py`` fails when they are stale.
* ``key`` writes the instructor version as an answer key: every source executed at class
  settings and rendered to HTML in ``answer-key/`` (not committed).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "course"
STUDENTS = ROOT / "notebooks"
ANSWER_KEY = ROOT / "answer-key"
#: What replaces a solution in a code cell: the check after it reports "not implemented yet".
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
#: What replaces a solution in a markdown cell.
TEXT_STUB = "*Your answer here.*"


def sources() -> list[Path]:
    """The source notebooks, in course order."""
    return sorted(SOURCES.glob("[0-9][0-9]_*.ipynb"))


def student_version(source: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """``source`` without its solutions and outputs (a copy)."""
    from nbconvert.preprocessors import ClearOutputPreprocessor
    from nbgrader.preprocessors import ClearSolutions

    notebook = nbformat.from_dict(source)
    clear = ClearSolutions(enforce_metadata=False, code_stub={"python": CODE_STUB},
                           text_stub=TEXT_STUB)  # fmt: skip
    notebook, _ = clear.preprocess(notebook, {})
    notebook, _ = ClearOutputPreprocessor().preprocess(notebook, {})
    for cell in notebook.cells:
        cell.metadata.pop("nbgrader", None)
    return notebook


def student_text(path: Path) -> str:
    """The student version of the source at ``path``, as the file it is written to."""
    notebook = student_version(nbformat.read(path, as_version=4))
    return nbformat.writes(notebook) + "\n"


def write_students(only: Sequence[str] = ()) -> list[Path]:
    """Write the student versions to ``notebooks/`` (those whose name starts with one of
    ``only``, default all); the paths written."""
    written = []
    for path in sources():
        if only and not path.name.startswith(tuple(only)):
            continue
        target = STUDENTS / path.name
        text = student_text(path)
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
            written.append(target)
    return written


def stubs(path: Path) -> int:
    """How many solution regions of code cells a source has (each a stub for students)."""
    notebook = nbformat.read(path, as_version=4)
    return sum(cell.source.count("### BEGIN SOLUTION") for cell in notebook.cells
               if cell.cell_type == "code")  # fmt: skip


def write_answer_key(only: Sequence[str] = ()) -> list[Path]:
    """Execute the sources (default all) at class settings and render them to HTML in
    ``answer-key/``."""
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import ExecutePreprocessor

    ANSWER_KEY.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "NST_FAST"}
    os.environ.clear()
    os.environ.update(env)
    written = []
    for path in sources():
        if only and not path.name.startswith(tuple(only)):
            continue
        notebook = nbformat.read(path, as_version=4)
        ExecutePreprocessor(timeout=1800).preprocess(notebook, {"metadata": {"path": str(SOURCES)}})
        html, _ = HTMLExporter().from_notebook_node(notebook)
        target = ANSWER_KEY / path.with_suffix(".html").name
        target.write_text(html, encoding="utf-8")
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("student", "key"))
    parser.add_argument("only", nargs="*", help="notebook numbers (02 03 ...), default all")
    args = parser.parse_args(argv)
    written = write_students(args.only) if args.what == "student" else write_answer_key(args.only)
    for path in written:
        print(f"wrote {path.relative_to(ROOT)}")
    if not written:
        print("up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
