"""The package's layout and the documents that describe it stay true.

* The module map (the table in ``nst_utils/__init__.py``'s docstring and the one under
  README.md's "Layout") is one map: both say the same, name every module under ``nst_utils``
  and nothing that does not exist.
* Every dotted ``nst_utils.…`` name in the documents and in the package's string literals
  (error messages, docstrings) imports, and every ``nst_utils/…`` path they name exists: a
  move or a rename cannot leave a stale pointer behind.
* No module is over :data:`MAX_LINES` lines.
"""

from __future__ import annotations

import ast
import importlib
import itertools
import re
import tomllib
from pathlib import Path

import pytest

import nst_utils

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "nst_utils"
MAX_LINES = 450
#: The documents whose ``nst_utils`` names and paths are checked.
DOCUMENTS = sorted(
    [
        ROOT / "README.md",
        ROOT / "BENCHMARKS.md",
        PACKAGE / "assets" / "models" / "README.md",
        *(ROOT / "docs").glob("*.md"),
    ]
)
BORDER = re.compile(r"^=+ {2}=+$")
DOTTED = re.compile(r"\bnst_utils(?:\.[A-Za-z_]\w*)+")
PATH = re.compile(r"\bnst_utils/[\w./{},*<>-]*")


# --------------------------------------------------------------------------- the module map


def docstring_map() -> list[tuple[str, str]]:
    """(name, what it holds) per row of the docstring's reST table, in markdown's backticks."""
    lines = nst_utils.__doc__.splitlines()
    borders = [i for i, line in enumerate(lines) if BORDER.match(line)]
    assert len(borders) == 2, "the package docstring should hold one simple table"
    rows = []
    for line in lines[borders[0] + 1 : borders[1]]:
        name, text = re.split(r" {2,}", line.strip(), maxsplit=1)
        rows.append((name.replace("``", "`"), text.replace("``", "`")))
    return rows


def readme_map() -> list[tuple[str, str]]:
    """(name, what it holds) per row of the table under README.md's "Layout"."""
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("\n## Layout\n", 1)[1]
    table = section.split("| module | what it holds |\n|---|---|\n", 1)[1]
    rows = []
    for line in itertools.takewhile(lambda line: line.startswith("| "), table.splitlines()):
        name, text = line.removeprefix("| ").removesuffix(" |").split(" | ", 1)
        rows.append((name, text))
    return rows


def modules_in_tree() -> set[str]:
    """Every module under nst_utils as the map names it: ``room.module``, a package as
    ``room.package``, every room as ``room/``; the ``cli`` package's files as ``cli``."""
    names = set()
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[0] == "cli" and len(parts) > 1:  # cli's internals: the map says `cli`
            names.add("cli")
        elif parts[-1] == "__init__":
            if len(parts) == 2:  # a room
                names.add(f"{parts[0]}/")
            elif len(parts) > 2:  # a package inside a room
                names.add(".".join(parts[:-1]))
        else:
            names.add(".".join(parts))
    return names


def exists(name: str) -> bool:
    """``room/`` or ``room/folder/``: a folder; ``a.b``: a module file or a package."""
    if name.endswith("/"):
        return (PACKAGE / name).is_dir()
    path = PACKAGE.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def named(rows: list[tuple[str, str]]) -> list[str]:
    """The names of the modules and folders in the map's rows (room headings included)."""
    return [name.strip("`") for name, _ in rows if name.startswith("`")]


def test_the_docstring_and_the_readme_hold_the_same_map():
    assert docstring_map() == readme_map()


@pytest.mark.parametrize("source", [docstring_map, readme_map], ids=["docstring", "README"])
def test_the_map_names_every_module_and_nothing_else(source):
    names = named(source())
    assert len(names) == len(set(names)), "a module named twice"
    assert [name for name in names if not exists(name)] == [], "named, but not in the tree"
    assert sorted(modules_in_tree() - set(names)) == [], "in the tree, but not in the map"


