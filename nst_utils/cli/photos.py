"""``nst photos build``: training photos from Debian's wallpaper packages (issue 32).

::

    nst photos build OUT_DIR [--package NAME ...] [--deb FILE ...] [--include GLOB ...]
        [--size 512] [--quiet]

Fetches the packages with ``apt-get download`` (into a temporary folder, removed after), or
reads local ``.deb`` files (``--deb``, offline), takes their photographs, resizes them and
writes them with ``photos.json`` (package, version, each file's path inside the package and
its licence) into the new folder ``OUT_DIR``, whole or not at all: the folder
``nst train-style --images`` reads. The work is :mod:`nst_utils.networks.photo_sets`; every
check that the arguments alone allow (the folder, the packages kept for judging, the files)
comes first, without torch.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from pathlib import Path

from ..errors import NSTError
from .options import add_quiet, add_size

#: What a Debian package's file name ends with.
DEB_SUFFIX = ".deb"


def add_commands(commands) -> None:
    """Add ``photos`` (one action: ``build``)."""
    p = commands.add_parser("photos", help="training photos from Debian's wallpaper packages")
    actions = p.add_subparsers(dest="action", required=True)
    b = actions.add_parser("build", help="fetch, choose, resize and record photographs")
    b.set_defaults(handler=cmd_build)
    b.add_argument("out", type=Path, metavar="OUT_DIR", help="a new (or empty) folder")
    b.add_argument(
        "--package", dest="packages", action="append", default=[], metavar="NAME",
        help="a Debian package to fetch with apt-get download; repeat for more (default: "
        "plasma-workspace-wallpapers and lomiri-wallpapers-20.04 unless --deb is given)",
    )  # fmt: skip
    b.add_argument("--deb", dest="debs", action="append", default=[], type=Path,
                   metavar="FILE", help="a downloaded .deb file instead (offline); repeat")
    b.add_argument(
        "--include", action="append", default=[], metavar="GLOB",
        help="take the files whose path inside the package matches (a glob without / "
        "matches file names), instead of the kit's list of photographs; repeat",
    )  # fmt: skip
    add_size(b, 512, help="longest side of each photo in pixels (smaller ones stay as they are)")
    add_quiet(b, help="print nothing on success")


def _check(args: argparse.Namespace) -> list[str]:
    """Every check the arguments allow, before any download; the packages to fetch."""
    from ..networks.photo_sets import DEFAULT_PACKAGES, check_folder, check_package

    check_folder(args.out)
    for deb in args.debs:
        if not deb.is_file():
            raise NSTError(f"{deb}: no such file; give a downloaded Debian package (.deb)")
        if deb.suffix != DEB_SUFFIX:
            raise NSTError(f"{deb}: not a .deb file; give a Debian package")
    if any(not glob.strip() for glob in args.include):
        raise NSTError("--include needs a glob, e.g. 'usr/share/backgrounds/*.jpg'")
    packages = args.packages or ([] if args.debs else list(DEFAULT_PACKAGES))
    for name in packages:
        check_package(name)
    return packages


def cmd_build(args: argparse.Namespace) -> None:
    """Fetch (or read) the packages and write the folder of photographs."""
    packages = _check(args)
    from ..networks import photo_sets

    say = None if args.quiet else (lambda line: print(line, file=sys.stderr))
    command = shlex.join(["nst", *getattr(args, "argv", [])])
    with tempfile.TemporaryDirectory(prefix="nst-photos-") as folder:
        fetched = photo_sets.download(packages, Path(folder)) if packages else []
        record = photo_sets.build(args.out, [*args.debs, *fetched], args.size,
                                  include=args.include, command=command, progress=say)  # fmt: skip
    if not args.quiet:
        versions = ", ".join(f"{p['package']} {p['version']}" for p in record["packages"])
        print(f"wrote {len(record['photos'])} photos from {versions} into {args.out} "
              f"(provenance: {args.out / photo_sets.RECORD})")  # fmt: skip
