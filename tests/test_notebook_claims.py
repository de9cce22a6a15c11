"""The class-setting run of the notebooks lists every claim the prose makes, and its errors."""

from __future__ import annotations

import nbformat

from benchmarks.notebooks import read_outputs


def test_claims_and_errors_are_read_from_an_executed_notebook(tmp_path):
    notebook = nbformat.v4.new_notebook()
    first, second = nbformat.v4.new_code_cell("a"), nbformat.v4.new_code_cell("b")
    first.outputs = [nbformat.v4.new_output(
        "stream", text="loss 3\nclaim: the loss falls tenfold | measured: 12.5 | holds\n")]
    second.outputs = [
        nbformat.v4.new_output("stream", text="claim: it keeps the layout | measured: 0.2 | "
                                              "does NOT hold\n"),
        nbformat.v4.new_output("error", ename="AssertionError", evalue="the notebook says ...",
                               traceback=[]),
    ]
    notebook.cells = [nbformat.v4.new_markdown_cell("text"), first, second]
    path = tmp_path / "run.ipynb"
    nbformat.write(notebook, path)
    claims, errors = read_outputs(path)
    assert claims == [
        {"cell": 1, "claim": "the loss falls tenfold", "measured": "12.5", "holds": True},
        {"cell": 2, "claim": "it keeps the layout", "measured": "0.2", "holds": False},
    ]
    assert errors == ["cell 2: AssertionError: the notebook says ..."]
