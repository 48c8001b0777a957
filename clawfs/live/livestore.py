"""Keep a mounted store live: watcher -> index updates -> kernel cache invalidations.

The index is built before the daemon forks (no thread may exist before
that), and the watcher can only run once trio does, so whatever changed in
between must still be seen. A mount arms the watcher before it scans
(`arm`: the inotify watches are in place, the kernel queues what changes,
and the daemon reads the queue once it runs), so nothing falls between its
scan and the watcher. Where that does not cover everything (a root that is
polled, no inotify, or a watcher not armed before the scan) one rescan
right after the watches are in place catches up (it reuses every entry
whose stat did not change: 100,000 stats at 100,000 sessions, ~2.5 s of a
daemon's CPU). From then on every batch of `Change` from the watcher
is applied to the index in a worker thread (a burst of 1,000 files or a
rotation storm must never stall the trio thread that serves requests), and
what the index says changed goes to `on_changed`, which tells the kernel
(mount/fuse_ops.py `Operations.refresh_kernel`).

Batches that arrive while one is being applied are merged into the next
one (`Batcher` again, so many entries of one directory become one listing
of it), and only one batch is applied at a time: a storm costs a few
bounded refreshes, never a rebuild per event.

`add_root` makes a store root live at runtime (discovery calls it from its
own thread): the root is handed to the watcher, indexed, and the kernel
told; once the watcher has it in place (by inotify, or polled when it lies
on a network or FUSE filesystem) it reports the root whole, so nothing
written meanwhile is missed.

No FUSE here: `on_changed` is whatever the mount wants done after a change.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, Mapping

import trio

from clawfs.live.changes import RESCAN, Batcher, Change
from clawfs.live.watcher import POLL_SECONDS, Watcher
from clawfs.store.index import StoreIndex
from clawfs.store.records import Touched
from clawfs.store.roots import Root

log = logging.getLogger(__name__)

FORCE_POLLING_ENV = "CLAWFS_FORCE_POLLING"
"""Set to 1 to poll the store instead of using inotify. For tests of the
fallback (the mount falls back by itself when inotify is not available)."""

SWEEP_SECONDS = 60.0
"""The safety sweep: a full (stat-only) rescan this often, in case an event
was lost in a way inotify does not report (a root's parent renamed)."""

LOAD_SWEEP_DELAY = 2.0
"""Seconds after the mount is up before the first load sweep starts, so the
first requests (a `cat latest` right after `mount`) do not share the GIL."""

LOAD_SWEEP_DUTY = 0.5
"""Share of a core the load sweep may take (it rests as long as it works)."""

Changes = Mapping[str, Touched] | None
"""What changed, per workspace (the index's `take_changes`); None: anything."""

OnChanged = Callable[[Changes], Awaitable[None]]
"""Called on the trio thread after the index changed, with what changed."""


def force_polling_from_env() -> bool:
    return os.environ.get(FORCE_POLLING_ENV, "") not in ("", "0")


class LiveStore:
    """Watches the index's roots and applies what changes (module docstring).

    Run `run` in the mount's nursery. `add_root` may be called from any
    thread, before or after `run` started.
    """

    def __init__(
        self,
        index: StoreIndex,
        on_changed: OnChanged,
        *,
        force_polling: bool = False,
        poll_interval_s: float = POLL_SECONDS,
        sweep_interval_s: float = SWEEP_SECONDS,
    ) -> None:
        self.index = index
        self._on_changed = on_changed
        self._sweep_interval_s = sweep_interval_s
        self._lock = threading.Lock()
        self._token: trio.lowlevel.TrioToken | None = None
        self._pending = Batcher()
        self._wakeup = trio.Event()
        self._limiter = trio.CapacityLimiter(1)
        self._nursery: trio.Nursery | None = None
        self.started = trio.Event()
        """Set once the watches are in place (changes are seen from then on)."""
        if force_polling:
            log.info("polling the store every %.1f s (%s is set)", poll_interval_s,
                     FORCE_POLLING_ENV)
        self.watcher = Watcher(
            [root.path for root in index.roots],
            self._on_changes,
            poll_interval_s=poll_interval_s,
            sweep_interval_s=sweep_interval_s,
            force_polling=force_polling,
        )

    def arm(self) -> None:
        """Put the watches in place now (blocking; before trio runs), before
        the index's first scan: then what changes after the scan is reported
        by the watcher, and `run` needs no rescan for the roots inotify
        watches (watcher.py `Watcher.arm`). Call it before `index.scan()`;
        armed after a scan, a change between the two would be missed."""
        self.watcher.arm()

    # --- roots added at runtime --------------------------------------------------

    def add_root(self, root: Root | str) -> None:
        """Serve one more store root from now on; callable from any thread.

        From a thread other than the trio thread it returns once the root
        is indexed and the kernel told (discovery relies on that). On the
        trio thread it only starts that work. A path is taken as a
        discovered root; a root already served is ignored.
        """
        path = root if isinstance(root, str) else root.path
        with self._lock:
            token = self._token
            if token is None:  # trio is not running yet: the watcher starts later
                self.watcher.add_root(path)
        if token is None:
            self.index.add_root(root)  # the first rescan covers what changed since
            return
        if _on_trio_thread(token):
            self.watcher.add_root(path)
            if self._nursery is not None:
                self._nursery.start_soon(self._index_root, root)
            return
        try:
            trio.from_thread.run_sync(self.watcher.add_root, path, trio_token=token)
            self.index.add_root(root)
            trio.from_thread.run(self._tell, self.index.take_changes(), trio_token=token)
        except trio.RunFinishedError:
            return  # unmounting

    async def _index_root(self, root: Root | str) -> None:
        try:
            await trio.to_thread.run_sync(self.index.add_root, root, limiter=self._limiter)
        except Exception:
            log.exception("cannot index the store root %s", root)
            return
        await self._tell(self.index.take_changes())

    # --- the loop -------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Watch, then rescan once unless the watcher was armed for every
        root before the scan (`arm`), then apply batches until cancelled.

        A failure here is logged and ends only the following, never the
        mount (a stale mount beats a dead one); `started` is set either way,
        so nothing waits for it forever.
        """
        with self._lock:
            self._token = trio.lowlevel.current_trio_token()
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                await nursery.start(self.watcher.run)
                log.info("watching the store (%s)", self.watcher.mode)
                self.started.set()
                task_status.started()
                if not self.watcher.armed_for_all:
                    self._on_changes([RESCAN])  # what changed since the index was built
                nursery.start_soon(self._load_sweep_loop)
                await self._apply_loop()
        except Exception:
            log.exception("the store watcher stopped: the mount no longer follows the store")
        finally:
            self._nursery = None
            self.started.set()

    def _on_changes(self, batch: list[Change]) -> None:
        """The watcher's consumer: queue the batch (on the trio thread, no work)."""
        for change in batch:
            self._pending.add(change)
        self._wakeup.set()

    async def _apply_loop(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup = trio.Event()
            batch = self._pending.take()
            if not batch:
                continue
            try:
                took = await trio.to_thread.run_sync(
                    _timed, self.index.apply, batch, limiter=self._limiter
                )
            except Exception:
                log.exception("applying %d store change(s) failed", len(batch))
                continue  # the next sweep repairs it
            if RESCAN in batch:  # what the safety sweep costs paces it (watcher.py)
                log.debug("a rescan of the store took %.2f s", took)
                self.watcher.pace_sweep(took)
            await self._tell(self.index.take_changes())

    async def _load_sweep_loop(self) -> None:
        """Load, in the background, every file the index knows only by its
        head (SPEC §7): a head can understate (claw lets the *last* meta line
        win), and only a load shows it. What the sweep re-places re-points
        the aliases. Later sweeps only load files that arrived or changed
        since, so they are cheap.
        """
        stop = threading.Event()
        try:
            await trio.sleep(LOAD_SWEEP_DELAY)
            while True:
                fixed = await trio.to_thread.run_sync(
                    functools.partial(self.index.sweep, stop, duty=LOAD_SWEEP_DUTY),
                    abandon_on_cancel=True,
                )
                if fixed:
                    log.info("background sweep: %d session(s) re-placed by their load", fixed)
                    await self._tell(self.index.take_changes())
                await trio.sleep(self._sweep_interval_s)
        except Exception:
            log.exception("the background load sweep failed; heads stay as they are")
        finally:
            stop.set()

    async def _tell(self, changes: Changes) -> None:
        try:
            await self._on_changed(changes)
        except Exception:
            log.exception("updating the kernel's caches failed")


def _timed(work: Callable[[list[Change]], object], batch: list[Change]) -> float:
    """Do `work` on `batch`; the seconds it took (in its worker thread, not
    counting the wait for the limiter)."""
    began = time.monotonic()
    work(batch)
    return time.monotonic() - began


def _on_trio_thread(token: trio.lowlevel.TrioToken) -> bool:
    try:
        return trio.lowlevel.current_trio_token() is token
    except RuntimeError:
        return False