def test_the_map_groups_modules_by_room_in_order():
    """Each room's heading (``room/``) comes before its modules, and they follow it."""
    room = None
    for name in named(docstring_map()):
        if name.endswith("/") and name.count("/") == 1:
            room = name.removesuffix("/")
        elif "." in name or name.count("/") > 1:
            assert name.split(".")[0].split("/")[0] == room, f"{name} outside its room"
        else:
            room = None  # the top level: config, checks, errors, cli


# --------------------------------------------------------------------------- names in the text


def string_literals(path: Path) -> str:
    """Every string constant of a module (docstrings and messages, f-strings' literal parts)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return "\n".join(
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    )


def texts() -> dict[str, str]:
    """{where: text} for the documents and for each module's string literals."""
    found = {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8") for p in DOCUMENTS}
    for path in sorted(PACKAGE.rglob("*.py")):
        found[str(path.relative_to(ROOT))] = string_literals(path)
    return found


def mapped_packages() -> dict[str, Path]:
    """Packages that only an install has, mapped from another folder by ``pyproject.toml``
    (``[tool.setuptools.package-dir]``, e.g. the bundled pictures): {dotted name: folder}."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    mapped = config.get("tool", {}).get("setuptools", {}).get("package-dir", {})
    return {name: ROOT / folder for name, folder in mapped.items() if name}


def resolves(dotted: str) -> bool:
    """Does ``dotted`` name a module, or an attribute (chain) of one, or a package that an
    install maps from a folder of the repository?"""
    for name, folder in mapped_packages().items():
        if dotted == name or dotted.startswith(name + "."):
            return folder.is_dir()
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        name = ".".join(parts[:i])
        try:
            obj = importlib.import_module(name)
        except ModuleNotFoundError as err:  # not a module: try the shorter prefix
            if err.name and (name == err.name or name.startswith(err.name + ".")):
                continue
            raise  # a module that exists but cannot be imported: a real failure
        for attribute in parts[i:]:
            if not hasattr(obj, attribute):
                return False
            obj = getattr(obj, attribute)
        return True
    return False


def expand_braces(path: str) -> list[str]:
    """``a{1,2}b`` → ``a1b``, ``a2b`` (the shell's brace form the documents use)."""
    match = re.search(r"\{([^{}]*)\}", path)
    if not match:
        return [path]
    return [
        expanded
        for choice in match.group(1).split(",")
        for expanded in expand_braces(path[: match.start()] + choice + path[match.end() :])
    ]


def test_every_dotted_name_imports():
    stale = sorted(
        {
            f"{where}: {dotted}"
            for where, text in texts().items()
            for dotted in set(DOTTED.findall(text))
            if not resolves(dotted)
        }
    )
    assert stale == []


def test_every_named_path_exists():
    missing = set()
    for where, text in texts().items():
        for raw in set(PATH.findall(text)):
            path = raw.rstrip(".,;:")
            if "*" in path or "<" in path:  # a pattern, not a path
                continue
            for candidate in expand_braces(path):
                if not (ROOT / candidate).exists():
                    missing.add(f"{where}: {candidate}")
    assert sorted(missing) == []


def test_the_checks_find_stale_names():
    """The checks above would catch the kind of name a move leaves behind."""
    assert resolves("nst_utils.paper.pipeline.Extension")
    assert resolves("nst_utils.assets.weights")
    assert not resolves("nst_utils.objective.build_objective")  # before the rooms
    assert not resolves("nst_utils.paper.vgg.NoSuchThing")
    assert DOTTED.findall("see :func:`nst_utils.paper.pipeline.run`.") == [
        "nst_utils.paper.pipeline.run"
    ]
    assert expand_braces("m/d{1,2}_1.st") == ["m/d1_1.st", "m/d2_1.st"]


# --------------------------------------------------------------------------- size


def test_no_module_is_over_the_line_limit():
    """Past this a module holds more than one idea: split it along its seam."""
    counts = {
        str(path.relative_to(ROOT)): len(path.read_text(encoding="utf-8").splitlines())
        for path in sorted(PACKAGE.rglob("*.py"))
    }
    assert {path: n for path, n in counts.items() if n > MAX_LINES} == {}
