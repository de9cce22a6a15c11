"""``nst doctor``, ``nst demo`` and ``nst colab-cell``: setting the kit up, on any system.

* ``nst doctor``: is this machine ready? One line each, with a fix where one is needed: Python
  and torch, the device and precision runs will use, which network's weights are ready, the
  memory available, the cache folder, the bundled pictures, and whether JupyterLab can show
  the notebooks' explorers. Notebook 00 shows the same report.
* ``nst demo``: what ``make demo`` does, with Python alone (Windows has no make): The Starry
  Night, or offline the bundled ``swirls``, on the bundled cat photo, in ``outputs/demo.png``.
* ``nst colab-cell``: every notebook's first cell (:func:`nst_utils.config.colab_cell`), printed,
  or written into notebooks with ``--write`` (a teacher's own notebooks open in Colab alike).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from ..errors import NSTError, one_line
from .options import add_output, add_size, add_steps

#: What runs below this much memory may be refused (a 256 px run needs about 1 GB).
LOW_MEMORY = 2 * 2**30


def add_commands(commands) -> None:
    """Add ``doctor``, ``demo`` and ``colab-cell``."""
    p = commands.add_parser("doctor", help="check this machine's set-up, with fixes")
    p.set_defaults(handler=cmd_doctor)

    p = commands.add_parser("demo", help="a first picture: what 'make demo' does, without make")
    p.set_defaults(handler=cmd_demo)
    add_output(p, "the picture (default outputs/demo.png)", required=False)
    add_size(p, 256)
    add_steps(p, 200)

    p = commands.add_parser("colab-cell", help="the notebooks' first cell (Colab's install)")
    p.set_defaults(handler=cmd_colab_cell)
    p.add_argument("--write", nargs="+", type=Path, default=None, metavar="NOTEBOOK",
                   help="put it first among these notebooks' code cells")  # fmt: skip


# --------------------------------------------------------------------------- doctor


@dataclass(frozen=True)
class Line:
    """One line of ``nst doctor``: what was checked, what was found, and a fix if needed."""

    name: str
    found: str
    fix: str | None = None

    def __str__(self) -> str:
        return f"{self.name:<9} {self.found}" + (f"  -> fix: {self.fix}" if self.fix else "")


def cmd_doctor(args: argparse.Namespace) -> None:
    """Print :func:`report`, one line each."""
    for line in report():
        print(line)


def report() -> list[Line]:
    """Every check of ``nst doctor``, in order; one that fails unexpectedly says so on its
    line, and the others still run."""
    torch_line = _torch()
    names = ["cache", "pictures", "widgets"]
    if torch_line.fix is None:  # what needs torch
        names = ["device", "weights", "memory", *names]
    lines = [_python(), torch_line]
    for name in names:
        try:
            lines.append(globals()[f"_{name}"]())
        except Exception as err:  # a check must not stop the others
            lines.append(Line(name, f"could not check ({one_line(err)})"))
    return lines


def _python() -> Line:
    return Line("python", f"{platform.python_version()} ({platform.system()} {platform.machine()})")


def _torch() -> Line:
    try:
        import torch
        import torchvision
    except ImportError as err:
        fix = "pip install torch torchvision, a matching pair (README, 'Set-up')"
        return Line("torch", f"does not import ({one_line(err)})", fix)
    return Line("torch", f"{torch.__version__}, torchvision {torchvision.__version__}")


def _device() -> Line:
    import torch

    from ..config import default_device
    from ..engine.precision import recommended_precision

    device = default_device()
    if device.type == "cuda":
        what = f"cuda ({torch.cuda.get_device_name(device)}): the notebooks use the GPU preset"
    elif device.type == "mps":
        what = "mps (Apple GPU)"
    else:
        what = f"cpu ({torch.get_num_threads()} threads)"
    forced = " (NST_DEVICE)" if os.environ.get("NST_DEVICE") else ""
    found = (f"{what}{forced}; precision fp32 in the notebooks, "
             f"{recommended_precision(device)} for nst stylize (--precision auto)")  # fmt: skip
    fix = None
    if device.type == "cpu" and "google.colab" in sys.modules:
        fix = "Runtime > Change runtime type > GPU, then rerun the first cell"
    return Line("device", found, fix)


def _weights() -> Line:
    from ..assets import weights

    rows = weights.weights_status()
    found = ", ".join(f"{r['arch']} " + ("ready" if r["cached"] else "not cached") for r in rows)
    chosen = next(r for r in rows if r["chosen"])
    found += f"; runs use {chosen['arch']} ({chosen['reason']})"
    if chosen["cached"]:
        return Line("weights", found)
    return Line("weights", found, f"nst weights fetch --arch {chosen['arch']} (once, ~1 min)")


def _memory() -> Line:
    from ..config import default_device
    from ..engine.memory import available, gb

    room, what = available(default_device())
    if room == float("inf"):
        return Line("memory", "no limit known here: a run that is too big is not refused")
    fix = "close other programs, or use smaller sizes" if room < LOW_MEMORY else None
    return Line("memory", f"{gb(room)} available ({what})", fix)


def _cache() -> Line:
    from ..config import cache_dir

    try:
        folder = cache_dir()
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        return Line("cache", f"not writable ({one_line(err)})",
                    "set NST_CACHE_DIR to a folder you can write to")  # fmt: skip
    return Line("cache", f"{folder} (weights, downloads; NST_CACHE_DIR moves it)")


def _pictures() -> Line:
    from ..assets.examples import bundled_images, data_dir, downloadable, example_available

    bundled, paintings = bundled_images(), downloadable()
    offline = sum(example_available(name) for name in paintings)
    found = (f"{len(bundled)} bundled ({data_dir()}); {offline} of {len(paintings)} "
             "paintings and photos to download are here")  # fmt: skip
    if not bundled:
        return Line("pictures", found, "reinstall the kit: its bundled pictures are missing")
    fix = None if offline else "nst examples fetch (once, online; notebooks fall back without)"
    return Line("pictures", found, fix)


def _widgets() -> Line:
    versions = {name: _version(name) for name in ("ipywidgets", "jupyterlab_widgets")}
    found = ", ".join(f"{name} {v or 'missing'}" for name, v in versions.items())
    if "google.colab" in sys.modules and versions["ipywidgets"]:
        return Line("widgets", f"{found}: Colab shows them (its first cell enables them)")
    if not all(versions.values()) or not versions["ipywidgets"].startswith("8"):
        return Line("widgets", f"{found}: JupyterLab cannot show the explorers",
                    'pip install "ipywidgets>=8.1" jupyterlab_widgets')  # fmt: skip
    return Line("widgets", f"{found}: JupyterLab shows the explorers")


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


# --------------------------------------------------------------------------- demo


def cmd_demo(args: argparse.Namespace) -> None:
    """The Starry Night (or offline the bundled swirls) on chelsea, through ``nst stylize``."""
    from ..assets.examples import fetch_example
    from . import build_parser

    style = "starry_night"
    try:
        fetch_example(style)
    except NSTError:
        print("The Starry Night cannot be downloaded here: using the bundled 'swirls' painting.")
        style = "swirls"
    out = args.output or Path("outputs") / "demo.png"
    log = out.with_suffix(".json")
    argv = ["stylize", "chelsea", style, "-o", str(out), "--log", str(log),
            "--size", str(args.size), "--steps", str(args.steps)]  # fmt: skip
    stylize = build_parser().parse_args(argv)
    stylize.argv = argv
    stylize.handler(stylize)
    print(f"Open {out} to see the result (settings and losses: {log}).")


# --------------------------------------------------------------------------- Colab's cell


def cmd_colab_cell(args: argparse.Namespace) -> None:
    """Print the cell, or write it into ``--write`` notebooks."""
    from ..config import colab_cell

    if not args.write:
        print(colab_cell())
        return
    for path in args.write:
        print(f"{path}: {'written' if write_colab_cell(path) else 'already there'}")


def write_colab_cell(path: Path) -> bool:
    """Make :func:`~nst_utils.config.colab_cell` the first code cell of notebook ``path``
    (replacing an older version of it); True if the file changed."""
    from ..config import colab_cell

    if not path.is_file():
        raise NSTError(f"{path}: no such notebook")
    text = path.read_text(encoding="utf-8")
    notebook = json.loads(text)
    cells = notebook["cells"]
    source = colab_cell()
    cell = {"cell_type": "code", "execution_count": None, "id": "colab-install",
            "metadata": {}, "outputs": [], "source": source.splitlines(keepends=True)}  # fmt: skip
    first = next((i for i, c in enumerate(cells) if c["cell_type"] == "code"), len(cells))
    head = source.splitlines()[0]
    if first < len(cells) and "".join(cells[first]["source"]).startswith(head):
        cells[first] = cell
    else:
        cells.insert(first, cell)
    new = json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
    if new == text:
        return False
    path.write_text(new, encoding="utf-8")
    return True
