"""Part 5 (opt-in, ``--notebooks``): wall time of each notebook at class settings.

Each source notebook, ``course/*.ipynb`` (the instructor version: the student version with
every stub and exercise solved), is executed with ``jupyter nbconvert --execute`` into a
temporary folder (the notebooks themselves are not touched), without ``NST_FAST``, so at the
sizes and step counts a class uses. Every claim the notebook's prose makes about a result
(``nst_utils.display.check.claim``: the statement, the number measured, whether it holds) is
listed in the record, cell by cell; a claim that does not hold fails the notebook
(``NST_CHECK_CLAIMS=1``). Target:
each at most 4 minutes on an idle 2-core CPU (headroom for slower laptops). The recorded
result is the one source of the notebook times that the README, notebook 00's course map and
the notebooks' headers quote (tests/test_notebook_times.py).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import ROOT

TARGET_S = 240
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def measure(log=print, timeout_s: int = 1800, only: list[str] | None = None,
            keep_dir: Path | None = None) -> list[dict]:
    """Time the notebooks (those whose name starts with one of ``only``, default all).

    ``keep_dir``: also keep the executed notebooks (with their figures) there, to look at.
    """
    jupyter = Path(sys.executable).with_name("jupyter")
    env = {k: v for k, v in os.environ.items() if k != "NST_FAST"}
    env["NST_CHECK_CLAIMS"] = "1"  # every claim of the prose must hold at class settings
    notebooks = sorted((ROOT / "course").glob("[0-9][0-9]_*.ipynb"))
    if only:
        notebooks = [nb for nb in notebooks if nb.name.startswith(tuple(only))]
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for nb in notebooks:
            cmd = [str(jupyter), "nbconvert", "--to", "notebook", "--execute", "--allow-errors",
                   f"--ExecutePreprocessor.timeout={timeout_s}", "--output-dir", tmp, str(nb)]
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=nb.parent, env=env,
                                  check=False)
            wall = time.perf_counter() - t0
            executed = Path(tmp) / nb.name
            claims, errors = read_outputs(executed) if executed.exists() else ([], [])
            ok = proc.returncode == 0 and not errors
            row = {"notebook": nb.name, "wall_s": wall, "ok": ok,
                   "within_target": ok and wall <= TARGET_S, "claims": claims}
            if proc.returncode != 0:  # the failing line and the error, without colours
                lines = ANSI.sub("", proc.stderr or "").strip().splitlines()
                row["error"] = [line for line in lines if line.strip()][-6:]
            elif errors:
                row["error"] = errors
            out.append(row)
            if keep_dir is not None and (Path(tmp) / nb.name).exists():
                keep_dir.mkdir(parents=True, exist_ok=True)
                shutil.copy(Path(tmp) / nb.name, keep_dir / nb.name)
            log(f"  {nb.name}: {wall / 60:.1f} min {'ok' if row['ok'] else 'FAILED'}"
                f"{'' if row['within_target'] else f' (over the {TARGET_S // 60} min target)'}")
    return out


CLAIM = re.compile(r"^claim: (.*) \| measured: (.*) \| (holds|does NOT hold)$", re.M)


def read_outputs(path: Path) -> tuple[list[dict], list[str]]:
    """The claims an executed notebook printed (cell, claim, measured, holds) and its errors."""
    import nbformat

    claims, errors = [], []
    for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                claims += [
                    {"cell": index, "claim": m[1], "measured": m[2], "holds": m[3] == "holds"}
                    for m in CLAIM.finditer(output.text)
                ]
            elif output.output_type == "error":
                errors.append(f"cell {index}: {output.ename}: {ANSI.sub('', output.evalue)}")
    return claims, errors
