"""Loading and saving pictures: every Pillow mode, EXIF, sizes, and one-line errors."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nst_utils.assets.examples import bundled_images
from nst_utils.assets.images import (
    load_image,
    match_size,
    resize,
    resize_longest,
    save_image,
    shape_for,
    to_rgb,
)
from nst_utils.errors import NSTError


def pixel(t: torch.Tensor, y: int = 0, x: int = 0) -> list[float]:
    return [round(v, 3) for v in t[0, :, y, x].tolist()]


def test_rgb_file_round_trip(tmp_path):
    array = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    path = save_image(torch.from_numpy(array).permute(2, 0, 1)[None] / 255.0, tmp_path / "a.png")
    loaded = load_image(path)
    assert loaded.shape == (1, 3, 20, 30) and loaded.dtype == torch.float32
    assert np.array_equal((loaded[0].permute(1, 2, 0).numpy() * 255).round(), array)


@pytest.mark.parametrize(
    ("mode", "value", "expected"),
    [
        ("L", 128, [0.502] * 3),
        ("1", 1, [1.0] * 3),
        ("CMYK", (0, 255, 255, 0), [1.0, 0.0, 0.0]),  # full magenta + yellow = red
        ("I;16", 65535, [1.0] * 3),
        ("I;16", 32768, [0.502] * 3),
        ("I", 65535, [1.0] * 3),
        ("F", 0.25, [0.251] * 3),
        ("F", 200.0, [0.784] * 3),
        ("YCbCr", (255, 128, 128), [1.0] * 3),
    ],
)
def test_modes_become_rgb(mode, value, expected):
    image = Image.new(mode, (4, 3), value)
    out = load_image(image)
    assert out.shape == (1, 3, 3, 4)
    assert pixel(out) == pytest.approx(expected, abs=0.01)


def test_sixteen_bit_png_file_is_scaled_not_clipped(tmp_path):
    ramp = np.array([[0, 16384, 32768, 65535]], dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(ramp).save(path)
    assert Image.open(path).mode.startswith("I")
    out = load_image(path)[0, 0, 0]
    assert out.tolist() == pytest.approx([0.0, 0.25, 0.5, 1.0], abs=0.01)


def test_alpha_is_composited_on_white():
    rgba = Image.new("RGBA", (2, 1), (255, 0, 0, 255))
    rgba.putpixel((1, 0), (0, 0, 0, 0))  # fully transparent black
    out = load_image(rgba)
    assert pixel(out, 0, 0) == [1.0, 0.0, 0.0]
    assert pixel(out, 0, 1) == [1.0, 1.0, 1.0]
    la = Image.new("LA", (1, 1), (0, 0))
    assert pixel(load_image(la)) == [1.0, 1.0, 1.0]


def test_palette_with_and_without_transparency():
    p = Image.new("P", (2, 1))
    p.putpalette([0, 0, 255, 0, 255, 0] + [0] * 762)
    p.putpixel((1, 0), 1)
    out = load_image(p)
    assert pixel(out, 0, 0) == [0.0, 0.0, 1.0] and pixel(out, 0, 1) == [0.0, 1.0, 0.0]
    p.info["transparency"] = 0
    assert pixel(load_image(p), 0, 0) == [1.0, 1.0, 1.0]
    assert to_rgb(p).mode == "RGB"


def test_exif_orientation_is_applied(tmp_path):
    array = np.zeros((20, 40, 3), dtype=np.uint8)
    array[:, :20] = 255  # white left half of a wide image
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    path = tmp_path / "phone.jpg"
    Image.fromarray(array).save(path, exif=exif, quality=95)
    out = load_image(path)
    assert out.shape == (1, 3, 40, 20)  # now tall
    assert out[0, :, :15].mean() > 0.9 and out[0, :, 25:].mean() < 0.1  # white on top


def test_size_is_the_longest_side_and_keeps_aspect():
    image = Image.new("RGB", (300, 100), "red")
    assert load_image(image, 60).shape == (1, 3, 20, 60)
    assert load_image(image.rotate(90, expand=True), 60).shape == (1, 3, 60, 20)
    assert load_image(image, 600).shape == (1, 3, 200, 600)  # upsampling allowed
    assert resize_longest(torch.rand(1, 3, 10, 40), 20).shape == (1, 3, 5, 20)


@pytest.mark.parametrize(
    ("size", "shape", "expected"),
    [(60, (100, 300), (20, 60)), (60, (300, 100), (60, 20)), (5, (1, 1000), (1, 5)),
     (7, (7, 7), (7, 7)), (640, (480, 320), (640, 427))],
)  # fmt: skip
def test_shape_for_keeps_the_aspect(size, shape, expected):
    assert shape_for(size, shape) == expected


# --------------------------------------------------------------------------- one filter


@pytest.fixture(scope="module")
def photo_file(tmp_path_factory) -> Path:
    """A lossless 97x131 picture with edges, gradients and noise."""
    rng = np.random.default_rng(3)
    array = rng.integers(0, 256, (97, 131, 3), dtype=np.uint8)
    array[20:60, 30:90] = (250, 10, 10)
    path = tmp_path_factory.mktemp("pictures") / "photo.png"
    Image.fromarray(array).save(path)
    return path


@pytest.mark.parametrize("size", [None, 40, 64, 131, 200])
def test_every_source_of_one_picture_gives_identical_pixels(photo_file, size):
    """One filter for all: a file, its tensor, its array and its Pillow image agree exactly."""
    from_file = load_image(photo_file, size)
    full = load_image(photo_file)
    array = np.asarray(Image.open(photo_file))
    sources = {
        "tensor": full,
        "3-d tensor": full[0].clone(),
        "array": array,
        "Pillow": Image.open(photo_file),
        "path as str": str(photo_file),
    }
    for name, source in sources.items():
        assert torch.equal(load_image(source, size), from_file), name
    if size is not None:
        assert torch.equal(resize_longest(full, size), from_file)
        assert max(from_file.shape[-2:]) == size


def test_example_names_load_like_their_files():
    path = bundled_images()["chelsea"]
    assert torch.equal(load_image("chelsea", 48), load_image(path, 48))
    with pytest.raises(NSTError, match="neither a file nor an example name"):
        load_image("no_such_picture", 48)


def test_the_filter_is_antialiased_and_stays_in_range():
    stripes = torch.zeros(1, 3, 64, 64)
    stripes[..., ::4] = 1.0  # one bright column in four: point sampling at 1/4 misses them all
    small = resize(stripes, (16, 16))
    assert small.shape == (1, 3, 16, 16)
    # averaged to their mean, 0.25, away from the borders (point sampling gives 0 everywhere)
    assert torch.allclose(small[..., 2:-2], torch.tensor(0.25), atol=1e-3)
    edge = torch.zeros(1, 1, 8, 8)
    edge[..., 4:] = 1.0
    big = resize(edge, (8, 31))  # bicubic overshoots at an edge: clipped to [0, 1]
    assert big.min() == 0.0 and big.max() == 1.0
    assert resize(edge, (8, 8)) is edge  # nothing to do


def test_tensor_sources_are_copied_checked_and_clipped():
    source = torch.full((1, 3, 4, 5), 0.5, dtype=torch.float64)
    source[0, 0, 0, 0] = 7.0
    out = load_image(source)
    assert out.dtype == torch.float32 and out.shape == (1, 3, 4, 5)
    assert out[0, 0, 0, 0] == 1.0 and source[0, 0, 0, 0] == 7.0
    same = torch.rand(1, 3, 4, 5)
    loaded = load_image(same)
    loaded.zero_()
    assert same.sum() > 0  # the loader returns a copy
    for shape in [(1, 4, 5), (2, 3, 4, 5), (1, 1, 3, 4, 5), (3, 0, 5)]:
        with pytest.raises(NSTError, match="tensor of shape") as err:
            load_image(torch.zeros(shape))
        assert "\n" not in str(err.value)


def test_arrays():
    assert load_image(np.ones((5, 6), dtype=bool)).shape == (1, 3, 5, 6)
    floats = np.full((2, 2, 3), 0.5, dtype=np.float32)
    assert pixel(load_image(floats)) == pytest.approx([0.5] * 3, abs=0.003)
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    assert pixel(load_image(rgba)) == [1.0, 1.0, 1.0]
    with pytest.raises(NSTError, match="shape"):
        load_image(np.zeros((2, 2, 5), dtype=np.uint8))
    with pytest.raises(NSTError, match="dtype"):
        load_image(np.zeros((2, 2), dtype=np.int64))


def _bad_files(folder: Path) -> dict[str, Path]:
    good = io.BytesIO()
    Image.new("RGB", (64, 64), "blue").save(good, format="JPEG")
    files = {
        "empty": b"",
        "text": b"this is not an image\n",
        "truncated": good.getvalue()[: len(good.getvalue()) // 3],
    }
    paths = {}
    for name, content in files.items():
        paths[name] = folder / f"{name}.jpg"
        paths[name].write_bytes(content)
    paths["missing"] = folder / "missing.png"
    paths["folder"] = folder
    return paths


@pytest.mark.parametrize("kind", ["empty", "text", "truncated", "missing", "folder"])
def test_bad_files_give_one_line_naming_the_file(tmp_path, kind):
    path = _bad_files(tmp_path)[kind]
    with pytest.raises(NSTError) as err:
        load_image(path)
    message = str(err.value)
    assert str(path) in message and "\n" not in message


def test_decompression_bomb_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.new("L", (100, 100)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100 * 100 // 4)  # warning zone and beyond
    with pytest.raises(NSTError, match="too large"):
        load_image(path)


@pytest.mark.parametrize("size", [0, -5, 100_000])
def test_impossible_size(size):
    with pytest.raises(NSTError, match="impossible image size"):
        load_image(Image.new("RGB", (4, 4)), size)


def test_save_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "out.png"

    def broken_save(self, fp, format=None, **params):
        fp.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(NSTError, match=r"out\.png: cannot be written \(disk full\)"):
        save_image(torch.rand(1, 3, 8, 8), target)
    assert list(tmp_path.iterdir()) == []


def test_save_refuses_to_overwrite_inputs_and_bad_suffix(tmp_path):
    source = tmp_path / "in.png"
    save_image(torch.rand(1, 3, 8, 8), source)
    before = source.read_bytes()
    with pytest.raises(NSTError, match="overwrite an input"):
        save_image(torch.rand(1, 3, 8, 8), tmp_path / "." / "in.png", protect=[source])
    assert source.read_bytes() == before
    with pytest.raises(NSTError, match=r"\.gif"):
        save_image(torch.rand(1, 3, 8, 8), tmp_path / "x.gif")
    jpeg = save_image(torch.rand(1, 3, 8, 8), tmp_path / "deep" / "x.JPG")
    assert Image.open(jpeg).format == "JPEG"


@pytest.mark.parametrize("shape", [(60, 90), (90, 60), (40, 40), (37, 101)])
def test_match_size_crops_about_the_centre_and_resizes(shape):
    like = torch.zeros(1, 3, 48, 64)
    h, w = shape
    ramp = torch.linspace(0, 1, w).expand(1, 3, h, w).contiguous()
    out = match_size(ramp, like)
    assert out.shape == like.shape
    assert out.min() >= 0 and out.max() <= 1
    # centred: the horizontal ramp stays symmetric about the middle
    assert out[..., 0].mean() + out[..., -1].mean() == pytest.approx(1.0, abs=0.05)
