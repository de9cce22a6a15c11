"""Keep the memory an iteration frees for the next one, instead of handing it back to the OS.

Every iteration allocates and frees the same large tensors: at 512 px ``relu1_1`` alone is
64 MB, and the forward and backward passes together move through about 650 MB of them. The
C library on Linux (glibc) serves every block above its *mmap threshold* (at most 32 MB by
default) with fresh pages from the operating system and returns them when the block is freed,
so each iteration pays for the same pages again: about 165,000 page faults per iteration at
512 px, each a trap into the kernel and a page of zeroes. Raising the threshold and the *trim
threshold* keeps freed blocks in the process's heap, where the next iteration finds them:
x1.14 per iteration at 512 px and x1.30 at 1024 px on the machine of BENCHMARKS.md, with no
page faults left.

The price is memory: freed blocks of one size cannot always serve requests of another, so the
peak grows (BENCHMARKS.md part 4), and the process keeps it until it exits.
``NST_KEEP_FREED_MEMORY=0`` turns this off. Elsewhere than glibc (macOS, Windows, musl) it does
nothing: those allocators make their own choices.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os

# mallopt(3) parameter numbers, from glibc's <malloc.h>.
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
M_MMAP_THRESHOLD = -3
DEFAULT_MMAP_MAX = 65536
KEEP = 2**30  # blocks up to 1 GiB come from the heap; up to 1 GiB of free heap is kept
#: glibc's steady state for large tensors: its dynamic threshold stops at 32 MB (64-bit) and
#: the trim threshold follows at twice that.
GLIBC_DEFAULT_STEADY_STATE = (32 * 2**20, 64 * 2**20)


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        return libc if libc is not None and hasattr(libc, "gnu_get_libc_version") else None
    except OSError:
        return None


def set_thresholds(mmap_threshold: int, trim_threshold: int) -> bool:
    """Set glibc's mmap and trim thresholds; ``False`` where this is not glibc."""
    libc = _glibc()
    if libc is None:
        return False
    accepted = libc.mallopt(M_MMAP_THRESHOLD, mmap_threshold)
    # Older glibc refuses thresholds above 32 MB: then it serves no block with mmap at all.
    libc.mallopt(M_MMAP_MAX, DEFAULT_MMAP_MAX if accepted else 0)
    return bool(libc.mallopt(M_TRIM_THRESHOLD, trim_threshold))


def wanted() -> bool:
    """Whether freed memory is to be kept (``NST_KEEP_FREED_MEMORY`` is not ``0``)."""
    return os.environ.get("NST_KEEP_FREED_MEMORY", "1") != "0"


@functools.cache
def keep_freed_memory() -> bool:
    """Keep freed blocks for reuse, once per process; whether it took effect (glibc only,
    and not with ``NST_KEEP_FREED_MEMORY=0``)."""
    if not wanted():
        return False
    return set_thresholds(KEEP, KEEP)
