"""The read path (mount/reader.py): what the page cache holds is answered on
the calling thread, the rest in a worker thread, and never short but at the
end of the file. Whether the kernel has a page cached is simulated here by
standing in for `os.preadv` (a real cold read is tests/e2e/test_requests.py)."""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trio

from clawfs.mount.reader import Backing, Reader

DATA = bytes(range(256)) * 64  # 16 KiB


@pytest.fixture
def backing(tmp_path: Path) -> Iterator[Backing]:
    path = tmp_path / "a.jsonl"
    path.write_bytes(DATA)
    opened = Backing(os.open(path, os.O_RDONLY))
    yield opened
    if not opened._closed:  # unless the test closed it
        opened.close()


Preadv = Callable[[int, list[memoryview], int, int], int]


def cached_up_to(limit: int, calls: list[int] | None = None) -> Preadv:
    """A stand-in for os.preadv whose page cache holds the file's first
    `limit` bytes: a RWF_NOWAIT read stops there (EAGAIN if it would get
    nothing), as the kernel's does. `calls` records each offset asked."""
    real = os.preadv

    def preadv(fd: int, buffers: list[memoryview], off: int, flags: int = 0) -> int:
        if calls is not None:
            calls.append(off)
        if flags & os.RWF_NOWAIT and off < len(DATA):
            if off >= limit:
                raise BlockingIOError(errno.EAGAIN, "not cached")
            (buffer,) = buffers
            return real(fd, [buffer[: limit - off]], off, flags)
        return real(fd, buffers, off, flags)

    return preadv


def read(r: Reader, backing: Backing, size: int, off: int) -> bytes:
    async def go() -> bytes:
        return await r.read(backing, size, off)

    return trio.run(go)


def test_a_cached_read_is_answered_on_the_calling_thread(backing: Backing) -> None:
    r = Reader()
    assert read(r, backing, 4096, 0) == DATA[:4096]
    assert read(r, backing, 131072, 8192) == DATA[8192:]  # short: the end of the file
    assert read(r, backing, 4096, len(DATA)) == b""
    assert r.waited == 0


def test_an_uncached_read_goes_to_a_worker_thread(
    backing: Backing, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "preadv", cached_up_to(0))
    r = Reader()
    assert read(r, backing, 8192, 4096) == DATA[4096:12288]
    assert r.waited == 1


def test_a_partly_cached_read_is_never_answered_short(
    backing: Backing, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Short means the end of the file to the kernel: the part the page
    cache lacks is read by a worker thread, whole."""
    calls: list[int] = []
    monkeypatch.setattr(os, "preadv", cached_up_to(6000, calls))
    r = Reader()
    assert read(r, backing, 8192, 0) == DATA[:8192]
    assert r.waited == 1 and calls == [0, 6000]
    calls.clear()
    assert read(r, backing, 4096, 1000) == DATA[1000:5096]  # all cached
    assert r.waited == 1 and calls == [1000]


def test_at_the_end_of_a_cached_file_the_kernel_is_asked_once_more(
    backing: Backing, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    monkeypatch.setattr(os, "preadv", cached_up_to(len(DATA), calls))
    r = Reader()
    assert read(r, backing, 131072, 0) == DATA
    assert calls == [0, len(DATA)] and r.waited == 0


def test_a_filesystem_without_nowait_reads_in_worker_threads(
    backing: Backing, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def unsupported(fd: int, buffers: list[memoryview], off: int, flags: int = 0) -> int:
        calls.append(off)
        raise OSError(errno.EOPNOTSUPP, "no RWF_NOWAIT here")

    monkeypatch.setattr(os, "preadv", unsupported)
    r = Reader()
    assert read(r, backing, 4096, 0) == DATA[:4096]
    assert read(r, backing, 4096, 4096) == DATA[4096:8192]
    assert calls == [0] and not backing.nowait and r.waited == 2


def test_other_errors_are_the_reads(backing: Backing, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(fd: int, buffers: list[memoryview], off: int, flags: int = 0) -> int:
        raise OSError(errno.EIO, "bad sector")

    monkeypatch.setattr(os, "preadv", failing)
    with pytest.raises(OSError) as caught:
        read(Reader(), backing, 4096, 0)
    assert caught.value.errno == errno.EIO


def test_closing_during_a_worker_thread_read_waits_for_it(
    backing: Backing, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The descriptor outlives a read in flight: closed under it, its number
    could be reused by another open file, and the read would return that."""
    monkeypatch.setattr(os, "preadv", cached_up_to(0))
    started, release = threading.Event(), threading.Event()
    real_pread = os.pread

    def slow_pread(fd: int, size: int, off: int) -> bytes:
        started.set()
        release.wait(10)
        return real_pread(fd, size, off)

    monkeypatch.setattr(os, "pread", slow_pread)
    r = Reader()
    got: list[bytes] = []

    async def go() -> None:
        async def reading() -> None:
            got.append(await r.read(backing, 100, 0))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(reading)
            await trio.to_thread.run_sync(started.wait, 10)
            backing.close()
            os.fstat(backing.fd)  # still open
            release.set()
        with pytest.raises(OSError):
            os.fstat(backing.fd)  # closed once the read was done

    trio.run(go)
    assert got == [DATA[:100]]
