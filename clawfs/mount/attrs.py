"""The attributes the kernel is given for each entry, and how long it may keep them.

An entry's attributes come from its backing file now (a fresh `lstat`, so
an inode's identity is the file on disk, which getattr compares against),
narrowed to what the caller may learn with --allow-other (`View.shown`),
with the size of a `.md` file's rendering (measured in a worker thread
when not known: mdfiles.py), and the times of the file a link ends at.
Every attribute given for a backing file is remembered per inode as the
version the kernel was told of (opens.py compares an open against it).

A listing is the exception (`listed`): `ls -l` of a 10,000-session
workspace asks for 20,000 entries at once, and an lstat of each transcript
was two thirds of that work (SPEC §7 allows 3x native). So every lstat
taken here is kept for a while (`KeptStats`), and a listing answers from it
while the index still holds that version of the file: a change to a file
(an append, a save by rename, a chmod or chown) is a new `FileKey`, which
the watcher gives the index and the kernel's invalidation follows
(kernelcache.py). What the key does not show, the access time, is as old
as the kernel's own cache of attributes may keep it: a stat older than
LONG_ATTR_TIMEOUT is taken again. So a listing is as fresh as the index:
a change the watcher has not told yet (its lag, ~100 ms; on a polled root
an append or chmod of an idle session, which changes no directory, until
the poller or the safety sweep sees it: live/poller.py) shows in `ls -l`
when it shows in a `stat`, whose attributes the kernel keeps as long.
With --allow-other every entry is stat'ed fresh as before (and nothing is
kept): what it reports is decided per caller's rules.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import struct
import time
from collections.abc import Callable, Sequence

import pyfuse3
from pyfuse3 import EntryAttributes, FUSEError

from clawfs.mount import kernelcache
from clawfs.mount.inodes import InodeTable
from clawfs.mount.mdfiles import MarkdownFiles
from clawfs.mount.opens import BackedHandle, MarkdownHandle, Opens, backing, told_of
from clawfs.mount.view import SESSION_KINDS, Entry, EntryKind, View, session_file
from clawfs.store import files, versions
from clawfs.store.access import Mode
from clawfs.store.files import FileKey
from clawfs.store.records import SessionFile

log = logging.getLogger(__name__)

# How long the kernel may answer from its caches. The store changes under
# us, and the watcher turns every change it sees into invalidations of
# exactly what the kernel holds (live/livestore.py, mount/kernelcache.py): an
# append, a save by rename, a deletion, a re-pointed alias show at once, so a
# timeout bounds only how long a change the watcher *missed* can show, and
# that is bounded anyway by the safety sweep (a rescan every 60 s or, in a
# big store, as often as keeps it to 1 % of the time: livestore.SWEEP_SECONDS,
# watcher.sweep_wait; its changes are invalidated like any other; on
# a polled root, a network or FUSE filesystem, the poller sees most changes
# sooner: live/poller.py). Meanwhile every expired entry costs a round trip
# (~30 us in pyfuse3 + trio): with transcripts at 1 s, a warm `cat` of every
# transcript paid a GETATTR per file (its fstat, and the read path under
# AUTO_INVAL_DATA, revalidate expired attributes). Hence 60 s wherever the
# watcher invalidates:
#
# - Transcripts and their `.md` files: 60 s. `tail -f` fstat()s every
#   second and is answered from this cache, so the invalidation on append
#   is what makes it follow (tests/e2e/test_freshness.py); the new size also
#   drops stale pages (AUTO_INVAL_DATA). Never 0: `ls -l` of 10k entries
#   becomes 100x slower (pyfuse3 notes). A READ still makes the next stat
#   ask once: the kernel then drops its cached atime (unless the mount is
#   read-only).
# - Aliases and other links: 1 s. Their times are those of the file they
#   end at (`find -newer`), which an append changes with no change to the
#   link for the watcher to invalidate. Reading through a link never asks
#   for them (readlink is asked each time anyway), so this costs no `cat`.
# - Directories, control files, index.tsv: their attributes never change
#   (fixed modes, size 0, the mount's start time), so 60 s; their existence
#   is checked again by every getattr after that (ESTALE when gone) and
#   invalidated at once when a workspace changes. Not the mount's root:
#   after a `kill -9`, a stat of the mountpoint answers from this cache and
#   hides the dead mount for as long (pyfuse3 notes), so it keeps 1 s.
# - With --allow-other, everything whose owner and mode come from the store
#   (`shown`): 1 s. The kernel checks other users against the modes cached
#   here, and what a file shows is narrowed by every directory above it
#   (SPEC §3): a chmod of one of those changes nothing the watcher marks the
#   file's version by (kernelcache.py), so 1 s keeps a revoked bit from
#   letting another user in for longer.
# - Names -> inodes: 60 s. A name whose file was replaced, removed or moved
#   (forks/ nodes) is invalidated when the change is seen; a missed one is
#   still caught on use, since its inode then answers ESTALE and the kernel
#   looks the name up again. New names need nothing: an ENOENT is not cached
#   and listings are read fresh on every opendir. (With --allow-other, a
#   name not every user may know: 0, so each caller is asked: _for_lookup.)
SHORT_ATTR_TIMEOUT = 1.0
LONG_ATTR_TIMEOUT = 60.0
ENTRY_TIMEOUT = 60.0
BACKED = kernelcache.BACKED

# A listing answers only entries whose attributes are known: before a batch
# that holds `.md` files of unmeasured versions, up to this many are
# measured in a worker thread (rendered: mount/mdfiles.py), so a listing
# before the background sweep got there costs renders, never a stalled thread.
MEASURE_AHEAD = 64

_SEEN = struct.Struct("<QQqqqIIqqqd")
"""One kept lstat: dev, ino, size, mtime_ns, ctime_ns (its `FileKey`), then
st_mode, st_blksize, st_blocks, st_atime_ns, the Markdown's size (-1: not
known) and when it was taken (monotonic seconds)."""
Seen = tuple[int, int, int, int, int, int, int, int, int, int, float]
"""One kept lstat, unpacked (`_SEEN`): [9] is the Markdown's size, [10] when."""
KEPT_MIN = 4096
"""Below this many kept stats, none is dropped (`KeptStats.keep`)."""


