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
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
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
#: The smallest side a trained style network (``nst paint --model``) can paint: its 9×9
#: convolutions pad each border by reflecting 4 pixels.
NETWORK_MIN_SIZE = 5
#: The largest longest side of a picture (:data:`nst_utils.assets.images.MAX_SIZE`).
MAX_SIZE = 8192
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
#: The names of the PNG frames ``nst video`` writes into a folder.
FRAME_NAME = re.compile(r"frame_\d{4,}\.png")


def check_output_path(path: str | os.PathLike, protect: Iterable = (), *,
                      probe: bool = True) -> Path:  # fmt: skip
    """``path`` as a :class:`Path` if an image can be saved there (suffix, not a folder, not
    one of the inputs in ``protect``, a folder that takes files), else :class:`NSTError`:
    checked before any work. ``probe=False`` skips the write probe (:func:`check_writable`)."""
    path = Path(path)
    if path.is_dir():
        raise NSTError(f"{path}: is a folder; give a file name such as {path / 'result.png'}")
    if path.suffix.lower() not in SAVE_FORMATS:
        raise NSTError(f"{path}: cannot save as {path.suffix or 'no suffix'}; use .png or .jpg")
    check_not_input(path, protect)
    if probe:
        check_writable(path)
    elif any(parent.exists() and not parent.is_dir() for parent in path.parents):
        raise NSTError(f"{path}: a parent of the output path is a file, not a folder")
    return path


def check_not_input(path: str | os.PathLike, protect: Iterable, flag: str = "-o") -> None:
    """Refuse to write ``path`` if it is one of the inputs in ``protect`` (resolved paths, so
    ``./a.png``, ``a.png`` and a link to it are the same file)."""
    target = Path(path).resolve()
    for source in protect:
        if source is not None and target == Path(source).resolve():
            raise NSTError(f"{path}: refusing to overwrite an input ({source}); choose another "
                           f"{flag} path")  # fmt: skip


def check_writable(path: str | os.PathLike, flag: str = "-o") -> None:
    """Refuse ``path`` if nothing can be written there: a parent that is a file, or a folder
    that takes no new file (permissions, a read-only disk, ``/proc`` or ``/sys``). The nearest
    existing folder is probed by creating and removing an empty file: the one test that
    holds for every user, root included."""
    path = Path(path).absolute()
    folder = next(parent for parent in path.parents if parent.exists())
    if not folder.is_dir():
        raise NSTError(f"{path}: a parent of the output path is a file, not a folder")
    try:
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".nst-probe-")
    except OSError as err:
        raise NSTError(f"{path}: nothing can be written in {folder} ({err.strerror or err}); "
                       f"choose another {flag} path") from None  # fmt: skip
    os.close(handle)
    Path(probe).unlink(missing_ok=True)


def check_log_path(path: str | os.PathLike, protect: Iterable) -> Path:
    """``--log``: a file (not a folder) that can be written and is neither an input nor
    another output in ``protect``."""
    path = Path(path)
    if path.is_dir():
        raise NSTError(f"{path}: is a folder; give a file name such as {path / 'run.json'}")
    check_not_input(path, protect, "--log")
    check_writable(path, "--log")
    return path


def check_snapshots(output: str | os.PathLike, protect: Iterable) -> None:
    """``--save-every``: no snapshot of ``output`` (``out-00010.png``, ``out-256px-00010.png``)
    may overwrite an input in ``protect``."""
    output = Path(output).resolve()
    pattern = re.compile(re.escape(output.stem) + r"(-\d+px)?-\d{5}" + re.escape(output.suffix))
    for source in protect:
        source = Path(source).resolve()
        if source.parent == output.parent and pattern.fullmatch(source.name):
            raise NSTError(f"{source}: --save-every would overwrite this input with a snapshot; "
                           "choose another -o path")  # fmt: skip


def check_model_output(path: str | os.PathLike, protect: Iterable, suffix: str) -> Path:
    """A trained network's ``-o``: ``suffix``, not a folder, writable, not an input."""
    path = Path(path)
    if path.is_dir():
        raise NSTError(f"{path}: is a folder; give a file name such as {path / ('model' + suffix)}")
    if path.suffix != suffix:
        raise NSTError(f"{path}: save a model as {suffix}, e.g. -o {path.stem}{suffix}")
    check_not_input(path, protect)
    check_writable(path)
    return path


def scaled_shape(size: int, shape: tuple[int, int]) -> tuple[int, int]:
    """``(h, w)`` with longest side ``size``, as :func:`nst_utils.assets.images.shape_for`
    gives it (aspect kept, at least 1 px)."""
    h, w = shape
    scale = size / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def check_picture_size(shape: tuple[int, int], size: int, minimum: int, what: str,
                       needs: str, flag: str = "--size") -> None:  # fmt: skip
    """Refuse a picture of ``shape`` (its own ``(h, w)``) that at longest side ``size`` would
    have a side under ``minimum`` px, the least ``needs`` (e.g. "a trained network") can
    take; the message says the smallest ``flag`` that works, or that none does."""
    h, w = scaled_shape(size, shape)
    if min(h, w) >= minimum:
        return
    fits = (s for s in range(size, MAX_SIZE + 1) if min(scaled_shape(s, shape)) >= minimum)
    smallest = next(fits, None)
    advice = (f"use {flag} {smallest} or more" if smallest is not None else
              f"it is too narrow at any size up to {MAX_SIZE} px: crop it")  # fmt: skip
    raise NSTError(f"{what} would be {w}x{h} px at {flag} {size}; {needs} needs at least "
                   f"{minimum} px on each side: {advice}")  # fmt: skip


def first_non_finite(tensors: Mapping) -> str | None:
    """The name of the first tensor in ``tensors`` holding NaN or an infinity, else ``None``
    (tensors are only asked ``isfinite()``: no torch import here)."""
    for name, value in tensors.items():
        if value.is_floating_point() and not bool(value.isfinite().all()):
            return name
    return None


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


def check_clip_output(path: str | os.PathLike, protect: Iterable = (), *,
                      probe: bool = True) -> Path:  # fmt: skip
    """``path`` if a clip can be written there: a ``.gif``, an ``.mp4`` or a folder (no
    suffix) for PNG frames (``frame_0000.png``, ...), none of them one of the inputs in
    ``protect``; checked before any work (``probe=False``: no write probe)."""
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
    check_not_input(path, protect)
    if not suffix:
        for source in protect:
            source = Path(source).resolve()
            if source.parent == path.resolve() and FRAME_NAME.fullmatch(source.name):
                raise NSTError(f"{source}: the frames written to {path} would overwrite this "
                               "input; choose another -o folder")  # fmt: skip
    if probe:
        check_writable(path / "frame_0000.png" if not suffix else path)
    if suffix == ".mp4" and importlib.util.find_spec("av") is None:
        raise NSTError(f"writing {path} needs PyAV: {VIDEO_EXTRA}")
    return path
