"""Training photos from Debian's wallpaper packages, with where each came from (issue 32).

Twelve bundled pictures are too few for a network that must paint any photo
(:mod:`nst_utils.networks.photos`). Debian's archive holds photographs under free licences in
its wallpaper packages, reachable wherever ``apt-get`` works; :func:`build` turns ``.deb``
files into a folder that ``nst train-style --images`` reads (``nst photos build``):

1. **read the .deb in pure Python**: a ``.deb`` is an ``ar`` archive (:func:`ar_members`) of
   ``debian-binary``, ``control.tar.*`` (the package's name and version) and ``data.tar.*``
   (its files), read with :mod:`tarfile` as a stream (``gz``, ``xz``, ``bz2``; ``zst`` through
   ``dpkg-deb`` where it is installed);
2. **choose the photographs**: wallpaper packages mix photographs and illustrations, and their
   copyright files do not say which is which, so the kit names the photographs of the packages
   it knows by their paths (:data:`PHOTOGRAPHS`, chosen by looking at every picture); for any
   other package, or to choose otherwise, ``include`` globs pick files by their path inside
   the package. Of several resolutions of one picture (``…/images/1920x1080.jpg``,
   ``…/2560x1600.jpg``) only the largest is kept; links are skipped;
3. **decode and resize** to a longest side of ``size`` (never enlarged) with the kit's one
   filter (:func:`nst_utils.assets.images.resize`), saved as JPEG (quality 95);
4. **record the provenance** in ``photos.json``: each package's name, version and copyright
   file, and per photo its path inside the package, its licence and copyright line from that
   file (DEP-5 stanzas, :func:`licence_for`; the last matching stanza wins, as DEP-5 says).

The folder appears whole or not at all: everything is written into a hidden folder beside it,
which is renamed into place at the end. Packages kept for judging the networks are refused
(:data:`REFUSED`).
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import io
import json
import lzma
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..assets.files import sha256_of
from ..errors import NSTError, one_line

#: What ``nst photos build`` fetches when no package is named.
DEFAULT_PACKAGES = ("plasma-workspace-wallpapers", "lomiri-wallpapers-20.04")
#: Packages never taken for training, and why.
REFUSED = {
    "mate-backgrounds": "kept aside for judging the networks (issue 32)",
    "lomiri-wallpapers-16.04": "its photos judge the networks (BENCHMARKS.md, issue 32)",
}
#: The photographs of the packages the kit knows, as globs on paths inside the package; the
#: other pictures of these packages are illustrations (looked at, Debian 12's versions).
PHOTOGRAPHS: dict[str, tuple[str, ...]] = {
    "plasma-workspace-wallpapers": tuple(
        f"usr/share/wallpapers/{name}/contents/images/*"
        for name in ("BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow",
                     "FallenLeaf", "Grey", "Kite", "OneStandsOut", "Path", "summer_1am")
    ),
    "lomiri-wallpapers-20.04": ("usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg",),
    "ukui-wallpapers": (),  # 20.04.3: twelve pictures, all illustrations
}
PICTURE_SUFFIXES = (".jpg", ".jpeg", ".png")
#: A file name that is a resolution (``2560x1600.jpg``): one size of a picture among several.
RESOLUTION = re.compile(r"(\d+)x(\d+)")
#: Path parts that say nothing about the picture (left out of the file names written).
GENERIC_PARTS = {"usr", "share", "wallpapers", "backgrounds", "contents", "images"}
AR_MAGIC = b"!<arch>\n"
AR_HEADER = 60
RECORD = "photos.json"
QUALITY = 95


# --------------------------------------------------------------------------- the .deb


def ar_members(path: Path) -> dict[str, tuple[int, int]]:
    """``{name: (offset, size)}`` of the members of an ``ar`` archive (a ``.deb``)."""
    members = {}
    with open(path, "rb") as handle:
        if handle.read(len(AR_MAGIC)) != AR_MAGIC:
            raise NSTError(f"{path}: not a .deb (no ar archive header); give a Debian package")
        while header := handle.read(AR_HEADER):
            if len(header) < AR_HEADER or header[58:60] != b"`\n":
                raise NSTError(f"{path}: damaged .deb (a truncated ar header); fetch it again")
            name = header[:16].decode("ascii", "replace").strip().rstrip("/")
            size = int(header[48:58].decode("ascii").strip() or 0)
            members[name] = (handle.tell(), size)
            handle.seek(size + size % 2, os.SEEK_CUR)
    return members


class _Slice(io.RawIOBase):
    """``size`` bytes of an open file from ``start``, as a file of their own."""

    def __init__(self, handle, start: int, size: int) -> None:
        self.handle, self.position, self.left = handle, start, size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        self.handle.seek(self.position)
        data = self.handle.read(min(len(buffer), self.left))
        buffer[: len(data)] = data
        self.position += len(data)
        self.left -= len(data)
        return len(data)


def _member(members: dict, prefix: str, path: Path) -> str:
    found = [name for name in members if name.startswith(prefix)]
    if not found:
        raise NSTError(f"{path}: a .deb without {prefix}*; fetch the package again")
    return found[0]


@contextlib.contextmanager
def tar_stream(path: Path, prefix: str) -> Iterator[tarfile.TarFile]:
    """The ``control.tar.*`` or ``data.tar.*`` member of the ``.deb`` as a streamed tar; a
    damaged one is a one-line :class:`NSTError`."""
    members = ar_members(path)
    name = _member(members, prefix, path)
    try:
        with contextlib.ExitStack() as stack:
            if name.endswith(".zst"):  # Python's tarfile reads no zstd before 3.14
                stream = stack.enter_context(_dpkg_deb(path, prefix))
            else:
                handle = stack.enter_context(open(path, "rb"))
                offset, size = members[name]
                stream = io.BufferedReader(_Slice(handle, offset, size), buffer_size=1 << 20)
            yield stack.enter_context(tarfile.open(fileobj=stream, mode="r|*"))
    except (tarfile.TarError, EOFError, OSError, lzma.LZMAError, zlib.error) as err:
        raise NSTError(f"{path}: damaged {name} ({one_line(err)}); fetch it again") from None


@contextlib.contextmanager
def _dpkg_deb(path: Path, prefix: str) -> Iterator[io.IOBase]:
    """The tar of a zstd-compressed member, through ``dpkg-deb``."""
    if not shutil.which("dpkg-deb"):
        raise NSTError(f"{path}: compressed with zstd, which needs dpkg-deb (apt-get install "
                       "dpkg) or Python 3.14")  # fmt: skip
    option = "--ctrl-tarfile" if prefix.startswith("control") else "--fsys-tarfile"
    with subprocess.Popen(["dpkg-deb", option, str(path)], stdout=subprocess.PIPE) as proc:
        yield proc.stdout


def _inside(member: tarfile.TarInfo) -> str:
    """A member's path inside the package, without ``./``."""
    return str(PurePosixPath(member.name.removeprefix("./")))


