"""Trained networks on disk: safetensors weights with the kit's JSON metadata.

One format for every network the kit trains (style networks in :mod:`nst_utils.painter`,
decoders in :mod:`nst_utils.decoder`): the weights as safetensors, which loads without running
any pickled code, and under the metadata key ``nst`` a JSON dict with at least ``kind`` (which
class), ``architecture`` (its constructor's arguments) and ``record`` (how it was made), so a
file says what it is and how to make it again. Files are written atomically
(:func:`nst_utils.files.atomic_write`). Readers raise the caller's one-line errors.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from .files import atomic_write

METADATA_KEY = "nst"


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
