"""The kit's one way to write a file: whole or not at all, readable as the user's umask says.

:func:`atomic_write` gives a temporary path in the target's folder; whatever the caller writes
there is renamed over the target only when the block ends without an error, so a crash or a
Ctrl-C never leaves a half-written image, log or cached download. ``tempfile.mkstemp`` creates
that file with mode 0600 (private); before the rename it gets the mode an ordinary ``open``
would give, ``0666 & ~umask`` (0644 under the usual umask 022, 0600 under 077), so a teacher
who writes a class's results into a shared or served folder can read them there.

:func:`sha256_of` is the one digest of a file's bytes (downloads, archives, photo packages).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """This process's umask (from ``/proc/self/status`` on Linux, else by setting it back)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def default_file_mode() -> int:
    """The mode a new file gets from ``open``: ``0o666`` less the umask."""
    return 0o666 & ~current_umask()


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it becomes ``path`` (mode by umask).

    The folder is created if needed. On any error (Ctrl-C included) the temporary file is
    removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def sha256_of(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, hex, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
