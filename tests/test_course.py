"""The course's two versions: the student notebooks (``notebooks/``) are the sources
(``course/``) with every solution cleared, up to date, and they run top to bottom with no error
but the stubs a student has still to write."""

from __future__ import annotations

import pytest

from course.build import SOURCES, STUDENTS, sources, stubs, student_text

NOT_IMPLEMENTED = "not implemented yet"


def test_every_source_has_its_student_version_and_nothing_else():
    assert [p.name for p in sources()] == sorted(p.name for p in STUDENTS.glob("*.ipynb"))
    assert len(sources()) == 10


@pytest.mark.parametrize("path", sources(), ids=lambda p: p.stem)
def test_the_student_version_is_up_to_date(path):
    committed = (STUDENTS / path.name).read_text(encoding="utf-8")
    assert committed == student_text(path), f"notebooks/{path.name} is stale: run make student"


def test_clearing_replaces_code_and_answers_and_keeps_the_rest():
    import nbformat

    from course.build import CODE_STUB, TEXT_STUB, student_version

    source = nbformat.v4.new_notebook()
    source.cells = [
        nbformat.v4.new_code_cell('def f(x):\n    """doc"""\n    ### BEGIN SOLUTION\n'
                                  "    return 2 * x\n    ### END SOLUTION\n\nf = check(f, g, 1)"),
        nbformat.v4.new_markdown_cell("Why?\n\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION"),
        nbformat.v4.new_code_cell("kept = 1"),
    ]
    source.cells[2].outputs = [nbformat.v4.new_output("stream", text="1")]
    student = student_version(source)
    code, text, kept = (cell.source for cell in student.cells)
    assert "return 2 * x" not in code and CODE_STUB.splitlines()[1] in code
    assert code.endswith("f = check(f, g, 1)") and '"""doc"""' in code
    assert "Because" not in text and TEXT_STUB in text
    assert kept == "kept = 1" and student.cells[2].outputs == []


@pytest.mark.parametrize("path", sources(), ids=lambda p: p.stem)
def test_the_student_version_runs_with_only_its_stubs_unwritten(path, monkeypatch, shared_images):
    """Run as a student who has written nothing yet: every stub is reported once, as "not
    implemented yet" by its check or as a NotImplementedError of an exercise, and nothing else
    fails."""
    nbclient = pytest.importorskip("nbclient")
    import nbformat

    notebook = nbformat.read(STUDENTS / path.name, as_version=4)
    monkeypatch.setenv("NST_FAST", "1")
    monkeypatch.setenv("NST_EXAMPLES_DIR", str(shared_images))
    monkeypatch.setenv("PYTHONPATH", str(SOURCES.parent))
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     allow_errors=True,
                                     resources={"metadata": {"path": str(STUDENTS)}})  # fmt: skip
    client.execute()
    reports, errors = 0, []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                reports += output.text.count(NOT_IMPLEMENTED)
            elif output.output_type == "error":
                if output.ename == "NotImplementedError":
                    reports += 1
                else:
                    errors.append(f"{output.ename}: {output.evalue}")
    assert not errors, f"{path.name}: {errors}"
    assert reports == stubs(path), f"{path.name}: {reports} stubs reported, {stubs(path)} written"
