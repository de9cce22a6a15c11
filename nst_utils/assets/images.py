"""Pictures in and out: one loader, one resampling filter, one way to save.

:func:`load_image` turns a file, an example name, a Pillow image, an array or a tensor into a
``(1, 3, H, W)`` RGB tensor in ``[0, 1]``; :func:`resize` is the kit's only resampling filter
(bicubic, antialiased), used for every source and by every module that changes an image's size.

Rules for turning a Pillow image into RGB (:func:`to_rgb`):

==========================  ==============================================================
mode                        becomes
==========================  ==============================================================
``RGB``                     itself
``1``, ``L``, ``P``         RGB by repeating the grey level / looking up the palette
``LA``, ``PA``, ``RGBA``,   alpha composited on **white** (a transparent pixel turns white)
``P`` with transparency
``I;16*``, ``I``            16/32-bit grey scaled to 8 bit by the type's range
                            (65535 → 255 for 16 bit; 32-bit by its own maximum if > 65535)
``F``                       floats: taken as ``[0, 1]`` if the maximum is ≤ 1, else
                            ``[0, 255]``; clipped
``CMYK``, ``YCbCr``,        converted by Pillow's colour conversions
``LAB``, ``HSV``
==========================  ==============================================================

EXIF orientation is applied first, so a phone photo stands the right way up. Files are decoded
at full resolution and resized as tensors, like every other source. Sizes are always the
**longest side**; the aspect ratio is kept (:func:`shape_for`).

Every problem with a file is an :class:`~nst_utils.errors.NSTError` with one line that names
the file, says what is wrong and what to do.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from ..checks import SAVE_FORMATS, check_output_path
from ..errors import NSTError
from .examples import resolve_image
from .files import atomic_write

MAX_SIZE = 8192
ORIENTATION_TAG = 0x0112  # EXIF
#: A file, an example name, a Pillow image, an array or a tensor.
ImageSource = str | os.PathLike | Image.Image | np.ndarray | torch.Tensor


# --------------------------------------------------------------------------- loading


def load_image(source: ImageSource, size: int | None = None) -> torch.Tensor:
    """A ``(1, 3, H, W)`` float32 CPU tensor in ``[0, 1]``; ``size`` is the longest side.

    ``source`` is a file path, an example name (a string that is not an existing file goes
    through :func:`nst_utils.assets.examples.resolve_image`), a Pillow image, an array or a tensor
    (``(3, H, W)`` or ``(1, 3, H, W)``, values clipped to ``[0, 1]``). Every source is first
    turned into a tensor at its own resolution and only then resized by :func:`resize`, so a
    file and a tensor of the same picture give identical pixels at any ``size``.
    """
    if size is not None:
        check_size(size)
    if isinstance(source, torch.Tensor):
        image = _from_tensor(source)
    else:
        image = _as_tensor(_decode(source))
    return image if size is None else resize_longest(image, size)


def _decode(source: ImageSource) -> Image.Image:
    """Any non-tensor source as an RGB Pillow image at its own resolution."""
    if isinstance(source, np.ndarray):
        return _from_array(source)
    if isinstance(source, Image.Image):
        return to_rgb(ImageOps.exif_transpose(source))
    if isinstance(source, str) and not Path(source).exists():
        return _open(resolve_image(source))
    return _open(Path(source))


def _as_tensor(image: Image.Image) -> torch.Tensor:
    array = np.asarray(image, dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous()


def _from_tensor(image: torch.Tensor) -> torch.Tensor:
    """A ``(3, H, W)`` or ``(1, 3, H, W)`` tensor as a float32 CPU copy clipped to [0, 1]."""
    shape = tuple(image.shape)
    if image.dim() == 3:
        image = image.unsqueeze(0)
    if image.dim() != 4 or image.shape[:2] != (1, 3):
        raise NSTError(f"tensor of shape {shape}: expected (3, H, W) or (1, 3, H, W) RGB")
    if min(image.shape[-2:]) < 1:
        raise NSTError(f"tensor of shape {shape}: the image is empty")
    image = image.detach().to("cpu", torch.float32)
    return torch.nan_to_num(image).clamp(0, 1).contiguous()


def check_size(size: int) -> None:
    """``size`` must be a whole number of pixels between 1 and :data:`MAX_SIZE`."""
    if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= MAX_SIZE:
        raise NSTError(f"impossible image size {size!r}: give a longest side from 1 to {MAX_SIZE}")


def _open(path: Path) -> Image.Image:
    """Open, fully decode and convert a file, turning every failure into one clear line."""
    if not path.exists():
        raise NSTError(f"{path}: file not found; check the path or run 'nst examples list'")
    if path.is_dir():
        raise NSTError(f"{path}: is a folder, not an image file")
    if path.stat().st_size == 0:
        raise NSTError(f"{path}: the file is empty (0 bytes); use a real image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.load()
                return to_rgb(ImageOps.exif_transpose(image))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise NSTError(f"{path}: image too large to open safely ({err}); shrink it first") from None
    except UnidentifiedImageError:
        raise NSTError(f"{path}: not an image Pillow can read; use a PNG or JPEG") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise NSTError(
            f"{path}: damaged or truncated image ({err}); re-export or download it again"
        ) from None


def _from_array(array: np.ndarray) -> Image.Image:
    """HxW or HxWx{1,3,4} arrays of bool, uint8, uint16 or floats in [0, 1]."""
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise NSTError(f"array of shape {array.shape}: expected HxW, HxWx3 or HxWx4")
    if min(array.shape[:2]) < 1:
        raise NSTError(f"array of shape {array.shape}: the image is empty")
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    elif array.dtype == np.uint16:
        array = (array.astype(np.float64) / 65535 * 255).round().astype(np.uint8)
    elif np.issubdtype(array.dtype, np.floating):
        array = (np.clip(np.nan_to_num(array), 0, 1) * 255).round().astype(np.uint8)
    elif array.dtype != np.uint8:
        raise NSTError(f"array of dtype {array.dtype}: use uint8, uint16, bool or floats in [0, 1]")
    return to_rgb(Image.fromarray(np.ascontiguousarray(array)))


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB by the rules in the module docstring."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        return to_rgb(image)
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if mode.startswith("I") or mode == "F":
        return Image.fromarray(_scale_to_uint8(np.asarray(image), mode)).convert("RGB")
    return image.convert("RGB")


def _scale_to_uint8(values: np.ndarray, mode: str) -> np.ndarray:
    values = values.astype(np.float64)
    if mode == "F":
        top = 1.0 if values.max(initial=0) <= 1 else 255.0
    elif mode.startswith("I;16"):
        top = 65535.0
    else:  # 32-bit integers: 16-bit data stored wide, or their own range
        top = 65535.0 if values.max(initial=0) > 255 else 255.0
        top = max(top, values.max(initial=0))
    return (np.clip(values / top, 0, 1) * 255).round().astype(np.uint8)


# --------------------------------------------------------------------------- resizing


def shape_for(size: int, shape: tuple[int, int]) -> tuple[int, int]:
    """``(h, w)`` scaled so that the longest side is ``size``, aspect ratio kept (≥ 1 px)."""
    check_size(size)
    h, w = shape
    scale = size / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def resize(image: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """The kit's one resampling filter: ``(B, C, H, W)`` resized to ``shape = (h, w)``.

    Bicubic with antialiasing (a low-pass filter as wide as the scale factor when shrinking,
    so fine detail averages out instead of aliasing), clipped to ``[0, 1]`` because the
    bicubic kernel overshoots at sharp edges. Returns ``image`` itself when nothing changes.
    """
    shape = (int(shape[0]), int(shape[1]))
    if tuple(image.shape[-2:]) == shape:
        return image
    resized = torch.nn.functional.interpolate(
        image, size=shape, mode="bicubic", antialias=True, align_corners=False
    )
    return resized.clamp(0, 1)


def resize_longest(image: torch.Tensor, size: int) -> torch.Tensor:
    """:func:`resize` a ``(B, C, H, W)`` tensor so that its longest side is ``size``."""
    return resize(image, shape_for(size, tuple(image.shape[-2:])))


def match_size(image: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``image`` cropped about its centre to ``like``'s aspect ratio, then resized to its
    height x width: the paper's photo and painting have the same size, so eq. 4 applies as
    written (the library also handles different sizes: ``objective.StyleTarget``)."""
    (h, w), (th, tw) = image.shape[-2:], like.shape[-2:]
    if h * tw > w * th:  # too tall for the target's aspect: crop rows
        keep = max(1, round(w * th / tw))
        image = image[..., (h - keep) // 2 : (h - keep) // 2 + keep, :]
    else:
        keep = max(1, round(h * tw / th))
        image = image[..., (w - keep) // 2 : (w - keep) // 2 + keep]
    return resize(image, (th, tw))


# --------------------------------------------------------------------------- showing


def to_numpy(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """``(1, 3, H, W)`` or ``(3, H, W)`` tensor → ``H×W×3`` float array in ``[0, 1]``; an
    array (already in matplotlib's layout) is returned as it is, for figures that mix both."""
    if not isinstance(image, torch.Tensor):
        return np.asarray(image)
    if image.dim() == 4:
        image = image[0]
    return image.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()


def to_pil(image: torch.Tensor) -> Image.Image:
    """A tensor as an 8-bit RGB Pillow image."""
    return Image.fromarray((to_numpy(image) * 255).round().astype(np.uint8))


# --------------------------------------------------------------------------- saving


def probe_size(path: str | os.PathLike, size: int) -> tuple[int, int]:
    """``(H, W)`` that :func:`load_image` will give ``path`` at longest side ``size``, from
    the file's header alone (EXIF orientation included): for checks before any work."""
    check_size(size)
    try:
        with Image.open(path) as image:
            w, h = image.size
            if image.getexif().get(ORIENTATION_TAG, 1) in (5, 6, 7, 8):  # rotated by 90°
                w, h = h, w
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return tuple(load_image(path, size).shape[-2:])  # its one-line error, or the size
    return shape_for(size, (h, w))


def save_image(
    image: torch.Tensor | Image.Image, path: str | os.PathLike, *, protect: Iterable = ()
) -> Path:
    """Write PNG or JPEG (by suffix) atomically; refuse to overwrite any path in ``protect``.

    The picture is written by :func:`nst_utils.assets.files.atomic_write`: never half-written, mode
    as the umask gives (0644 under 022). A tensor holding NaN or an infinity is refused (a
    picture that is not one is not saved as black), and so is a place nothing can be written
    to: a one-line :class:`NSTError` each, nothing written.
    """
    path = check_output_path(path, protect, probe=False)
    if isinstance(image, torch.Tensor) and not bool(torch.isfinite(image).all()):
        raise NSTError(f"{path}: the picture holds NaN or infinite values (a damaged model or a "
                       "run that diverged); nothing written")  # fmt: skip
    fmt = SAVE_FORMATS[path.suffix.lower()]
    picture = image if isinstance(image, Image.Image) else to_pil(image)
    try:
        with atomic_write(path) as tmp, open(tmp, "wb") as handle:
            picture.save(handle, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    except OSError as err:
        raise NSTError(f"{path}: cannot be written ({err.strerror or err}); choose another "
                       "path") from None  # fmt: skip
    return path
