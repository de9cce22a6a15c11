r"""Training photos for the fast networks, offline: the bundled pictures, cropped at random.

A feed-forward style network (:mod:`nst_utils.networks.painter`) learns from many photos what the
paper's optimisation does for one. Johnson et al. (2016) train on the 80 000 photos of COCO;
offline, the kit has its bundled pictures (``data/``, licences in ``data/README.md``), and
every crop is made different by augmentation:

* a random **scale**: the shorter side becomes :math:`s \sim U[\text{size}, 2\,\text{size}]`
  (through :func:`nst_utils.assets.images.resize`, the kit's one filter);
* a random **crop** of ``size × size`` at a uniform position;
* a random horizontal **flip** (probability ½).

Some photos never take part in training (:data:`HELD_OUT_PHOTOS`), so that a model can be
judged on pictures it has not seen. With internet, point :func:`photo_paths` at any folder
of images (COCO, a holiday album).

Under ``torchrun`` each process reads its own share: every epoch is one permutation of the
photos, the same on every rank (seeded by ``seed`` and the epoch), and rank :math:`r` of
:math:`w` takes its positions :math:`r, r + w, r + 2w, \dots`, as ``DistributedSampler``
does; each rank draws its own scales, crops and flips.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from ..assets import images
from ..assets.examples import IMAGE_SUFFIXES, bundled_images
from ..errors import NSTError

#: Bundled pictures used for training: colour photos, grey photos (the network has to find the
#: painting's colours from the picture's structure, not from its colours), then textures.
TRAINING_PHOTOS: tuple[str, ...] = (
    "coffee", "astronaut", "rocket", "grace_hopper", "retina", "immunohistochemistry",
    "camera", "coins", "brick", "grass", "gravel", "hubble_deep_field",
)  # fmt: skip
#: Photos kept out of training, to judge models on: the paper's photo and one bundled photo.
HELD_OUT_PHOTOS: tuple[str, ...] = ("tubingen", "chelsea")
#: The largest scale drawn, as a multiple of the crop size (the shorter side's length).
MAX_SCALE = 2.0
#: Decoded pictures kept in memory (a folder of thousands is read from disk as it goes).
CACHED_PICTURES = 64


def photo_paths(folder: str | os.PathLike | None = None) -> list[Path]:
    """The image files of ``folder`` (sorted, any depth), or the offline set when ``None``.

    Raises a one-line :class:`NSTError` when ``folder`` is missing, not a folder, or holds no
    image; a file that turns out to be damaged is reported when it is first read.
    """
    if folder is None:
        bundled = bundled_images()
        return [bundled[name] for name in TRAINING_PHOTOS]
    folder = Path(folder)
    if not folder.exists():
        raise NSTError(f"{folder}: folder not found; give a folder of training photos")
    if not folder.is_dir():
        raise NSTError(f"{folder}: is a file, not a folder; give a folder of training photos")
    try:
        paths = sorted(
            p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
        )
    except OSError as err:
        raise NSTError(f"{folder}: cannot be read ({err}); check its permissions") from None
    if not paths:
        suffixes = ", ".join(IMAGE_SUFFIXES)
        raise NSTError(f"{folder}: holds no images ({suffixes}); add photos or use another folder")
    return paths


def fingerprint(paths: Sequence[str | os.PathLike]) -> str:
    """A short name for a training set: its size and a digest of its file names, in order.

    Saved with a checkpoint, so that ``--resume`` refuses to go on with other photos (the
    crops it would skip over, and the record's data, would be another run's).
    """
    names = "\n".join(Path(p).name for p in paths)
    return f"{len(paths)} pictures, sha256 {hashlib.sha256(names.encode()).hexdigest()[:12]}"


@functools.lru_cache(maxsize=CACHED_PICTURES)
def _picture(path: Path) -> torch.Tensor:
    return images.load_image(path)


def random_crop(picture: torch.Tensor, size: int, draws: Sequence[float]) -> torch.Tensor:
    """A ``(3, size, size)`` crop of ``picture`` ``(1, 3, H, W)``: scale, crop, flip.

    ``draws`` are four numbers in ``[0, 1)``: the scale, the crop's vertical and horizontal
    position, and the flip (below ½: flipped). Drawing them apart from the picture keeps the
    random stream independent of the pictures' sizes.
    """
    scale_draw, top_draw, left_draw, flip_draw = draws
    h, w = picture.shape[-2:]
    shorter = size * (1 + (MAX_SCALE - 1) * scale_draw)
    shape = (max(size, round(h * shorter / min(h, w))), max(size, round(w * shorter / min(h, w))))
    scaled = images.resize(picture, shape)
    top = int(top_draw * (shape[0] - size + 1))
    left = int(left_draw * (shape[1] - size + 1))
    crop = scaled[0, :, top : top + size, left : left + size]
    return crop.flip(-1) if flip_draw < 0.5 else crop


def crops(
    paths: Sequence[str | os.PathLike], size: int, batch: int, *, seed: int = 0,
    rank: int = 0, world: int = 1, skip: int = 0,
) -> Iterator[torch.Tensor]:  # fmt: skip
    """Endless batches ``(batch, 3, size, size)`` in ``[0, 1]`` of random crops of ``paths``.

    Deterministic for a ``seed``; rank ``rank`` of ``world`` reads its own share of each
    epoch and draws its own crops (module docstring). ``skip`` batches are passed over
    without reading a picture (to resume a run where it stopped).
    """
    images.check_size(size)
    if not paths:
        raise NSTError("no training photos: give a folder that holds images")
    if not 0 <= rank < world:
        raise ValueError(f"rank {rank} is not one of the {world} processes")
    paths = [Path(p) for p in paths]
    draws = np.random.default_rng([seed, world, rank])
    order = _order(len(paths), seed, rank, world)
    for _ in range(skip * batch):  # the same draws as the batches skipped, no pictures
        next(order)
        draws.random(4)
    while True:
        yield torch.stack(
            [random_crop(_picture(paths[next(order)]), size, draws.random(4)) for _ in range(batch)]
        )


def _order(count: int, seed: int, rank: int, world: int) -> Iterator[int]:
    """Indices of this rank's photos, epoch after epoch (a shared permutation per epoch)."""
    epoch = 0
    while True:
        permutation = np.random.default_rng([seed, epoch]).permutation(count)
        share = permutation[rank::world] if count >= world else permutation[rank % count :][:1]
        yield from (int(i) for i in share)
        epoch += 1
