"""Find claw's project stores by walking directories.

claw writes each workspace's sessions into that workspace
(`<project>/.claw/sessions/<fp>/`), so the global `~/.claw/sessions` is
nearly always empty and a mount of "all my sessions" has to look for the
project stores itself (SPEC §1).

The walk is breadth-first, so shallow projects (the likely real ones) are
found first and a deadline cuts off the deep end, not a random subtree. It
is bounded on purpose: a home directory can hold millions of directories,
nearly all of them in trees no one runs claw in. It never follows a
symlink, never leaves the start's filesystem, and never enters an excluded
path (the mountpoint: a walk into our own mount would ask the daemon that
runs the walk). It knows nothing about FUSE or the index: it reports real
paths of `.claw/sessions` directories and the caller decides what to do.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from collections import deque
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from clawfs.host import paths

log = logging.getLogger(__name__)

DEFAULT_DEPTH = 4
"""Levels below a start that are still searched: `~/a/b/c/d/.claw/sessions`."""

HEAVY_NAMES = frozenset(
    {
        "node_modules",
        "bower_components",
        "__pycache__",
        "site-packages",
        "dist-packages",
        "venv",
        "target",
        "build",
        "dist",
    }
)
"""Directory names that hold dependencies or build output, not projects.

`out` is left out on purpose: it is an ordinary English word people name
real directories with, and a build's `out/` costs little under the depth
bound. Hidden directories (`.git`, `.venv`, `.tox`, `.cache` ...) are
skipped by their leading dot, virtualenvs of any name by their
`pyvenv.cfg`.
"""

CLAW_DIR = ".claw"
"""The one hidden name the walk looks into, and only for `sessions`."""

VENV_MARKER = "pyvenv.cfg"

PROGRESS_EVERY = 1024
"""Directories between two `on_progress` calls."""


class Entry(Protocol):
    """What `skip_reason` needs of an `os.DirEntry` (tests pass fakes)."""

    @property
    def name(self) -> str: ...

    @property
    def path(self) -> str: ...

    def stat(self, *, follow_symlinks: bool = True) -> os.stat_result: ...


def skip_reason(entry: Entry, *, device: int, exclude: Container[str]) -> str | None:
    """Why the walk must not enter the directory `entry`; None to enter it.

    The rules, cheapest first so most skips cost no system call:
    hidden (any leading dot: `.git`, `.venv`, `.cache`; `.claw` itself is
    only looked into by the walk, never walked), a heavy name
    (`HEAVY_NAMES`), an excluded path (the mountpoint: checked before any
    stat so the walk never touches it), and another filesystem than the
    start's (`st_dev`: network mounts, our own FUSE mount, /proc-like
    trees). `entry` must already be known to be a directory and not a
    symlink. The one rule that needs a directory's contents, "holds
    `pyvenv.cfg` so it is a virtualenv", is applied while scanning it.
    """
    name = entry.name
    if name.startswith("."):
        return "hidden"
    if name in HEAVY_NAMES:
        return "heavy"
    if entry.path in exclude:
        return "excluded"
    try:
        st = entry.stat(follow_symlinks=False)
    except OSError:
        return "unreadable"
    if st.st_dev != device:
        return "other filesystem"
    return None


@dataclass
class DiscoveryResult:
    """What one walk found and how far it got."""

    roots: list[str] = field(default_factory=list)
    """New project stores (real paths of `.claw/sessions`), in the order found."""
    known: list[str] = field(default_factory=list)
    """Stores found that the caller already serves (the global root)."""
    found_under: dict[str, list[str]] = field(default_factory=dict)
    """Real path of each start walked -> every store found below it, known excluded."""
    finished: list[str] = field(default_factory=list)
    """Starts walked to the end (to the depth bound), so their lists are complete."""
    dirs_visited: int = 0
    unreadable: int = 0
    cut_short: bool = False
    """The deadline passed or a stop was asked before every start was finished."""
    seconds: float = 0.0


def walk(
    starts: list[str],
    *,
    max_depth: int = DEFAULT_DEPTH,
    exclude: Iterable[str] = (),
    known: Iterable[str] = (),
    deadline: float | None = None,
    on_found: Callable[[str], None] | None = None,
    on_progress: Callable[[int, str], None] | None = None,
    stop: threading.Event | None = None,
) -> DiscoveryResult:
    """Find every `<dir>/.claw/sessions` up to `max_depth` levels below each start.

    A start is searched too (depth 0): for the home directory that finds
    `~/.claw/sessions`, the global root, which the caller passes in `known`
    so it is reported in `result.known` and not handed to `on_found` again.
    `deadline` is a `time.monotonic()` value. `on_found(root)` runs in the
    walking thread once per new root, as soon as it is seen;
    `on_progress(dirs_visited, current_dir)` every `PROGRESS_EVERY`
    directories. Starts are walked one after another.
    """
    scan = _Scan(
        max_depth=max_depth,
        exclude=frozenset(_resolve_above(p) for p in exclude),
        known=frozenset(os.path.realpath(p) for p in known),
        deadline=deadline,
        on_found=on_found,
        on_progress=on_progress,
        stop=stop,
    )
    began = time.monotonic()
    for start in starts:
        real = os.path.realpath(start)
        if real in scan.result.found_under:
            continue
        if not scan.walk_start(real):
            scan.result.cut_short = True
            break
        scan.result.finished.append(real)
    scan.result.seconds = time.monotonic() - began
    return scan.result


@dataclass
class _Scan:
    """One walk's settings and its growing result (the state `walk` threads through)."""

    max_depth: int
    exclude: frozenset[str]
    known: frozenset[str]
    deadline: float | None
    on_found: Callable[[str], None] | None
    on_progress: Callable[[int, str], None] | None
    stop: threading.Event | None
    result: DiscoveryResult = field(default_factory=DiscoveryResult)

    def walk_start(self, start: str) -> bool:
        """Walk below one real start path; False when cut short."""
        found = self.result.found_under.setdefault(start, [])
        if any(paths.inside(start, excluded) for excluded in self.exclude):
            return True
        try:
            st = os.lstat(start)
        except OSError:
            self.result.unreadable += 1
            return True
        if not stat.S_ISDIR(st.st_mode):
            return True
        queue = deque([(start, 0)])
        while queue:
            if self._should_stop():
                return False
            path, depth = queue.popleft()
            for child in self._scan_dir(path, depth, st.st_dev, found):
                queue.append((child, depth + 1))
        return True

    def _should_stop(self) -> bool:
        if self.stop is not None and self.stop.is_set():
            return True
        return self.deadline is not None and time.monotonic() >= self.deadline

    def _scan_dir(self, path: str, depth: int, device: int, found: list[str]) -> list[str]:
        """Read one directory: note a store in it, return the subdirectories to walk."""
        self.result.dirs_visited += 1
        if self.on_progress is not None and self.result.dirs_visited % PROGRESS_EVERY == 0:
            self.on_progress(self.result.dirs_visited, path)
        subdirs: list[os.DirEntry[str]] = []
        has_claw = is_venv = False
        try:
            with os.scandir(path) as entries:
                for entry in entries:
                    if not entry.is_dir(follow_symlinks=False):
                        is_venv = is_venv or entry.name == VENV_MARKER
                    elif entry.name == CLAW_DIR:
                        has_claw = True
                    elif depth < self.max_depth:
                        subdirs.append(entry)
        except OSError:
            self.result.unreadable += 1
            return []
        if is_venv:
            return []
        if has_claw:
            self._check_store(os.path.join(path, CLAW_DIR, "sessions"), found)
        return [
            e.path
            for e in subdirs
            if skip_reason(e, device=device, exclude=self.exclude) is None
        ]

    def _check_store(self, sessions: str, found: list[str]) -> None:
        """Record `sessions` if it is a real directory (a symlink is not followed).

        The path is already real: the start was resolved and every step
        below it was checked not to be a symlink.
        """
        try:
            if not stat.S_ISDIR(os.lstat(sessions).st_mode):
                return
        except OSError:
            return
        if sessions in self.exclude:
            return
        if sessions in self.known:
            if sessions not in self.result.known:
                self.result.known.append(sessions)
            return
        found.append(sessions)
        if sessions in self.result.roots:
            return
        self.result.roots.append(sessions)
        if self.on_found is not None:
            self.on_found(sessions)