def control(path: Path) -> dict[str, str]:
    """The fields of the package's ``control`` file (``Package``, ``Version``, …)."""
    with tar_stream(path, "control.tar") as tar:
        for member in tar:
            if _inside(member) == "control" and member.isfile():
                return _fields(tar.extractfile(member).read().decode("utf-8", "replace"))
    raise NSTError(f"{path}: a .deb without a control file; fetch the package again")


def _fields(text: str) -> dict[str, str]:
    fields = {}
    for line in text.splitlines():
        if line and not line[0].isspace() and ":" in line:
            key, value = line.split(":", 1)
            fields[key.strip()] = value.strip()
    return fields


def files(path: Path, wanted: Callable[[str], bool]) -> dict[str, bytes]:
    """``{path inside the package: bytes}`` of the regular files ``wanted`` accepts."""
    found = {}
    with tar_stream(path, "data.tar") as tar:
        for member in tar:
            if member.isfile() and wanted(_inside(member)):
                found[_inside(member)] = tar.extractfile(member).read()
    return found


# --------------------------------------------------------------------------- licences


@dataclass(frozen=True)
class Stanza:
    """One ``Files:`` paragraph of a DEP-5 copyright file."""

    patterns: tuple[str, ...]
    licence: str
    copyright: str


def stanzas(text: str) -> list[Stanza]:
    """The ``Files:`` paragraphs of a machine-readable (DEP-5) copyright file, in order."""
    found = []
    for paragraph in re.split(r"\n\s*\n", text):
        fields = _fields(paragraph)
        if "Files" in fields:
            patterns = tuple(_continued(paragraph, "Files").split())
            found.append(Stanza(patterns, fields.get("License", "").split("\n")[0],
                                " ".join(_continued(paragraph, "Copyright").split())))
    return found


