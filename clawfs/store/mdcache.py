"""The Markdown of session files, per file version: sizes, titles, bytes (SPEC §8).

The mount serves every transcript also as Markdown (`<stem>.md`), with an
exact `st_size` (`cp`, `tar`, `rsync`, `mmap` trust it), yet an `ls -l`
must not render anything. So what a version's rendering is, is found out
once and kept:

* `Rendered` (title, size) per file and version (`FileKey`): the
  background sweep finds it out (it already reads every file), and so do
  a read that reached the end and `measure` (run off the request thread
  when a size is asked before the sweep got there). It is kept where
  every per-version value is, with the index's record of the version
  (`Known`, store/versions.py: the index cache keeps it across mounts);
  `KnownHere`, a map of its own, when the cache is used alone.
* A version that only grew (the same file, its old bytes intact, as when
  claw appends a message) is rendered on from its old end by a kept
  `MarkdownReader` (format/markdown.py: the first `emitted` bytes of a
  rendering never change), not from the start: an append costs what it
  adds. Anything else (a save by rename, a rewrite in place, a file that
  shrank) starts over, and a version is remembered only if the file was
  still that version once rendered, so a changed file is never served
  stale.
* Rendered bytes are kept for reads within `RENDERED_BYTES` in all: per
  file the last `WINDOW_BYTES` rendered (all of a smaller rendering), the
  least recently used file dropped first. The kernel's page cache serves
  re-reads (the mount opens with keep_cache); this serves what the kernel
  does not hold: a `cat` after a `stat`, `tail -f` after an append, and a
  sequential read of a big session, rendered once as it goes. A read
  behind what is kept renders from the start again, holding only its
  window (an `mmap` jumping backwards in a big session pays that).

* A version clawfs cannot afford to check (store/budget.py: hundreds of MB,
  a line of 16 MiB, a million lines) is not rendered: its Markdown is a
  short note saying so (`unrendered`), decided before any of it is served,
  so its size and its bytes always agree.

No FUSE and no trio: methods that may render (`measure`, `title`, `read`)
belong off the request thread; `known` and `read_cached` never do I/O
beyond what they are given.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from clawfs.format.markdown import MarkdownReader
from clawfs.store import budget, files
from clawfs.store.files import FileKey
from clawfs.store.versions import Rendered

READ_CHUNK = 256 << 10
"""File bytes rendered at a time (a read of 128 KiB near the start of a big
session renders about this much, not the whole file)."""

CHECK_BYTES = 256
"""Bytes before a kept reader's end, compared to tell that the old part is unchanged."""

WINDOW_BYTES = 2 << 20
"""Rendered bytes kept per file: the last ones (a read in progress keeps its own)."""

BEHIND_BYTES = 128 << 10
"""Bytes kept before the offset of the last read: `tail -f` re-reads from the
page boundary before the old end, readahead overlaps a little."""

RENDERED_BYTES = 16 << 20
"""What all kept renderings may take together (text, tails, and `READER_COST`
for each reader); beyond it the least recently used are dropped."""

READER_COST = 32 << 10
"""What a kept reader is counted as (claw's reader state, the renderer)."""

MAX_KEPT = 64
"""Kept readers at most, whatever their size."""

UNAFFORDABLE_KEPT = 4096
"""Versions whose affordability is remembered (beyond, it is asked again)."""


def unrendered(path: str, reason: str) -> bytes:
    """The Markdown of a version clawfs cannot afford to render."""
    name = os.path.basename(path)
    return (
        f"# {name}\n\nclawfs does not render this session: {reason}. "
        f"Its bytes are in {name} itself.\n"
    ).encode("utf-8", "surrogateescape")


class Known(Protocol):
    """Where what is known of each version's Markdown is kept."""

    def known(self, path: str, key: FileKey) -> Rendered | None:
        """What is known of version `key` of the file at real path `path`."""
        ...

    def size_of(self, path: str, st: os.stat_result) -> int | None:
        """The size of the version `st` describes, if known (a listing of
        thousands asks: no key built)."""
        ...

    def remember(self, path: str, key: FileKey, rendered: Rendered) -> None:
        """Keep what version `key` renders to (a title alone never replaces a size)."""
        ...

    def grew(self, path: str, key: FileKey) -> bool:
        """Whether an earlier version of the same file was known: a file that
        changes, whose reader is worth keeping."""
        ...

    def retain(self, keep: Callable[[str], bool]) -> None:
        """Forget the files whose path `keep` refuses (no longer in the store)."""
        ...


