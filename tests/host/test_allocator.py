"""glibc's malloc as the daemon sets it (host/allocator.py), read back through mallinfo2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from clawfs.host import allocator

from storegen import REPO

PROBE = """
import ctypes, sys
from clawfs.host import allocator
class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost").split()]
libc = allocator._glibc()
libc.mallinfo2.restype = MallInfo2
def mapped():
    return libc.mallinfo2().hblkhd
if sys.argv[1] == "tune":
    assert allocator.tune()
first = bytearray(4 << 20)
del first
before = mapped()
second = bytearray(1 << 20)
print(mapped() - before >= 1 << 20)
"""


def second_block_mapped(*args: str) -> bool:
    """Whether, in a fresh process (glibc maps a block only when its arenas
    cannot hold it), a 1 MiB block is mapped after a 4 MiB one was freed."""
    out = subprocess.run([sys.executable, "-c", PROBE, *args], check=True, capture_output=True,
                         text=True, cwd=REPO).stdout
    return out.strip() == "True"


def test_a_large_block_stays_mapped_after_a_larger_one_was_freed() -> None:
    # Left to itself glibc raises its threshold to the freed block's size,
    # and takes the next block below that from an arena.
    assert not second_block_mapped("default")
    assert second_block_mapped("tune")


def test_trim_gives_back_what_is_free_below_a_block_in_use() -> None:
    blocks = [bytearray(64 << 10) for _ in range(200)]  # under the threshold: in the heap
    pin = bytearray(64 << 10)
    del blocks
    assert allocator.trim()
    del pin


def test_without_glibc_nothing_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(allocator, "_glibc", lambda: None)
    assert not allocator.tune()
    assert not allocator.trim()
