"""glibc's malloc as the daemon sets it (host/allocator.py), read back through mallinfo2."""

from __future__ import annotations

import ctypes

import pytest

from clawfs.host import allocator


class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def mapped() -> int:
    """Bytes glibc has mapped for blocks of their own (mallinfo2's hblkhd)."""
    libc = allocator._glibc()
    assert libc is not None
    libc.mallinfo2.restype = MallInfo2
    return int(libc.mallinfo2().hblkhd)


def test_a_large_block_stays_mapped_after_a_larger_one_was_freed() -> None:
    # Left to itself glibc would raise its threshold to the freed block's
    # size, and take the next block below that from an arena.
    assert allocator.tune()
    first = bytearray(4 << 20)
    assert mapped() >= 4 << 20
    del first
    before = mapped()
    second = bytearray(1 << 20)
    assert mapped() - before >= 1 << 20
    del second


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
