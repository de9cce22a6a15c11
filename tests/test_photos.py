"""Training photos: the offline set, folders, and the random crops each process draws."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from PIL import Image

from nst_utils.assets.examples import bundled_images, downloadable
from nst_utils.errors import NSTError
from nst_utils.networks import photos


def test_the_offline_set_keeps_the_held_out_photos_out():
    paths = photos.photo_paths()
    names = {p.stem for p in paths}
    assert names == set(photos.TRAINING_PHOTOS)
    assert "tubingen" in photos.HELD_OUT_PHOTOS and "tubingen" in downloadable()
    bundled_held_out = [n for n in photos.HELD_OUT_PHOTOS if n in bundled_images()]
    assert bundled_held_out  # at least one bundled photo to judge on, offline
    assert not names & set(photos.HELD_OUT_PHOTOS)
    assert all(p.is_file() for p in paths)


def test_a_folder_gives_its_images_and_bad_folders_are_one_line_errors(tmp_path):
    (tmp_path / "sub").mkdir()
    Image.new("RGB", (40, 30), "red").save(tmp_path / "b.png")
    Image.new("RGB", (30, 40), "blue").save(tmp_path / "sub" / "a.JPG")
    (tmp_path / "notes.txt").write_text("not an image")
    assert [p.name for p in photos.photo_paths(tmp_path)] == ["b.png", "a.JPG"]
    empty = tmp_path / "empty"
    empty.mkdir()
    for bad, message in [(empty, "holds no images"), (tmp_path / "nope", "folder not found"),
                         (tmp_path / "b.png", "is a file, not a folder")]:  # fmt: skip
        with pytest.raises(NSTError, match=message) as err:
            photos.photo_paths(bad)
        assert "\n" not in str(err.value)


def _take(stream, n):
    return torch.cat(list(itertools.islice(stream, n)))


def test_crops_are_square_batches_in_range_and_deterministic_per_seed():
    paths = photos.photo_paths()
    first = _take(photos.crops(paths, 48, 3, seed=1), 2)
    assert first.shape == (6, 3, 48, 48)
    assert float(first.min()) >= 0 and float(first.max()) <= 1
    assert torch.equal(first, _take(photos.crops(paths, 48, 3, seed=1), 2))
    assert not torch.equal(first, _take(photos.crops(paths, 48, 3, seed=2), 2))
    # crops differ from one another (scale, position, flip)
    assert len({float(crop.sum()) for crop in first}) == len(first)


def test_skipping_batches_starts_the_stream_where_it_would_be():
    paths = photos.photo_paths()
    whole = _take(photos.crops(paths, 32, 2, seed=3), 5)
    resumed = _take(photos.crops(paths, 32, 2, seed=3, skip=3), 2)
    assert torch.equal(whole[6:], resumed)


def test_random_crop_scales_crops_and_flips():
    picture = torch.arange(40 * 60, dtype=torch.float32).view(1, 1, 40, 60).expand(1, 3, 40, 60)
    picture = picture / picture.max()
    plain = photos.random_crop(picture, 40, [0.0, 0.0, 0.0, 0.9])
    assert torch.allclose(plain, picture[0, :, :, :40])  # scale 1, top-left, no flip
    flipped = photos.random_crop(picture, 40, [0.0, 0.0, 0.0, 0.1])
    assert torch.equal(flipped, plain.flip(-1))
    right = photos.random_crop(picture, 40, [0.0, 0.0, 0.999, 0.9])
    assert torch.allclose(right, picture[0, :, :, 20:])
    zoomed = photos.random_crop(picture, 40, [0.999, 0.0, 0.0, 0.9])
    assert zoomed.shape == (3, 40, 40)
    assert float(zoomed[0, -1, 0] - zoomed[0, 0, 0]) < 0.6 * float(plain[0, -1, 0] - plain[0, 0, 0])


def test_ranks_read_disjoint_shares_of_each_epoch_and_draw_their_own_crops():
    count, world = 7, 2
    shares = [list(itertools.islice(photos._order(count, 0, r, world), 4)) for r in range(world)]
    first_epoch = shares[0][:4] + shares[1][:3]
    assert sorted(first_epoch) == list(range(count))  # together, every photo once
    paths = photos.photo_paths()
    rank0 = _take(photos.crops(paths, 32, 2, seed=0, rank=0, world=2), 1)
    rank1 = _take(photos.crops(paths, 32, 2, seed=0, rank=1, world=2), 1)
    assert not torch.equal(rank0, rank1)
    with pytest.raises(ValueError):
        next(photos.crops(paths, 32, 2, rank=2, world=2))


def test_a_damaged_photo_is_reported_by_name(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(tmp_path / "ok.png")
    with pytest.raises(NSTError, match=r"broken\.jpg"):
        _take(photos.crops(photos.photo_paths(tmp_path), 16, 4), 3)
