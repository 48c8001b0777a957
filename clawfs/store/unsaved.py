"""The index's side of its cache: what the cache does not hold yet, and `save`.

The cache (cache.py) keeps what the index learned of each file version
across mounts. The index learns all the time (a head read, a load, a
Markdown measured) and must never wait on SQLite for it, on the request
path least of all: so it only notes the real path of each file learned
about (`learned`, cheap, under the index's lock), and `save`, run from a
worker thread once the daemon serves, writes those files as the index
knows them then. A file that leaves the index is forgotten in the cache
at once (queued there, written by the next `save`).

A cache that turns itself off (it logs why) is let go of: from then on
nothing is noted, and a scan reads every file as without a cache.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from clawfs.store.cache import IndexCache, Reader
from clawfs.store.records import Records

SAVE_BATCH = 5000
"""Rows handed to the cache per commit by `save`."""


class Unsaved:
    """The files whose version the cache does not hold as the index knows it.

    `learned` and `forget` are called with the index's lock held.
    """

    def __init__(self, cache: IndexCache | None) -> None:
        self.cache = cache
        self._paths: set[str] = set()
        """Real paths of files read or loaded since the last save."""

    def learned(self, path: str) -> None:
        """Something about the file at real path `path` is not in the cache yet."""
        if self.cache is not None:
            self._paths.add(path)

    def forget(self, path: str) -> None:
        """The file at real path `path` is none of the index's any more."""
        if self.cache is not None:
            self._paths.discard(path)
            self.cache.forget(path)

    @contextlib.contextmanager
    def reading(self) -> Iterator[Reader | None]:
        """The cache's reader for one pass over directories (None: no cache)."""
        if self.cache is None:
            yield None
            return
        with self.cache.reading() as reader:
            yield reader

    def count(self) -> int:
        """How many files have something to write to the cache (or to forget there)."""
        cache = self.cache
        return 0 if cache is None else len(self._paths) + cache.pending()

    def save(self, lock: threading.RLock, records: Records) -> int:
        """Write what the index learned since the last save, and the removals
        queued; the rows written.

        Blocking (SQLite): from a worker thread once the daemon runs, never
        on the request path and never before the daemon forks. Each file is
        written as `records` hold it then, `SAVE_BATCH` at a time, under
        `lock`; only files lying where they are listed are kept (a linked
        file is probed again each mount: rare, and its row would be keyed by
        a path no listing names).
        """
        cache, written = self.cache, 0
        if cache is None:
            return 0
        while True:
            with lock:
                batch = [self._paths.pop() for _ in range(min(SAVE_BATCH, len(self._paths)))]
                for path in batch:
                    rec = records.backed_by(path)
                    if rec is not None and rec.path == rec.entry_path:
                        cache.put(path, rec.version)
            written += cache.commit()
            if not cache.usable:
                with lock:  # it turned itself off (logged): stop keeping track
                    self.cache = None
                    self._paths.clear()
                return written
            if not batch:
                return written
