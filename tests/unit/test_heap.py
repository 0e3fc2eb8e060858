"""engine/heap.py: after pinning, a 188 KB histogram array is mapped, not carved from the heap."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import ctypes, sys
from pytest_flakebench.engine.heap import keep_large_blocks_mapped
pinned = keep_large_blocks_mapped() if sys.argv[1] == "pin" else False
block = ctypes.c_ulong * 23552  # an HdrHistogram count array (1 us .. 1 h, 3 digits)
first = block()
del first  # glibc raises its dynamic threshold here, unless pinned
second = block()
addr = ctypes.addressof(second)
in_heap = False
with open("/proc/self/maps") as maps:
    for line in maps:
        if line.rstrip().endswith("[heap]"):
            lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
            in_heap = in_heap or lo <= addr < hi
print(pinned, in_heap)
"""


def _probe(mode: str) -> str:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(p for p in sys.path if p)}
    return subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True,
                          check=True, env=env).stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")
def test_pinned_threshold_keeps_histogram_arrays_out_of_the_heap() -> None:
    unpinned = _probe("none")
    if unpinned != "False True":
        pytest.skip(f"this libc does not move large blocks to the heap ({unpinned})")
    assert _probe("pin") == "True False"
