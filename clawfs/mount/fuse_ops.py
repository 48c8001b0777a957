"""The FUSE adapter: kernel requests -> calls on the pure mount modules -> replies.

Thin on purpose: what exists and what it is called is the view's business
(view.py), what a file says render.py's (index.tsv, xattrs), what a fork
does control.py's, which attributes an entry has attrs.py's, what an open
serves and which version of a name the kernel holds opens.py's, what runs
in a worker thread workers.py's. This module only turns requests into
those calls, tells the kernel what to invalidate, and maps every failure
to an errno, because pyfuse3 turns any other exception into a dead mount
(clients get ECONNABORTED) and an errno outside 1..511 into a hung caller
(pyfuse3 notes).

All handlers run on the one trio thread, and a request that waits there
holds up every other one: whatever may load whole files or derive what
the index has not derived at its present state goes to a worker thread
(workers.py); reads that the page cache cannot answer too (reader.py), and
the sizes and bytes of `.md` files not at hand (mdfiles.py). What stays
here is answered from memory or from the kernel's caches: lookups in the
view's index, reads of cached pages, and the `lstat`, `open` and `fstat`
of backing files. Those three touch the disk only when the kernel no
longer caches the file's inode (the index's scans stat every file, so it
seldom does), and cost ~2 us where a hop to a worker thread costs ~50 us,
more than a whole request (~30 us), so they stay. On a network or FUSE
filesystem (a polled root) each is a round trip to its server, and a
server that stops answering stalls the mount there; reads do go to worker
threads on those, which cannot answer RWF_NOWAIT.
"""

from __future__ import annotations

import errno
import functools
import itertools
import logging
import os
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, Concatenate, NoReturn, ParamSpec, TypeVar

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
from clawfs.mount.attrs import BACKED, Attributes
from clawfs.mount.errors import RequestError
from clawfs.mount.inodes import InodeTable
from clawfs.mount.mdfiles import MarkdownFiles
from clawfs.mount.opens import (
    DirHandle,
    FileHandle,
    GeneratedHandle,
    MarkdownHandle,
    Opens,
    TranscriptHandle,
)
from clawfs.mount.privacy import Viewer
from clawfs.mount.reader import Reader
from clawfs.mount.view import Entry, EntryKind, View
from clawfs.mount.workers import Workers
from clawfs.store.records import Touched

log = logging.getLogger(__name__)

# readdir offsets: next_id must never be 0 (it means "start"), and 1 and 2
# are best avoided (. and ..), so entry i of a listing has next_id i + 3.
FIRST_OFFSET = 3

# Extended attribute namespaces we never have: `ls -l` asks every entry for
# security.selinux and system.posix_acl_*, answer those without the view.
# EOPNOTSUPP, not ENODATA: ls remembers "unsupported" per device and stops
# asking, so `ls -l` of 10,000 entries makes 2 requests instead of 20,000
# (0.02 s instead of 0.4 s in pyfuse3; measured by scripts/bench.py).
OUR_XATTR_PREFIX = "user."

P = ParamSpec("P")
R = TypeVar("R")


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


def _refused(name: str) -> Callable[..., Coroutine[Any, Any, NoReturn]]:
    """A handler for a request that would change the store: EROFS."""

    async def refuse(self: Operations, *args: object) -> NoReturn:
        raise FUSEError(errno.EROFS)

    refuse.__name__ = refuse.__qualname__ = name
    return handler(refuse)


_KIND_CODES = {kind: chr(ord("a") + n) for n, kind in enumerate(EntryKind)}
_CODE_KINDS = {code: kind for kind, code in _KIND_CODES.items()}


def packed_slot(slot: kernelcache.Slot) -> str:
    """A slot as the inode table keeps it: one string (its kind's letter,
    then its key's names joined by `/`, which no name holds). The kernel may
    hold an inode for every entry of a store of 100,000 sessions, and this
    takes ~100 bytes where the tuples (kind, (sessions, fp, name)) took ~200."""
    kind, key = slot
    return _KIND_CODES[kind] + "/".join(key)