def _continued(paragraph: str, key: str) -> str:
    """A field's value with its continuation lines (indented)."""
    match = re.search(rf"^{key}:(.*(?:\n[ \t].*)*)", paragraph, re.MULTILINE)
    return match.group(1).strip() if match else ""


def _matches(pattern: str, path: str) -> bool:
    """A DEP-5 pattern names source paths; installed paths differ in their folders, so a
    pattern matches a path's tail, or its file name when the pattern names one file."""
    if pattern.startswith("debian/"):
        return False
    name = PurePosixPath(pattern).name
    return (fnmatch.fnmatchcase(path, pattern) or fnmatch.fnmatchcase(path, f"*/{pattern}")
            or ("*" not in name and name == PurePosixPath(path).name))  # fmt: skip


def licence_for(copyright_text: str, path: str) -> dict[str, str | None]:
    """``{"licence", "copyright"}`` of ``path`` from its package's copyright file: the last
    matching DEP-5 stanza; a copyright file in free form gives ``None`` for both (the file
    itself is kept in the record)."""
    chosen = None
    for stanza in stanzas(copyright_text):
        if any(_matches(pattern, path) for pattern in stanza.patterns):
            chosen = stanza
    if chosen is None:
        return {"licence": None, "copyright": None}
    return {"licence": chosen.licence, "copyright": chosen.copyright}


# --------------------------------------------------------------------------- choosing


def check_package(name: str) -> None:
    """Refuse a package kept for judging, in one line."""
    if name in REFUSED:
        raise NSTError(f"{name}: not for training: {REFUSED[name]}; choose another package")


def chooser(package: str, include: Sequence[str]) -> Callable[[str], bool]:
    """Whether a path inside ``package`` is a photograph to take: ``include`` globs if given
    (a glob without ``/`` matches file names), else the kit's list (:data:`PHOTOGRAPHS`)."""
    if not include and package not in PHOTOGRAPHS:
        raise NSTError(f"{package}: the kit does not know which of its pictures are photographs; "
                       "pick them with --include GLOB (a path inside the package, e.g. "
                       "'usr/share/backgrounds/*.jpg')")  # fmt: skip
    globs = tuple(include) or PHOTOGRAPHS[package]

    def wanted(path: str) -> bool:
        if PurePosixPath(path).suffix.lower() not in PICTURE_SUFFIXES:
            return False
        name = PurePosixPath(path).name
        return any(fnmatch.fnmatchcase(path if "/" in g else name, g) for g in globs)

    return wanted


def largest_of_each(paths: Iterable[str]) -> list[str]:
    """One path per picture: of files named by resolution in one folder, the largest."""
    best: dict[str, tuple[int, str]] = {}
    for path in sorted(paths):
        p = PurePosixPath(path)
        size = RESOLUTION.fullmatch(p.stem)
        key = str(p.parent) + ("/" if size else f"/{p.name}")
        area = int(size[1]) * int(size[2]) if size else 0
        if key not in best or area > best[key][0]:
            best[key] = (area, path)
    return sorted(path for _, path in best.values())


def picture_name(package: str, path: str) -> str:
    """The file name a photo gets: ``package--the-telling-parts-of-its-path.jpg``."""
    p = PurePosixPath(path)
    parts = [part for part in p.with_suffix("").parts if part not in GENERIC_PARTS]
    if parts and RESOLUTION.fullmatch(parts[-1]) and len(parts) > 1:
        parts = parts[:-1]
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", "-".join(parts)).strip("_") or "photo"
    return f"{package}--{stem}.jpg"


# --------------------------------------------------------------------------- building


@dataclass
class Package:
    """What one ``.deb`` gives: its name, version, copyright file and chosen photographs."""

    deb: Path
    name: str
    version: str
    copyright: str = ""
    photos: dict[str, bytes] = field(default_factory=dict)


