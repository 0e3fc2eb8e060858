"""Long runs: large blocks mapped and unmapped, not carved from the heap.

The ticker allocates and frees several HdrHistogram count arrays (188 KB each) every second.
glibc serves a block that large with ``mmap`` at first, but after the first such block is freed
it raises its threshold and carves the next ones from the main heap, which then fragments and
grows in steps over a long run (measured: +13 to +17 MB per xdist worker over 10 minutes,
benchmarks/README.md, while Python's own objects did not grow). Pinning the threshold at glibc's
default (128 KiB) keeps every such block mapped, so freeing it returns it to the system; a few
``mmap``/``munmap`` calls a second cost nothing measurable. Measured after this change, worker RSS
goes down as well as up, but still grew 8-14 MB over 10 minutes, mostly in minutes 2-4: this
is one cause of the growth, not all of it (benchmarks/README.md, memory_soak.py).
"""

from __future__ import annotations

import ctypes
import os
import sys

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
MMAP_THRESHOLD = 128 * 1024  # glibc's default, made fixed (no dynamic raise)
ENV = "MALLOC_MMAP_THRESHOLD_"  # the user's own setting wins

_done: bool | None = None


def keep_large_blocks_mapped() -> bool:
    """Pin glibc's mmap threshold once per process; False where it does not apply."""
    global _done
    if _done is not None:
        return _done
    _done = False
    if not sys.platform.startswith("linux") or ENV in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt symbol)
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    _done = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    return _done
