"""``nst photos build`` and :mod:`nst_utils.networks.photo_sets` on a tiny ``.deb`` built here.

The package is made in pure Python as ``dpkg-deb`` would: an ``ar`` archive of
``debian-binary``, ``control.tar.gz`` and ``data.tar.xz`` (or ``.gz``), with a photograph in
two resolutions plus a link to a third, an illustration, and a DEP-5 copyright file. Offline:
the command reads it with ``--deb``, so no test needs apt.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nst_utils.cli import main
from nst_utils.errors import NSTError
from nst_utils.networks import photo_sets
from nst_utils.networks.photos import photo_paths

LAKE = "usr/share/wallpapers/Lake/contents/images"
COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: tiny-wallpapers

Files: *
Copyright: 2020 The Artists
License: GPL-2+

Files: 20.04/drawing_by_Someone.png
Copyright: 2021, Someone
License: CC0-1.0

Files: wallpapers/Lake/*
Copyright: 2022 A Photographer
 and a second line
License: CC-BY-SA-4.0

Files: debian/*
Copyright: 2023 The Packager
License: Expat
"""


def picture(w: int, h: int, fmt: str = "PNG", seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    data = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(data, format=fmt)
    return data.getvalue()


def tar_bytes(files: dict[str, bytes], links: dict[str, str] = (), mode: str = "w:gz") -> bytes:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode=mode) as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(f"./{name}")
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        for name, target in dict(links).items():
            info = tarfile.TarInfo(f"./{name}")
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return data.getvalue()