class KnownHere:
    """`Known` in a map of its own (the cache used without an index)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._map: dict[str, tuple[FileKey, Rendered]] = {}

    def known(self, path: str, key: FileKey) -> Rendered | None:
        with self._lock:
            found = self._map.get(path)
        return found[1] if found is not None and found[0] == key else None

    def size_of(self, path: str, st: os.stat_result) -> int | None:
        found = self._map.get(path)  # no lock: one dict read is atomic
        return found[1].size if found is not None and found[0] == files.file_key(st) else None

    def remember(self, path: str, key: FileKey, rendered: Rendered) -> None:
        with self._lock:
            found = self._map.get(path)
            if found is not None and found[0] == key and found[1].size is not None:
                return  # a title-only result never replaces a size
            self._map[path] = (key, rendered)

    def grew(self, path: str, key: FileKey) -> bool:
        with self._lock:
            found = self._map.get(path)
        return found is not None and found[0].same_file(key)

    def retain(self, keep: Callable[[str], bool]) -> None:
        with self._lock:
            for path in [p for p in self._map if not keep(p)]:
                del self._map[path]


class _Feed:
    """A `MarkdownReader` fed one file from its start, with the text it rendered last.

    The rendering is `[0, end)` (stable, `text` holds its `[start, end)`)
    plus `tail` once all of version `key` was fed.
    """

    __slots__ = ("key", "reader", "fed", "check", "start", "text", "tail", "lock")

    def __init__(self, path: str) -> None:
        self.key: FileKey | None = None
        self.reader = MarkdownReader(path)
        self.fed = 0
        self.check = b""
        self.start = 0
        self.text = bytearray()
        self.tail: bytes | None = None
        self.lock = threading.Lock()

    @property
    def end(self) -> int:
        return self.reader.emitted

    @property
    def size(self) -> int | None:
        """The rendering's size, once all of `key` was fed."""
        return None if self.tail is None else self.end + len(self.tail)

    @property
    def cost(self) -> int:
        return len(self.text) + len(self.tail or b"") + READER_COST

    def goes_on(self, fd: int, key: FileKey) -> bool:
        """Whether this feed renders `key`: fresh, the same version, or an
        earlier version of the same file that `key` only grew from."""
        if self.key is None or self.key == key:
            return True
        if not self.key.same_file(key) or key.size <= self.key.size:
            return False
        start = self.fed - len(self.check)
        return os.pread(fd, len(self.check), start) == self.check

    def advance(self, fd: int, key: FileKey, until: int | None, reading: int | None) -> None:
        """Feed `key`'s bytes until the rendering reaches `until` (None: the
        end). `reading`: the offset of a read being served, whose bytes
        stay kept (None: keep only the window)."""
        if self.key != key:
            self.key, self.tail = key, None
        while self.fed < key.size and (until is None or self.end < until):
            chunk = os.pread(fd, min(READ_CHUNK, key.size - self.fed), self.fed)
            if not chunk:
                return  # shorter than its stat said: changed under us, nothing to remember
            self.text += self.reader.feed(chunk)
            self.fed += len(chunk)
            self.check = (self.check + chunk[-CHECK_BYTES:])[-CHECK_BYTES:]
            self._trim(reading)
        if self.fed == key.size and self.tail is None:
            self.tail = self.reader.tail()

    def _trim(self, reading: int | None) -> None:
        keep_from = self.end - WINDOW_BYTES
        if reading is not None:
            keep_from = min(max(reading - BEHIND_BYTES, keep_from), reading)
        keep_from = min(keep_from, self.end)  # a read far ahead: nothing of it yet
        if keep_from > self.start:
            del self.text[: keep_from - self.start]
            self.start = keep_from

    def holds(self, off: int, size: int) -> bool:
        """Whether the bytes `[off, off + size)` (cut at the end) are at hand."""
        if off < self.start:
            return False
        return off + size <= self.end or self.tail is not None

    def slice(self, off: int, size: int) -> bytes:
        """Bytes `[off, off + size)` of the rendering, from what is at hand."""
        stop = off + size
        out = bytes(self.text[off - self.start : stop - self.start]) if off < self.end else b""
        if self.tail is not None and stop > self.end:
            out += self.tail[max(off - self.end, 0) : stop - self.end]
        return out


