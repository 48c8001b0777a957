"""Polling store roots that inotify cannot watch, at a cost that grows with
what changed, not with the number of sessions (SPEC §7).

A store on NFS, SMB, sshfs or any other FUSE filesystem is changed by other
machines (or by the FUSE daemon's backend), and no inotify event is raised
for that here (host/filesystems.py); the same holds everywhere when inotify
cannot be had at all. Such roots are polled. Listing every directory and
stat'ing every session file each time, as a first version did, costs one
stat per session per interval: 100,000 round trips to a file server every
two seconds. Instead each poll asks:

- the root and each fingerprint directory for its stat (one call each).
  Creating, removing or renaming an entry changes a directory's mtime, so
  only a directory whose identity or mtime moved is listed again, and only
  the files that listing names are stat'ed. A directory is listed once
  more at the next poll after a change, for a second change made within
  the same mtime tick as the listing.
- the *hot* files for their stat: those seen to change, or new, within the
  last `hot_s` seconds (also by their mtime when polling starts). claw
  appends a message with a plain write, which changes no directory; an
  append is seen within the interval while a session is in use. An append
  to a session idle for longer shows when claw's save at the end of the
  turn (a rename, so a directory change) lands, or at the safety sweep's
  rescan (livestore.py), whichever comes first.

So a poll of an unchanged store costs one stat per directory (workspaces,
not sessions) plus one per hot file, and no listing.

What is listed, and how, is the index's own reading (`scan.read_root`,
`scan.read_fp_dir`: symlinks followed while they stay inside the root), and
paths in changes are named as they sit in the root (`<root>/<fp>/<name>`).
Blocking: `poll` runs in a worker thread; `add_root` may be called from
another thread meanwhile.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from clawfs.live.changes import Change, ChangeKind
from clawfs.store import scan
from clawfs.store.roots import Root, RootKind, make_root

HOT_SECONDS = 900.0
"""How long a file stays hot (stat'ed every poll) after it was seen to change."""


class DirStamp(NamedTuple):
    """What tells that a directory's listing may have changed."""

    dev: int
    ino: int
    mtime_ns: int


class FileStamp(NamedTuple):
    """What an append, a save by rename or a rewrite in place changes."""

    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int


@dataclass(slots=True)
class _Dir:
    """A listed directory: a root (for its flat session files) or one of its
    fingerprint directories."""

    path: str
    """As named in changes."""
    real: str
    """What is stat'ed and listed."""
    fp: str | None
    stamp: DirStamp | None = None
    files: dict[str, tuple[str, FileStamp | None]] = field(default_factory=dict)
    """Entry name -> (real path, stamp) of each session file listed."""
    hot: dict[str, float] = field(default_factory=dict)
    """Entry name -> the `clock` time it stops being hot."""
    recheck: bool = False
    """Listed because it changed: list it again next time."""


@dataclass(slots=True)
class _Polled:
    root: Root
    top: _Dir
    fps: dict[str, _Dir] = field(default_factory=dict)


class Poller:
    """The polled roots and what was seen of them (see the module docstring).

    `clock` (monotonic) times hotness, `wall` (the epoch clock file times
    are in) judges how recent an mtime is when a file is first seen.
    """

    def __init__(
        self,
        hot_s: float = HOT_SECONDS,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._hot_s = hot_s
        self._clock = clock
        self._wall = wall
        self._lock = threading.Lock()
        self._names: list[str] = []
        self._added: list[tuple[str, bool]] = []
        self._polled: dict[str, _Polled] = {}
        self._out: dict[Change, None] = {}

    def roots(self) -> list[str]:
        """The roots polled (or to be polled from the next `poll` on)."""
        with self._lock:
            return list(self._names)

    def add_root(self, root: str, *, announce: bool) -> None:
        """Poll `root` (an absolute path) from the next `poll` on, which takes
        its first listing. With `announce` that poll reports the root and its
        fingerprint directories as "dir" changes, for a consumer that may have
        read the root before the listing was taken; without, nothing."""
        with self._lock:
            if root in self._names:
                return
            self._names.append(root)
            self._added.append((root, announce))

    def poll(self) -> list[Change]:
        """Look at every polled root once; the changes since the last poll.

        A file is not named when its directory is (the consumer lists that)."""
        with self._lock:
            added, self._added = self._added, []
        self._out = {}
        for polled in self._polled.values():
            self._poll_root(polled)
        for path, announce in added:
            before = dict(self._out)
            self._polled[path] = self._start(path)
            if not announce:
                self._out = before
        whole = {c.path for c in self._out if c.kind == "dir"}
        return [c for c in self._out if c.kind == "dir" or os.path.dirname(c.path) not in whole]

    def _emit(self, kind: ChangeKind, path: str) -> None:
        self._out[Change(kind, path)] = None

    # --- roots ------------------------------------------------------------------

    def _start(self, path: str) -> _Polled:
        """A first listing of a root (it may not exist yet)."""
        root = make_root(path, RootKind.STORE, 0)  # only its paths matter here
        polled = _Polled(root, _Dir(path, root.realpath, None))
        stamp = _dir_stamp(path)
        if stamp is not None:
            self._emit("dir", path)
            self._list_root(polled, stamp)
        return polled

    def _poll_root(self, polled: _Polled) -> None:
        top = polled.top
        stamp = _dir_stamp(top.path)  # as named: a linked root is followed
        if not _same_dir(stamp, top.stamp):
            if stamp is not None or top.stamp is not None:
                self._replace_root(polled, stamp)
            return
        assert stamp is not None
        if stamp != top.stamp or top.recheck:
            self._list_root(polled, stamp)
        for directory in list(polled.fps.values()):
            self._poll_dir(polled, directory)
        self._check_hot(top)

    def _replace_root(self, polled: _Polled, stamp: DirStamp | None) -> None:
        """The root appeared, vanished or is another directory now: report it
        and everything it held, and start over."""
        self._emit("dir", polled.top.path)
        for directory in polled.fps.values():
            self._emit("dir", directory.path)
        fresh = self._start(polled.top.path)
        polled.root, polled.top, polled.fps = fresh.root, fresh.top, fresh.fps

    def _list_root(self, polled: _Polled, stamp: DirStamp) -> None:
        """List a root: its fingerprint directories and flat session files."""
        top = polled.top
        first = top.stamp is None
        top.recheck = not first and stamp != top.stamp
        top.stamp = stamp
        listing = scan.read_root(polled.root)
        now = dict(listing.fp_dirs)
        for fp, directory in list(polled.fps.items()):
            if now.get(fp) != directory.real:
                self._emit("dir", directory.path)
                del polled.fps[fp]
        for fp, real in now.items():
            dir_stamp = None if fp in polled.fps else _dir_stamp(real)
            if dir_stamp is not None:
                directory = polled.fps[fp] = _Dir(os.path.join(top.path, fp), real, fp)
                self._emit("dir", directory.path)
                self._list_dir(polled, directory, dir_stamp)
        self._sync_files(top, listing.flat, first)

    # --- fingerprint directories ------------------------------------------------

    def _poll_dir(self, polled: _Polled, directory: _Dir) -> None:
        stamp = _dir_stamp(directory.real)
        if not _same_dir(stamp, directory.stamp):
            # Gone or replaced: the consumer lists it again, and so do we.
            self._emit("dir", directory.path)
            assert directory.fp is not None
            del polled.fps[directory.fp]
            if stamp is not None:
                fresh = _Dir(directory.path, directory.real, directory.fp)
                polled.fps[directory.fp] = fresh
                self._list_dir(polled, fresh, stamp)
            return
        assert stamp is not None
        if stamp != directory.stamp or directory.recheck:
            self._list_dir(polled, directory, stamp)
        else:
            self._check_hot(directory)

    def _list_dir(self, polled: _Polled, directory: _Dir, stamp: DirStamp) -> None:
        """List a fingerprint directory whose stat is `stamp`, and stat what it names."""
        assert directory.fp is not None
        first = directory.stamp is None
        directory.recheck = not first and stamp != directory.stamp
        directory.stamp = stamp
        found = scan.read_fp_dir(polled.root, directory.fp, directory.real)
        self._sync_files(directory, sorted(found, key=lambda item: item.file_name), first)

    # --- files --------------------------------------------------------------------

    def _sync_files(self, directory: _Dir, found: list[scan.Found], first: bool) -> None:
        """Bring a directory's files in line with a fresh listing of it (its
        `first` listing: nothing was known of it before)."""
        listed = {item.file_name: item.path for item in found}
        for name in [n for n in directory.files if n not in listed]:
            self._emit("file", os.path.join(directory.path, name))
            del directory.files[name]
            directory.hot.pop(name, None)
        for name, real in listed.items():
            self._check(directory, name, real, first)

    def _check_hot(self, directory: _Dir) -> None:
        now = self._clock()
        for name, until in list(directory.hot.items()):
            if until <= now:
                del directory.hot[name]
            else:
                self._check(directory, name, directory.files[name][0], False)

    def _check(self, directory: _Dir, name: str, real: str, first: bool) -> None:
        """Stat one listed file; report it if it is new or changed. A change
        makes it hot; a file seen for the first time is hot while its mtime
        is recent."""
        old = directory.files.get(name)
        stamp = _file_stamp(real)
        directory.files[name] = (real, stamp)
        if old == (real, stamp):
            return
        self._emit("file", os.path.join(directory.path, name))
        now = self._clock()
        if old is not None or not first:
            directory.hot[name] = now + self._hot_s
        elif stamp is not None:
            left = self._hot_s - (self._wall() - stamp.mtime_ns / 1e9)
            if left > 0:
                directory.hot[name] = now + left


def _same_dir(stamp: DirStamp | None, before: DirStamp | None) -> bool:
    """Both exist and are the same directory (its mtime may have moved)."""
    return stamp is not None and before is not None and stamp[:2] == before[:2]


def _dir_stamp(path: str) -> DirStamp | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode):
        return None
    return DirStamp(st.st_dev, st.st_ino, st.st_mtime_ns)


def _file_stamp(path: str) -> FileStamp | None:
    try:
        st = os.stat(path)
    except OSError:
        return None  # vanished since the listing: the next one shows it gone
    return FileStamp(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
