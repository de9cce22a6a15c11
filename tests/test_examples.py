"""Example images by name: bundled files, verified downloads, and the local cache."""

from __future__ import annotations

import io
import urllib.error
import urllib.request

import pytest
import torch

from nst_utils.assets import examples
from nst_utils.errors import NSTError


@pytest.fixture
def empty_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("NST_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def offline(monkeypatch):
    def refuse(*args, **kwargs):
        raise urllib.error.URLError("no network in this test")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def serve(monkeypatch, payload: bytes, seen: list):
    def fake_urlopen(url, timeout):
        seen.append(url)
        return io.BytesIO(payload)

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)


def test_manifest_matches_shared_sources(shared_images):
    sources = (shared_images / "SOURCES.md").read_text(encoding="utf-8")
    listed = examples.downloadable()
    assert set(listed) == {
        "tubingen",
        "starry_night",
        "the_scream",
        "shipwreck",
        "woman-with-hat-matisse",
    }
    for info in listed.values():
        assert info.sha256 in sources and info.file in sources
        assert "07c4b8299f8fbdafec0c514fc820ff1d7ff62e46" in info.url


def test_every_example_resolves_from_the_local_folder(shared_images, empty_cache, monkeypatch):
    monkeypatch.setenv("NST_EXAMPLES_DIR", str(shared_images))
    offline(monkeypatch)
    for name in examples.downloadable():
        assert examples.resolve_image(name).parent == shared_images
        assert examples.example_available(name)


def test_corrupted_local_copy_is_skipped(shared_images, empty_cache, monkeypatch, tmp_path):
    folder = tmp_path / "examples"
    folder.mkdir()
    (folder / "starry_night.jpg").write_bytes(b"not van gogh")
    monkeypatch.setenv("NST_EXAMPLES_DIR", str(folder))
    offline(monkeypatch)
    with pytest.warns(UserWarning, match="SHA-256"), pytest.raises(NSTError) as err:
        examples.fetch_example("starry_night")
    assert "NST_EXAMPLES_DIR" in str(err.value) and "\n" not in str(err.value)
    with pytest.warns(UserWarning, match="SHA-256"):  # the bad copy is reported every time
        assert examples.load_example("starry_night", 32, fallback=None) is None


def test_load_example_falls_back_with_one_line(shared_images, empty_cache, monkeypatch, capsys):
    from nst_utils.assets.images import load_image

    monkeypatch.setenv("NST_EXAMPLES_DIR", str(shared_images))
    offline(monkeypatch)
    image, name = examples.load_example("tubingen", 40, fallback="chelsea")
    assert name == "tubingen" and capsys.readouterr().out == ""
    assert torch.equal(image, load_image(shared_images / "tubingen.jpg", 40))

    monkeypatch.delenv("NST_EXAMPLES_DIR")  # offline, nothing cached: the download fails
    image, name = examples.load_example("tubingen", 40, fallback="chelsea")
    assert name == "chelsea" and torch.equal(image, load_image("chelsea", 40))
    printed = capsys.readouterr().out.strip()
    assert len(printed.splitlines()) == 1
    assert printed.startswith("tubingen is not available, using the bundled chelsea instead")
    assert "no network in this test" in printed

    assert examples.load_example("tubingen", 40, fallback=None) is None
    assert "skipped" in capsys.readouterr().out
    assert examples.load_example("starry_night").name == "swirls"  # the default fallback


def test_download_is_verified_and_cached(shared_images, empty_cache, monkeypatch):
    monkeypatch.delenv("NST_EXAMPLES_DIR", raising=False)
    seen = []
    serve(monkeypatch, (shared_images / "shipwreck.jpg").read_bytes(), seen)
    path = examples.fetch_example("shipwreck")
    assert path == empty_cache / "examples" / "shipwreck.jpg" and len(seen) == 1
    assert examples.fetch_example("shipwreck") == path and len(seen) == 1  # from the cache
    assert any(
        r["name"] == "shipwreck" and r["source"] == "cached" for r in examples.list_examples()
    )


def test_download_with_wrong_bytes_leaves_nothing(empty_cache, monkeypatch):
    monkeypatch.delenv("NST_EXAMPLES_DIR", raising=False)
    serve(monkeypatch, b"tampered", [])
    with pytest.raises(NSTError, match="SHA-256 mismatch"):
        examples.fetch_example("the_scream")
    assert [p for p in empty_cache.rglob("*") if p.is_file()] == []


def test_damaged_cache_file_is_downloaded_again(shared_images, empty_cache, monkeypatch):
    monkeypatch.delenv("NST_EXAMPLES_DIR", raising=False)
    cached = empty_cache / "examples" / "tubingen.jpg"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"half a photo")
    seen = []
    serve(monkeypatch, (shared_images / "tubingen.jpg").read_bytes(), seen)
    assert examples.fetch_example("tubingen") == cached and len(seen) == 1


def test_resolve_bundled_paths_and_unknown_names(tmp_path):
    bundled = examples.bundled_images()
    assert {"chelsea", "coffee", "astronaut", "rocket", "swirls"} <= set(bundled)
    assert examples.resolve_image("chelsea") == bundled["chelsea"]
    own = tmp_path / "mine.png"
    own.write_bytes(bundled["swirls"].read_bytes())
    assert examples.resolve_image(str(own)) == own
    with pytest.raises(NSTError, match="chelsea") as err:
        examples.resolve_image("no_such_picture")
    assert "starry_night" in str(err.value)
    with pytest.raises(NSTError, match="file not found"):
        examples.resolve_image(str(tmp_path / "gone.jpg"))


def test_bundled_images_are_documented():
    readme = (examples.data_dir() / "README.md").read_text(encoding="utf-8")
    for name, path in examples.bundled_images().items():
        assert f"`{name}`" in readme and path.name in readme
