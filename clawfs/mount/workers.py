"""What the adapter runs in a worker thread, and in which pool.

All handlers run on the one trio thread, and a request that waits there
holds up every other one (pyfuse3 notes). So whatever may load whole
files (xattrs of a version not loaded yet, index.tsv, forks, the checks
after a store change) runs in a worker thread, each kind in its own pool
so that one kind never waits behind another; and what the index derives
once per state of a workspace runs there the first time a request needs
it at that state (`view_call`), then comes from the index's caches on the
request thread, since a hop to a worker thread (~50 us) costs more than a
whole request (~30 us).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, TypeVarTuple

import trio

from clawfs.mount import render
from clawfs.mount.privacy import Viewer
from clawfs.mount.view import Derived, Entry, Key, View, derived

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

R = TypeVar("R")
Ts = TypeVarTuple("Ts")

_NEVER = object()


class Workers:
    """The adapter's worker-thread pools over `view` (see the module docstring)."""

    def __init__(self, view: View) -> None:
        self.view = view
        self.loads = trio.CapacityLimiter(LOAD_THREADS)
        self.generate = trio.CapacityLimiter(GENERATE_THREADS)
        self.refresh = trio.CapacityLimiter(REFRESH_THREADS)
        self._views = trio.CapacityLimiter(VIEW_THREADS)
        self._computed: dict[Derived, object] = {}
        """What was computed in a worker thread, and at which `View.stamp`."""

    async def run(
        self, call: Callable[[*Ts], R], *args: *Ts, limiter: trio.CapacityLimiter | None = None
    ) -> R:
        """Run a call that may load whole files (xattrs, index.tsv, fork)
        in a worker thread, so a 10 MB load does not stall every other request
        (handlers share the one trio thread). The index locks only to commit.
        """
        return await trio.to_thread.run_sync(call, *args, limiter=limiter or self.loads)

    async def view_call(
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
            return await self.run(call, limiter=self._views)
        stamp = self.view.stamp(key)
        if self._computed.get(need, _NEVER) == stamp:
            return call()
        result = await self.run(call, limiter=self._views)
        self._computed[need] = stamp
        return result

    async def xattr(self, entry: Entry, name: str, who: Viewer | None) -> bytes | None:
        """The value of `entry`'s xattr `name` (None: it has none such).
        The backing file's path needs no load (`claw --resume` asks for it)."""
        if name == render.PATH_XATTR:
            return render.xattr(self.view.index, entry, name, who)
        return (await self.xattrs(entry, who)).get(name)

    async def xattrs(self, entry: Entry, who: Viewer | None) -> dict[str, bytes]:
        """The xattrs of `entry`: on the trio thread when the index has
        the file's load cached (`getfattr -d` asks list + one get per name,
        and those must not each queue for a worker thread), else from a
        worker thread, since the first ask for a version needs a load."""
        cached = render.cached_xattrs(self.view.index, entry, who)
        if cached is not None:
            return cached
        return await self.run(render.xattrs, self.view.index, entry, who)
