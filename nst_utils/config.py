"""Where things live and how fast to run: environment variables and device choice.

=========================  ======================================================
variable                   meaning
=========================  ======================================================
``NST_CACHE_DIR``          folder for cached weights and downloads (default: the
                           per-user cache directory, e.g. ``~/.cache/nst-utils``)
``NST_ARCH``               pin the network: ``vgg19`` or ``vgg16``
``NST_EXAMPLES_DIR``       folder searched for example images before downloading
``NST_FAST``               ``1`` shrinks notebook sizes and steps (used by the tests)
``NST_DEVICE``             force a device (``cpu``, ``cuda``, ``mps``)
``NST_KEEP_FREED_MEMORY``  ``0``: a fast run gives freed memory back to the
                           system after every iteration (:mod:`nst_utils.engine.speed`)
``GOMP_SPINCOUNT``,        how idle OpenMP threads wait; unset, importing
``OMP_WAIT_POLICY``        ``nst_utils`` bounds the spin (:mod:`nst_utils.engine.openmp`)
=========================  ======================================================

How fast one run goes is decided by its settings (``Settings.fast`` and
``Settings.precision``, :mod:`nst_utils.paper.pipeline`); the variables above are read here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs

if TYPE_CHECKING:
    import torch

APP_NAME = "nst-utils"


def cache_dir() -> Path:
    """The cache root: ``$NST_CACHE_DIR`` or the per-user cache directory (created on use)."""
    path = Path(os.environ.get("NST_CACHE_DIR") or platformdirs.user_cache_dir(APP_NAME))
    path.mkdir(parents=True, exist_ok=True)
    return path


def examples_dir() -> Path | None:
    """``$NST_EXAMPLES_DIR`` if set: a folder to look in before downloading examples."""
    value = os.environ.get("NST_EXAMPLES_DIR")
    return Path(value) if value else None


def fast_mode() -> bool:
    """True when ``NST_FAST`` is set to something other than ``0``/empty."""
    return os.environ.get("NST_FAST", "").strip() not in ("", "0", "false", "False")


def keep_freed_memory() -> bool:
    """Whether a fast run keeps freed memory for its next iteration (``NST_KEEP_FREED_MEMORY``
    is not ``0``)."""
    return os.environ.get("NST_KEEP_FREED_MEMORY", "1") != "0"


def pick(class_value, fast_value):
    """``fast_value`` under ``NST_FAST=1``, else ``class_value``: for notebook settings."""
    return fast_value if fast_mode() else class_value


def default_device() -> torch.device:
    """``$NST_DEVICE`` if set, else the best available: CUDA, then Apple MPS, then CPU."""
    import torch

    forced = os.environ.get("NST_DEVICE")
    if forced:
        return torch.device(forced)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