def ar_bytes(members: dict[str, bytes]) -> bytes:
    out = [b"!<arch>\n"]
    for name, content in members.items():
        header = (f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(content):<10}`\n")
        out += [header.encode(), content, b"\n" if len(content) % 2 else b""]
    return b"".join(out)


def make_deb(folder: Path, package: str = "tiny-wallpapers", *, compression: str = "xz",
             extra: dict[str, bytes] | None = None) -> Path:  # fmt: skip
    control = f"Package: {package}\nVersion: 1.0-1\nArchitecture: all\n".encode()
    files = {
        f"{LAKE}/320x200.png": picture(320, 200),
        f"{LAKE}/96x60.png": picture(96, 60, seed=1),
        "usr/share/backgrounds/drawing_by_Someone.png": picture(40, 30, seed=2),
        f"usr/share/doc/{package}/copyright": COPYRIGHT.encode(),
        **(extra or {}),
    }
    data = tar_bytes(files, {f"{LAKE}/1280x800.png": "320x200.png"}, f"w:{compression}")
    path = folder / f"{package}_1.0-1_all.deb"
    path.write_bytes(ar_bytes({"debian-binary": b"2.0\n",
                               "control.tar.gz": tar_bytes({"control": control}),
                               f"data.tar.{compression}": data}))  # fmt: skip
    return path


def build(out: Path, *args: str) -> int:
    return main(["photos", "build", str(out), *args])


@pytest.mark.parametrize("compression", ["xz", "gz"])
def test_build_writes_the_photographs_and_their_provenance(tmp_path, compression):
    deb = make_deb(tmp_path, compression=compression)
    out = tmp_path / "photos"
    assert build(out, "--deb", str(deb), "--include", "usr/share/wallpapers/*",
                 "--size", "64", "--quiet") == 0  # fmt: skip
    (name,) = [p.name for p in photo_paths(out)]  # what nst train-style --images reads
    assert name == "tiny-wallpapers--Lake.jpg"
    assert Image.open(out / name).size == (64, 40)  # the largest resolution, resized
    record = json.loads((out / photo_sets.RECORD).read_text())
    assert record["packages"][0]["package"] == "tiny-wallpapers"
    assert record["packages"][0]["version"] == "1.0-1"
    assert record["packages"][0]["copyright"] == COPYRIGHT
    (photo,) = record["photos"]
    assert photo["path"] == f"{LAKE}/320x200.png" and photo["original_size"] == [320, 200]
    assert photo["licence"] == "CC-BY-SA-4.0"  # the last matching stanza, not Files: *
    assert photo["copyright"] == "2022 A Photographer and a second line"
    assert record["command"].startswith("nst photos build")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_small_photo_is_not_enlarged_and_a_file_glob_matches_names(tmp_path):
    out = tmp_path / "photos"
    assert build(out, "--deb", str(make_deb(tmp_path)), "--include", "drawing_*",
                 "--size", "512", "--quiet") == 0  # fmt: skip
    (photo,) = json.loads((out / photo_sets.RECORD).read_text())["photos"]
    assert photo["size"] == [40, 30] and photo["licence"] == "CC0-1.0"  # by its file name


def test_the_kits_list_chooses_without_include(tmp_path, monkeypatch):
    monkeypatch.setitem(photo_sets.PHOTOGRAPHS, "tiny-wallpapers", (f"{LAKE}/*",))
    package = photo_sets.read_package(make_deb(tmp_path))
    assert (package.name, package.version) == ("tiny-wallpapers", "1.0-1")
    assert list(package.photos) == [f"{LAKE}/320x200.png"]  # the link is skipped


def test_an_unknown_package_needs_include(tmp_path, capsys):
    out = tmp_path / "photos"
    assert build(out, "--deb", str(make_deb(tmp_path))) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--include GLOB" in err
    assert not out.exists()


@pytest.mark.parametrize("how", ["--package", "--deb"])
def test_the_judging_package_is_refused_in_one_line(tmp_path, capsys, how):
    source = "mate-backgrounds" if how == "--package" else str(make_deb(tmp_path,
                                                                        "mate-backgrounds"))
    out = tmp_path / "photos"
    assert build(out, how, source, "--include", "*") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "mate-backgrounds: not for training" in err
    assert not out.exists()


def test_nothing_is_half_written(tmp_path, capsys):
    broken = {"usr/share/wallpapers/Zzz/contents/images/9x9.png": b"not a picture"}
    deb = make_deb(tmp_path, extra=broken)
    out = tmp_path / "photos"
    assert build(out, "--deb", str(deb), "--include", "usr/share/wallpapers/*") == 1
    assert "9x9.png: not a picture" in capsys.readouterr().err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [deb.name]  # no staging folder left


def test_checks_come_before_any_work(tmp_path, capsys):
    full = tmp_path / "full"
    full.mkdir()
    (full / "x.txt").write_text("mine")
    assert build(full, "--deb", str(make_deb(tmp_path)), "--include", "*") == 1
    assert "exists and is not empty" in capsys.readouterr().err
    assert build(tmp_path / "o", "--deb", str(tmp_path / "none.deb")) == 1
    assert "no such file" in capsys.readouterr().err
    not_deb = tmp_path / "notes.txt"
    not_deb.write_text("x")
    assert build(tmp_path / "o", "--deb", str(not_deb)) == 1
    assert "not a .deb" in capsys.readouterr().err
    fake = tmp_path / "fake.deb"
    fake.write_bytes(b"PK\x03\x04 a zip, not a deb")
    assert build(tmp_path / "o", "--deb", str(fake), "--include", "*") == 1
    assert "not a .deb (no ar archive header)" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_an_empty_folder_is_filled(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    assert build(out, "--deb", str(make_deb(tmp_path)), "--include", "*", "--quiet") == 0
    assert len(photo_paths(out)) == 2  # the photo (its largest resolution) and the drawing


def test_licences_follow_dep5():
    assert photo_sets.licence_for(COPYRIGHT, "usr/share/backgrounds/other.png") == {
        "licence": "GPL-2+", "copyright": "2020 The Artists"}  # not debian/*
    assert photo_sets.licence_for("a free-form copyright file", "x.png")["licence"] is None


def test_names_and_resolutions():
    assert photo_sets.picture_name("p", f"{LAKE}/2560x1600.jpg") == "p--Lake.jpg"
    assert photo_sets.picture_name("p", "usr/share/backgrounds/a b.png") == "p--a_b.jpg"
    paths = [f"{LAKE}/640x480.jpg", f"{LAKE}/2560x1600.jpg", f"{LAKE}/1080x1920.jpg",
             "usr/share/backgrounds/x.jpg"]  # fmt: skip
    assert photo_sets.largest_of_each(paths) == ["usr/share/backgrounds/x.jpg",
                                                 f"{LAKE}/2560x1600.jpg"]  # fmt: skip
    with pytest.raises(NSTError, match="kept aside for judging"):
        photo_sets.check_package("mate-backgrounds")


@pytest.mark.parametrize("mistake", ["refused", "not a deb", "unknown package"])
def test_mistakes_are_reported_before_torch_is_imported(tmp_path, mistake):
    fake = tmp_path / "fake.deb"
    fake.write_bytes(b"not an archive")
    argv = {"refused": ["--package", "mate-backgrounds"], "not a deb": ["--deb", str(fake)],
            "unknown package": ["--deb", str(make_deb(tmp_path))]}[mistake]  # fmt: skip
    probe = ("import sys\nfrom nst_utils.cli import main\n"
             f"status = main({['photos', 'build', str(tmp_path / 'o'), *argv]!r})\n"
             "print('torch' in sys.modules)\nsys.exit(status)\n")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stdout.strip() == "False"


def test_quiet_prints_nothing_and_the_default_says_what_was_written(tmp_path, capsys):
    deb = make_deb(tmp_path)
    assert build(tmp_path / "a", "--deb", str(deb), "--include", "*", "--quiet") == 0
    assert capsys.readouterr() == ("", "")
    assert build(tmp_path / "b", "--deb", str(deb), "--include", "*") == 0
    out, err = capsys.readouterr()
    assert "wrote 2 photos from tiny-wallpapers 1.0-1" in out and "-> 40x30" in err
