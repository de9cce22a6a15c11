"""Trained networks on disk: safetensors weights with the kit's JSON metadata.

One format for every network the kit trains (style networks in
:mod:`nst_utils.networks.painter`, decoders in :mod:`nst_utils.networks.decoder`): the weights
as safetensors, which loads without running any pickled code, and under the metadata key
``nst`` a JSON dict with at least ``kind`` (which class), ``architecture`` (its constructor's
arguments) and ``record`` (how it was made), so a file says what it is and how to make it
again. Files are written atomically (:func:`nst_utils.assets.files.atomic_write`). Readers
raise the caller's one-line errors.

The shipped networks live in :data:`MODELS_DIR` (package data); :func:`find_model` is the one
lookup of a file or a shipped name.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from ..errors import NSTError
from .files import atomic_write

METADATA_KEY = "nst"
#: Where the shipped networks live (package data).
MODELS_DIR = Path(__file__).resolve().parent / "models"
SUFFIX = ".safetensors"


def save_network(module: nn.Module, path: str | os.PathLike, meta: dict) -> Path:
    """``module``'s weights and ``meta`` (JSON) in one safetensors file, atomically."""
    path = Path(path)
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    with atomic_write(path) as tmp:
        save_file(state, tmp, metadata={METADATA_KEY: json.dumps(meta)})
    return path


def read_metadata(path: str | os.PathLike) -> dict:
    """The metadata of a network file (its header only); safetensors' and JSON's own errors
    pass through for the caller to word."""
    with safe_open(Path(path), framework="pt") as handle:
        return json.loads((handle.metadata() or {})[METADATA_KEY])


def read_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Every tensor of a network file, by name."""
    with safe_open(Path(path), framework="pt") as handle:
        return {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118


def shipped(kind: str, prefix: str = "") -> dict[str, Path]:
    """The shipped networks of ``kind`` (their metadata's ``kind``) by name: the file name
    without ``prefix`` and :data:`SUFFIX`. Files that cannot be read are left out."""
    found = {}
    for path in sorted(MODELS_DIR.glob(f"{prefix}*{SUFFIX}")) if MODELS_DIR.is_dir() else ():
        try:
            if read_metadata(path).get("kind") == kind:
                found[path.name.removeprefix(prefix).removesuffix(SUFFIX)] = path
        except Exception:  # a damaged file is not shipped
            continue
    return found


def find_model(name_or_path: str | os.PathLike, kind: str, prefix: str = "",
               what: str = "model", train: str = "nst train-style") -> Path:  # fmt: skip
    """The file of a network: an existing path, else a shipped network of ``kind`` by name.

    Anything that looks like a path (a suffix, a folder) and does not exist, or a name that is
    not shipped, raises an :class:`NSTError` naming what is shipped and ``train``, the command
    that makes one."""
    path = Path(name_or_path)
    if path.is_dir():
        raise NSTError(f"{path}: is a folder; give a {what} file ({SUFFIX}) or a shipped name")
    if path.is_file():
        return path
    text = str(name_or_path)
    if path.suffix or "/" in text or os.sep in text:
        raise NSTError(f"{text}: {what} file not found; give a {SUFFIX} file or a shipped name")
    available = shipped(kind, prefix)
    if text in available:
        return available[text]
    names = ", ".join(available) or "none yet"
    raise NSTError(
        f"{text!r} is neither a {what} file nor a shipped {what} (shipped: {names}); train one "
        f"with '{train}'"
    )
