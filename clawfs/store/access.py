"""Who could read what natively: the one rule the mount applies to other users (SPEC §3).

With `--allow-other`, other users ask the mount, and nobody may learn
through it what they could not read on disk. Two kinds of answer follow
from one rule:

- What an entry *reports* (`Access.shown`): an owner, a group and mode
  bits, the same for every caller, that the kernel checks
  (`default_permissions`) and caches. They are the backing file's or
  directory's own, narrowed by every directory above it up to `/`: a class
  of callers (owner, group, other) keeps its bits only if every caller in
  it could search every directory on the way. So a session 0644 in a 0700
  directory, or a store under a 0700 home, reports no bits for others.
- What a caller may *see* where the mount answers per request (index.tsv,
  xattrs, aliases, labels, listings, fork results): `can_read`,
  `can_search`, `can_list`, the caller's uid, gid and supplementary groups
  against the same modes.

"Could read natively" is POSIX's check on mode bits: the first class that
matches (owner, else a group the caller has, else other) decides, and root
may do anything. Where an access ACL is present (system.posix_acl_access)
the group and other bits do not say it all (a named entry can deny a user
what they allow), so only the owner class is trusted: conservative, never
more than natively. The rule reads only lstat and that one xattr, and keeps
what it read for `TTL` seconds (a chmod shows within that time), so
answering a caller costs no I/O in the common case.

The mounting user is never asked about: it sees everything the daemon can
read (the adapter does not filter its requests, nor root's).
"""

from __future__ import annotations

import errno
import os
import stat
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

READ = 4
SEARCH = 1
LIST = READ | SEARCH

TTL = 1.0
"""Seconds a stat is trusted."""
KEPT = 65536
"""Paths whose modes are kept (the least recently used go first)."""

