"""How long torch's idle CPU threads spin before they sleep: fair speed on a shared CPU.

torch runs its CPU work on OpenMP threads (one per core). The pip wheels for Linux bring GNU
OpenMP (``torch/lib/libgomp.so.1``); a thread that has finished its share of an operation
*spins*, polling for the next one, about 3 ms by default (``GOMP_SPINCOUNT=300000``) before it
sleeps. Alone on the machine that saves a wake-up between the thousands of small operations of
an iteration. On a shared machine (a JupyterHub server, a laptop running the playground, a
notebook and the CLI at once) every process's threads spin on cores the others need, and four
runs on two cores take 4-5 times their fair share (BENCHMARKS.md part 6).

The kit bounds the spin (:data:`SPIN_COUNT`, chosen by measurement, BENCHMARKS.md part 6): it
keeps most of the speed alone and sleeps soon enough to give a busy core away.
``OMP_WAIT_POLICY=PASSIVE`` (no spinning) is fairest but slower alone (BENCHMARKS.md, part 6).

libgomp reads its environment once, when it is loaded, that is at ``import torch``. So
:func:`choose_waiting` runs when ``nst_utils`` is imported (the ``nst`` command always imports
it first) and sets ``GOMP_SPINCOUNT`` only if

* the user set neither ``GOMP_SPINCOUNT`` nor ``OMP_WAIT_POLICY`` (their choice wins), and
* no OpenMP runtime is loaded yet: in a notebook whose first cell imported torch before
  ``nst_utils`` it is too late; :func:`wait_settings` then says so and the notebooks import
  ``nst_utils`` first.

Intel's OpenMP (``libiomp5``, e.g. from conda's MKL builds and torch's Windows wheels) reads
``KMP_BLOCKTIME`` instead, and LLVM's (``libomp``, torch's macOS wheels) its own; the kit leaves
them alone (their defaults are the user's to change). Which runtimes are loaded is read
through threadpoolctl, on every system.
"""

from __future__ import annotations

import functools
import os
import sys
import warnings
from collections.abc import MutableMapping
from pathlib import Path

#: Spin iterations before a waiting libgomp thread sleeps (libgomp's default: 300000, ~3 ms).
SPIN_COUNT = 1000
#: Variables by which the user has already decided how OpenMP threads wait.
USER_VARIABLES = ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")
_RUNTIMES = ("libgomp", "libiomp", "libomp", "vcomp")


def openmp_runtimes() -> list[str]:
    """File names of the OpenMP runtimes loaded in this process, on any system: threadpoolctl
    lists the loaded libraries without loading any (it reads ``/proc/self/maps`` on Linux,
    asks the loader elsewhere); ``/proc/self/maps`` itself where threadpoolctl is missing;
    [] where neither can tell."""
    try:
        from threadpoolctl import threadpool_info

        pools = threadpool_info()
    except (ImportError, OSError):
        return _runtimes_from_proc()
    return sorted({Path(p["filepath"]).name for p in pools if p.get("user_api") == "openmp"})


def _runtimes_from_proc() -> list[str]:
    try:
        with open("/proc/self/maps") as maps:
            names = {line.rsplit("/", 1)[-1].strip() for line in maps if "omp" in line}
    except OSError:
        return []
    return sorted(n for n in names if n.startswith(_RUNTIMES))


def _too_late() -> bool:
    return "torch" in sys.modules or bool(openmp_runtimes())


def choose_waiting(environ: MutableMapping[str, str] = os.environ) -> str:
    """Set ``GOMP_SPINCOUNT`` to :data:`SPIN_COUNT` where that is still possible and wanted.

    Returns what decides the waiting: ``"kit"`` (set now), ``"user"`` (a variable of
    :data:`USER_VARIABLES` was set) or ``"too late"`` (torch or an OpenMP runtime is loaded).
    """
    if any(name in environ for name in USER_VARIABLES):
        return "user"
    if _too_late():
        return "too late"
    environ["GOMP_SPINCOUNT"] = str(SPIN_COUNT)
    return "kit"


#: What :func:`choose_waiting` decided when ``nst_utils`` was imported.
CHOICE = choose_waiting()


def wait_settings() -> dict:
    """What decides how this process's OpenMP threads wait: for logs and notebook 00."""
    return {
        "choice": CHOICE,
        "runtimes": openmp_runtimes(),
        **{name: os.environ.get(name) for name in USER_VARIABLES},
    }


def advice() -> str | None:
    """One line for a process whose threads spin the default 3 ms (``None`` otherwise)."""
    if CHOICE != "too late":
        return None
    return (
        "torch was imported before nst_utils, so OpenMP's threads spin ~3 ms while they wait "
        "and runs slow down several-fold when others share the CPU: import nst_utils first "
        f"(or start Python/Jupyter with GOMP_SPINCOUNT={SPIN_COUNT})"
    )


@functools.cache
def warn_if_too_late() -> None:
    """Once per process, a :class:`RuntimeWarning` with :func:`advice` where it applies: what
    the engine does before a CPU run (a notebook that imported torch first sees why)."""
    text = advice()
    if text:
        warnings.warn(text, RuntimeWarning, stacklevel=3)
