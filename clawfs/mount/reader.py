"""Reading a backing file's bytes without blocking the request thread.

All FUSE handlers share one trio thread (pyfuse3 notes), so a read that
waits for the disk stalls every other request: during a cold `cat` of every
transcript, `pread` on that thread was 27 % of the samples (issue 16). Yet a
read the page cache can answer is best answered right there: a hop to a
worker thread costs ~50 us, more than the whole request (~30 us), and the
pyfuse3 notes measured 1,850 MB/s for a synchronous `pread` against 830
through `trio.to_thread`.

So a read first asks the kernel for what it holds in the page cache, and
only that (`preadv` with `RWF_NOWAIT`): when it all is, the read is answered
at once. When some of it is not (EAGAIN), the whole read goes to a worker
thread, where waiting for the disk stalls nobody. A filesystem that cannot
tell (EOPNOTSUPP, as some network filesystems answer) has every later read
of that file go to a worker thread.

A short answer means the end of the file to the kernel (it then takes the
file to end there), so a read answers short only where the file really ends:
a `RWF_NOWAIT` read may stop short where the cached pages do, and is then
asked again from there (0 bytes: the end; EAGAIN: a worker thread reads it).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import trio

log = logging.getLogger(__name__)

READ_THREADS = 4
"""Worker threads for reads that wait for the disk (or a file server)."""


@dataclass(eq=False)
class Backing:
    """An open backing file's descriptor as handles and worker threads share
    it. Its owner calls `close` once; the descriptor is closed when no worker
    thread uses it any more (`in_use`), so it is never closed under a read,
    and its number never reused by another open file while that read runs."""

    fd: int
    nowait: bool = True
    """Whether RWF_NOWAIT reads are tried (false once the filesystem refused one)."""
    _busy: int = field(default=0, init=False)
    _closed: bool = field(default=False, init=False)

    def close(self) -> None:
        self._closed = True
        if not self._busy:
            os.close(self.fd)

    @contextlib.contextmanager
    def in_use(self) -> Iterator[int]:
        """The descriptor, for a worker thread: not closed before the block ends."""
        self._busy += 1
        try:
            yield self.fd
        finally:
            self._busy -= 1
            if self._closed and not self._busy:
                os.close(self.fd)


class Reader:
    """Reads for the request thread (see the module)."""

    def __init__(self, threads: int = READ_THREADS) -> None:
        self._buffer = bytearray()
        self._limiter = trio.CapacityLimiter(threads)
        self.waited = 0
        """Reads that went to a worker thread (tests count them)."""

    async def read(self, backing: Backing, size: int, off: int) -> bytes:
        """`size` bytes at `off`, fewer only at the end of the file."""
        if backing.nowait:
            cached = self._cached(backing, size, off)
            if cached is not None:
                return cached
        self.waited += 1
        if log.isEnabledFor(logging.DEBUG):
            log.debug("read of %d bytes at %d: not in the page cache, from a worker thread",
                      size, off)
        with backing.in_use() as fd:
            return await trio.to_thread.run_sync(os.pread, fd, size, off, limiter=self._limiter)

    def _cached(self, backing: Backing, size: int, off: int) -> bytes | None:
        """The bytes if the page cache holds them all, else None. Read into
        one kept buffer: a fresh `pread` of 128 KiB allocates (and maps)
        that much on every call."""
        if len(self._buffer) < size:
            self._buffer = bytearray(size)
        view = memoryview(self._buffer)[:size]
        done = 0
        while done < size:
            try:
                got = os.preadv(backing.fd, [view[done:]], off + done, os.RWF_NOWAIT)
            except BlockingIOError:
                return None
            except OSError as e:
                if e.errno != errno.EOPNOTSUPP:
                    raise
                backing.nowait = False
                return None
            if got == 0:
                break  # the end of the file
            done += got
        return bytes(view[:done])
