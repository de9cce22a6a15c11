"""The kit runs where Linux's extras are missing (Windows, macOS): no Unix-only module at
import time, and every platform probe (memory, limits, CPU features, OpenMP runtimes) has a
path that needs no ``/proc`` or ``/sys``.

The stand-in for Windows: a fresh interpreter in which an import hook refuses ``resource``,
``fcntl``, ``termios``, ``pwd`` and ``grp`` and an ``open`` guard hides ``/proc`` and ``/sys``;
it imports every module of the package and runs a 2-step ``nst stylize`` through the console
script's entry point.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

#: Runs first in the child: what Windows lacks is made to fail the way it fails there.
GUARD = r'''
import builtins, io, os, sys

BLOCKED = {"resource", "fcntl", "termios", "pwd", "grp"}
HIDDEN = ("/proc", "/sys")
SEEN = {"blocked imports": [], "hidden reads": []}


class Unix:
    """A meta-path finder that has none of the Unix-only modules."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            SEEN["blocked imports"].append(name)
            raise ModuleNotFoundError(f"No module named {name!r} (not on Windows)", name=name)
        return None


for name in BLOCKED:
    sys.modules.pop(name, None)
sys.meta_path.insert(0, Unix())


def _hidden(path):
    try:
        text = os.fsdecode(os.fspath(path))
    except TypeError:  # a file descriptor
        return False
    if text.startswith(HIDDEN):
        SEEN["hidden reads"].append(text)
        return True
    return False


_open, _os_open = io.open, os.open


def guarded_open(file, *args, **kwargs):
    if _hidden(file):
        raise FileNotFoundError(2, "No such file or directory", str(file))
    return _open(file, *args, **kwargs)


def guarded_os_open(path, *args, **kwargs):
    if _hidden(path):
        raise FileNotFoundError(2, "No such file or directory", str(path))
    return _os_open(path, *args, **kwargs)


builtins.open = io.open = guarded_open
os.open = guarded_os_open
'''

RUN = r'''
import importlib, importlib.metadata, json, pkgutil, sys

import nst_utils

modules = [m.name for m in pkgutil.walk_packages(nst_utils.__path__, "nst_utils.")
           if not m.name.endswith("__main__")]  # that one runs the command
for name in modules:
    importlib.import_module(name)
from nst_utils.engine import memory, openmp, precision

(script,) = importlib.metadata.entry_points(group="console_scripts", name="nst")
code = script.load()(sys.argv[1:])
print(json.dumps({
    "code": code, "modules": len(modules), "seen": SEEN,
    "available": memory.available("cpu"), "precision": precision.recommended_precision(),
    "runtimes": openmp.openmp_runtimes(), "resource": "resource" in sys.modules,
}))
'''


def guarded(args: list[str], tmp_path: Path) -> dict:
    """Run the kit under :data:`GUARD` with ``args`` for ``nst``; the child's JSON report."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("NST_DEVICE", None)
    proc = subprocess.run([sys.executable, "-c", GUARD + RUN, *args], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_the_kit_imports_and_paints_without_unix_modules_or_proc(vgg16, tmp_path):
    out = tmp_path / "out.png"
    report = guarded(["stylize", "chelsea", "swirls", "-o", str(out), "--size", "32",
                      "--steps", "2", "--arch", "vgg16", "--quiet"], tmp_path)  # fmt: skip
    assert report["code"] == 0 and out.is_file()
    assert report["modules"] > 40  # every module of the package was imported
    assert not report["resource"]  # nothing got past the hook
    # the probes were cut off and answered without them
    assert any(path.startswith("/proc") for path in report["seen"]["hidden reads"])
    room, what = report["available"]
    assert room == float("inf") or room > 0, what
    assert report["precision"] in ("fp32", "bf16")
    assert isinstance(report["runtimes"], list)  # Linux's threadpoolctl reads /proc: none known


def test_no_module_of_the_package_imports_a_unix_only_module_at_module_level():
    import ast

    unix = {"resource", "fcntl", "termios", "pwd", "grp", "posix"}
    found = []
    for path in sorted((REPO / "nst_utils").rglob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:  # module level only
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])  # fmt: skip
            found += [f"{path.name}: {n}" for n in names if n.split(".")[0] in unix]
    assert not found


def test_cpu_features_come_from_torch_where_proc_is_missing(monkeypatch):
    from nst_utils.engine import precision

    def no_proc(*args, **kwargs):
        raise FileNotFoundError("/proc/cpuinfo")

    monkeypatch.setattr("builtins.open", no_proc)
    monkeypatch.setattr(precision.torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    assert precision.recommended_precision("cpu") == "bf16"
    monkeypatch.setattr(precision.torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(precision.torch.cpu, "_is_amx_tile_supported", lambda: False)
    assert precision.recommended_precision("cpu") == "fp32"
    assert precision.recommended_precision("mps") == "fp32"  # no bf16 autocast there


def test_openmp_runtimes_are_read_without_proc(monkeypatch):
    import torch  # noqa: F401  (loads torch's OpenMP runtime)

    from nst_utils.engine import openmp

    monkeypatch.setattr(openmp, "_runtimes_from_proc", lambda: pytest.fail("read /proc"))
    assert openmp.openmp_runtimes() == sorted(openmp.openmp_runtimes())
    if sys.platform.startswith("linux"):
        assert any(name.startswith("libgomp") for name in openmp.openmp_runtimes())
