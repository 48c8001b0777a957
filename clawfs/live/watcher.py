"""Tell the index which parts of the store changed, quickly and in bounded batches.

The store changes under the mount: claw appends lines, saves by writing a
temp file and renaming it over the session, rotates big files to
`<stem>.rot-<ms>.jsonl`, creates fingerprint directories lazily, and users
delete things (claw-store-format.md §1, §4). SPEC §5 wants all of that
visible within 100 ms with inotify and within 2 s when we must poll. This
module only says *what* changed; the consumer (the index, then the FUSE
adapter's cache invalidation) decides what to do about it. It knows nothing
about FUSE.

Binding: `inotify_simple`. It is tiny, maintained, and has no threads and no
event loop of its own: its fd is opened non-blocking, trio waits on it with
`trio.lowlevel.wait_readable`, and `read(timeout=0)` drains what is queued
(pyfuse3-notes.md, "inotify under trio"). asyncinotify is asyncio-only and
watchdog runs its own threads.

What is watched, and why:

- every store root, and every fingerprint directory directly in it (one per
  workspace; legacy flat files lie in the root itself). claw never looks
  deeper, and other directories in a root are not the store's (scan.py),
  so neither do we.
- for a root that does not exist yet (SPEC §1: "watched and appears when
  created"), its nearest existing ancestor, at most `ancestor_levels` up;
  when the next path component appears the watch moves down, and once the
  root exists it is attached. Roots further away than that, or that cannot
  be watched, are tried again every `poll_interval_s`. (A polled root is
  stat'ed until it exists.)
- only names claw counts as sessions: the extension is exactly `jsonl` or
  `json`. claw's temp files (`x.jsonl.tmp-<ms>-<n>`) and `/clear` backups
  (`x.jsonl.before-clear-<ms>.bak`) are therefore never reported; a save
  shows up as the rename onto the session name, which is what matters.

What the consumer receives, on the trio thread, as `on_changes(batch)`:

- `Change("file", path)`: this entry may have been created, grown,
  rewritten, replaced by a rename (a new inode) or removed. Stat it again.
- `Change("dir", path)`: the entries of this directory may have changed in
  any way, or the directory itself appeared or vanished. List it again and
  re-check every entry directly in it. Not recursive: a fingerprint
  directory that changed inside a root gets its own change. A batch never
  also names, as "file", an entry of a directory it names as "dir".
- `Change("rescan", "")`: events may have been lost (kernel queue overflow,
  a switch to polling) or the periodic safety sweep came round. Rescan every
  root. A batch holding it holds nothing else.

Events are gathered for `coalesce_s` after the first one arrives, so a burst
(1,000 new files, a rotation storm, a long run of appends) becomes one batch
per window, each path named once, and more than `dir_threshold` entries of
one directory collapse into one "dir" change.

Changes are reported from the moment `run` signals it has started (the
watches are in place by then): scan the store *after* that, and nothing can
fall between the scan and the first change. A root added while running is
reported whole ("dir" changes for it and its fingerprint directories) once
its watch or first listing is in place, so whatever its consumer read of
it before is read again then.

Polling: a root on a network or FUSE filesystem (NFS, SMB, sshfs, ...:
host/filesystems.py) is polled every `poll_interval_s` instead, since
inotify never sees what other machines write there, while the other roots
keep inotify. So is every root when inotify cannot be had (`inotify_init1`
fails: ENOSYS, EMFILE, ENFILE) or the watch limit is reached (ENOSPC from
`inotify_add_watch`; one warning is logged), or when polling is forced.
The poller (poller.py) lists only directories whose stat changed and stats
only what those listings name plus the files in use, in a worker thread,
emitting the same `Change` values.
In both modes a safety sweep emits "rescan" every `sweep_interval_s`, so
anything missed (a rename of a root's parent, which inotify does not report
to the root's own watch; an append to an idle session on a polled root) is
caught; the sweep also re-checks every inotify watch against the disk.
A rescan stats every session file, so the consumer tells what one cost
(`pace_sweep`) and the sweep waits long enough for rescans to take at most
SWEEP_DUTY of the time: every 60 s at 20,000 local sessions, every ~100 s
at 100,000, and far less often on a slow file server, where the poller's
directory stats already see everything but an append to an idle session.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal, NamedTuple

import trio
from inotify_simple import INotify, flags

from clawfs.host import filesystems, paths
from clawfs.live.changes import RESCAN as RESCAN
from clawfs.live.changes import Batcher
from clawfs.live.changes import Change as Change
from clawfs.live.poller import HOT_SECONDS, Poller
from clawfs.store.scan import FINGERPRINT_DIR, is_session_name

log = logging.getLogger(__name__)

POLL_SECONDS = 2.0
"""The polling period unless told otherwise (SPEC §7: `--poll-interval`)."""

SWEEP_DUTY = 0.01
"""The share of the time the safety sweep's rescans may take (`sweep_wait`)."""