def read_package(deb: Path, include: Sequence[str] = ()) -> Package:
    """The photographs (and copyright file) of one ``.deb``; refuses a package kept for
    judging, and one that gives no photograph, in one line."""
    fields = control(deb)
    name, version = fields.get("Package", deb.stem), fields.get("Version", "?")
    check_package(name)
    wanted = chooser(name, include)
    doc = f"usr/share/doc/{name}/copyright"
    found = files(deb, lambda path: path == doc or wanted(path))
    chosen = largest_of_each(path for path in found if path != doc)
    if not chosen:
        why = "its pictures are illustrations" if name in PHOTOGRAPHS and not include else \
            "nothing matched the photographs' paths"  # fmt: skip
        raise NSTError(f"{deb.name}: no photograph taken from {name} {version} ({why}); "
                       "choose files with --include GLOB or leave the package out")  # fmt: skip
    return Package(deb, name, version, found.get(doc, b"").decode("utf-8", "replace"),
                   {path: found[path] for path in chosen})  # fmt: skip


def download(packages: Sequence[str], folder: Path) -> list[Path]:
    """``apt-get download`` the packages into ``folder``; the ``.deb`` files, in order."""
    for name in packages:
        check_package(name)
    if not shutil.which("apt-get"):
        raise NSTError("apt-get is not here (not a Debian-like system): download the .deb "
                       "files elsewhere and give them with --deb FILE")  # fmt: skip
    done = subprocess.run(["apt-get", "download", *packages], cwd=folder, capture_output=True,
                          text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.splitlines() if ln.startswith("E:")] or [done.stderr]
        raise NSTError(f"apt-get download failed: {' '.join(lines[-1].split())[:300]} "
                       "(run 'apt-get update' first?)")  # fmt: skip
    debs = sorted(folder.glob("*.deb"))
    return [next(d for d in debs if d.name.startswith(f"{name}_")) for name in packages]


def _decode(data: bytes, where: str, size: int):
    """A picture's bytes as a tensor at longest side ``size`` (never enlarged)."""
    from PIL import Image

    from ..assets.images import load_image

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            own = max(image.size)
            return load_image(image, min(size, own)), image.size
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise NSTError(f"{where}: not a picture Pillow can read ({one_line(err)})") from None


def check_folder(out: Path) -> None:
    """The output folder must be new (or empty), with a parent that exists: before any work."""
    if out.is_file():
        raise NSTError(f"{out}: is a file; give a new folder for the photos")
    if out.is_dir() and any(out.iterdir()):
        raise NSTError(f"{out}: exists and is not empty; give a new folder (the set is written "
                       "whole, never mixed with other files)")  # fmt: skip
    if not out.parent.is_dir():
        raise NSTError(f"{out.parent}: no such folder; create it first")


def build(
    out: Path, debs: Sequence[Path], size: int, *, include: Sequence[str] = (),
    command: str | None = None, progress: Callable[[str], None] | None = None,
) -> dict:  # fmt: skip
    """Write the photographs of ``debs`` at longest side ``size`` into the new folder ``out``
    with ``photos.json``, whole or not at all; returns the record."""
    check_folder(out)
    packages = [read_package(Path(deb), include) for deb in debs]
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        photos = [_write(staging, package, path, size, progress)
                  for package in packages for path in package.photos]  # fmt: skip
        record = _record(packages, photos, size, include, command)
        (staging / RECORD).write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
        if out.is_dir():
            out.rmdir()  # empty, checked above
        os.rename(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return record


def _write(folder: Path, package: Package, path: str, size: int, progress) -> dict:
    from ..assets.images import save_image

    picture, own = _decode(package.photos[path], f"{package.deb.name}: {path}", size)
    name = picture_name(package.name, path)
    save_image(picture, folder / name)
    if progress:
        progress(f"{name}: {own[0]}x{own[1]} -> {picture.shape[-1]}x{picture.shape[-2]}")
    return {"file": name, "package": package.name, "version": package.version, "path": path,
            "sha256": hashlib.sha256(package.photos[path]).hexdigest(), "original_size": own,
            "size": [picture.shape[-1], picture.shape[-2]],
            **licence_for(package.copyright, path)}  # fmt: skip


def _record(packages: list[Package], photos: list[dict], size: int, include: Sequence[str],
            command: str | None) -> dict:  # fmt: skip
    chosen = (f"--include {' '.join(include)}" if include else
              "the kit's list of photographs (nst_utils.networks.photo_sets.PHOTOGRAPHS)")
    return {
        "command": command, "size": size, "chosen_by": chosen,
        "packages": [{"package": p.name, "version": p.version, "deb": p.deb.name,
                      "deb_sha256": sha256_of(p.deb), "copyright": p.copyright}
                     for p in packages],
        "photos": photos,
    }  # fmt: skip


