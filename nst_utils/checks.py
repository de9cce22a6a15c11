"""What a run's arguments must satisfy, checked without torch.

Importing torch takes a second or two, loading a network more. Every mistake that the
arguments alone reveal (an unknown choice, an output path that cannot be written, sizes that
leave no position at the deepest layer) is therefore checked by this module, which imports
neither torch nor the network, so the ``nst`` command reports it in a fraction of a second.
The modules that use these names (:mod:`~nst_utils.paper.optimize`, :mod:`~nst_utils.paper.vgg`,
:mod:`~nst_utils.assets.images`, :mod:`~nst_utils.paper.pipeline`) import them from here.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable, Sequence
from itertools import pairwise
from pathlib import Path

from .errors import NSTError

OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "style", "noise")
#: ``fp32`` everywhere, or ``bf16`` for the network's arithmetic (:mod:`nst_utils.paper.optimize`).
PRECISIONS = ("fp32", "bf16")
#: ``max`` (what VGG was trained with) or ``avg`` (the paper's choice).
POOLINGS = ("max", "avg")
#: Image formats an output can be saved in, by suffix (PIL's format names).
SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}
#: The smallest shorter side of an image: four 2×2 poolings still leave one position.
MIN_SIZE = 16
#: How ``nst video`` paints (:mod:`nst_utils.video.temporal`), and ``blend``'s default share.
VIDEO_METHODS = ("optimize", "temporal", "fast", "blend")
BLEND = 0.7
#: λ, the weight of the temporal term of ``temporal`` with α = 1 (BENCHMARKS.md,
#: "Video").
TEMPORAL_WEIGHT = 1e4
#: ``IN`` of ``nst video`` may be ``synthetic:<photo>``: the synthetic clip over that photo.
SYNTHETIC_PREFIX = "synthetic:"
CLIP_SUFFIXES = (".gif", ".mp4")
VIDEO_EXTRA = "pip install 'nst-utils[video]'"


def check_output_path(path: str | os.PathLike, protect: Iterable = ()) -> Path:
    """``path`` as a :class:`Path` if an image can be saved there (suffix, not a folder, not
    one of the inputs in ``protect``), else :class:`NSTError`: checked before any work."""
    path = Path(path)
    if path.suffix.lower() not in SAVE_FORMATS:
        raise NSTError(f"{path}: cannot save as {path.suffix or 'no suffix'}; use .png or .jpg")
    if path.is_dir():
        raise NSTError(f"{path}: is a folder; give a file name such as {path / 'result.png'}")
    if any(parent.exists() and not parent.is_dir() for parent in path.parents):
        raise NSTError(f"{path}: a parent of the output path is a file, not a folder")
    if any(path.resolve() == Path(p).resolve() for p in protect):
        raise NSTError(f"{path}: refusing to overwrite an input image; choose another -o path")
    return path


def check_scales(scales: Sequence[int]) -> list[int]:
    """Scales as a list of increasing sizes of at least :data:`MIN_SIZE` px."""
    scales = [int(s) for s in scales]
    if not scales:
        raise NSTError("give at least one scale, e.g. --scales 128,256")
    if any(s < MIN_SIZE for s in scales) or any(b <= a for a, b in pairwise(scales)):
        raise NSTError(
            f"scales {','.join(map(str, scales))}: sizes must increase and be >= {MIN_SIZE} px"
        )
    return scales


def check_clip_output(path: str | os.PathLike) -> Path:
    """``path`` if a clip can be written there: a ``.gif``, an ``.mp4`` or a folder (no
    suffix) for PNG frames; checked before any work."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix and suffix not in CLIP_SUFFIXES:
        raise NSTError(f"{path}: cannot write a clip as {suffix}; use .gif, .mp4 or a folder")
    if suffix and path.is_dir():
        raise NSTError(f"{path}: is a folder; give a file name such as {path / 'clip.gif'}")
    if not suffix and path.exists() and not path.is_dir():
        raise NSTError(f"{path}: is a file; give a folder for the frames, or a .gif/.mp4")
    if any(parent.exists() and not parent.is_dir() for parent in path.parents):
        raise NSTError(f"{path}: a parent of the output path is a file, not a folder")
    if suffix == ".mp4" and importlib.util.find_spec("av") is None:
        raise NSTError(f"writing {path} needs PyAV: {VIDEO_EXTRA}")
    return path