def _resolve_above(path: str) -> str:
    """`path` with the directories above it resolved, but not `path` itself.

    An excluded path is the mountpoint of a running mount (maybe our own):
    resolving it would stat it, which asks that mount's daemon. A
    mountpoint is a real path already (the kernel resolved it).
    """
    parent, name = os.path.split(os.path.abspath(path))
    return os.path.join(os.path.realpath(parent), name) if name else parent


class Walker:
    """A walk in a daemon thread, logging what it finds and how far it got.

    The mount starts one and goes on serving: roots reach the index through
    `on_found`, which runs in the walker's thread (hand them to the event
    loop from there). `wait()` lets the mount hold its ready signal for the
    first walk when nothing is remembered yet; `stop()` ends the walk
    within one directory, for unmount.
    """

    def __init__(
        self,
        starts: list[str],
        *,
        max_depth: int = DEFAULT_DEPTH,
        exclude: Iterable[str] = (),
        known: Iterable[str] = (),
        deadline: float | None = None,
        on_found: Callable[[str], None] | None = None,
        log_every: float = 5.0,
    ) -> None:
        self.starts = list(starts)
        self.max_depth = max_depth
        self.exclude = list(exclude)
        self.known = list(known)
        self.deadline = deadline
        self.on_found = on_found
        self.log_every = log_every
        self.result: DiscoveryResult | None = None
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._done = threading.Event()
        self._last_log = 0.0
        self._thread = threading.Thread(target=self._run, name="clawfs-discover", daemon=True)

    def start(self) -> Walker:
        self._last_log = time.monotonic()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the walk ended (True) or `timeout` seconds passed (False)."""
        return self._done.wait(timeout)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def _run(self) -> None:
        log.info("discovery: walking %s, depth %d", ", ".join(self.starts), self.max_depth)
        try:
            self.result = walk(
                self.starts,
                max_depth=self.max_depth,
                exclude=self.exclude,
                known=self.known,
                deadline=self.deadline,
                on_found=self._found,
                on_progress=self._progress,
                stop=self._stop,
            )
            self._log_end(self.result)
        except Exception as e:  # a failing callback must not vanish silently
            self.error = e
            log.exception("discovery: walk failed")
        finally:
            self._done.set()

    def _found(self, root: str) -> None:
        log.info("discovery: found %s", root)
        if self.on_found is not None:
            self.on_found(root)

    def _progress(self, visited: int, path: str) -> None:
        now = time.monotonic()
        if now - self._last_log >= self.log_every:
            self._last_log = now
            log.info("discovery: %d directories so far, now in %s", visited, path)

    @staticmethod
    def _log_end(result: DiscoveryResult) -> None:
        log.info(
            "discovery: %s in %.2f s: %s, %s, %d unreadable",
            "cut short" if result.cut_short else "done",
            result.seconds,
            _counted(result.dirs_visited, "directory", "directories"),
            _counted(len(result.roots), "new store", "new stores"),
            result.unreadable,
        )


def _counted(n: int, one: str, many: str) -> str:
    """`1 directory`, `2 directories`."""
    return f"{n} {one if n == 1 else many}"