class KeptStats:
    """The lstats of backing files taken in the last LONG_ATTR_TIMEOUT
    seconds, by device and inode, each with its Markdown's size once known
    (see the module docstring).

    Compact, as a mount may list 100,000 files a minute: one packed value
    per file (~190 bytes with its dictionary entry); a newer stat of a file
    replaces the older, and those past their time are dropped once the map
    has doubled since it was last thinned.
    """

    def __init__(self, keeping: bool = True, clock: Callable[[], float] = time.monotonic) -> None:
        self._keeping = keeping
        self._clock = clock
        self._by_file: dict[int, bytes] = {}
        self._thinned = 0
        self._thinned_at = clock()

    def get(self, key: tuple[int, int, int, int, int]) -> Seen | None:
        """The stat kept of version `key` of a file (a `FileKey`, or its
        fields), if recent enough."""
        packed = self._by_file.get(key[0] << 64 | key[1])
        if packed is None:
            return None
        seen: Seen = _SEEN.unpack(packed)
        if seen[:5] != key or self._clock() - seen[10] > LONG_ATTR_TIMEOUT:
            return None
        return seen

    def keep(self, st: os.stat_result, md_size: int | None = None) -> None:
        """Keep `st`, just taken, with its Markdown's size if known (else
        the one kept of the same version, if any). Nothing is kept when
        nothing is asked for it (`keeping` False: with --allow-other)."""
        if not self._keeping:
            return
        ident = st.st_dev << 64 | st.st_ino
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        md = -1 if md_size is None else md_size
        old = self._by_file.get(ident) if md_size is None else None
        if old is not None:
            kept: Seen = _SEEN.unpack(old)
            if kept[:5] == key:
                md = kept[9]
        now = self._clock()
        self._by_file[ident] = _SEEN.pack(*key, st.st_mode, st.st_blksize, st.st_blocks,
                                          st.st_atime_ns, md, now)
        if len(self._by_file) > KEPT_MIN and (
            len(self._by_file) > 2 * self._thinned or now - self._thinned_at > LONG_ATTR_TIMEOUT
        ):
            self._thin()

    def sized(self, seen: Seen, md_size: int) -> None:
        """The Markdown of the version `seen` describes is `md_size` bytes."""
        self._by_file[seen[0] << 64 | seen[1]] = _SEEN.pack(*seen[:9], md_size, seen[10])

    def _thin(self) -> None:
        """Drop the stats past their time: when the map has doubled since it
        was last thinned, or a minute later (one `ls -l` of 100,000 files
        keeps ~20 MB that is of no use a minute on)."""
        self._thinned_at = self._clock()
        oldest = self._thinned_at - LONG_ATTR_TIMEOUT
        self._by_file = {ident: packed for ident, packed in self._by_file.items()
                         if _SEEN.unpack(packed)[10] >= oldest}
        self._thinned = len(self._by_file)


