"""Where things live and how fast to run: environment variables and device choice.

=========================  ======================================================
variable                   meaning
=========================  ======================================================
``NST_CACHE_DIR``          folder for cached weights and downloads (default: the
                           per-user cache directory, e.g. ``~/.cache/nst-utils``)
``NST_ARCH``               pin the network: ``vgg19``, ``vgg19-caffe`` or ``vgg16``
``NST_EXAMPLES_DIR``       folder searched for example images before downloading
``NST_FAST``               ``1`` shrinks notebook sizes and steps (used by the tests)
``NST_DEVICE``             force a device (``cpu``, ``cuda``, ``mps``)
``NST_CHECK_CLAIMS``       ``1``: a notebook's claims about its results must hold
                           (the class-setting run of the notebooks sets it)
``NST_KEEP_FREED_MEMORY``  ``0``: a fast run gives freed memory back to the
                           system after every iteration (:mod:`nst_utils.engine.speed`)
``NST_REPO``               where the notebooks' first cell installs the kit from in
                           Colab (default :data:`REPOSITORY_URL`)
``GOMP_SPINCOUNT``,        how idle OpenMP threads wait; unset, importing
``OMP_WAIT_POLICY``        ``nst_utils`` bounds the spin (:mod:`nst_utils.engine.openmp`)
=========================  ======================================================

The notebooks' settings come from :func:`pick`: the class's values, tiny ones under
``NST_FAST=1``, and larger ones on a CUDA GPU where a notebook gives them (Colab's GPU
makes them cheap). Every notebook's first cell installs the kit in Colab
(:func:`colab_cell`, one template for all).

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
#: The kit's repository, as pip takes it: Colab's install cell (:func:`colab_cell`) installs
#: from here unless ``$NST_REPO`` says otherwise. A placeholder until the course is published:
#: put the real address here (README, "Colab").
REPOSITORY_URL = "git+https://github.com/your-org/nst-kit.git"


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


def checking_claims() -> bool:
    """True when a notebook's claims about its results must hold (``NST_CHECK_CLAIMS=1``, set
    by the class-setting run of the notebooks, and never under ``NST_FAST``)."""
    return os.environ.get("NST_CHECK_CLAIMS", "") == "1" and not fast_mode()


def keep_freed_memory() -> bool:
    """Whether a fast run keeps freed memory for its next iteration (``NST_KEEP_FREED_MEMORY``
    is not ``0``)."""
    return os.environ.get("NST_KEEP_FREED_MEMORY", "1") != "0"


def pick(class_value, fast_value, gpu=None):
    """A notebook setting: ``fast_value`` under ``NST_FAST=1``; else ``gpu`` (when given) where
    the default device is a CUDA GPU (:func:`on_gpu`); else ``class_value``."""
    if fast_mode():
        return fast_value
    if gpu is not None and on_gpu():
        return gpu
    return class_value


def on_gpu() -> bool:
    """Whether runs here go to a CUDA GPU (:func:`default_device`): the GPU preset of
    :func:`pick`."""
    return default_device().type == "cuda"


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


#: Every notebook's first code cell (:func:`colab_cell`); ``{repository}`` is
#: :data:`REPOSITORY_URL`.
COLAB_CELL = """\
# Colab: install the kit (Colab's own torch stays as it is), fetch the paintings, use the GPU.
# Anywhere else this cell does nothing: set up as README.md says.
import sys

if "google.colab" in sys.modules:
    import importlib
    import os
    import subprocess
    from importlib.metadata import version

    from google.colab import output

    output.enable_custom_widget_manager()  # the kit's explorers are ipywidgets 8
    repo = os.environ.get("NST_REPO", "{repository}")
    with open("/tmp/nst-keep.txt", "w") as keep:  # pip may not change torch or torchvision
        keep.write(f"torch=={{version('torch')}}\\ntorchvision=={{version('torchvision')}}\\n")
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--constraint", keep.name]
    subprocess.run([*pip, f"nst-utils[notebooks] @ {{repo}}"], check=True)
    importlib.invalidate_caches()
    subprocess.run([sys.executable, "-m", "nst_utils.cli", "examples", "fetch"], check=False)
    gpu = os.path.exists("/dev/nvidia0")
    print("GPU found: the kit uses it" if gpu else "No GPU: Runtime > Change runtime type > GPU")
"""


def colab_cell() -> str:
    """The source of every notebook's first code cell: in Colab it installs the kit from
    ``$NST_REPO`` or :data:`REPOSITORY_URL` without touching Colab's torch, fetches the
    paintings and says whether a GPU is there; anywhere else it does nothing."""
    return COLAB_CELL.format(repository=REPOSITORY_URL).rstrip("\n")
