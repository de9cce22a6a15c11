"""Part 5 (opt-in, ``--notebooks``): wall time of each notebook at class settings.

Each ``notebooks/*.ipynb`` is executed with ``jupyter nbconvert --execute`` into a temporary
folder (the notebooks themselves are not touched), without ``NST_FAST``, so at the sizes and
step counts a class uses. Target: each at most 5 minutes on a 2-core CPU.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import ROOT

TARGET_S = 300


def measure(log=print, timeout_s: int = 1800) -> list[dict]:
    jupyter = Path(sys.executable).with_name("jupyter")
    env = {k: v for k, v in os.environ.items() if k != "NST_FAST"}
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
            cmd = [str(jupyter), "nbconvert", "--to", "notebook", "--execute",
                   f"--ExecutePreprocessor.timeout={timeout_s}", "--output-dir", tmp, str(nb)]
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=nb.parent, env=env,
                                  check=False)
            wall = time.perf_counter() - t0
            row = {"notebook": nb.name, "wall_s": wall, "ok": proc.returncode == 0,
                   "within_target": proc.returncode == 0 and wall <= TARGET_S}
            if proc.returncode != 0:
                row["error"] = proc.stderr.strip().splitlines()[-1:] if proc.stderr else []
            out.append(row)
            log(f"  {nb.name}: {wall / 60:.1f} min {'ok' if row['ok'] else 'FAILED'}"
                f"{'' if row['within_target'] else ' (over the 5 min target)'}")
    return out