def sweep_wait(interval_s: float, cost_s: float) -> float:
    """Seconds between safety sweeps: `interval_s`, or longer when a rescan
    costs `cost_s`, so that rescans take at most SWEEP_DUTY of the time."""
    return max(interval_s, cost_s / SWEEP_DUTY)

# Every watch asks for the same events, so a directory that plays two parts
# (a root that is also the ancestor of a missing root) needs one watch only.
_EVENTS = (
    flags.CREATE
    | flags.DELETE
    | flags.MOVED_FROM
    | flags.MOVED_TO
    | flags.CLOSE_WRITE
    | flags.MODIFY  # claw appends a line per message with a plain write
    | flags.ATTRIB
    | flags.DELETE_SELF
    | flags.MOVE_SELF
)
_ARRIVED = flags.CREATE | flags.MOVED_TO
_LEFT = flags.DELETE | flags.MOVED_FROM
# The watched directory itself is gone or no longer at its path.
_SELF_GONE = flags.DELETE_SELF | flags.MOVE_SELF | flags.IGNORED | flags.UNMOUNT


class _Watch(NamedTuple):
    wd: int
    ident: tuple[int, int]  # (st_dev, st_ino) of the directory when watched


class InotifyTree:
    """Turns inotify events into `Change` values, and keeps the watches in line
    with the store. No trio here: the `Watcher` feeds it `read()` results.

    Each watched path plays one or more parts, worked out from the path:
    a root (in `_attached`), a fingerprint directory (its parent is an
    attached root), or the ancestor of roots that do not exist yet (a key
    of `_pending`).
    """

    def __init__(self, inotify: Any, out: Batcher, ancestor_levels: int = 4) -> None:
        self._inotify = inotify
        self._out = out
        self._levels = ancestor_levels
        self._roots: list[str] = []
        self._attached: set[str] = set()
        self._pending: dict[str, set[str]] = {}
        self._unwatched: set[str] = set()  # missing beyond the bound, or unwatchable
        self._watches: dict[str, _Watch] = {}
        self._paths: dict[int, str] = {}
        self._prune_due = False  # a root moved on: some ancestor watch may be unneeded
        self.limit_reached = False

    def fileno(self) -> int:
        return int(self._inotify.fileno())

    def read(self) -> list[Any]:
        """Everything queued now, without blocking."""
        return list(self._inotify.read(timeout=0))

    def close(self) -> None:
        self._inotify.close()

    def add_root(self, root: str, *, announce: bool) -> None:
        """Watch `root` (an absolute path). With `announce`, report what is
        already there as "dir" changes, for roots the consumer has not scanned."""
        if root not in self._roots:
            self._roots.append(root)
            self._attach(root, announce=announce)
            self._prune()

    def handle(self, events: Iterable[Any]) -> None:
        """Apply inotify events (anything with `wd`, `mask`, `name`), in order."""
        for event in events:
            if event.mask & flags.Q_OVERFLOW:
                self.resync()
                self._out.add(RESCAN)
                continue
            path = self._paths.get(event.wd)
            if path is None:
                continue  # a watch already dropped; its last events are stale
            if event.mask & _SELF_GONE:
                self._lost(path)
            else:
                self._entry_event(path, event.name, event.mask)
        self._prune()

    def resync(self) -> None:
        """Bring the watches back in line with the disk after events may have
        been lost: re-check each root's identity and its directories, and try
        the roots that were missing again."""
        for root in list(self._roots):
            watch = self._watches.get(root)
            if root not in self._attached:
                self._attach(root, announce=True)
            elif watch is not None and watch.ident == _ident(root):
                self._sync_children(root, announce=True)
            else:
                self._lost(root)
        self._prune()

    def retry_unwatched(self) -> None:
        """Try again the roots that no watch covers (too far from an existing
        ancestor, or not watchable)."""
        for root in [r for r in self._roots if r in self._unwatched]:
            self._attach(root, announce=True)
        self._prune()

    def _entry_event(self, dir_path: str, name: str, mask: int) -> None:
        path = os.path.join(dir_path, name)
        if mask & _ARRIVED and dir_path in self._pending:
            for root in [r for r in self._pending[dir_path] if _step(dir_path, r) == path]:
                self._attach(root, announce=True)
        if dir_path in self._attached and mask & flags.ISDIR:
            if FINGERPRINT_DIR.fullmatch(name):
                self._fingerprint_dir_event(path, mask)
        elif is_session_name(name) and (
            dir_path in self._attached or os.path.dirname(dir_path) in self._attached
        ):
            self._out.add(Change("file", path))

    def _fingerprint_dir_event(self, path: str, mask: int) -> None:
        self._out.add(Change("dir", path))
        if mask & _LEFT:
            self._lost(path)
        elif mask & _ARRIVED or path not in self._watches:
            # Files created in it before this watch existed raise no event:
            # the "dir" change above makes the consumer list it after the
            # watch is in place, so none is missed.
            self._watch(path, follow=False)

    def _attach(self, root: str, *, announce: bool) -> None:
        """Watch `root`, or else its nearest existing ancestor so that its
        creation is seen."""
        self._forget_root(root)
        target, levels = root, 0
        while not self._watch(target, follow=True):
            parent = os.path.dirname(target)
            if levels == self._levels or parent == target or self.limit_reached:
                self._unwatched.add(root)
                return
            target, levels = parent, levels + 1
        if target == root:
            self._attached.add(root)
            if announce:
                self._out.add(Change("dir", root))
            self._sync_children(root, announce=announce)
            return
        self._pending.setdefault(target, set()).add(root)
        # The next component may have been created before the watch was in
        # place, and its event is then lost: look once more.
        if os.path.isdir(_step(target, root)):
            self._attach(root, announce=announce)

    def _forget_root(self, root: str) -> None:
        self._prune_due = True
        self._attached.discard(root)
        self._unwatched.discard(root)
        for ancestor in [a for a, roots in self._pending.items() if root in roots]:
            self._pending[ancestor].discard(root)
            if not self._pending[ancestor]:
                del self._pending[ancestor]

    def _sync_children(self, root: str, *, announce: bool) -> None:
        """Watch every fingerprint directory in `root` (the only ones the index
        reads) and drop watches of vanished ones."""
        found: set[str] = set()
        for entry in _scandir(root):
            if not FINGERPRINT_DIR.fullmatch(entry.name):
                continue
            try:
                if not entry.is_dir(follow_symlinks=False):
                    continue
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            found.add(entry.path)
            watch = self._watches.get(entry.path)
            if watch is None or watch.ident != (st.st_dev, st.st_ino):
                self._watch(entry.path, follow=False)
                if announce:
                    self._out.add(Change("dir", entry.path))
        for path in [p for p in self._watches if os.path.dirname(p) == root and p not in found]:
            self._lost(path)

    def _lost(self, path: str) -> None:
        """`path` is gone, or no longer names the directory watched there: drop
        its watch and those below it, report them, and re-attach the roots
        that depended on them."""
        stale = [p for p in self._watches if paths.inside(p, path)]
        roots = {r for r in self._attached if paths.inside(r, path)}
        for p in stale:
            if p in self._attached or os.path.dirname(p) in self._attached:
                self._out.add(Change("dir", p))
            roots |= self._pending.get(p, set())
            self._unwatch(p)
        for root in [r for r in self._roots if r in roots]:
            self._attach(root, announce=True)

    def _watch(self, path: str, *, follow: bool) -> bool:
        """Watch the directory `path`. False when it is missing, not a directory,
        not watchable, or the watch limit is reached. A fingerprint directory
        that is a symlink is not followed (SPEC §6), a root may be one."""
        mask = _EVENTS | flags.ONLYDIR | (0 if follow else flags.DONT_FOLLOW)
        try:
            wd = int(self._inotify.add_watch(path, mask))
            st = os.stat(path, follow_symlinks=follow)
        except OSError as e:
            if e.errno == errno.ENOSPC:
                self.limit_reached = True
            elif e.errno not in (errno.ENOENT, errno.ENOTDIR):
                log.debug("cannot watch %s: %s", path, e.strerror)
            return False
        previous = self._watches.get(path)
        if previous is not None and previous.wd != wd:
            self._unwatch(path)  # a new directory under the same name
        old_path = self._paths.get(wd)
        if old_path is not None and old_path != path:
            del self._watches[old_path]  # the same directory under a new name
        self._paths[wd] = path
        self._watches[path] = _Watch(wd, (st.st_dev, st.st_ino))
        return True

    def _unwatch(self, path: str) -> None:
        watch = self._watches.pop(path)
        self._paths.pop(watch.wd, None)
        try:
            self._inotify.rm_watch(watch.wd)
        except OSError:
            pass  # the kernel already dropped it with its directory

    def _prune(self) -> None:
        """Drop ancestor watches no root waits on any more. It walks every
        watch, so only after a root was (re)attached, not on every batch."""
        if not self._prune_due:
            return
        self._prune_due = False
        for path in [p for p in self._watches if not self._needed(p)]:
            self._unwatch(path)

    def _needed(self, path: str) -> bool:
        return (
            path in self._attached
            or os.path.dirname(path) in self._attached
            or path in self._pending
        )


