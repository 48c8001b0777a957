"""The FUSE adapter: kernel requests -> calls on the pure mount modules -> replies.

Thin on purpose: what exists and what it is called is the view's business
(view.py), what a file says render.py's (index.tsv, xattrs), what a fork
does control.py's. This module only turns entries into inode numbers and
attributes, serves bytes, tells the kernel what to invalidate, and maps
every failure to an errno, because pyfuse3 turns any other exception into
a dead mount (clients get ECONNABORTED) and an errno outside 1..511 into a
hung caller (pyfuse3 notes).

All handlers run on the one trio thread, and a request that waits there
holds up every other one. So these run in worker threads: whatever may
load whole files (xattrs of a file version not loaded yet, index.tsv,
forks, the checks after a store change); what the index derives once per
state of a workspace, the first time a request needs it at that state (an
alias's target, whose candidates may need a full load; a fork tree; a
listing: `_view_call`); reads that the page cache cannot answer
(reader.py); the sizes and bytes of `.md` files not at hand (mdfiles.py).
What stays here is answered from memory or from the kernel's caches:
lookups in the view's index, reads of cached pages, and the `lstat`, `open`
and `fstat` of backing files. Those three touch the disk only when the
kernel no longer caches the file's inode (the index's scans stat every
file, so it seldom does), and cost ~2 us where a hop to a worker thread
costs ~50 us, more than a whole request (~30 us), so they stay. On a
network or FUSE filesystem (a polled root) each is a round trip to its
server, and a server that stops answering stalls the mount there; reads do
go to worker threads on those, which cannot answer RWF_NOWAIT.
"""

from __future__ import annotations

import errno
import functools
import itertools
import logging
import os
import stat
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Concatenate, ParamSpec, TypeVar, TypeVarTuple

import pyfuse3
import trio
from pyfuse3 import (
    EntryAttributes,
    FileInfo,
    FUSEError,
    ReaddirToken,
    RequestContext,
    SetattrFields,
    StatvfsData,
)

from clawfs.mount import control, kernelcache, render
from clawfs.mount.errors import RequestError
from clawfs.mount.inodes import InodeTable
from clawfs.mount.mdfiles import MarkdownFiles, Source
from clawfs.mount.privacy import Viewer
from clawfs.mount.reader import Backing, Reader
from clawfs.mount.view import (
    Derived,
    Entry,
    EntryKind,
    Key,
    View,
    derived,
    session_file,
)
from clawfs.store import files
from clawfs.store.access import Mode
from clawfs.store.records import Touched

log = logging.getLogger(__name__)

# How long the kernel may answer from its caches. The store changes under
# us, and the watcher turns every change it sees into invalidations of
# exactly what the kernel holds (live/livestore.py, mount/kernelcache.py): an
# append, a save by rename, a deletion, a re-pointed alias show at once, so a
# timeout bounds only how long a change the watcher *missed* can show, and
# that is bounded anyway by the safety sweep (a rescan every 60 s,
# livestore.SWEEP_SECONDS, whose changes are invalidated like any other; on
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

# readdir offsets: next_id must never be 0 (it means "start"), and 1 and 2
# are best avoided (. and ..), so entry i of a listing has next_id i + 3.
FIRST_OFFSET = 3

# Extended attribute namespaces we never have: `ls -l` asks every entry for
# security.selinux and system.posix_acl_*, answer those without the view.
# EOPNOTSUPP, not ENODATA: ls remembers "unsupported" per device and stops
# asking, so `ls -l` of 10,000 entries makes 2 requests instead of 20,000
# (0.02 s instead of 0.4 s in pyfuse3; measured by scripts/bench.py).
OUR_XATTR_PREFIX = "user."

# Worker threads for calls that may load whole files: xattrs and forks.
LOAD_THREADS = 2
# index.tsv builds (a load of a whole workspace) get their own, so a
# burst of them never makes xattrs or forks wait (seen in the soak: getfattr
# took 30-60 s behind index.tsv rebuilds).
GENERATE_THREADS = 1
# Cache checks after a store change run one at a time, apart from the
# loading threads, so a long index.tsv build never delays an invalidation.
REFRESH_THREADS = 1
# What the index derives once per state of a workspace (view.derived: an
# alias's target, whose candidates may need a full load; a fork tree, 0.17 s
# for a workspace of 10,000 sessions; its listing, 0.05 s) is computed in a
# worker thread the first time a request needs it at that state
# (`View.stamp`), so a change in the store never stalls every request
# behind it; needed again at the same state, it comes from the index's
# caches, here. Their own threads, so that neither a load nor a read waits
# behind them, nor they behind those.
VIEW_THREADS = 2