ACL_XATTR = "system.posix_acl_access"
OWNER, GROUP, OTHER = 6, 3, 0
"""Shifts of each class's bits in a mode."""


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asks: uid, gid and every group it has (gid and supplementary)."""

    uid: int
    gid: int
    groups: frozenset[int]

    @classmethod
    def of(cls, uid: int, gid: int, supplementary: frozenset[int] | None = None) -> Caller:
        return cls(uid, gid, frozenset({gid}) | (supplementary or frozenset()))

    @classmethod
    def this_process(cls) -> Caller:
        return cls.of(os.geteuid(), os.getegid(), frozenset(os.getgroups()))


@dataclass(frozen=True, slots=True)
class Mode:
    """An owner, a group and permission bits (the 0o777 part of a mode)."""

    uid: int
    gid: int
    bits: int

    def allows(self, caller: Caller, want: int) -> bool:
        """Whether `caller` may do `want` (READ, SEARCH, LIST) here."""
        if caller.uid == 0:
            return True
        return self.class_bits(self.class_of(caller)) & want == want

    def class_of(self, caller: Caller) -> int:
        if caller.uid == self.uid:
            return OWNER
        return GROUP if self.gid in caller.groups else OTHER

    def class_bits(self, shift: int) -> int:
        return (self.bits >> shift) & 7

    def public(self, want: int) -> bool:
        """Whether every class may do `want`: nobody is told no."""
        return all(self.class_bits(shift) & want == want for shift in (OWNER, GROUP, OTHER))


def mode_of(st: os.stat_result, acl: bool) -> Mode:
    """The mode POSIX checks, the group and other classes dropped where an ACL is."""
    bits = st.st_mode & (0o700 if acl else 0o777)
    return Mode(st.st_uid, st.st_gid, bits)


def narrowed(own: Mode, above: Sequence[Mode], known: Caller | None = None) -> Mode:
    """`own` with the bits of every class cleared whose callers might not all
    search every directory in `above` (so no caller is let in by it that
    the directories would stop). `known` is a caller whose groups are known
    (the mounting user): its own class is decided for it exactly."""
    bits = own.bits
    for directory in above:
        for shift in (OWNER, GROUP, OTHER):
            if (bits >> shift) & 7 and not _passes(shift, own, directory, known):
                bits &= ~(7 << shift)
    return replace(own, bits=bits)


def _passes(shift: int, own: Mode, directory: Mode, known: Caller | None) -> bool:
    """Whether every caller in class `shift` of `own` may search `directory`."""
    if shift == OWNER:
        if known is not None and known.uid == own.uid:
            return directory.allows(known, SEARCH)
        if directory.uid == own.uid:
            return bool(directory.class_bits(OWNER) & SEARCH)
        possible = {GROUP, OTHER}
    else:
        # Not `own`'s owner; may own `directory` (unless root owns it: root may
        # do anything), or be in its group, or neither.
        possible = {OWNER} if directory.uid not in (own.uid, 0) else set()
        if shift == GROUP:
            possible |= {GROUP} if directory.gid == own.gid else {GROUP, OTHER}
        else:
            possible |= {OTHER} if directory.gid == own.gid else {GROUP, OTHER}
    return all(directory.class_bits(s) & SEARCH for s in possible)


class Access:
    """The rule above over the disk, with what it read kept for `ttl` seconds.

    Paths are real paths (the index keeps files and directories by their
    real path). Safe to call from several threads.
    """

    def __init__(
        self,
        mounting: Caller | None = None,
        *,
        ttl: float = TTL,
        kept: int = KEPT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.mounting = mounting or Caller.this_process()
        self._ttl = ttl
        self._kept = kept
        self._clock = clock
        self._modes: OrderedDict[str, tuple[float, tuple[Mode, bool] | None]] = OrderedDict()
        """path -> (read at, its mode and whether it is a directory; None: gone)."""
        self._acls: OrderedDict[tuple[int, int, int], bool] = OrderedDict()
        """(dev, ino, ctime_ns) -> has an access ACL (a setfacl changes the ctime)."""
        self._lock = threading.Lock()

    # --- what an entry reports ----------------------------------------------------

    def shown(self, path: str, st: os.stat_result | None = None) -> Mode | None:
        """What the entry backed by `path` reports: its read bits (and a
        directory's search bits; the mount is read-only), narrowed by every
        directory above it. `st` is a fresh lstat of `path`, if the caller
        has one. None when it is gone."""
        known = self._known(path, st)
        above = self.chain(os.path.dirname(path))
        if known is None:
            return None
        own, is_dir = known
        if above is None:
            return replace(own, bits=0)
        kept = own.bits & (0o555 if is_dir else 0o444)
        return narrowed(replace(own, bits=kept), above, self.mounting)

    # --- what a caller may see ----------------------------------------------------

    def can_read(self, caller: Caller, path: str) -> bool:
        """Whether `caller` could read the file at `path` natively."""
        return self._may(caller, path, READ)

    def can_search(self, caller: Caller, directory: str) -> bool:
        """Whether `caller` could reach names in `directory` natively (stat by name)."""
        return self._may(caller, directory, SEARCH)

    def can_list(self, caller: Caller, directory: str) -> bool:
        """Whether `caller` could list `directory` natively."""
        return self._may(caller, directory, LIST)

    def _may(self, caller: Caller, path: str, want: int) -> bool:
        if caller.uid == 0:
            return True
        known = self._known(path)
        above = self.chain(os.path.dirname(path))
        if known is None or above is None:
            return False
        return known[0].allows(caller, want) and all(d.allows(caller, SEARCH) for d in above)

    # --- the disk -----------------------------------------------------------------

    def chain(self, directory: str) -> list[Mode] | None:
        """The modes of every directory from `/` down to `directory`; None if
        one of them is gone or no longer a directory."""
        parts = [p for p in directory.split("/") if p]
        modes = []
        for n in range(len(parts) + 1):
            known = self._known("/" + "/".join(parts[:n]))
            if known is None or not known[1]:
                return None
            modes.append(known[0])
        return modes

    def _known(self, path: str, st: os.stat_result | None = None) -> tuple[Mode, bool] | None:
        """The mode POSIX checks for `path` and whether it is a directory,
        kept for `ttl` (`st`: a fresh lstat to use); None when it is gone.
        A symlink counts as gone: real paths hold none, so one swapped in
        leads nowhere."""
        now = self._clock()
        if st is None:
            with self._lock:
                kept = self._modes.get(path)
                if kept is not None and now - kept[0] < self._ttl:
                    self._modes.move_to_end(path)
                    return kept[1]
            try:
                st = os.lstat(path)
            except OSError:
                st = None
        known = None
        if st is not None and not stat.S_ISLNK(st.st_mode):
            known = (mode_of(st, self._has_acl(path, st)), stat.S_ISDIR(st.st_mode))
        with self._lock:
            self._modes[path] = (now, known)
            self._modes.move_to_end(path)
            while len(self._modes) > self._kept:
                self._modes.popitem(last=False)
        return known

    def _has_acl(self, path: str, st: os.stat_result) -> bool:
        key = (st.st_dev, st.st_ino, st.st_ctime_ns)
        with self._lock:
            known = self._acls.get(key)
        if known is not None:
            return known
        try:
            os.getxattr(path, ACL_XATTR, follow_symlinks=False)
            found = True
        except OSError as e:
            # ENODATA: none; EOPNOTSUPP: no ACLs on this filesystem. Anything
            # else (EACCES, EIO): assume one, which only ever denies more.
            found = e.errno not in (errno.ENODATA, errno.EOPNOTSUPP)
        with self._lock:
            self._acls[key] = found
            while len(self._acls) > self._kept:
                self._acls.popitem(last=False)
        return found