def _step(ancestor: str, root: str) -> str:
    """The child of `ancestor` on the way down to `root`."""
    first = os.path.relpath(root, ancestor).split(os.sep)[0]
    return os.path.join(ancestor, first)


def _ident(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _scandir(path: str) -> Iterator[os.DirEntry[str]]:
    """Entries of `path`; none when it is missing or unreadable (the index
    logs unreadable directories, the watcher need not)."""
    try:
        with os.scandir(path) as entries:
            yield from entries
    except OSError:
        return


PollReason = Callable[[str], str | None]
"""Why a root must be polled (the kind of shared filesystem it is on), or
None for a root inotify can watch: `filesystems.shared_kind` in a mount."""


class Watcher:
    """Watches store roots and hands batches of `Change` to `on_changes`.

    Run it in a nursery: `await nursery.start(watcher.run)` returns once the
    watches are in place and the polled roots' first listing is taken. Each
    root is watched with inotify unless `poll_reason` names a reason to poll
    it (a network or FUSE filesystem), `force_polling` is set, or inotify
    cannot be had; the others keep inotify in the same watcher.
    `on_changes` is called on the trio thread and should not block for long:
    events keep queuing in the kernel meanwhile (an overflow becomes a
    "rescan"). An exception from it is logged, and the next sweep repairs
    what was lost. `add_root` and `close` are to be called on the trio
    thread too.

    Roots are made absolute (`os.path.abspath`, symlinks kept), and every
    path in a change is that root joined with entry names, so the consumer
    can key on the same strings. `mode` says "inotify", "polling" or
    "inotify+polling" once running (freshness is 100 ms vs 2 s), `polled()`
    which roots are polled. Parameters: `coalesce_s` is the gathering
    window after a first event; `poll_interval_s` the polling period, also
    how often roots inotify cannot reach yet are retried; `sweep_interval_s`
    the safety rescan period; `dir_threshold` how many entries of one
    directory a batch names before naming the directory instead;
    `ancestor_levels` how far above a missing root a watch may sit; `hot_s`
    how long a polled file stays hot (poller.py).
    """

    def __init__(
        self,
        roots: Iterable[str | os.PathLike[str]],
        on_changes: Callable[[list[Change]], None],
        *,
        coalesce_s: float = 0.005,
        poll_interval_s: float = POLL_SECONDS,
        sweep_interval_s: float = 60.0,
        force_polling: bool = False,
        poll_reason: PollReason = filesystems.shared_kind,
        dir_threshold: int = 128,
        ancestor_levels: int = 4,
        hot_s: float = HOT_SECONDS,
    ) -> None:
        self._on_changes = on_changes
        self._coalesce_s = coalesce_s
        self._poll_s = poll_interval_s
        self._sweep_s = sweep_interval_s
        self._sweep_cost_s = 0.0
        self._force_polling = force_polling
        self._poll_reason = poll_reason
        self._levels = ancestor_levels
        self._batcher = Batcher(dir_threshold)
        self._poller = Poller(hot_s)
        self._poll_limiter = trio.CapacityLimiter(1)
        self._tree: InotifyTree | None = None
        self._armed: tuple[list[str], dict[str, str | None], InotifyTree | None] | None = None
        """What `arm` set up (its roots, why each is polled, the tree), for `run`."""
        self._watched: list[str] = []
        """Roots given to inotify."""
        self._scope: trio.CancelScope | None = None
        self._nursery: trio.Nursery | None = None
        self._closed = False
        self.mode: Literal["inotify", "polling", "inotify+polling"] | None = None
        self._roots: list[str] = []
        for root in roots:
            self.add_root(root)

    def add_root(self, path: str | os.PathLike[str]) -> None:
        """Watch one more root from now on. Before `run`, nothing is reported
        for what it already holds (scan it after `run` started); once
        running, the root and its fingerprint directories are reported as
        "dir" changes as soon as it is watched (where it lies on is found
        out in a worker thread first, which may take a moment)."""
        root = os.path.abspath(os.fspath(path))
        if root in self._roots:
            return
        self._roots.append(root)
        if self._nursery is not None:
            self._nursery.start_soon(self._route, root)

    def polled(self) -> list[str]:
        """The roots that are polled."""
        return self._poller.roots()

    def arm(self) -> None:
        """Put the inotify watches in place now, before trio runs (blocking:
        statfs of each root), for `run` to take over.

        From here on the kernel queues every change to the roots so watched,
        and `run` reports what was queued, so a consumer that scans the store
        after `arm` misses nothing written between its scan and `run`, and
        needs no rescan to catch up (`armed_for_all`). A mount arms its
        watcher before its scan: the daemon forks in between, and inherits
        the inotify descriptor with what the kernel queued on it (an
        overflow becomes a "rescan", as ever). Polled roots take their first
        listing in `run`, as they do without `arm`.
        """
        if self._armed is not None or self._closed:
            return
        roots = list(self._roots)
        reasons = self._reasons(roots)
        tree = self._open_tree([root for root in roots if reasons[root] is None])
        self._armed = (roots, reasons, tree)

    @property
    def armed_for_all(self) -> bool:
        """Once `run` started: every root is watched by inotify since `arm`
        (none polled, inotify not given up), so nothing that changed since
        then can go unreported."""
        armed = self._armed
        return (armed is not None and armed[2] is not None and self._tree is armed[2]
                and not self.polled())

    def pace_sweep(self, cost_s: float) -> None:
        """A rescan took `cost_s` seconds: the safety sweep waits in
        proportion from now on (`sweep_wait`). Called by the consumer, which
        does the rescan's work, on the trio thread."""
        self._sweep_cost_s = cost_s

    def close(self) -> None:
        """Stop `run` (it returns normally) and release the inotify fd."""
        self._closed = True
        if self._scope is not None:
            self._scope.cancel()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with trio.CancelScope() as self._scope:
            if self._closed:
                if self._armed is not None and self._armed[2] is not None:
                    self._armed[2].close()
                task_status.started()
                return
            if self._armed is not None:
                roots, reasons, tree = self._armed
            else:
                roots = list(self._roots)
                reasons = await trio.to_thread.run_sync(self._reasons, roots)
                # also without local roots: some may be added
                tree = self._open_tree([root for root in roots if reasons[root] is None])
            local = [root for root in roots if reasons[root] is None]
            for root in roots:
                if tree is None or reasons[root] is not None:
                    self._poll(root, reasons[root], announce=False)
            self._tree = tree
            self._watched = local if tree is not None else []
            self._set_mode()
            await self._poll_once()  # the first listing: nothing to report yet
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                task_status.started()
                for root in self._roots[len(roots):]:  # added while starting
                    nursery.start_soon(self._route, root)
                nursery.start_soon(self._poll_loop)
                nursery.start_soon(self._sweep_loop)
                if tree is not None:
                    await self._inotify(tree)

    def _reasons(self, roots: list[str]) -> dict[str, str | None]:
        """Why each root is polled, None for those inotify can watch (blocking:
        statfs may wait for a file server)."""
        return {root: self._reason(root) for root in roots}

    def _reason(self, root: str) -> str | None:
        if self._force_polling:
            return "polling is forced"
        kind = self._poll_reason(root)
        if kind is None:
            return None
        return f"it is on {kind}, where inotify does not see other machines' writes"

    async def _route(self, root: str) -> None:
        """Watch a root added while running, by inotify or by polling."""
        reason = await trio.to_thread.run_sync(self._reason, root)
        if reason is None and self._tree is not None:
            self._tree.add_root(root, announce=True)
            self._watched.append(root)
            self._flush()
        else:
            self._poll(root, reason, announce=True)
        self._set_mode()

    def _poll(self, root: str, reason: str | None, *, announce: bool) -> None:
        if reason is not None and not self._force_polling:
            log.info("polling %s every %.1f s: %s", root, self._poll_s, reason)
        self._poller.add_root(root, announce=announce)

    def _set_mode(self) -> None:
        if not self.polled():
            self.mode = "inotify"
        elif self._watched:
            self.mode = "inotify+polling"
        else:
            self.mode = "polling"

    def _open_tree(self, roots: list[str]) -> InotifyTree | None:
        if self._force_polling:
            return None
        try:
            inotify = INotify(nonblocking=True)
        except OSError as e:
            self._fall_back(f"inotify unavailable ({e.strerror or e})")
            return None
        tree = InotifyTree(inotify, self._batcher, self._levels)
        for root in roots:
            tree.add_root(root, announce=False)
        if tree.limit_reached:
            tree.close()
            self._batcher.take()
            self._fall_back("inotify watch limit reached (fs.inotify.max_user_watches)")
            return None
        return tree

    def _fall_back(self, reason: str) -> None:
        log.warning("%s: polling the store every %.1f s instead", reason, self._poll_s)

    async def _inotify(self, tree: InotifyTree) -> None:
        """Follow inotify until the watch limit is reached, then poll its roots."""
        try:
            await self._inotify_loop(tree)
        finally:
            self._tree = None
            tree.close()
        self._fall_back("inotify watch limit reached (fs.inotify.max_user_watches)")
        for root in self._watched:
            self._poller.add_root(root, announce=False)
        self._watched = []
        self._set_mode()
        await self._poll_once()  # the first listing of those roots, before the rescan
        self._batcher.add(RESCAN)  # what changed during the switch is unknown
        self._flush()

    async def _inotify_loop(self, tree: InotifyTree) -> None:
        """Until the watch limit is reached: wait for events, let a burst
        gather for `coalesce_s`, handle it, deliver one batch."""
        next_retry = trio.current_time() + self._poll_s
        while not tree.limit_reached:
            with trio.move_on_at(next_retry):
                await trio.lowlevel.wait_readable(tree.fileno())
                await trio.sleep(self._coalesce_s)
                tree.handle(tree.read())
            if trio.current_time() >= next_retry:
                tree.retry_unwatched()
                next_retry = trio.current_time() + self._poll_s
            self._flush()

    async def _poll_loop(self) -> None:
        while True:
            await trio.sleep(self._poll_s)
            if self.polled():
                await self._poll_once()
                self._flush()

    async def _poll_once(self) -> None:
        """One poll in a worker thread (one at a time), its changes gathered."""
        changes = await trio.to_thread.run_sync(self._poller.poll, limiter=self._poll_limiter)
        for change in changes:
            self._batcher.add(change)

    async def _sweep_loop(self) -> None:
        """The safety sweep: every `sweep_interval_s` (or longer, `pace_sweep`),
        re-check the watches against the disk and have the consumer rescan
        everything. The pace is read after the first wait: the rescan that
        the last sweep asked for has been timed by then."""
        while True:
            await trio.sleep(self._sweep_s)
            await trio.sleep(sweep_wait(self._sweep_s, self._sweep_cost_s) - self._sweep_s)
            if self._tree is not None:
                self._tree.resync()
            self._batcher.add(RESCAN)
            self._flush()

    def _flush(self) -> None:
        if not self._batcher:
            return
        batch = self._batcher.take()
        try:
            self._on_changes(batch)
        except Exception:
            log.exception("the consumer of %d store changes failed", len(batch))