Listed = tuple[SessionFile, Seen]
"""A session file as a listing found it: its record, its kept stat."""


def _same_file(entry: Entry, last: Listed | None) -> bool:
    """Whether `entry` is the `.md` file of the transcript `last` found."""
    return (last is not None and entry.kind is EntryKind.MARKDOWN
            and entry.source == last[0].name and entry.key[1] == last[0].fp)


class Attributes:
    """Builds the attributes of entries for the adapter (see the module docstring).

    `read_only`: the control files show as 0444 (`clawfs mount --read-only`).
    """

    def __init__(
        self,
        view: View,
        inodes: InodeTable[kernelcache.Slot],
        markdown: MarkdownFiles,
        opens: Opens,
        read_only: bool,
    ) -> None:
        self._view = view
        self._inodes = inodes
        self._markdown = markdown
        self._opens = opens
        self._read_only = read_only
        self._uid = os.getuid()
        self._gid = os.getgid()
        self._started_ns = time.time_ns()
        self._kept = KeptStats(keeping=view.reported is None)  # else never read: `_found`

    def number(self, entry: Entry) -> tuple[int, os.stat_result | None]:
        """The inode for `entry`, with a fresh stat of its backing file.

        The stat is taken here (not from the index) so the inode's identity is
        the file on disk now, which is what getattr will compare against.
        """
        if entry.kind not in BACKED:
            return self._inodes.number((entry.kind, entry.key)), None
        st = files.lstat_regular(backing(entry))
        self._kept.keep(st)
        identity = (st.st_dev, st.st_ino)
        return self._inodes.number((entry.kind, entry.key), identity), st

    def build(
        self,
        inode: int,
        kind: EntryKind,
        st: os.stat_result | None,
        target: str | None = None,
        size: int | None = None,
        shown: Mode | None = None,
    ) -> EntryAttributes:
        """`size`: a MARKDOWN entry's (the rendering of the version `st`
        describes). `shown`: the owner and mode the backing store gives the
        entry (View.shown, with --allow-other; a chmod of a directory above
        it is no change the watcher invalidates it for, hence the short
        timeout), else the mounting user's, fixed."""
        if kind in BACKED and st is not None:
            seen = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns,
                    st.st_mode, st.st_blksize, st.st_blocks, st.st_atime_ns, -1, 0.0)
            return self._file(inode, seen, size, shown)
        attr = EntryAttributes()
        attr.st_ino = inode
        attr.generation = 0  # numbers are never reused within a mount
        attr.entry_timeout = ENTRY_TIMEOUT
        short = inode == pyfuse3.ROOT_INODE or kind is EntryKind.SYMLINK or shown is not None
        attr.attr_timeout = SHORT_ATTR_TIMEOUT if short else LONG_ATTR_TIMEOUT
        attr.st_uid = self._uid if shown is None else shown.uid
        attr.st_gid = self._gid if shown is None else shown.gid
        attr.st_nlink = 1
        attr.st_blksize = 4096
        attr.st_atime_ns = attr.st_mtime_ns = attr.st_ctime_ns = self._started_ns
        if kind is EntryKind.DIR:
            attr.st_mode = stat.S_IFDIR | (0o555 if shown is None else shown.bits)
        elif kind is EntryKind.SYMLINK:
            attr.st_mode = stat.S_IFLNK | 0o777
            attr.st_size = len(os.fsencode(target or ""))
            if st is not None:  # the times of the file it ends at (`find -newer`)
                attr.st_atime_ns = st.st_atime_ns
                attr.st_mtime_ns = st.st_mtime_ns
                attr.st_ctime_ns = st.st_ctime_ns
        elif kind is EntryKind.CONTROL:
            attr.st_mode = stat.S_IFREG | (0o444 if self._read_only else 0o644)
        else:  # GENERATED: size 0, served with direct_io like /proc files
            attr.st_mode = stat.S_IFREG | 0o444
        return attr

    def _file(
        self, inode: int, seen: Seen, size: int | None, shown: Mode | None
    ) -> EntryAttributes:
        """`build` for a transcript or `.md` file at the version `seen`
        describes (an lstat, just taken or kept), remembered as told."""
        attr = self._blank(shown)
        self._fill(attr, inode, seen, size, None if shown is None else shown.bits)
        return attr

    def for_listing(self) -> EntryAttributes:
        """The attributes one readdir call fills for every session file it
        lists from a kept stat (`listed`), with what those share set once:
        pyfuse3's readdir_reply copies them, so one object serves the call,
        and `ls -l` of 100,000 entries builds none per entry."""
        return self._blank(None)

    def _blank(self, shown: Mode | None) -> EntryAttributes:
        """A session file's attributes with only the fields set that come
        from the mount (and from `shown`, with --allow-other), not from its
        version (`_fill`)."""
        attr = EntryAttributes()
        attr.generation = 0  # numbers are never reused within a mount
        attr.entry_timeout = ENTRY_TIMEOUT
        attr.attr_timeout = LONG_ATTR_TIMEOUT if shown is None else SHORT_ATTR_TIMEOUT
        attr.st_nlink = 1
        if shown is None:
            attr.st_uid, attr.st_gid = self._uid, self._gid
        else:
            attr.st_uid, attr.st_gid = shown.uid, shown.gid
        return attr

    def _fill(
        self, attr: EntryAttributes, inode: int, seen: Seen, size: int | None, bits: int | None
    ) -> None:
        """The fields of a session file's attributes that its version `seen`
        gives (`size`: a `.md` file's; `bits`: the mode `shown` gives, else
        the file's read bits), remembered as told."""
        _, _, file_size, mtime_ns, ctime_ns, mode, blksize, blocks, atime_ns, _, _ = seen
        self._inodes.tell(inode, told_of(file_size, mtime_ns))
        attr.st_ino = inode
        # A Markdown file is exactly as readable as its transcript.
        attr.st_mode = stat.S_IFREG | (mode & 0o444 if bits is None else bits)
        if size is None:
            attr.st_size, attr.st_blocks = file_size, blocks
        else:
            attr.st_size, attr.st_blocks = size, (size + 511) // 512
        attr.st_blksize = blksize
        attr.st_atime_ns = atime_ns
        attr.st_mtime_ns = mtime_ns
        attr.st_ctime_ns = ctime_ns

    def now(self, entry: Entry) -> tuple[EntryAttributes | None, os.stat_result | None]:
        """`entry`'s attributes as a lookup answers them, from what is known
        (None for a `.md` file whose version was not measured yet), and its
        backing file's stat."""
        inode, st = self.number(entry)
        backing_st = st
        if entry.kind is EntryKind.SYMLINK:
            st = self._link_end(entry)
        size = None
        if entry.kind is EntryKind.MARKDOWN:
            assert st is not None
            size = self._markdown.size_now(backing(entry), st)
            if size is None:
                return None, backing_st
            self._kept.keep(st, size)
        return self._for_lookup(entry, self.build(
            inode, entry.kind, st, entry.target, size, self._view.shown(entry, st)
        )), backing_st

    def listed(
        self, entry: Entry, into: EntryAttributes, last: Listed | None = None,
        current: bool = False,
    ) -> tuple[EntryAttributes | None, Listed | None]:
        """`now`'s attributes, for an entry of a listing: a session file's
        from a stat kept of the version the index holds now (module
        docstring), so an `ls -l` of a workspace stats each file at most once
        a minute; else `now`'s. With what it found of the file, for `last`
        of the next entry: a transcript is listed right before its `.md`, and
        one look-up serves both. `into`: `for_listing`'s attributes, filled
        and returned for an entry answered from a kept stat (so they are the
        caller's only until its next call). `current`: the workspace has not
        changed since the listing was taken, so the entry's record is the
        index's (no look-up). Raises OSError (ENOENT) for a file gone."""
        found = last if _same_file(entry, last) else self._found(entry, current)
        if found is None:
            return self.now(entry)[0], self._found(entry)
        sf, seen = found
        size = None
        if entry.kind is EntryKind.MARKDOWN:
            size = seen[9] if seen[9] >= 0 else self._md_size(sf.path, sf.key, seen)
            if size is None:
                return None, found
        inode = self._inodes.number((entry.kind, entry.key), (seen[0], seen[1]))
        # Without --allow-other every entry is shared: `_for_lookup` keeps it as it is.
        self._fill(into, inode, seen, size, None)
        return into, found

    def _found(self, entry: Entry, current: bool = False) -> Listed | None:
        """A session file's record in the index now (`current`: the entry's
        own) and the stat kept of that version, if any (never with
        --allow-other: module docstring)."""
        if entry.kind not in SESSION_KINDS or self._view.reported is not None:
            return None
        sf = entry.file if current and isinstance(entry.file, SessionFile) else session_file(
            self._view.index, entry
        )
        if sf is None:
            return None
        seen = self._kept.get(versions.KEY.unpack_from(sf.version.numbers))
        return None if seen is None else (sf, seen)

    def _md_size(self, path: str, key: FileKey, seen: Seen | None) -> int | None:
        """The Markdown size of version `key` of the file at `path`, if known
        (no I/O); kept with `seen`, its stat."""
        rendered = self._markdown.cache.known(path, key)
        if rendered is None or rendered.size is None:
            return None
        if seen is not None:
            self._kept.sized(seen, rendered.size)
        return rendered.size

    async def of(self, entry: Entry) -> EntryAttributes:
        """`now`, measuring a `.md` file's size if need be."""
        attr, _ = self.now(entry)
        if attr is not None:
            return attr
        return await self._measured(self._inodes.number((entry.kind, entry.key)), entry)

    async def current(self, inode: int, entry: Entry) -> EntryAttributes:
        """getattr's answer for `inode`, resolved to `entry`, not open: of the
        file its name holds now (opens.py `stat`)."""
        if entry.kind is EntryKind.MARKDOWN:
            return await self._markdown_attributes(inode, entry, self._opens.stat(inode, entry))
        st = None
        if entry.kind is EntryKind.TRANSCRIPT:
            st = self._opens.stat(inode, entry)
            self._kept.keep(st)
        shown = self._view.shown(entry, st)
        if entry.kind is EntryKind.SYMLINK:
            st = self._link_end(entry)
        return self.build(inode, entry.kind, st, entry.target, shown=shown)

    async def of_open(self, inode: int, handle: BackedHandle) -> EntryAttributes:
        """Attributes of an open transcript or `.md` file: of the file it has open."""
        if isinstance(handle, MarkdownHandle):
            st, size = await self._markdown.measure_open(handle.source)
            shown = self._shown_open(inode, st)
            return self.build(inode, EntryKind.MARKDOWN, st, None, size, shown)
        st = os.fstat(handle.backing.fd)
        return self.build(inode, EntryKind.TRANSCRIPT, st, shown=self._shown_open(inode, st))

    async def measure_ahead(self, entries: Sequence[Entry], first: int) -> None:
        """Measure the `.md` files among the next entries whose size is not
        known (of the version the index holds: no stat)."""
        todo = []
        for entry in entries[first:]:
            if entry.kind is not EntryKind.MARKDOWN:
                continue
            sf = session_file(self._view.index, entry)
            if sf is None or self._measured_already(sf.path, sf.key):
                continue
            todo.append(sf.path)
            if len(todo) >= MEASURE_AHEAD:
                break
        for path in todo:
            try:
                st, size = await self._markdown.measure(path)
            except OSError as e:
                log.debug("readdir: cannot measure %s: %s", path, e)
                continue
            self._kept.keep(st, size)

    def _measured_already(self, path: str, key: FileKey) -> bool:
        seen = self._kept.get(key)
        return (seen is not None and seen[9] >= 0) or self._md_size(path, key, seen) is not None

    def _for_lookup(self, entry: Entry, attr: EntryAttributes) -> EntryAttributes:
        """`attr` as a lookup or a listing answers it: an entry another user
        may not know is looked up again on every use (View.shared), so that
        the kernel asks, with each caller, whether that caller may."""
        if not self._view.shared(entry):
            attr.entry_timeout = 0
            if entry.kind is EntryKind.SYMLINK:
                attr.attr_timeout = 0  # its size is its target's length: each caller's own
        return attr

    async def _measured(self, inode: int, entry: Entry) -> EntryAttributes:
        """A `.md` file's attributes, its size measured in a worker thread, if
        its backing file is still the one `inode` was given for."""
        sf = session_file(self._view.index, entry)
        if sf is None:
            raise FUSEError(errno.ESTALE)
        st, size = await self._markdown.measure(sf.path)
        self._kept.keep(st, size)
        identity = (st.st_dev, st.st_ino)
        known = self._inodes.entry(inode)
        if known is None or known[1] != identity:
            # Replaced meanwhile (claw's save): the new file is a new inode.
            inode = self._inodes.number((entry.kind, entry.key), identity)
        shown = self._view.shown(entry, st)
        return self._for_lookup(entry, self.build(
            inode, entry.kind, st, entry.target, size, shown
        ))

    async def _markdown_attributes(
        self, inode: int, entry: Entry, st: os.stat_result
    ) -> EntryAttributes:
        """A `.md` file's attributes as `inode`'s, for the file `st` describes."""
        size = self._markdown.size_now(backing(entry), st)
        if size is None:
            sf = session_file(self._view.index, entry)
            if sf is None:
                raise FUSEError(errno.ESTALE)
            st, size = await self._markdown.measure(sf.path)
        self._kept.keep(st, size)
        shown = self._view.shown(entry, st)
        return self.build(inode, EntryKind.MARKDOWN, st, None, size, shown)

    def _shown_open(self, inode: int, st: os.stat_result) -> Mode | None:
        """What an open transcript or `.md` file reports (View.shown of its
        entry); where its name is gone, only what its owner class may do
        (nothing surer is known)."""
        if self._view.reported is None:
            return None
        known = self._inodes.entry(inode)
        entry = None if known is None else self._view.resolve(known[0][1])
        if entry is None or entry.backing_path is None:
            return Mode(st.st_uid, st.st_gid, st.st_mode & 0o400)
        return self._view.reported.file(entry.backing_path, st)

    def _link_end(self, link: Entry) -> os.stat_result | None:
        """The backing file a symlink (an alias, `session.jsonl`, `latest.md`) ends at.

        Its times become the link's, so `find -newer` sees a link as old as
        the session it names, not as new as the mount. None for a link to
        a directory (`workspaces/<label>`) or to nothing any more.
        """
        key = list(link.key[:-1])
        for part in (link.target or "").split("/"):
            if part == "..":
                if not key:
                    return None
                key.pop()
            elif part not in ("", "."):
                key.append(part)
        end = self._view.resolve(tuple(key))
        if end is None or end.kind not in BACKED:
            return None
        try:
            return files.lstat_regular(backing(end))
        except OSError:
            return None
