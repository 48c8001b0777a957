"""Discovery wired to the commands: which starts, what is remembered, when to walk.

`store/discover.py` knows how to walk and `statefile.py` how to remember;
this module decides how the commands use them (SPEC §1):

- Starts: each `--discover DIR`, else the home directory; none under
  `--no-discover`. Depth: `--discover-depth`, else `discover.DEFAULT_DEPTH`.
  Every walk is also bounded in time (`WALK_SECONDS`).
- `clawfs tree` and `clawfs workspaces` walk once, synchronously
  (`discover_now`), and show the remembered stores that walk confirms.
- A mount shows the remembered stores at once (`with_remembered`, indexed
  before the mount counts as ready) and walks in the background
  (`Rediscovery`): once at mount time, then again every
  `CLAWFS_DISCOVER_INTERVAL` seconds (default `DEFAULT_INTERVAL`, 10
  minutes; 0 walks only once). The periodic walk is how a project store
  created after the mount appears: it is cheap (a warm walk of 100,000
  directories takes about half a second) where an inotify watch on every
  directory of a home would cost a watch per directory and hit the
  per-user watch limit. When nothing was remembered, `mount` waits for the
  first walk up to `FIRST_WALK_WAIT` seconds so a first `cat latest` is
  already right.
- Each finished walk replaces what is remembered for its starts, so a
  store that was deleted (or moved into a skipped tree) is forgotten and
  the next mount no longer shows it; a walk cut short only adds.

The mountpoint is never walked: it is excluded by path (the walk never
even stats it), and so is every FUSE mount on the machine (another
clawfs or sshfs mount may hang; they are other filesystems anyway, so
skipping them changes no result).
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import trio

from clawfs.host.dirs import home
from clawfs.host.mounts import mount_table
from clawfs.host.paths import inside, overlap
from clawfs.store import discover, statefile
from clawfs.store.roots import Root, RootKind, add_unique, global_root_path, make_root

log = logging.getLogger(__name__)

WALK_SECONDS = 30.0
"""The most one walk may take; a walk cut short keeps what it found."""

FIRST_WALK_WAIT = 3.0
"""How long `mount` waits for the first walk when nothing is remembered."""

DEFAULT_INTERVAL = 600.0
"""Seconds between two background walks of a mount."""

INTERVAL_ENV = "CLAWFS_DISCOVER_INTERVAL"


@dataclass(frozen=True)
class Settings:
    """Where and how far discovery looks."""

    starts: list[str]
    depth: int = discover.DEFAULT_DEPTH
    exclude: list[str] = field(default_factory=list)
    """Real paths never entered (the mountpoint, FUSE mounts)."""
    known: list[str] = field(default_factory=list)
    """Stores served anyway (the global root): not reported as discovered."""
    walk_seconds: float = WALK_SECONDS
    interval: float = DEFAULT_INTERVAL
    state_file: Path | None = None
    """None: `statefile.default_path()`."""


def settings_from_args(
    args: object,
    *,
    mountpoint: str | None = None,
    environ: Mapping[str, str] = os.environ,
) -> Settings | None:
    """Discovery settings from parsed store options; None under `--no-discover`.

    `mountpoint` must be a real path computed before mounting: it is
    excluded as given, never resolved again.
    """
    if getattr(args, "no_discover", False):
        return None
    dirs = list(getattr(args, "discover_dirs", None) or [])
    starts = [os.path.abspath(os.path.expanduser(d)) for d in dirs] or [home(environ)]
    depth = getattr(args, "discover_depth", None)
    exclude = fuse_mountpoints()
    if mountpoint is not None:
        exclude.append(mountpoint)
        # Resolving a start inside the mount would already ask the mount.
        # A start that holds the mount is fine: the walk leaves it out.
        for start in [s for s in starts if inside(s, mountpoint)]:
            log.warning("discovery: not walking %s: it is inside the mountpoint", start)
            starts.remove(start)
    return Settings(
        starts=starts,
        depth=discover.DEFAULT_DEPTH if depth is None else int(depth),
        exclude=exclude,
        known=[os.path.realpath(global_root_path(environ))],
        interval=_interval(environ),
    )


def _interval(environ: Mapping[str, str]) -> float:
    text = environ.get(INTERVAL_ENV, "")
    if not text:
        return DEFAULT_INTERVAL
    try:
        value = float(text)
    except ValueError:
        log.warning("discovery: ignoring %s=%r (not a number of seconds)", INTERVAL_ENV, text)
        return DEFAULT_INTERVAL
    return max(value, 0.0)


def fuse_mountpoints() -> list[str]:
    """Every FUSE mountpoint on the machine: the walk must not even stat them."""
    try:
        return [e.mountpoint for e in mount_table() if e.fstype.startswith("fuse")]
    except OSError:
        return []


def with_remembered(
    roots: list[Root], paths: Iterable[str], *, exclude: Iterable[str] = ()
) -> list[Root]:
    """`roots` followed by the discovered stores `paths`, last in precedence.

    A store already among `roots` (given explicitly, say) keeps its place:
    roots are deduplicated by real path. A store inside an excluded path,
    or holding one, is left out: indexing it would crawl the mount.
    """
    merged = list(roots)
    fences = list(exclude)
    for path in paths:
        if overlaps(path, fences):
            log.warning("discovery: leaving out %s: it overlaps the mountpoint", path)
            continue
        add_unique(merged, make_root(path, RootKind.DISCOVERED, len(merged)))
    return merged


def overlaps(path: str, fences: Iterable[str]) -> bool:
    """`path` is one of `fences`, inside one, or holds one (real paths)."""
    return any(overlap(path, fence) for fence in fences)


def discover_now(roots: list[Root], settings: Settings | None) -> list[Root]:
    """Walk once, remember the answer, and return `roots` plus what is known.

    For `clawfs tree` and `clawfs workspaces`: the same starts and bounds as
    a mount's walk, and the same memory, so a walk cut short still shows
    the stores an earlier walk found.
    """
    if settings is None:
        return roots
    remembered = statefile.load(settings.state_file)
    walker = _walker(settings, on_found=None).start()
    walker.wait()
    if walker.result is not None:
        _remember(remembered, walker.result, settings)
    return with_remembered(
        roots, remembered.roots_for(settings.starts), exclude=settings.exclude
    )


def _walker(settings: Settings, on_found: Callable[[str], None] | None) -> discover.Walker:
    return discover.Walker(
        settings.starts,
        max_depth=settings.depth,
        exclude=settings.exclude,
        known=settings.known,
        deadline=time.monotonic() + settings.walk_seconds,
        on_found=on_found,
    )


def _remember(
    remembered: statefile.Remembered, result: discover.DiscoveryResult, settings: Settings
) -> None:
    before = set(remembered.roots_for(settings.starts))
    remembered.update(result.found_under, result.finished)
    for gone in sorted(before - set(remembered.roots_for(settings.starts))):
        log.info("discovery: forgetting %s (no longer found)", gone)
    statefile.save(remembered, settings.state_file)


class Rediscovery:
    """A mount's discovery: a walk now, then one every `settings.interval` seconds.

    Runs in one daemon thread (start it after the daemon forked: no thread
    may exist before). Each new store goes to `add_root` from that thread,
    as soon as it is seen; `add_root` must be thread-safe and index the
    store before it returns, so that `wait_first()` returning True means
    every store of the first walk is served.
    """

    def __init__(
        self,
        settings: Settings,
        remembered: statefile.Remembered,
        add_root: Callable[[str], object],
        served: Iterable[str] = (),
    ) -> None:
        self.settings = settings
        self.remembered = remembered
        self.add_root = add_root
        self.walks = 0
        self._served = set(served)
        self._stop = threading.Event()
        self._first = threading.Event()
        self._walker: discover.Walker | None = None
        self._thread = threading.Thread(target=self._run, name="clawfs-rediscover", daemon=True)

    def start(self) -> Rediscovery:
        self._thread.start()
        return self

    def wait_first(self, timeout: float | None = None) -> bool:
        """Block until the first walk ended (True) or `timeout` passed (False)."""
        return self._first.wait(timeout)

    def stop(self) -> None:
        """End the walks (the current one within one directory)."""
        self._stop.set()
        walker = self._walker
        if walker is not None:
            walker.stop()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._walk_once()
                self._first.set()
                if self.settings.interval <= 0 or self._stop.wait(self.settings.interval):
                    break
        finally:
            self._first.set()

    def _walk_once(self) -> None:
        walker = self._walker = _walker(self.settings, on_found=self._found)
        walker.start()
        walker.wait()
        self.walks += 1
        if walker.result is not None and not self._stop.is_set():
            _remember(self.remembered, walker.result, self.settings)

    def _found(self, path: str) -> None:
        if path in self._served:
            return
        if overlaps(path, self.settings.exclude):
            log.warning("discovery: leaving out %s: it overlaps the mountpoint", path)
            return
        self._served.add(path)
        try:
            self.add_root(path)
        except Exception:  # one bad store must not end discovery
            log.exception("discovery: cannot add %s", path)


async def wait_for_first_walk(rediscovery: Rediscovery, timeout: float = FIRST_WALK_WAIT) -> None:
    """A mount's startup task when nothing was remembered (see the module docstring).

    Requests are served meanwhile; only the ready signal waits.
    """
    began = time.monotonic()
    done = await trio.to_thread.run_sync(rediscovery.wait_first, timeout, abandon_on_cancel=True)
    waited = time.monotonic() - began
    if done:
        log.info("discovery: first walk done after %.2f s", waited)
    else:
        log.info("discovery: first walk still going after %.1f s; ready anyway", waited)


class MountDiscovery:
    """What `clawfs mount` does with discovery, in the order it needs it.

    `roots` (before indexing): the given roots plus the remembered stores.
    `start(add_root)` (after the daemon forked): the background walks, and
    the startup task that holds the ready signal for a first walk when
    nothing was remembered (None otherwise). `stop()` on the way out.
    Without discovery (`--no-discover`) every step does nothing.
    """

    def __init__(self, args: object, mountpoint: str, roots: list[Root]) -> None:
        self.settings = settings_from_args(args, mountpoint=mountpoint)
        self.remembered = statefile.Remembered()
        self.roots = roots
        if self.settings is not None:
            self.remembered = statefile.load(self.settings.state_file)
            known = self.remembered.roots_for(self.settings.starts)
            self.roots = with_remembered(roots, known, exclude=self.settings.exclude)
            log.info("discovery: %d store(s) remembered", len(self.roots) - len(roots))
        self.rediscovery: Rediscovery | None = None

    def start(
        self, add_root: Callable[[str], object]
    ) -> Callable[[], Awaitable[None]] | None:
        if self.settings is None:
            return None
        walked = self.remembered.walked(self.settings.starts)  # before the walk adds to it
        self.rediscovery = Rediscovery(
            self.settings, self.remembered, add_root, [r.realpath for r in self.roots]
        ).start()
        if walked:
            return None
        return functools.partial(wait_for_first_walk, self.rediscovery)

    def stop(self) -> None:
        if self.rediscovery is not None:
            self.rediscovery.stop()
