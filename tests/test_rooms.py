"""The architecture the folders show: the paper's core imports no later chapter, the notebooks
of the paper import only the core and what shows it, only the pipeline optimises, and the code
a student reads is the code that runs."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import torch

from nst_utils.engine import speed
from nst_utils.paper import losses
from nst_utils.paper.objective import build_objective

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "nst_utils"
#: What the paper's core may import: itself, and what is not a chapter.
CORE_MAY_IMPORT = {"paper", "assets", "engine", "config", "errors", "checks"}
#: What notebooks 01-05 (the paper) may import.
PAPER_NOTEBOOKS_MAY_IMPORT = {"paper", "assets", "display", "config"}
CORE_LINES = 1400


def _room(module: str) -> str:
    """``nst_utils.paper.losses`` -> ``paper``; ``nst_utils`` itself -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "nst_utils" else ""


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports (at module level or inside functions), made absolute."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative: from the file's package, one level up per extra dot
                parts = package.split(".")
                base = parts[: len(parts) - node.level + 1]
                module = ".".join(part for part in [*base, module] if part)
            found.add(module)
            found |= {f"{module}.{alias.name}" for alias in node.names}
    return {m for m in found if m and m.startswith("nst_utils")}


def test_the_core_imports_no_later_chapter():
    for path in sorted((PACKAGE / "paper").glob("*.py")):
        rooms = {_room(m) for m in _imports(path)} - {""}
        assert rooms <= CORE_MAY_IMPORT, f"{path.name} imports {sorted(rooms - CORE_MAY_IMPORT)}"


def test_the_core_is_small_enough_to_read():
    lines = sum(len(p.read_text().splitlines()) for p in (PACKAGE / "paper").glob("*.py"))
    assert lines <= CORE_LINES, f"nst_utils/paper has {lines} lines"


def _notebook_imports(path: Path) -> set[str]:
    cells = json.loads(path.read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    python = [line for line in code.splitlines() if not line.startswith(("%", "!"))]
    tree = ast.parse("\n".join(python))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
    return {n for n in names if n.startswith("nst_utils")}


@pytest.mark.parametrize("number", ["01", "02", "03", "04", "05"])
def test_the_papers_notebooks_import_only_the_core_and_what_shows_it(number):
    (path,) = (ROOT / "notebooks").glob(f"{number}_*.ipynb")
    rooms = {_room(m) for m in _notebook_imports(path)} - {""}
    assert rooms, f"{path.name} imports nothing from nst_utils: the test reads it wrongly"
    assert rooms <= PAPER_NOTEBOOKS_MAY_IMPORT, f"{path.name}: {rooms - PAPER_NOTEBOOKS_MAY_IMPORT}"


def test_only_the_pipeline_calls_the_optimiser():
    callers = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            engine = isinstance(node, ast.ImportFrom) and (node.module or "").endswith("optimize")
            if engine and any(alias.name == "optimize" for alias in node.names):
                callers.append(path.relative_to(PACKAGE).as_posix())
    assert callers == ["paper/pipeline.py"]


def test_notebook_04s_objective_runs_the_gram_matrix_students_read(monkeypatch, random_vgg16):
    """Built as notebook 04 builds it (default settings), the objective's evaluation calls the
    core's ``gram_matrix``, installed as a spy only after the objective exists, and never
    enters the engine's speed path."""
    g = torch.Generator().manual_seed(0)
    photo, painting = torch.rand(1, 3, 40, 48, generator=g), torch.rand(1, 3, 40, 48, generator=g)
    objective = build_objective(random_vgg16, photo, painting, content_weight=1.0,
                                style_weight=1e2)  # fmt: skip
    calls = []
    real = losses.gram_matrix
    monkeypatch.setattr(losses, "gram_matrix", lambda f: calls.append(f.shape) or real(f))

    def no_speed_path(*_):
        raise AssertionError("the default evaluation entered the speed path")

    monkeypatch.setattr(speed, "evaluate", no_speed_path)
    with torch.no_grad():
        objective(photo)
    assert len(calls) == 5  # relu1_1 ... relu5_1, eq. 3 as written
