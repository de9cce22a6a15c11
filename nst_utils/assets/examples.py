"""Example images by name: bundled ones in ``data/`` and downloadable paintings.

A name is looked up in this order (:func:`resolve_image`):

1. an existing file path;
2. a bundled image in ``data/`` (``chelsea``, ``swirls``, …; installed from the repository's
   address, the package's copy of that folder, :func:`data_dir`);
3. a downloadable example from ``data/examples.json`` (``tubingen``, ``starry_night``, …),
   found, in turn, in ``$NST_EXAMPLES_DIR``, in the cache, or downloaded from its pinned URL.
   Every copy is checked against the SHA-256 in the manifest before it is used.

Notebooks load examples with :func:`load_example`, which falls back to a bundled picture (with
one line that says so) when a download is impossible, so every notebook also runs offline.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from ..config import cache_dir, examples_dir
from ..errors import NSTError
from .files import atomic_write, sha256_of

if TYPE_CHECKING:
    import torch

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
#: The list of downloadable examples, beside the bundled pictures.
MANIFEST = "examples.json"
DOWNLOAD_TIMEOUT_S = 20


@dataclass(frozen=True)
class ExampleInfo:
    """One downloadable example, as listed in ``data/examples.json``."""

    name: str
    file: str
    url: str
    sha256: str
    kind: str
    title: str
    licence: str
    credit: str


def data_dir() -> Path:
    """Where the bundled pictures and ``examples.json`` are: ``$NST_DATA_DIR``, else the
    package's own copy (an install from the repository's address, or a wheel:
    ``nst_utils.assets.bundled``, which ``pyproject.toml`` maps to ``data/``), else the
    repository's ``data/`` folder (a clone, installed editable)."""
    if os.environ.get("NST_DATA_DIR"):
        return Path(os.environ["NST_DATA_DIR"])
    packaged = Path(str(resources.files(__package__) / "bundled"))
    if (packaged / MANIFEST).is_file():
        return packaged
    return Path(__file__).resolve().parents[2] / "data"


def bundled_images() -> dict[str, Path]:
    """Bundled images by name (the file stem)."""
    folder = data_dir()
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}


@cache
def _manifest(path: Path) -> dict[str, ExampleInfo]:
    data = json.loads(path.read_text(encoding="utf-8"))
    template = data["url_template"]
    return {
        e["name"]: ExampleInfo(
            e["name"],
            e["file"],
            template.format(file=e["file"]),
            e["sha256"],
            e["kind"],
            e["title"],
            e["licence"],
            e["credit"],
        )
        for e in data["examples"]
    }


def downloadable() -> dict[str, ExampleInfo]:
    """The downloadable examples, by name."""
    return _manifest(data_dir() / MANIFEST)


def _local_copy(info: ExampleInfo) -> Path | None:
    """A verified copy in ``$NST_EXAMPLES_DIR`` or the cache, without downloading."""
    folder = examples_dir()
    if folder is not None and (folder / info.file).is_file():
        candidate = folder / info.file
        if sha256_of(candidate) == info.sha256:
            return candidate
        warnings.warn(f"{candidate}: SHA-256 mismatch, ignoring this copy", stacklevel=3)
    cached = cache_dir() / "examples" / info.file
    if cached.is_file():
        if sha256_of(cached) == info.sha256:
            return cached
        cached.unlink()  # damaged: download it again
    return None


def fetch_example(name: str, *, download: bool = True) -> Path:
    """The path of a verified copy of downloadable example ``name``."""
    info = downloadable().get(name)
    if info is None:
        raise NSTError(f"unknown example {name!r}: choose one of {', '.join(downloadable())}")
    local = _local_copy(info)
    if local is not None:
        return local
    if not download:
        raise NSTError(f"{name} is not available offline: run 'nst examples fetch {name}'")
    return _download(info)


def _download(info: ExampleInfo) -> Path:
    target = cache_dir() / "examples" / info.file
    with atomic_write(target) as tmp:
        try:
            with urllib.request.urlopen(info.url, timeout=DOWNLOAD_TIMEOUT_S) as response:
                tmp.write_bytes(response.read())
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise NSTError(
                f"could not download {info.name} ({reason}): check the connection or set "
                f"NST_EXAMPLES_DIR to a folder that holds {info.file}"
            ) from None
        if sha256_of(tmp) != info.sha256:
            raise NSTError(
                f"{info.url}: SHA-256 mismatch for {info.name}; the download was not used"
            )
    return target


def resolve_image(name_or_path: str | os.PathLike) -> Path:
    """A file path for a path, a bundled name or a downloadable name."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    text = str(name_or_path)
    if path.suffix or os.sep in text or "/" in text:
        raise NSTError(f"{text}: file not found; check the path or run 'nst examples list'")
    bundled = bundled_images()
    if text in bundled:
        return bundled[text]
    if text in downloadable():
        return fetch_example(text)
    names = ", ".join([*bundled, *downloadable()])
    raise NSTError(f"{text!r} is neither a file nor an example name: choose one of {names}")


def example_available(name: str) -> bool:
    """True if ``name`` can be used without a download."""
    if name in bundled_images():
        return True
    info = downloadable().get(name)
    return info is not None and _local_copy(info) is not None


class Example(NamedTuple):
    """A loaded example: the picture and the name it was really loaded from."""

    image: torch.Tensor
    name: str


def load_example(
    name: str, size: int | None = None, *, fallback: str | None = "swirls"
) -> Example | None:
    """Example ``name`` at longest side ``size``, or the bundled ``fallback`` if it cannot be had.

    For notebooks that must run offline: when ``name`` is neither bundled nor downloadable
    now, one line says why and which picture is used instead. ``fallback=None`` returns
    ``None`` after that line (to skip the picture). The returned :class:`Example` unpacks as
    ``image, used_name``.
    """
    from .images import load_image

    try:
        return Example(load_image(name, size), name)
    except NSTError as err:
        if fallback is None:
            print(f"{name} is not available, skipped: {err}")
            return None
        print(f"{name} is not available, using the bundled {fallback} instead: {err}")
        return Example(load_image(fallback, size), fallback)


def list_examples() -> list[dict[str, str]]:
    """Rows for ``nst examples list``: name, kind, where it comes from, credit."""
    rows = [
        {"name": name, "kind": "bundled", "source": "data/", "credit": "see data/README.md"}
        for name in bundled_images()
    ]
    for info in downloadable().values():
        local = _local_copy(info)
        source = (
            "download"
            if local is None
            else ("cached" if cache_dir() in local.parents else "available locally")
        )
        rows.append(
            {
                "name": info.name,
                "kind": info.kind,
                "source": source,
                "credit": f"{info.title} ({info.licence}, {info.credit})",
            }
        )
    return rows
