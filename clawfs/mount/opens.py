"""Open files, and which version of a name the kernel was given (SPEC §6).

claw saves a session by renaming a new file over the old one, and appends
to it in place. A name and an inode number can therefore disagree: the
kernel looked the name up when it held one file and now holds another.
The rules, all here:
- an open or a stat through an inode whose name holds another file now
  serves that file (never ESTALE: retrying the lookup could meet the next
  save), and the kernel is told to drop the name's entry and the inode's
  attributes, so the next lookup gives the new file its own inode (SPEC §3,
  `tail -F`) (`replaced`, `stat`);
- an open of another version than the kernel was last told of (an append
  not invalidated yet; a new file that got the old one's device and inode
  number back in a burst of saves: another inode generation) drops the
  kernel's size and pages (no keep_cache), so it asks again (`open`);
- an open file keeps reading the file it opened, renamed over or deleted
  since (as on a local disk), and getattr of an open inode answers for its
  latest open (`latest`).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from pyfuse3 import FUSEError

from clawfs.mount import control, kernelcache
from clawfs.mount.inodes import InodeTable
from clawfs.mount.mdfiles import Source
from clawfs.mount.privacy import Viewer
from clawfs.mount.reader import Backing
from clawfs.mount.view import Entry, EntryKind, Key, View, session_file
from clawfs.store import files


@dataclass
class DirHandle:
    """An open directory: the listing is a snapshot taken at offset 0, of
    what its opener may see (`who`: mount/privacy.py; readdir carries no
    caller).

    The kernel reads a listing ~200 entries per call; rebuilding it each
    time is quadratic, and offsets into a changing list skip survivors.
    """

    inode: int
    who: Viewer | None = None
    entries: list[Entry] = field(default_factory=list)
    key: Key = ()
    stamp: object = None
    """The view's stamp of the directory (`View.stamp`) read before the
    listing was taken: while it is the stamp now, every entry still holds
    the record the index holds (attrs.py `listed`: no look-up per entry)."""


@dataclass
class TranscriptHandle:
    """An open transcript keeps the backing descriptor, so it keeps reading
    the same file even after claw renames a new one over it or it is deleted."""

    inode: int
    backing: Backing


@dataclass
class MarkdownHandle:
    """An open `.md` file: its transcript's backing descriptor, as `TranscriptHandle`."""

    inode: int
    source: Source


@dataclass
class GeneratedHandle:
    """index.tsv: content built at open (like a /proc file)."""

    data: bytes


BackedHandle = TranscriptHandle | MarkdownHandle
FileHandle = TranscriptHandle | MarkdownHandle | GeneratedHandle | control.Handle


def backing(entry: Entry) -> str:
    """The backing file of a transcript or `.md` entry (EIO if it has none)."""
    if entry.backing_path is None:
        raise FUSEError(errno.EIO)
    return os.fspath(entry.backing_path)


def version_told(st: os.stat_result) -> int:
    """The backing version (size, mtime) the kernel is given attributes of, as
    one int: kept per held inode (the kernel may hold 100,000)."""
    return told_of(st.st_size, st.st_mtime_ns)


def told_of(size: int, mtime_ns: int) -> int:
    """`version_told` of a file of that size and mtime."""
    return size << 64 | mtime_ns & ((1 << 64) - 1)


class Opens:
    """Open transcripts and `.md` files by inode, and the rules above.

    `invalidate` tells the kernel what is stale (the adapter's: a no-op
    before the mount answers).
    """

    def __init__(
        self,
        view: View,
        inodes: InodeTable[kernelcache.Slot],
        invalidate: Callable[[kernelcache.Stale], None],
    ) -> None:
        self._view = view
        self._inodes = inodes
        self._invalidate = invalidate
        self._open: dict[int, list[BackedHandle]] = {}

    def latest(self, inode: int) -> BackedHandle | None:
        """The latest open of `inode` still open (getattr answers for it)."""
        handles = self._open.get(inode)
        return handles[-1] if handles else None

    def stat(self, inode: int, entry: Entry) -> os.stat_result:
        """stat of a transcript's backing file: ESTALE once it is gone; the
        file the name holds now if it was replaced (`replaced`)."""
        try:
            st = files.lstat_regular(backing(entry))
        except FileNotFoundError:
            self._inodes.retire(inode)
            raise FUSEError(errno.ESTALE) from None
        self.replaced(inode, entry, st)
        return st

    def replaced(self, inode: int, entry: Entry, st: os.stat_result) -> bool:
        """Whether `st` is not the file `inode` was given for (a save by
        rename since the lookup); if so, have the kernel drop the name's
        entry and `inode`'s attributes, so that the next lookup gives the new
        file its own inode and the size read is the new file's. The watcher
        does the same once it sees the rename; this is for the meantime."""
        known = self._inodes.entry(inode)
        if known is None or known[1] == (st.st_dev, st.st_ino):
            return False
        parent = self._inodes.current((EntryKind.DIR, entry.key[:-1]))
        entries = [] if parent is None else [(parent, entry.key[-1])]
        self._invalidate(kernelcache.Stale(entries=entries, attrs=[inode]))
        return True

    def open(self, inode: int, entry: Entry) -> tuple[BackedHandle, bool]:
        """Open a transcript or `.md` entry's backing file: the handle, and
        whether the kernel may keep its cached pages (keep_cache)."""
        # The safe open (store/files.py): a FIFO swapped in for the file does
        # not block the open, which would stall every request (handlers share
        # one thread); a symlink swapped in is never followed out of the store.
        try:
            opened = files.open_backing(backing(entry))
        except files.NotRegular:
            raise FUSEError(errno.ENOENT) from None  # no longer a session file
        except OSError as e:
            if e.errno != errno.ELOOP:
                raise
            raise FUSEError(errno.ENOENT) from None  # a symlink now: no longer a session file
        st = opened.stat
        replaced = self.replaced(inode, entry, st)
        generation = files.generation(opened.fd)
        earlier = self._inodes.opened(inode, generation)
        self._inodes.note_open(inode, generation)
        told = self._inodes.told(inode)
        if not replaced and (told != version_told(st) or earlier != generation):
            self._invalidate(kernelcache.Stale(attrs=[inode]))
            replaced = True
        handle: BackedHandle = TranscriptHandle(inode, Backing(opened.fd))
        if entry.kind is EntryKind.MARKDOWN:
            sf = session_file(self._view.index, entry)
            if sf is None:
                opened.close()
                raise FUSEError(errno.ESTALE)
            handle = MarkdownHandle(inode, Source(Backing(opened.fd), sf.path))
        self._open.setdefault(inode, []).append(handle)
        # keep_cache: re-reads come from the page cache; a changed size or
        # mtime drops those pages by itself (libfuse's AUTO_INVAL_DATA).
        return handle, not replaced

    def release(self, handle: BackedHandle) -> None:
        """`handle` is closed: its descriptor goes once no worker thread uses it."""
        handles = self._open.get(handle.inode, [])
        handles.remove(handle)
        if not handles:
            del self._open[handle.inode]
        if isinstance(handle, TranscriptHandle):
            handle.backing.close()  # once no worker thread reads from it
        else:
            handle.source.close()  # once no worker thread renders from it