def unpacked_slot(packed: str) -> kernelcache.Slot:
    """`packed_slot` undone."""
    return _CODE_KINDS[packed[0]], tuple(packed[1:].split("/")) if len(packed) > 1 else ()


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
            bounded=lambda slot: slot[0] in BACKED, pack=packed_slot, unpack=unpacked_slot,
        )
        self._dirs: dict[int, DirHandle] = {}
        self._files: dict[int, FileHandle] = {}
        self._markdown = MarkdownFiles(view.index.markdown)
        self._opens = Opens(view, self._inodes, self._invalidate)
        self._attrs = Attributes(view, self._inodes, self._markdown, self._opens, read_only)
        self._handle_ids = itertools.count(1)
        self._controls = control.ControlFiles(view, read_only=read_only)
        self._reader = Reader()
        self._workers = Workers(view)

    def init(self) -> None:
        self.initialized.set()

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
            kernelcache.find_stale, self.view, held, seen, limiter=self._workers.refresh
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

    def _who(self, ctx: RequestContext) -> Viewer | None:
        """What the caller may see: None (everything) for the mounting user,
        root, and any caller of a mount without --allow-other."""
        viewers = self.view.viewers
        if viewers.rules is None:
            return None  # nobody else may enter: the common case, no work
        return viewers.of(ctx.uid, ctx.gid, ctx.pid)

    async def _resolve(self, inode: int, who: Viewer | None = None) -> Entry:
        """The live entry for `inode` (as `who` sees it), or ESTALE (the kernel
        then looks again)."""
        known = self._inodes.entry(inode)
        if known is None:
            raise FUSEError(errno.ESTALE)
        (kind, key), _ = known
        entry = await self._workers.view_call(
            key, False, functools.partial(self.view.resolve, key, who), who
        )
        if entry is None or entry.kind is not kind:
            self._inodes.retire(inode)
            raise FUSEError(errno.ESTALE)
        return entry

    def _let_go(self) -> None:
        """Past kernelcache.HELD_MAX session inodes held, the kernel drops the oldest."""
        if self.initialized.is_set():
            self._invalidate(kernelcache.let_go(self._inodes))

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
        child = await self._workers.view_call(
            (*parent.key, text), False, functools.partial(self.view.lookup, parent, text, who), who
        )
        if child is None:
            raise FUSEError(errno.ENOENT)  # not cached: a new session shows at once
        attr = await self._attrs.of(child)
        self._inodes.looked_up(attr.st_ino)
        self._let_go()
        return attr

    async def forget(self, inode_list: Sequence[tuple[int, int]]) -> None:
        """Must never raise: it answers no request."""
        for inode, count in inode_list:
            try:
                self._inodes.forget(inode, count)
            except Exception:
                log.exception("forget(%d, %d)", inode, count)

    @handler
    async def getattr(self, inode: int, ctx: RequestContext) -> EntryAttributes:
        handle = self._opens.latest(inode)
        if handle is not None:  # answers for the file it has open (opens.py)
            return await self._attrs.of_open(inode, handle)
        return await self._attrs.current(inode, await self._resolve(inode, self._who(ctx)))

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
            return self._attrs.build(inode, entry.kind, None)
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
            handle.key, handle.stamp = parent.key, self.view.stamp(parent.key)
            handle.entries = await self._workers.view_call(
                parent.key, True, functools.partial(self.view.entries, parent, handle.who),
                handle.who,
            )
        first = max(start_id - FIRST_OFFSET, 0) if start_id else 0
        last = None  # a transcript is listed right before its .md: one look-up serves both
        current = self.view.stamp(handle.key) == handle.stamp
        scratch = self._attrs.for_listing()  # filled per entry, copied by readdir_reply
        for index in range(first, len(handle.entries)):
            child = handle.entries[index]
            try:
                attr, last = self._attrs.listed(child, scratch, last, current)
                if attr is None:  # an unmeasured .md: measure it and the next ones
                    await self._attrs.measure_ahead(handle.entries, index)
                    attr = self._attrs.listed(child, scratch)[0] or await self._attrs.of(child)
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
            self._files[fh], keep_cache = self._opens.open(inode, entry)
            return FileInfo(fh=fh, keep_cache=keep_cache)
        if entry.kind is EntryKind.GENERATED:
            data = await self._workers.run(
                render.generate, self.view.index, entry, who, limiter=self._workers.generate
            )
            self._files[fh] = GeneratedHandle(data)
            return FileInfo(fh=fh, direct_io=True)
        raise FUSEError(errno.EISDIR if entry.kind is EntryKind.DIR else errno.EINVAL)

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
            self._invalidate(await self._workers.run(fork.run))
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
            self._opens.release(handle)

    # --- extended attributes --------------------------------------------------

    @handler
    async def getxattr(self, inode: int, name: bytes, ctx: RequestContext) -> bytes:
        text = os.fsdecode(name)
        if not text.startswith(OUR_XATTR_PREFIX):
            raise FUSEError(errno.EOPNOTSUPP)
        who = self._who(ctx)
        value = await self._workers.xattr(await self._resolve(inode, who), text, who)
        if value is None:
            raise FUSEError(pyfuse3.ENOATTR)
        return value

    @handler
    async def listxattr(self, inode: int, ctx: RequestContext) -> Sequence[bytes]:
        who = self._who(ctx)
        names = await self._workers.xattrs(await self._resolve(inode, who), who)
        return [os.fsencode(name) for name in names]

    # --- everything that would change the store: read-only -------------------

    setxattr = _refused("setxattr")
    removexattr = _refused("removexattr")
    create = _refused("create")
    mknod = _refused("mknod")
    mkdir = _refused("mkdir")
    symlink = _refused("symlink")
    link = _refused("link")
    unlink = _refused("unlink")
    rmdir = _refused("rmdir")
    rename = _refused("rename")
