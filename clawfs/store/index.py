"""The store index: every session file of every root, by workspace, in claw's order.

Costs grow with the number of sessions, not their bytes (SPEC §7): a scan
reads each file's *head* (probe.py) and orders by it. What a head cannot
tell is found out by loads (reading a whole file as claw does, cached per
file version: loads.py): `latest` loads candidates from the top of the
order until one holds (latest.py), and `sweep` (sweep.py), run from a
background thread, loads every file that was only head-read and corrects
heads that lie.

What the index learns about each file version is kept across mounts in
the index cache (store/cache.py), when it has one: a scan takes a file
whose version the cache holds from there (one `stat`, no open), and
`save`, run from a background thread once the mount serves, writes what
was learned since (unsaved.py).

This module is the façade the other layers call: it holds the lock and
answers queries; the work is done by one module per job:
- dirsync.py lists directories and brings the index in step with them
  (a scan, a rescan), refresh.py applies changes per file or directory
  (`refresh_path`, `refresh_dir`, a fork's new file), never by rebuilding
  everything;
- commits.py is the one way the records change (records.py: where each
  file is listed and under which name; workspaces.py: what is told of
  each workspace) and publishes each change;
- latest.py decides the aliases, whose answers are kept here per stamp.
Everything public is safe to call from several threads: the FUSE adapter
reads from its thread while a sweep or a fork runs in another. One lock
guards the state; file I/O and loading happen outside it, and results are
committed under it only if the file is still the version that was read.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Protocol

from clawfs.format.summary import Summary
from clawfs.store import forkwriter
from clawfs.store import latest as latest_rule
from clawfs.store import lineage as lineage_tree
from clawfs.store import scan as scanning
from clawfs.store import sweep as sweeping
from clawfs.store.cache import IndexCache
from clawfs.store.commits import Commits
from clawfs.store.dirsync import DirSync
from clawfs.store.dirsync import Tally as Tally
from clawfs.store.latest import Stamp, Verdict
from clawfs.store.mdcache import MarkdownCache
from clawfs.store.problems import Problems
from clawfs.store.records import SessionFile as SessionFile
from clawfs.store.records import Touched
from clawfs.store.refresh import Refresh
from clawfs.store.renderings import Renderings
from clawfs.store.roots import Root, RootKind, make_root
from clawfs.store.unsaved import Unsaved
from clawfs.store.workspaces import Workspace as Workspace


class PathChange(Protocol):
    """What the watcher reports (live/watcher.py `Change`)."""

    @property
    def kind(self) -> str: ...

    @property
    def path(self) -> str: ...


class StoreIndex:
    """All session files of the given roots; see the module docstring."""

    def __init__(self, roots: Iterable[Root], cache: IndexCache | None = None) -> None:
        self.problems = Problems()
        """What was logged about which file (once each)."""
        self._commits = Commits(
            sorted(roots, key=lambda r: r.precedence), Unsaved(cache), self.problems,
            self._forget_kept,
        )
        self._lock = self._commits.lock
        self._records = self._commits.records
        self._loads = self._commits.loads
        self._sync = DirSync(self._commits)
        self._refresh = Refresh(self._commits, self._sync)
        self.markdown = MarkdownCache(Renderings(self._commits))
        """The Markdown of each file version (SPEC §8: sizes, titles, rendered
        bytes), beside the loads; the sweep measures every version once."""
        self._decider = latest_rule.Index(
            self._records,
            self._lock,
            latest_rule.judge,
            self._commits.load_and_commit,
        )
        # The aliases' targets, each kept with the stamp it holds for.
        self._latest: dict[str, tuple[Stamp | None, SessionFile | None]] = {}
        self._global: tuple[Stamp | None, SessionFile | None] | None = None
        self.tally = Tally()
        """What the last `scan` went through."""

    @property
    def generation(self) -> int:
        """Moves on with every change the view can see."""
        return self._records.generation

    # --- roots ----------------------------------------------------------------

    @property
    def roots(self) -> list[Root]:
        with self._lock:
            return list(self._commits.roots)

    def add_root(self, root: Root | str) -> set[str]:
        """Add a root (a path is taken as a discovered one) and index it.

        Returns the fingerprints whose workspaces changed; nothing if a root
        with the same real path is known already.
        """
        if isinstance(root, str):
            root = make_root(root, RootKind.DISCOVERED, 0)  # realpath: not under the lock
            discovered = True
        else:
            discovered = False
        roots = self._commits.roots
        with self._lock:
            if discovered:
                last = max((r.precedence for r in roots), default=-1)
                root = replace(root, precedence=last + 1)
            if any(r.realpath == root.realpath for r in roots):
                return set()
            roots.append(root)
            roots.sort(key=lambda r: r.precedence)
        with self._sync.passing() as scan:
            return self._sync.root(root, scan)

    # --- reading the disk ---------------------------------------------------------

    def scan(self, progress: Callable[[Tally], None] | None = None) -> set[str]:
        """Bring the index up to date with the disk; the fingerprints changed.

        The first call indexes everything. Later ones (a watcher's
        "rescan") re-read only files whose version changed, directory by
        directory (dirsync.py), so the lock is never held for long and
        nothing that did not change is invalidated. `progress` is told how
        far it got after each `dirsync.SYNC_CHUNK` files; `tally` says it
        when done.
        """
        with self._lock:
            roots = list(self._commits.roots)
        changed = self._commits.recheck_membership()
        with self._sync.passing(progress) as scan:
            for root in roots:
                changed |= self._sync.root(root, scan)
            self.tally = scan.tally
        with self._lock:
            self._records.settle()
        return changed

    def apply(self, changes: Iterable[PathChange]) -> set[str]:
        """Apply a watcher batch: "file" -> refresh_path, "dir" -> refresh_dir,
        "rescan" -> scan. Returns the fingerprints whose workspaces changed."""
        changed: set[str] = set()
        for change in changes:
            if change.kind == "rescan":
                changed |= self.scan()
            elif change.kind == "dir":
                changed |= self.refresh_dir(change.path)
            else:
                changed |= self.refresh_path(change.path)
        return changed

    def refresh_path(self, path: str) -> set[str]:
        """Re-read one file (or directory) that changed; the fingerprints changed."""
        return self._refresh.file(path)[0]

    def refresh_dir(self, path: str) -> set[str]:
        """Re-list a root or fingerprint directory; the fingerprints changed."""
        return self._refresh.directory(path)

    def take_changes(self) -> dict[str, Touched]:
        """What changed in each workspace since the last call (records.Touched:
        names, fork tree nodes), for the mount to check what the kernel holds
        of just that (mount/kernelcache.py)."""
        with self._lock:
            return self._records.take_changes()

    def _forget_kept(self, fps: set[str]) -> None:
        """Workspaces gone: their aliases' answers go too (lock held)."""
        for fp in fps:
            self._latest.pop(fp, None)

    # --- the cache ----------------------------------------------------------------

    def unsaved(self) -> int:
        """How many files have something to write to the cache (or to forget there)."""
        with self._lock:
            return self._commits.unsaved.count()

    def save(self) -> int:
        """Write what the index learned since the last save to its cache, and
        the removals queued; the rows written (unsaved.py: blocking, from a
        worker thread once the daemon runs)."""
        return self._commits.unsaved.save(self._lock, self._records)

    # --- loads --------------------------------------------------------------------

    def cached_load(self, sf: SessionFile) -> Summary | None:
        """The load of `sf`'s version if it was loaded (never loads)."""
        return self._commits.cached_load(sf)

    def load(self, sf: SessionFile) -> Summary:
        """claw's list entry for the file's current version: its load, cached."""
        cached = self.cached_load(sf)
        if cached is not None:
            return cached
        loaded = self._commits.load(sf.path, sf.file_name)
        if loaded is None:
            raise FileNotFoundError(sf.path)
        self._commits.take(loaded, sf)
        return loaded.summary

    def loaded(self, fp: str) -> list[tuple[SessionFile, Summary]]:
        """Every file of a workspace with its load, in claw's true order.

        Loads what is not loaded yet (index.tsv needs exact values).
        """
        snap = self.workspace(fp)
        for _round in range(3):  # a file that keeps changing must not keep us here
            if snap is None:
                return []
            pending = [rec for rec in snap.ordered if self.cached_load(rec) is None]
            if not pending:
                break
            for rec in pending:
                self._commits.load_and_commit(rec)
            snap = self.workspace(fp)
        if snap is None:
            return []
        result = []
        for rec in snap.ordered:
            try:
                result.append((rec, self.load(rec)))
            except FileNotFoundError:
                continue
        return result

    def sweep(self, stop: threading.Event | None = None, *, duty: float = 1.0) -> int:
        """Load every file known only by its head, and measure the Markdown
        of every version not measured yet; the number re-placed (sweep.py)."""
        return sweeping.sweep(self._commits, self.markdown, stop, duty=duty)

    # --- queries ------------------------------------------------------------------

    def workspaces(self) -> list[Workspace]:
        with self._lock:
            return [self._snapshot(fp) for fp in sorted(self._records.spaces)]

    def workspace(self, fp: str) -> Workspace | None:
        with self._lock:
            return self._snapshot(fp) if fp in self._records.spaces else None

    def _snapshot(self, fp: str) -> Workspace:
        return self._commits.workspaces.snapshot(fp)

    def label_owner(self, label: str) -> str | None:
        """The fingerprint of the workspace labelled `label` (`workspaces/<label>`)."""
        with self._lock:
            return self._commits.workspaces.label_owner(label)

    def labels(self) -> dict[str, str]:
        """fp -> label for workspaces that have one."""
        with self._lock:
            named = self._commits.workspaces.labels().items()
            return {fp: label for fp, label in named if label is not None}

    def fingerprints(self) -> list[str]:
        """The workspaces' fingerprints, sorted (no snapshots built)."""
        with self._lock:
            return sorted(self._records.spaces)

    def version(self, fp: str) -> Stamp | None:
        """A stamp of a workspace's state: it changes whenever anything in the
        workspace does (its files, order, lineage, latest), and only then."""
        with self._lock:
            return self._records.stamp(fp)

    def latest(
        self, fp: str, readable: Callable[[SessionFile], bool] | None = None
    ) -> SessionFile | None:
        """The session `latest` names in this workspace (latest.py), or None.

        `readable`: decide among the files it accepts only (what another user
        may read, mount/privacy.py); such answers are not kept here, and it
        is called with the lock held.
        """
        if readable is not None:
            return latest_rule.in_workspace(self._only(readable), fp).file
        with self._lock:
            kept = self._latest.get(fp)
            if kept is not None and kept[0] == self._records.stamp(fp):
                return kept[1]
        decided = latest_rule.in_workspace(self._decider, fp)
        with self._lock:
            if decided.stamp is not None and decided.stamp == self._records.stamp(fp):
                self._latest[fp] = (decided.stamp, decided.file)
        return decided.file

    def global_latest(
        self, readable: Callable[[SessionFile], bool] | None = None
    ) -> SessionFile | None:
        """The root alias: the first target in claw's order over all
        workspaces merged (latest.py), or None. `readable` as for `latest`."""
        if readable is not None:
            return latest_rule.over_all(self._only(readable)).file
        with self._lock:
            if self._global is not None and self._global[0] == self._records.stamp(None):
                return self._global[1]
        decided = latest_rule.over_all(self._decider)
        with self._lock:
            if decided.stamp == self._records.stamp(None):
                self._global = (decided.stamp, decided.file)
                if decided.fp is not None:  # nothing above it qualifies in its workspace either
                    self._latest[decided.fp] = (self._records.stamp(decided.fp), decided.file)
        return decided.file

    def _only(self, readable: Callable[[SessionFile], bool]) -> latest_rule.Index[SessionFile]:
        """The decision's view of the index with the files `readable` refuses skipped."""
        judge = self._decider.verdict

        def verdict(rec: SessionFile) -> Verdict:
            return judge(rec) if readable(rec) else Verdict.SKIP

        return replace(self._decider, verdict=verdict)

    def lineage(self, fp: str) -> lineage_tree.Lineage:
        """The fork tree of a workspace (rot copies whose live file exists left out)."""
        with self._lock:
            space = self._records.spaces.get(fp)
            if space is None:
                return lineage_tree.Lineage()
            if space.lineage is not None:
                return space.lineage
            members, stamp = self._records.members(fp), (space.born, space.version)
        built = lineage_tree.build(members)  # outside the lock: 18 ms per 10k members
        with self._lock:
            self._records.keep_lineage(fp, stamp, built)
        return built

    def has_workspace(self, fp: str) -> bool:
        with self._lock:
            return fp in self._records.spaces

    def file(self, fp: str, name: str) -> SessionFile | None:
        with self._lock:
            space = self._records.spaces.get(fp)
            return None if space is None else space.files.get(name)

    # --- forks ----------------------------------------------------------------------

    def fork(self, sf: SessionFile, branch: str | None) -> SessionFile:
        """Fork `sf` as claw does, into its store directory; the new file, indexed.

        Raises OSError: ENOENT when `sf` is gone or unreadable, EACCES/EROFS
        when its directory is not writable, ENOSPC on a full disk.
        """
        with self._lock:
            current = self._records.get(sf.entry_path) or sf
        directory = current.fork_directory
        if current.legacy:
            os.makedirs(directory, exist_ok=True)
            # Its real path if it stays inside the root (a link there may);
            # one out of the root the writer refuses.
            directory = scanning.find_fp_dir(current.root, current.fp) or directory
        written = forkwriter.write_fork(
            current.path, directory, branch, file_name=current.file_name
        )
        # Indexed from what the writer knows of it: nothing reads the new file
        # back (`latest` would load it in full to place it).
        _, entry_path = self._refresh.file(written.path, written=written)
        with self._lock:
            made = None if entry_path is None else self._records.get(entry_path)
        if made is None:
            raise FileNotFoundError(2, "the fork was written but is not in a store", written.path)
        return made
