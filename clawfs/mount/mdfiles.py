"""Serving the Markdown files (SPEC §8) for the adapter: their sizes and
bytes, from the index's `MarkdownCache` (store/mdcache.py).

A size the cache knows (the sweep measured that version, or a read reached
its end) is answered on the request thread, so `ls -l` renders nothing. One
it does not know is measured in a worker thread: the request that asked
waits, no other does (handlers share one trio thread; pyfuse3 notes). The
size always belongs to the version whose attributes it is reported with:
it is measured on the same open descriptor that was `fstat`ed.

Reads are answered from the rendered bytes at hand, else rendered in a
worker thread; the descriptor stays open until no worker uses it.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass

import trio

from clawfs.mount.reader import Backing
from clawfs.store import files
from clawfs.store.mdcache import MarkdownCache

RENDER_THREADS = 2
"""Worker threads that render (measure sizes, render reads)."""

MEASURE_TRIES = 3
"""Attempts at a size while the file keeps changing under the rendering."""


@dataclass(eq=False)
class Source:
    """An open transcript as its Markdown is served: the backing descriptor
    (kept, so a file renamed over or deleted keeps reading as it was; closed
    once no worker thread uses it: reader.Backing) and its real path (a
    meta-less file's id is the stem of that path: mdcache.MarkdownCache)."""

    backing: Backing
    path: str

    @property
    def fd(self) -> int:
        return self.backing.fd

    def close(self) -> None:
        self.backing.close()


class MarkdownFiles:
    """Sizes and reads of `.md` files (see the module)."""

    def __init__(self, cache: MarkdownCache) -> None:
        self.cache = cache
        self._limiter = trio.CapacityLimiter(RENDER_THREADS)

    def size_now(self, path: str, st: os.stat_result) -> int | None:
        """The Markdown size of the version `st` describes, if known (no I/O)."""
        return self.cache.size_of(path, st)

    async def measure(self, path: str) -> tuple[os.stat_result, int]:
        """The current version's stat and Markdown size, rendering in a worker thread."""
        return await trio.to_thread.run_sync(self._measure, path, limiter=self._limiter)

    def _measure(self, path: str) -> tuple[os.stat_result, int]:
        for _ in range(MEASURE_TRIES):
            with files.open_backing(path) as opened:
                rendered = self.cache.measure_open(opened.fd, opened.key, path)
            if rendered is not None and rendered.size is not None:
                return opened.stat, rendered.size
        raise OSError(errno.EAGAIN, "the session keeps changing while it is rendered", path)

    async def measure_open(self, source: Source) -> tuple[os.stat_result, int]:
        """`measure` of an open source: the version it holds now."""
        st = os.fstat(source.fd)
        size = self.size_now(source.path, st)
        if size is not None:
            return st, size
        with source.backing.in_use():
            return await trio.to_thread.run_sync(self._measure_fd, source, limiter=self._limiter)

    def _measure_fd(self, source: Source) -> tuple[os.stat_result, int]:
        for _ in range(MEASURE_TRIES):
            st = os.fstat(source.fd)
            key = files.file_key(st)
            rendered = self.cache.measure_open(source.fd, key, source.path)
            if rendered is not None and rendered.size is not None:
                return st, rendered.size
        raise OSError(errno.EAGAIN, "the session keeps changing while it is rendered", source.path)

    async def read(self, source: Source, off: int, size: int) -> bytes:
        """Bytes `[off, off + size)` of the Markdown of what `source` holds now."""
        key = files.file_key(os.fstat(source.fd))
        cached = self.cache.read_cached(key, source.path, off, size)
        if cached is not None:
            return cached
        with source.backing.in_use():
            return await trio.to_thread.run_sync(
                self.cache.read, source.fd, key, source.path, off, size,
                limiter=self._limiter,
            )