_NEVER = object()

# Inodes of transcripts and .md files the kernel may hold before the oldest
# are let go of (inodes.py `let_go`): an `ls -l` of 100,000 entries or a
# `cat` of every session would otherwise keep ~250 bytes each for as long as
# the kernel keeps its entries, which with plenty of memory is forever. The
# kernel is asked to drop their names (an entry invalidation; it then
# forgets them), never those first held within HELD_AGE seconds, so a
# listing being read is not cut short; one used again is looked up again.
HELD_MAX = 32_768
HELD_AGE = 5.0

P = ParamSpec("P")
R = TypeVar("R")
Ts = TypeVarTuple("Ts")


def _errno(value: int | None) -> int:
    """An errno the kernel accepts: 1..511, else EIO."""
    return value if value is not None and 0 < value < 512 else errno.EIO


def handler(
    method: Callable[Concatenate[Operations, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[Operations, P], Coroutine[Any, Any, R]]:
    """Log the request under --debug, and turn every failure into an errno."""
    name = method.__name__

    @functools.wraps(method)
    async def wrapper(self: Operations, /, *args: P.args, **kwargs: P.kwargs) -> R:
        debug = log.isEnabledFor(logging.DEBUG)
        if debug:
            log.debug("%s%s", name, _show(args))
        try:
            result = await method(self, *args, **kwargs)
        except FUSEError as e:
            if debug:
                log.debug("%s -> %s", name, errno.errorcode.get(e.errno, e.errno))
            raise
        except RequestError as e:
            if debug:
                log.debug("%s -> %s (%s)", name, errno.errorcode.get(e.errno, e.errno), e)
            raise FUSEError(_errno(e.errno)) from None
        except OSError as e:
            if debug:
                log.debug("%s -> %s", name, e)
            raise FUSEError(_errno(e.errno)) from None
        except Exception:
            log.exception("%s%s failed", name, _show(args))
            raise FUSEError(errno.EIO) from None
        return result

    return wrapper


def _show(args: tuple[object, ...]) -> str:
    """Request arguments for the debug log, without the context objects."""
    shown = [a for a in args if not isinstance(a, RequestContext | ReaddirToken)]
    return "(" + ", ".join(repr(a) for a in shown) + ")"


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


FileHandle = TranscriptHandle | MarkdownHandle | GeneratedHandle | control.Handle


class Operations(pyfuse3.Operations):
    """pyfuse3 request handlers over a `View`.

    `read_only` (`clawfs mount --read-only`): the control files refuse every
    fork with EROFS (`control.ControlFiles`) and show as 0444, so nothing
    changes the store through the mount, even without the kernel's `ro`.
    """

    def __init__(self, view: View, read_only: bool = False) -> None:
        super().__init__()
        self.view = view
        self.initialized = trio.Event()
        """Set when the kernel's INIT arrives: the mount answers from then on."""
        root = view.root()
        self._inodes: InodeTable[kernelcache.Slot] = InodeTable(
            (root.kind, root.key), group=kernelcache.group_of,
            bounded=lambda slot: slot[0] in BACKED,
        )
        self._dirs: dict[int, DirHandle] = {}
        self._files: dict[int, FileHandle] = {}
        self._open: dict[int, list[TranscriptHandle | MarkdownHandle]] = {}
        """Open transcripts and `.md` files by inode (getattr answers for what they hold)."""
        self._markdown = MarkdownFiles(view.index.markdown)
        self._handle_ids = itertools.count(1)
        self._controls = control.ControlFiles(view, read_only=read_only)
        self._uid = os.getuid()
        self._gid = os.getgid()
        self._started_ns = time.time_ns()
        self._limiter = trio.CapacityLimiter(LOAD_THREADS)
        self._generate_limiter = trio.CapacityLimiter(GENERATE_THREADS)
        self._refresh_limiter = trio.CapacityLimiter(REFRESH_THREADS)
        self._reader = Reader()
        self._view_limiter = trio.CapacityLimiter(VIEW_THREADS)
        self._computed: dict[Derived, object] = {}
        """What was computed in a worker thread, and at which `View.stamp`."""

    def init(self) -> None:
        self.initialized.set()

    async def _off_thread(
        self, call: Callable[[*Ts], R], *args: *Ts, limiter: trio.CapacityLimiter | None = None
    ) -> R:
        """Run a call that may load whole files (xattrs, index.tsv, fork)
        in a worker thread, so a 10 MB load does not stall every other request
        (handlers share the one trio thread). The index locks only to commit.
        """
        return await trio.to_thread.run_sync(call, *args, limiter=limiter or self._limiter)

    # --- the store changed: tell the kernel ---------------------------------

    async def refresh_kernel(self, changes: Mapping[str, Touched] | None = None) -> None:
        """Invalidate what the kernel holds that `changes` may have made stale
        (the index's, per workspace: kernelcache.to_check; None: anything).
        Called by the live store after every applied batch (a fork checks
        only what it may have moved before its write returns: control.Fork.run).

        Both invalidations used here are safe on the trio thread and inside
        a handler (pyfuse3 notes): the entry one is queued to pyfuse3's
        notify thread (the synchronous one deadlocks inside a lookup of the
        same parent), the attribute one never waits on a request. Data is
        never invalidated directly (that deadlocked with a read in flight):
        a new size or mtime makes the kernel drop cached pages itself.
        """
        if not self.initialized.is_set():
            return  # not mounted (adapter unit tests): nothing is cached
        held = kernelcache.held_for(self._inodes, changes)
        seen = self._inodes.seen(inode for inode, *_ in held)
        stale = await trio.to_thread.run_sync(
            kernelcache.find_stale, self.view, held, seen, limiter=self._refresh_limiter
        )
        self._invalidate(stale)

    def _invalidate(self, stale: kernelcache.Stale) -> None:
        """Tell the kernel what `stale` lists, and remember what was checked
        (for inodes it still holds: a forgotten one needs no memory)."""
        if not self.initialized.is_set():
            return  # not mounted (adapter unit tests): nothing is cached
        self._inodes.remember(stale.seen)
        for parent, name in stale.entries:
            pyfuse3.invalidate_entry_async(parent, os.fsencode(name), ignore_enoent=True)
        for inode in stale.attrs:
            try:
                pyfuse3.invalidate_inode(inode, attr_only=True)
            except FileNotFoundError:
                pass  # the kernel has already let go of it
            except OSError as e:
                log.debug("invalidating inode %d: %s", inode, e)

    # --- entries and inodes -----------------------------------------------

    def _number(
        self, entry: Entry, st: os.stat_result | None = None
    ) -> tuple[int, os.stat_result | None]:
        """The inode for `entry`, with a fresh stat of its backing file (or
        `st`, one just taken of it: a `.md` listed right after its transcript).

        The stat is taken here (not from the index) so the inode's identity is
        the file on disk now, which is what getattr will compare against.
        """
        if entry.kind not in BACKED:
            return self._inodes.number((entry.kind, entry.key)), None
        if st is None:
            st = files.lstat_regular(_backing(entry))
        identity = (st.st_dev, st.st_ino)
        return self._inodes.number((entry.kind, entry.key), identity), st

    def _who(self, ctx: RequestContext) -> Viewer | None:
        """What the caller may see: None (everything) for the mounting user,
        root, and any caller of a mount without --allow-other."""
        viewers = self.view.viewers
        if viewers.rules is None:
            return None  # nobody else may enter: the common case, no work
        return viewers.of(ctx.uid, ctx.gid, ctx.pid)

    async def _view_call(
        self, key: Key, listing: bool, call: Callable[[], R], who: Viewer | None = None
    ) -> R:
        """`call`, the view resolving `key` (or listing it) for `who`: in a
        worker thread if that may compute what the index derives and has not
        derived at its present state (see VIEW_THREADS), else right here.
        Should a change land between the check and the call, the call
        computes here, as it would without the check. Another user's
        listings are built for each open (View.entries): always there."""
        need = derived(key, listing)
        if need is None:
            return call()
        if listing and who is not None:
            return await self._off_thread(call, limiter=self._view_limiter)
        stamp = self.view.stamp(key)
        if self._computed.get(need, _NEVER) == stamp:
            return call()
        result = await self._off_thread(call, limiter=self._view_limiter)
        self._computed[need] = stamp
        return result

    async def _resolve(self, inode: int, who: Viewer | None = None) -> Entry:
        """The live entry for `inode` (as `who` sees it), or ESTALE (the kernel
        then looks again)."""
        known = self._inodes.entry(inode)
        if known is None:
            raise FUSEError(errno.ESTALE)
        (kind, key), _ = known
        entry = await self._view_call(
            key, False, functools.partial(self.view.resolve, key, who), who
        )
        if entry is None or entry.kind is not kind:
            self._inodes.retire(inode)
            raise FUSEError(errno.ESTALE)
        return entry

    def _stat_backing(self, inode: int, entry: Entry) -> os.stat_result:
        """stat of a transcript's backing file: ESTALE once it is gone.

        If the name holds another file now (claw's save renamed a new one
        over it), that file's: a stat of the name must never fail for it
        (SPEC §6), and the caller gets what the name holds, as on a local
        disk. The inode stays the old file's; the kernel is told to look the
        name up again, which gives the new file a new inode (SPEC §3).
        """
        try:
            st = files.lstat_regular(_backing(entry))
        except FileNotFoundError:
            self._inodes.retire(inode)
            raise FUSEError(errno.ESTALE) from None
        self._note_replaced(inode, entry, st)
        return st

    def _note_replaced(self, inode: int, entry: Entry, st: os.stat_result) -> bool:
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

    def _attributes(
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
        if kind in BACKED and st is not None:
            self._inodes.tell(inode, _version_told(st))
            # A Markdown file is exactly as readable as its transcript.
            attr.st_mode = stat.S_IFREG | (st.st_mode & 0o444 if shown is None else shown.bits)
            attr.st_size = st.st_size if size is None else size
            attr.st_blocks = st.st_blocks if size is None else (size + 511) // 512
            attr.st_blksize = st.st_blksize
            attr.st_atime_ns = st.st_atime_ns
            attr.st_mtime_ns = st.st_mtime_ns
            attr.st_ctime_ns = st.st_ctime_ns
        elif kind is EntryKind.DIR:
            attr.st_mode = stat.S_IFDIR | (0o555 if shown is None else shown.bits)
        elif kind is EntryKind.SYMLINK:
            attr.st_mode = stat.S_IFLNK | 0o777
            attr.st_size = len(os.fsencode(target or ""))
            if st is not None:  # the times of the file it ends at (`find -newer`)
                attr.st_atime_ns = st.st_atime_ns
                attr.st_mtime_ns = st.st_mtime_ns
                attr.st_ctime_ns = st.st_ctime_ns
        elif kind is EntryKind.CONTROL:
            attr.st_mode = stat.S_IFREG | (0o444 if self._controls.read_only else 0o644)
        else:  # GENERATED: size 0, served with direct_io like /proc files
            attr.st_mode = stat.S_IFREG | 0o444
        return attr

    def _attributes_now(
        self, entry: Entry, st: os.stat_result | None = None
    ) -> tuple[EntryAttributes | None, os.stat_result | None]:
        """`entry`'s attributes from what is known (None for a `.md` file
        whose version was not measured yet), and its backing file's stat.
        `st`: as `_number`'s."""
        inode, st = self._number(entry, st)
        backing = st
        if entry.kind is EntryKind.SYMLINK:
            st = self._link_end(entry)
        size = None
        if entry.kind is EntryKind.MARKDOWN:
            assert st is not None
            size = self._markdown.size_now(_backing(entry), st)
            if size is None:
                return None, backing
        return self._for_lookup(entry, self._attributes(
            inode, entry.kind, st, entry.target, size, self.view.shown(entry, st)
        )), backing

    def _for_lookup(self, entry: Entry, attr: EntryAttributes) -> EntryAttributes:
        """`attr` as a lookup or a listing answers it: an entry another user
        may not know is looked up again on every use (View.shared), so that
        the kernel asks, with each caller, whether that caller may."""
        if not self.view.shared(entry):
            attr.entry_timeout = 0
            if entry.kind is EntryKind.SYMLINK:
                attr.attr_timeout = 0  # its size is its target's length: each caller's own
        return attr

    async def _attributes_of(self, entry: Entry) -> EntryAttributes:
        """`entry`'s attributes, measuring a `.md` file's size if need be."""
        attr, _ = self._attributes_now(entry)
        if attr is not None:
            return attr
        return await self._measured(self._inodes.number((entry.kind, entry.key)), entry)

    async def _measured(self, inode: int, entry: Entry) -> EntryAttributes:
        """A `.md` file's attributes, its size measured in a worker thread, if
        its backing file is still the one `inode` was given for."""
        sf = session_file(self.view.index, entry)
        if sf is None:
            raise FUSEError(errno.ESTALE)
        st, size = await self._markdown.measure(sf.path, sf.file_name)
        identity = (st.st_dev, st.st_ino)
        known = self._inodes.entry(inode)
        if known is None or known[1] != identity:
            # Replaced meanwhile (claw's save): the new file is a new inode.
            inode = self._inodes.number((entry.kind, entry.key), identity)
        shown = self.view.shown(entry, st)
        return self._for_lookup(entry, self._attributes(
            inode, entry.kind, st, entry.target, size, shown
        ))

    async def _measure_ahead(self, entries: Sequence[Entry], first: int) -> None:
        """Measure the `.md` files among the next entries whose size is not known."""
        todo = []
        for entry in entries[first:]:
            if entry.kind is not EntryKind.MARKDOWN:
                continue
            try:
                if self._attributes_now(entry)[0] is None:
                    todo.append(entry)
            except OSError:
                continue
            if len(todo) >= MEASURE_AHEAD:
                break
        for entry in todo:
            sf = session_file(self.view.index, entry)
            if sf is None:
                continue
            try:
                await self._markdown.measure(sf.path, sf.file_name)
            except OSError as e:
                log.debug("readdir: cannot measure %s: %s", entry.name, e)

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
        end = self.view.resolve(tuple(key))
        if end is None or end.kind not in BACKED:
            return None
        try:
            return files.lstat_regular(_backing(end))
        except OSError:
            return None

    # --- lookup and attributes --------------------------------------------

    @handler
    async def lookup(
        self, parent_inode: int, name: bytes, ctx: RequestContext
    ) -> EntryAttributes:
        who = self._who(ctx)
        parent = await self._resolve(parent_inode, who)
        if parent.kind is not EntryKind.DIR:
            raise FUSEError(errno.ENOTDIR)
        text = os.fsdecode(name)
        child = await self._view_call(
            (*parent.key, text), False, functools.partial(self.view.lookup, parent, text, who), who
        )
        if child is None:
            raise FUSEError(errno.ENOENT)  # not cached: a new session shows at once
        attr = await self._attributes_of(child)
        self._inodes.looked_up(attr.st_ino)
        self._let_go()
        return attr

    def _let_go(self) -> None:
        """Past HELD_MAX session inodes held, ask the kernel to drop the oldest."""
        if self._inodes.bounded_held <= HELD_MAX or not self.initialized.is_set():
            return
        for _inode, (_kind, key) in self._inodes.let_go(HELD_MAX * 3 // 4, HELD_AGE):
            parent = self._inodes.current((EntryKind.DIR, key[:-1]))
            if parent is not None:
                pyfuse3.invalidate_entry_async(parent, os.fsencode(key[-1]), ignore_enoent=True)

    async def forget(self, inode_list: Sequence[tuple[int, int]]) -> None:
        """Must never raise: it answers no request."""
        for inode, count in inode_list:
            try:
                self._inodes.forget(inode, count)
            except Exception:
                log.exception("forget(%d, %d)", inode, count)

    @handler
    async def getattr(self, inode: int, ctx: RequestContext) -> EntryAttributes:
        handles = self._open.get(inode)
        if handles:
            # An open transcript answers for the file it has open, even if
            # that was renamed over or deleted since (as on a local disk); the
            # latest open for the file a new open reads (after a save by rename).
            return await self._open_attributes(inode, handles[-1])
        entry = await self._resolve(inode, self._who(ctx))
        if entry.kind is EntryKind.MARKDOWN:
            return await self._markdown_attributes(inode, entry, self._stat_backing(inode, entry))
        st = self._stat_backing(inode, entry) if entry.kind is EntryKind.TRANSCRIPT else None
        shown = self.view.shown(entry, st)
        if entry.kind is EntryKind.SYMLINK:
            st = self._link_end(entry)
        return self._attributes(inode, entry.kind, st, entry.target, shown=shown)

    async def _markdown_attributes(
        self, inode: int, entry: Entry, st: os.stat_result
    ) -> EntryAttributes:
        """A `.md` file's attributes as `inode`'s, for the file `st` describes."""
        size = self._markdown.size_now(_backing(entry), st)
        if size is None:
            sf = session_file(self.view.index, entry)
            if sf is None:
                raise FUSEError(errno.ESTALE)
            st, size = await self._markdown.measure(sf.path, sf.file_name)
        shown = self.view.shown(entry, st)
        return self._attributes(inode, EntryKind.MARKDOWN, st, None, size, shown)

    async def _open_attributes(
        self, inode: int, handle: TranscriptHandle | MarkdownHandle
    ) -> EntryAttributes:
        """Attributes of an open transcript or `.md` file: of the file it has open."""
        if isinstance(handle, MarkdownHandle):
            st, size = await self._markdown.measure_open(handle.source)
            shown = self._shown_open(inode, st)
            return self._attributes(inode, EntryKind.MARKDOWN, st, None, size, shown)
        st = os.fstat(handle.backing.fd)
        return self._attributes(inode, EntryKind.TRANSCRIPT, st, shown=self._shown_open(inode, st))

    def _shown_open(self, inode: int, st: os.stat_result) -> Mode | None:
        """What an open transcript or `.md` file reports (View.shown of its
        entry); where its name is gone, only what its owner class may do
        (nothing surer is known)."""
        if self.view.reported is None:
            return None
        known = self._inodes.entry(inode)
        entry = None if known is None else self.view.resolve(known[0][1])
        if entry is None or entry.backing_path is None:
            return Mode(st.st_uid, st.st_gid, st.st_mode & 0o400)
        return self.view.reported.file(entry.backing_path, st)

    @handler
    async def setattr(
        self,
        inode: int,
        attr: EntryAttributes,
        fields: SetattrFields,
        fh: int | None,
        ctx: RequestContext,
    ) -> EntryAttributes:
        entry = await self._resolve(inode)
        harmless = not (fields.update_mode or fields.update_uid or fields.update_gid)
        if entry.kind is EntryKind.CONTROL and harmless and not self._controls.read_only:
            # `truncate -s0 fork` and `touch fork` are no-ops that must succeed.
            return self._attributes(inode, entry.kind, None)
        raise FUSEError(errno.EROFS)

    @handler
    async def readlink(self, inode: int, ctx: RequestContext) -> bytes:
        entry = await self._resolve(inode, self._who(ctx))
        if entry.kind is not EntryKind.SYMLINK or entry.target is None:
            raise FUSEError(errno.EINVAL)
        return os.fsencode(entry.target)

    @handler
    async def statfs(self, ctx: RequestContext) -> StatvfsData:
        data = StatvfsData()
        data.f_bsize = data.f_frsize = 4096
        data.f_namemax = 255
        return data

    # --- directories --------------------------------------------------------

    @handler
    async def opendir(self, inode: int, ctx: RequestContext) -> int:
        who = self._who(ctx)
        entry = await self._resolve(inode, who)
        if entry.kind is not EntryKind.DIR:
            raise FUSEError(errno.ENOTDIR)
        fh = next(self._handle_ids)
        self._dirs[fh] = DirHandle(inode, who)
        return fh

    @handler
    async def readdir(self, fh: int, start_id: int, token: ReaddirToken) -> None:
        handle = self._dirs[fh]
        if start_id == 0:
            parent = await self._resolve(handle.inode, handle.who)
            handle.entries = await self._view_call(
                parent.key, True, functools.partial(self.view.entries, parent, handle.who),
                handle.who,
            )
        first = max(start_id - FIRST_OFFSET, 0) if start_id else 0
        # A transcript is listed right before its .md: one lstat serves both.
        last: tuple[str | None, os.stat_result | None] = (None, None)
        for index in range(first, len(handle.entries)):
            child = handle.entries[index]
            try:
                reuse = last[1] if child.backing_path == last[0] else None
                attr, st = self._attributes_now(child, reuse)
                last = (child.backing_path, st)
                if attr is None:  # an unmeasured .md: measure it and the next ones
                    await self._measure_ahead(handle.entries, index)
                    attr = await self._attributes_of(child)
            except (OSError, FUSEError) as e:
                log.debug("readdir: leaving out %s: %s", child.name, e)
                continue  # removed since the snapshot (or unreadable): leave it out
            if not pyfuse3.readdir_reply(
                token, os.fsencode(child.name), attr, index + 1 + FIRST_OFFSET
            ):
                break
            self._inodes.looked_up(attr.st_ino)
        self._let_go()

    @handler
    async def releasedir(self, fh: int) -> None:
        self._dirs.pop(fh, None)

    # --- files --------------------------------------------------------------

    @handler
    async def open(self, inode: int, flags: int, ctx: RequestContext) -> FileInfo:
        who = self._who(ctx)
        entry = await self._resolve(inode, who)
        writing = (flags & os.O_ACCMODE) != os.O_RDONLY or bool(flags & os.O_TRUNC)
        fh = next(self._handle_ids)
        if entry.kind is EntryKind.CONTROL:
            self._files[fh] = control.Handle(entry, who)
            return FileInfo(fh=fh, direct_io=True)
        if writing:
            raise FUSEError(errno.EROFS)
        if entry.kind in BACKED:
            return self._open_transcript(fh, inode, entry)
        if entry.kind is EntryKind.GENERATED:
            data = await self._off_thread(
                render.generate, self.view.index, entry, who, limiter=self._generate_limiter
            )
            self._files[fh] = GeneratedHandle(data)
            return FileInfo(fh=fh, direct_io=True)
        raise FUSEError(errno.EISDIR if entry.kind is EntryKind.DIR else errno.EINVAL)

    def _open_transcript(self, fh: int, inode: int, node: Entry) -> FileInfo:
        # The safe open (store/files.py): a FIFO swapped in for the file does
        # not block the open, which would stall every request (handlers share
        # one thread); a symlink swapped in is never followed out of the store.
        try:
            opened = files.open_backing(_backing(node))
        except files.NotRegular:
            raise FUSEError(errno.ENOENT) from None  # no longer a session file
        except OSError as e:
            if e.errno != errno.ELOOP:
                raise
            raise FUSEError(errno.ENOENT) from None  # a symlink now: no longer a session file
        # Replaced since the lookup (claw's save): serve the file the name holds
        # now, never ESTALE (SPEC §6; retrying the lookup could meet the next
        # save). Then, or whenever the kernel was last told of another version
        # (an append not invalidated yet; a new file that got the old one's
        # inode number back, seen in a burst of saves), the kernel's size and
        # pages are not this file's: drop them (no keep_cache) and have it ask.
        st = opened.stat
        replaced = self._note_replaced(inode, node, st)
        generation = files.generation(opened.fd)
        earlier = self._inodes.opened(inode, generation)
        self._inodes.note_open(inode, generation)
        told = self._inodes.told(inode)
        if not replaced and (told != _version_told(st) or earlier != generation):
            self._invalidate(kernelcache.Stale(attrs=[inode]))
            replaced = True
        handle: TranscriptHandle | MarkdownHandle = TranscriptHandle(inode, Backing(opened.fd))
        if node.kind is EntryKind.MARKDOWN:
            sf = session_file(self.view.index, node)
            if sf is None:
                opened.close()
                raise FUSEError(errno.ESTALE)
            handle = MarkdownHandle(inode, Source(Backing(opened.fd), sf.path, sf.file_name))
        self._files[fh] = handle
        self._open.setdefault(inode, []).append(handle)
        # keep_cache: re-reads come from the page cache; a changed size or
        # mtime drops those pages by itself (libfuse's AUTO_INVAL_DATA).
        return FileInfo(fh=fh, keep_cache=not replaced)

    @handler
    async def read(self, fh: int, off: int, size: int) -> bytes:
        handle = self._files[fh]
        if isinstance(handle, TranscriptHandle):
            return await self._reader.read(handle.backing, size, off)
        if isinstance(handle, MarkdownHandle):
            return await self._markdown.read(handle.source, off, size)
        if isinstance(handle, GeneratedHandle):
            return handle.data[off : off + size]
        return self._controls.read(handle, off, size)

    @handler
    async def write(self, fh: int, off: int, buf: bytes) -> int:
        handle = self._files[fh]
        if not isinstance(handle, control.Handle):
            raise FUSEError(errno.EROFS)
        fork = self._controls.accept(handle, buf, self._inodes)
        if fork is not None:
            self._invalidate(await self._off_thread(fork.run))
        return len(buf)

    @handler
    async def flush(self, fh: int) -> None:
        """ENOSYS: the kernel then never sends FLUSH again on this connection
        and `close()` succeeds without asking (one round trip less per file
        closed). Nothing here needs it: nothing is buffered, and a fork acts
        in write(), where its error reaches the writer; bash's `echo` ignores
        an error from flush anyway (pyfuse3 notes)."""
        raise FUSEError(errno.ENOSYS)

    @handler
    async def fsync(self, fh: int, datasync: bool) -> None:
        return None

    @handler
    async def release(self, fh: int) -> None:
        handle = self._files.pop(fh, None)
        if isinstance(handle, TranscriptHandle | MarkdownHandle):
            handles = self._open.get(handle.inode, [])
            handles.remove(handle)
            if not handles:
                del self._open[handle.inode]
            if isinstance(handle, TranscriptHandle):
                handle.backing.close()  # once no worker thread reads from it
            else:
                handle.source.close()  # once no worker thread renders from it

    # --- extended attributes --------------------------------------------------

    @handler
    async def getxattr(self, inode: int, name: bytes, ctx: RequestContext) -> bytes:
        text = os.fsdecode(name)
        if not text.startswith(OUR_XATTR_PREFIX):
            raise FUSEError(errno.EOPNOTSUPP)
        who = self._who(ctx)
        entry = await self._resolve(inode, who)
        if text == render.PATH_XATTR:  # the backing file: no load (claw --resume needs it)
            value = render.xattr(self.view.index, entry, text, who)
        else:
            value = (await self._xattrs_of(entry, who)).get(text)
        if value is None:
            raise FUSEError(pyfuse3.ENOATTR)
        return value

    @handler
    async def listxattr(self, inode: int, ctx: RequestContext) -> Sequence[bytes]:
        who = self._who(ctx)
        names = await self._xattrs_of(await self._resolve(inode, who), who)
        return [os.fsencode(name) for name in names]

    async def _xattrs_of(self, entry: Entry, who: Viewer | None) -> dict[str, bytes]:
        """The xattrs of `entry`: on the trio thread when the index has
        the file's load cached (`getfattr -d` asks list + one get per name,
        and those must not each queue for a worker thread), else from a
        worker thread, since the first ask for a version needs a load."""
        cached = render.cached_xattrs(self.view.index, entry, who)
        if cached is not None:
            return cached
        return await self._off_thread(render.xattrs, self.view.index, entry, who)

    # --- everything that would change the store: read-only -------------------

    @handler
    async def setxattr(self, inode: int, name: bytes, value: bytes, ctx: RequestContext) -> None:
        raise FUSEError(errno.EROFS)

    @handler
    async def removexattr(self, inode: int, name: bytes, ctx: RequestContext) -> None:
        raise FUSEError(errno.EROFS)

    @handler
    async def create(
        self, parent_inode: int, name: bytes, mode: int, flags: int, ctx: RequestContext
    ) -> tuple[FileInfo, EntryAttributes]:
        raise FUSEError(errno.EROFS)

    @handler
    async def mknod(
        self, parent_inode: int, name: bytes, mode: int, rdev: int, ctx: RequestContext
    ) -> EntryAttributes:
        raise FUSEError(errno.EROFS)

    @handler
    async def mkdir(
        self, parent_inode: int, name: bytes, mode: int, ctx: RequestContext
    ) -> EntryAttributes:
        raise FUSEError(errno.EROFS)

    @handler
    async def symlink(
        self, parent_inode: int, name: bytes, target: bytes, ctx: RequestContext
    ) -> EntryAttributes:
        raise FUSEError(errno.EROFS)

    @handler
    async def link(
        self, inode: int, new_parent_inode: int, new_name: bytes, ctx: RequestContext
    ) -> EntryAttributes:
        raise FUSEError(errno.EROFS)

    @handler
    async def unlink(self, parent_inode: int, name: bytes, ctx: RequestContext) -> None:
        raise FUSEError(errno.EROFS)

    @handler
    async def rmdir(self, parent_inode: int, name: bytes, ctx: RequestContext) -> None:
        raise FUSEError(errno.EROFS)

    @handler
    async def rename(
        self,
        parent_inode_old: int,
        name_old: bytes,
        parent_inode_new: int,
        name_new: bytes,
        flags: int,
        ctx: RequestContext,
    ) -> None:
        raise FUSEError(errno.EROFS)


def _backing(node: Entry) -> str:
    if node.backing_path is None:
        raise FUSEError(errno.EIO)
    return os.fspath(node.backing_path)


def _version_told(st: os.stat_result) -> int:
    """The backing version (size, mtime) the kernel is given attributes of, as
    one int: kept per held inode (the kernel may hold 100,000)."""
    return st.st_size << 64 | st.st_mtime_ns & ((1 << 64) - 1)