class MarkdownCache:
    """Sizes and titles per file version, kept readers and rendered bytes (see the module).

    Safe to call from several threads; rendering one file happens under
    that file's own lock, never the cache's.
    """

    def __init__(self, known: Known | None = None) -> None:
        self._lock = threading.Lock()
        self._known: Known = KnownHere() if known is None else known
        self._feeds: OrderedDict[str, _Feed] = OrderedDict()
        """Kept readers by path, least recently used first."""
        self._over: OrderedDict[str, tuple[FileKey, str | None]] = OrderedDict()
        """Path -> a version and why it cannot be afforded (None: it can)."""

    def _unaffordable(self, fd: int, key: FileKey, path: str) -> str | None:
        """Why version `key` (open as `fd`) cannot be rendered, if it cannot
        (store/budget.py, asked once per version)."""
        with self._lock:
            kept = self._over.get(path)
        if kept is not None and kept[0] == key:
            return kept[1]
        reason = budget.affordable(fd, key.size)
        with self._lock:
            self._over[path] = (key, reason)
            self._over.move_to_end(path)
            while len(self._over) > UNAFFORDABLE_KEPT:
                self._over.popitem(last=False)
        return reason

    def _note(self, key: FileKey, path: str) -> bytes | None:
        """The note a version is rendered as, if known to be one (no I/O)."""
        with self._lock:
            kept = self._over.get(path)
        if kept is None or kept[0] != key or kept[1] is None:
            return None
        return unrendered(path, kept[1])

    # --- sizes and titles per version ---------------------------------------------

    def known(self, path: str, key: FileKey) -> Rendered | None:
        """What is known of this version's Markdown (never renders)."""
        return self._known.known(path, key)

    def size_of(self, path: str, st: os.stat_result) -> int | None:
        """The size of the version `st` describes, if known: `known` for a
        listing of thousands (no key built)."""
        return self._known.size_of(path, st)

    def remember(self, path: str, key: FileKey, rendered: Rendered) -> None:
        """Record what a version's Markdown is."""
        self._known.remember(path, key, rendered)

    def retain(self, keep: Callable[[str], bool]) -> None:
        """Forget the files whose path `keep` refuses (no longer in the store):
        asked of what is kept here, not of every file in the store."""
        self._known.retain(keep)
        with self._lock:
            for path in [p for p in self._feeds if not keep(p)]:
                del self._feeds[path]
            for path in [p for p in self._over if not keep(p)]:
                del self._over[path]

    def measure(self, path: str) -> tuple[FileKey, Rendered] | None:
        """Render the file's current version to its end, or go on from a kept
        reader; None if it cannot be opened or read, or changed meanwhile."""
        opened = _open(path)
        if opened is None:
            return None
        with opened:
            key = opened.key
            try:
                rendered = self.measure_open(opened.fd, key, path)
            except OSError:
                return None
        return None if rendered is None else (key, rendered)

    def measure_open(self, fd: int, key: FileKey, path: str) -> Rendered | None:
        """`measure` of the open file `fd`, whose version is `key`."""
        known = self.known(path, key)
        if known is not None and known.size is not None:
            return known
        reason = self._unaffordable(fd, key, path)
        if reason is not None:
            rendered = Rendered("", len(unrendered(path, reason)))
            self.remember(path, key, rendered)
            return rendered
        growing = self._known.grew(path, key)
        with self._lock:
            feed = self._feeds.get(path)
        if feed is None:
            feed = _Feed(path)
        with feed.lock:
            if not feed.goes_on(fd, key):
                feed = _Feed(path)  # not shared yet: no need for its lock
            feed.advance(fd, key, None, None)
            size = feed.size
            title = feed.reader.title()
        if size is None or files.file_key(os.fstat(fd)) != key:
            return None
        rendered = Rendered(title, size)
        # A reader is kept for a file seen before (it is growing), not for
        # every file the sweep goes through.
        self.remember(path, key, rendered)
        with self._lock:
            if growing or path in self._feeds:
                self._keep(path, feed)
        return rendered

    def title(self, path: str) -> str | None:
        """The title of the file's current version, reading only as far as
        it takes (the header is written after the first user text)."""
        opened = _open(path)
        if opened is None:
            return None
        with opened:
            key = opened.key
            known = self.known(path, key)
            if known is not None:
                return known.title
            try:
                reason = self._unaffordable(opened.fd, key, path)
            except OSError:
                return None
            if reason is not None:
                self.remember(path, key, Rendered("", len(unrendered(path, reason))))
                return ""
            reader = MarkdownReader(path)
            fed = 0
            try:
                while fed < key.size and not reader.titled:
                    chunk = os.pread(opened.fd, min(READ_CHUNK, key.size - fed), fed)
                    if not chunk:
                        return None
                    reader.feed(chunk)
                    fed += len(chunk)
                title = reader.title()
                size = reader.emitted + len(reader.tail()) if fed == key.size else None
                if files.file_key(os.fstat(opened.fd)) != key:
                    return title
            except OSError:
                return None
        self.remember(path, key, Rendered(title, size))
        return title

    # --- bytes --------------------------------------------------------------------

    def read_cached(self, key: FileKey, path: str, off: int, size: int) -> bytes | None:
        """Bytes of version `key`'s rendering if they are at hand, else None.
        No I/O: for the request thread."""
        note = self._note(key, path)
        if note is not None:
            return note[off : off + size]
        with self._lock:
            feed = self._feeds.get(path)
            if feed is not None:
                self._feeds.move_to_end(path)
        if feed is None or not feed.lock.acquire(blocking=False):
            return None
        try:
            if feed.key != key or not feed.holds(off, size):
                return None
            return feed.slice(off, size)
        finally:
            feed.lock.release()

    def read(
        self, fd: int, key: FileKey, path: str, off: int, size: int
    ) -> bytes:
        """Bytes `[off, off + size)` of the rendering of version `key` of the
        open file `fd` (fewer only at its end). May render: off the request thread."""
        reason = self._unaffordable(fd, key, path)
        if reason is not None:
            return unrendered(path, reason)[off : off + size]
        with self._lock:
            feed = self._feeds.get(path)
        if feed is None:
            feed = self._fresh(path)
        with feed.lock:
            if feed.goes_on(fd, key) and off >= feed.start:
                return self._read(feed, fd, key, path, off, size)
        feed = self._fresh(path)
        with feed.lock:
            return self._read(feed, fd, key, path, off, size)

    def _fresh(self, path: str) -> _Feed:
        feed = _Feed(path)
        with self._lock:
            self._keep(path, feed)
        return feed

    def _read(self, feed: _Feed, fd: int, key: FileKey, path: str, off: int, size: int) -> bytes:
        """A read from `feed` (its lock held)."""
        feed.advance(fd, key, off + size, off)
        data = feed.slice(off, size)
        total = feed.size
        known = self.known(path, key)
        if total is not None and (known is None or known.size is None):
            if files.file_key(os.fstat(fd)) == key:  # the version it rendered
                self.remember(path, key, Rendered(feed.reader.title(), total))
        with self._lock:
            if path in self._feeds:
                self._feeds.move_to_end(path)
            self._evict()
        return data

    def _keep(self, path: str, feed: _Feed) -> None:
        """Keep `feed` as the file's reader (lock held)."""
        self._feeds[path] = feed
        self._feeds.move_to_end(path)
        self._evict()

    def _evict(self) -> None:
        """Drop the least recently used readers beyond the bounds (lock held).
        A reader in use is counted as it is now (it may grow by one chunk's
        rendering before its read ends)."""
        total = sum(feed.cost for feed in self._feeds.values())
        while self._feeds and (total > RENDERED_BYTES or len(self._feeds) > MAX_KEPT):
            _, dropped = self._feeds.popitem(last=False)
            total -= dropped.cost


def _open(path: str) -> files.BackingFile | None:
    """The backing file opened safely, or None when it is gone or unreadable."""
    try:
        return files.open_backing(path)
    except OSError:
        return None
