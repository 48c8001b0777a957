"""The store index: every session file of every root, by workspace, in claw's order.

Costs grow with the number of sessions, not their bytes (SPEC §7): a scan
reads each file's *head* (probe.py) and orders by it. What a head cannot
tell is found out by loads (reading a whole file as claw does, cached per
file version: loads.py): `latest` loads candidates from the top of the
order until one holds (latest.py), and `sweep`, run from a background
thread, loads every file that was only head-read and corrects heads that
lie.

What the index learns about each file version is kept across mounts in
the index cache (store/cache.py), when it has one: a scan takes a file
whose version the cache holds from there (one `stat`, no open), and
`save`, run from a background thread once the mount serves, writes what
was learned since (heads, loads) and forgets the files that went.

Changes are applied per file or per directory (`refresh_path`,
`refresh_dir`), never by rebuilding everything. Where each file is listed
and under which name is records.py's bookkeeping, what is told of each
workspace workspaces.py's; this module keeps them in step with the disk
(listing directories, probing what changed), commits, keeps the aliases'
answers, and holds the lock. Everything public is safe to call
from several threads: the FUSE adapter reads from its thread while a sweep
or a fork runs in another. One lock guards the state; file I/O and loading
happen outside it, and results are committed under it only if the file is
still the version that was read.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Protocol

from clawfs.format.summary import Summary
from clawfs.store import forkwriter, membership, probe, versions
from clawfs.store import latest as latest_rule
from clawfs.store import lineage as lineage_tree
from clawfs.store import scan as scanning
from clawfs.store.cache import IndexCache, Reader
from clawfs.store.files import FileKey
from clawfs.store.latest import Stamp, Verdict
from clawfs.store.loads import LoadCache, Loaded
from clawfs.store.mdcache import MarkdownCache
from clawfs.store.membership import Membership
from clawfs.store.records import Records, Touched
from clawfs.store.records import SessionFile as SessionFile
from clawfs.store.roots import Root, RootKind, make_root
from clawfs.store.versions import Rendered, Version
from clawfs.store.workspaces import Workspace as Workspace
from clawfs.store.workspaces import Workspaces

log = logging.getLogger(__name__)

SWEEP_REST_MAX = 1.0
"""Seconds the sweep rests at most after one file (see `sweep`)."""

REPORTED_LIMIT = 10_000
"""Files whose problem is remembered as logged (older ones may be logged again)."""

SYNC_CHUNK = 1000
"""Files of one directory probed and committed at a time: what a scan holds
on top of the index stays small (a directory may hold 50,000 sessions), and
so does each hold of the lock."""

SAVE_BATCH = 5000
"""Rows handed to the cache per commit by `save`."""


class PathChange(Protocol):
    """What the watcher reports (live/watcher.py `Change`)."""

    @property
    def kind(self) -> str: ...

    @property
    def path(self) -> str: ...


@dataclass(slots=True)
class Tally:
    """What one scan went through: session files listed, and of those the
    ones read (opened) and the ones taken from the index cache. The rest
    were known already, unchanged."""

    listed: int = 0
    read: int = 0
    cached: int = 0


@dataclass(slots=True)
class _Pass:
    """One pass over directories: the cache's reader (if any), what it went
    through, and whom to tell."""

    reader: Reader | None
    tally: Tally
    progress: Callable[[Tally], None] | None

    def count(self, listed: int, cached: int, read: int) -> None:
        self.tally.listed += listed
        self.tally.cached += cached
        self.tally.read += read
        if self.progress is not None:
            self.progress(self.tally)


class StoreIndex:
    """All session files of the given roots; see the module docstring."""

    def __init__(self, roots: Iterable[Root], cache: IndexCache | None = None) -> None:
        self._lock = threading.RLock()
        self._cache = cache
        self._unsaved: set[str] = set()
        """Real paths of files whose version the cache does not hold as the
        index knows it (read, loaded since)."""
        self._roots: list[Root] = sorted(roots, key=lambda r: r.precedence)
        self._records = Records()
        self._loads = LoadCache(self._lock, self._report)
        self.markdown = MarkdownCache(_Renderings(self))
        """The Markdown of each file version (SPEC §8: sizes, titles, rendered
        bytes), beside the loads; the sweep measures every version once."""
        self._membership = Membership()
        self._decider = latest_rule.Index(
            self._records,
            self._lock,
            latest_rule.judge,
            self._load_and_commit,
        )
        self._workspaces = Workspaces(self._records)
        # The aliases' targets, each kept with the stamp it holds for.
        self._latest: dict[str, tuple[Stamp | None, SessionFile | None]] = {}
        self._global: tuple[Stamp | None, SessionFile | None] | None = None
        self._reported: OrderedDict[str, None] = OrderedDict()
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
            return list(self._roots)

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
        with self._lock:
            if discovered:
                last = max((r.precedence for r in self._roots), default=-1)
                root = replace(root, precedence=last + 1)
            if any(r.realpath == root.realpath for r in self._roots):
                return set()
            self._roots.append(root)
            self._roots.sort(key=lambda r: r.precedence)
        with self._pass() as scan:
            return self._rescan_root(root, scan)

    # --- reading the disk ---------------------------------------------------------

    def scan(self, progress: Callable[[Tally], None] | None = None) -> set[str]:
        """Bring the index up to date with the disk; the fingerprints changed.

        The first call indexes everything. Later ones (a watcher's
        "rescan") re-read only files whose version changed, directory by
        directory, so the lock is never held for long and nothing that did
        not change is invalidated. `progress` is told how far it got after
        each `SYNC_CHUNK` files; `tally` says it when done.
        """
        with self._lock:
            roots = list(self._roots)
        changed = self._recheck_membership()
        with self._pass(progress) as scan:
            for root in roots:
                changed |= self._rescan_root(root, scan)
            self.tally = scan.tally
        with self._lock:
            self._records.settle()
        return changed

    def _rescan_root(self, root: Root, scan: _Pass) -> set[str]:
        listing = scanning.read_root(root)
        changed: set[str] = set()
        listed = set()
        for fp, directory in listing.fp_dirs:
            listed.add(directory)
            changed |= self._sync_dir(root, fp, directory, scan=scan)
        changed |= self._sync_dir(root, None, root.realpath, listing.flat, scan)
        with self._lock:
            gone = [(fp, d) for fp, d in self._records.dirs_of(root) if d not in listed]
        for fp, directory in gone:
            # Not listed: gone, or a link now (out of the root, SPEC §6): never
            # listed again through its old path, which would follow the link.
            changed |= self._sync_dir(root, fp, directory, [], scan=scan)
        return changed

    @contextlib.contextmanager
    def _pass(self, progress: Callable[[Tally], None] | None = None) -> Iterator[_Pass]:
        """One pass over directories: with the cache's reader, if there is a cache."""
        if self._cache is None:
            yield _Pass(None, Tally(), progress)
            return
        with self._cache.reading() as reader:
            yield _Pass(reader, Tally(), progress)

    def _recheck_membership(self) -> set[str]:
        """Re-decide membership where a recorded root's canonical form changed
        (a directory created, removed or re-linked since it was decided)."""
        with self._lock:
            recorded = self._membership.recorded()
        fresh = Membership.compute(recorded)

        def replace_moved() -> set[str]:
            moved = self._membership.update(fresh)
            changed: set[str] = set()
            if moved:
                for rec in list(self._records.files()):
                    if rec.workspace_root in moved:
                        changed |= self._place(probe.known(rec))
            return changed

        return self._update(replace_moved)

    def _learn_root(self, workspace_root: str | None) -> None:
        """Decide a recorded root's membership now, without the lock (realpath),
        so that placing the file under the lock finds it decided."""
        if workspace_root is None:
            return
        with self._lock:
            if self._membership.knows(workspace_root):
                return
        fresh = Membership.compute([workspace_root])
        preferred = Membership.compute_preferred([workspace_root])
        with self._lock:
            self._membership.learn(fresh, preferred)

    def _report(self, path: str, problem: str) -> None:
        """Log a problem with a file once (SPEC §6)."""
        with self._lock:
            if path in self._reported:
                return
            self._reported[path] = None
            if len(self._reported) > REPORTED_LIMIT:
                self._reported.popitem(last=False)
        log.warning("%s: %s", path, problem)

    # --- committing (lock held) ---------------------------------------------------

    def _place(self, read: probe.Probe) -> set[str]:
        """Index (or re-index) one file from a probe; the fingerprints changed."""
        return self._records.place(self._file_of(read))

    def _file_of(self, read: probe.Probe) -> SessionFile:
        """The record of a probed file: which workspace it joins, whether it belongs."""
        found = read.found
        recorded = read.workspace_root
        fp = found.fp_dir
        if fp is None:
            known = set(self._records.spaces)
            fp = self._membership.legacy_workspace(recorded, found.root, known)
        belongs = self._membership.belongs(fp, recorded, found.path, found.root)
        version = read.version
        old = self._records.listed(found.directory, found.file_name)
        if old is not None and not version.earlier_loaded and _loaded_earlier(old, version):
            version = version.loaded_once()
        return SessionFile(found, version, fp, belongs)

    def _update(self, change: Callable[[], set[str]]) -> set[str]:
        """Apply `change` to the records under the lock and publish what it
        changed; the fingerprints changed.

        A workspace it left with no files is forgotten if no directory
        backs it any more: whether they are still there is asked outside
        the lock, and the workspace forgotten only if it stayed as it was.
        """
        with self._lock:
            changed = change()
            emptied = self._records.emptied()
            self._changed(changed)
        gone = {fp: dirs for fp, dirs in emptied.items() if not any(map(os.path.isdir, dirs))}
        if gone:
            with self._lock:
                forgotten = {fp for fp, dirs in gone.items() if self._records.forget(fp, dirs)}
                self._changed(forgotten)
            changed |= forgotten
        return changed

    def _changed(self, fps: set[str]) -> None:
        """Publish a change of these workspaces: their stamps move on, which
        makes every answer kept for them (and for the root alias) stale."""
        if not fps:
            return
        self._records.changed(fps)
        self._workspaces.changed(fps)
        for fp in fps - self._records.spaces.keys():
            self._latest.pop(fp, None)

    def _drop(self, entry_path: str) -> set[str]:
        """Forget the file listed at `entry_path`, and let the cache forget it."""
        rec = self._records.get(entry_path)
        if rec is not None and self._cache is not None:
            self._unsaved.discard(rec.path)
            self._cache.forget(rec.path)
        return self._records.drop(entry_path)

    def _learned(self, path: str) -> None:
        """Something about the file at real path `path` is not in the cache yet."""
        if self._cache is not None:
            self._unsaved.add(path)

    def _indexed(self, path: str) -> bool:
        """Whether the file at real path `path` is in the index."""
        with self._lock:
            return self._records.backed_by(path) is not None

    def take_changes(self) -> dict[str, Touched]:
        """What changed in each workspace since the last call (records.Touched:
        names, fork tree nodes), for the mount to check what the kernel holds
        of just that (mount/kernelcache.py)."""
        with self._lock:
            return self._records.take_changes()

    # --- the cache ----------------------------------------------------------------

    def unsaved(self) -> int:
        """How many files have something to write to the cache (or to forget there)."""
        with self._lock:
            cache = self._cache
            return 0 if cache is None else len(self._unsaved) + cache.pending()

    def save(self) -> int:
        """Write what the index learned since the last save to its cache, and
        the removals queued; the rows written.

        Blocking (SQLite): from a worker thread once the daemon runs, never
        on the request path and never before the daemon forks. Each file is
        written as the index knows it then, `SAVE_BATCH` at a time; only
        files lying where they are listed are kept (a linked file is
        probed again each mount: rare, and its row would be keyed by a
        path no listing names).
        """
        cache, written = self._cache, 0
        if cache is None:
            return 0
        while True:
            with self._lock:
                batch = [self._unsaved.pop() for _ in range(min(SAVE_BATCH, len(self._unsaved)))]
                for path in batch:
                    rec = self._records.backed_by(path)
                    if rec is not None and rec.path == rec.entry_path:
                        cache.put(path, rec.version)
            written += cache.commit()
            if not cache.usable:
                with self._lock:  # it turned itself off (logged): stop keeping track
                    self._cache = None
                    self._unsaved.clear()
                return written
            if not batch:
                return written

    # --- refreshing ---------------------------------------------------------------

    def _root_of(self, path: str) -> tuple[Root, str | None, str] | None:
        for root in self._roots:
            where = scanning.locate(root, path)
            if where is not None:
                return root, where[0], where[1]
        return None

    def _in_known_dir(self, path: str) -> tuple[Root, str | None, str] | None:
        """Where `path` sits when its directory is the real path of a linked
        fingerprint directory (`<root>/<fp> -> <root>/elsewhere`), which the
        layout alone cannot tell (lock held)."""
        directory, name = os.path.split(path)
        for root in self._roots:
            for fp, known in self._records.dirs_of(root):
                if known == directory:
                    return root, fp, name
        return None

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
        return self._refresh_file(path)[0]

    def _refresh_file(self, path: str) -> tuple[set[str], str | None]:
        """`refresh_path`, and the entry path the file is indexed under (if a file).

        The layout is read from the path as given (`<root>/<fp>/<name>`,
        which may be a linked fingerprint directory), else from its real
        path; files are indexed under their fingerprint directory's real path.
        """
        parent, name = os.path.split(os.path.abspath(path))
        given = os.path.join(parent, name)
        real = os.path.join(os.path.realpath(parent), name)
        with self._lock:
            where = self._root_of(given) or self._root_of(real) or self._in_known_dir(real)
        if where is None:
            return set(), None
        root, fp, name = where
        if not name or (fp is None and scanning.FINGERPRINT_DIR.fullmatch(name)):
            return self.refresh_dir(given), None
        fp_dir = None if fp is None else scanning.find_fp_dir(root, fp)
        if fp is not None and fp_dir is None:
            # The fingerprint directory is gone or a link out of the root now:
            # nothing in it is the store's (SPEC §6), whatever the link reaches.
            return self.refresh_dir(os.path.join(root.realpath, fp)), None
        directory = root.realpath if fp_dir is None else fp_dir
        found = scanning.find_entry(root, fp, directory, name)
        entry_path = os.path.join(directory, name)
        with self._lock:
            old = self._records.get(entry_path)
        read = None if found is None else probe.read(found, old, self._loads, self._report)
        if read is not None:
            self._learn_root(read.workspace_root)

        def place_or_drop() -> set[str]:
            changed = set()
            if fp is not None and fp_dir is not None:
                changed = self._records.note_dir(fp, fp_dir, root)
            if read is None:
                return changed | self._drop(entry_path)
            if not read.saved:
                self._learned(read.found.path)
            return changed | self._place(read)

        return self._update(place_or_drop), entry_path

    def refresh_dir(self, path: str) -> set[str]:
        """Re-list a root or fingerprint directory; the fingerprints changed.

        Located by the path as given, then by its real path: a fingerprint
        directory swapped for a link out of the root has its real path out
        there, and must still be found to be dropped (SPEC §6).
        """
        given = os.path.abspath(path)
        with self._lock:
            where = self._root_of(given) or self._root_of(os.path.realpath(path))
        if where is None:
            return set()
        root, fp, name = where
        if fp is None and not name:
            with self._pass() as scan:
                return self._rescan_root(root, scan)
        if fp is not None and name:  # a directory named like a session (scan.py)
            return self._refresh_file(given)[0]
        if fp is None or name:
            return set()
        directory = scanning.find_fp_dir(root, fp)
        with self._lock:
            before = [d for known, d in self._records.dirs_of(root) if known == fp]
        changed: set[str] = set()
        for old in before:
            if old != directory:  # gone, moved, or a link out of the root now
                changed |= self._sync_dir(root, fp, old, [])
        if directory is not None:
            changed |= self._sync_dir(root, fp, directory)
        return changed

    def _sync_dir(
        self,
        root: Root,
        fp: str | None,
        directory: str,
        listing: list[scanning.Found] | None = None,
        scan: _Pass | None = None,
    ) -> set[str]:
        """Make the index match one store directory's listing.

        For a fingerprint directory the listing is read here, unless the
        caller found the directory gone (`listing=[]`). Files are probed and
        placed `SYNC_CHUNK` at a time, in the order of their names' bytes,
        which is how the cache's reader hands out its rows of the directory.
        """
        present = listing is None and os.path.isdir(directory)
        if listing is not None:
            found = sorted(listing, key=_name_bytes)
        else:
            assert fp is not None  # only flat files come without a fingerprint
            found = sorted(scanning.read_fp_dir(root, fp, directory), key=_name_bytes)
        with self._lock:
            known = self._records.listed_in(directory)

        def note() -> set[str]:
            if fp is not None and present:
                return self._records.note_dir(fp, directory, root)
            return set() if fp is None else self._records.drop_dir(fp, directory)

        changed = self._update(note)
        after: bytes | None = None
        for start in range(0, max(len(found), 1), SYNC_CHUNK):
            chunk = found[start : start + SYNC_CHUNK]
            upto = None if start + SYNC_CHUNK >= len(found) else _name_bytes(chunk[-1])
            reader = None if scan is None else scan.reader
            cached = None if reader is None else reader.entries(directory, after, upto)
            after = upto
            placed, taken = self._sync_chunk(chunk, known, cached, scan)
            changed |= placed
            if cached and taken < len(cached):
                self._forget_unlisted(directory, cached, chunk)
        gone = known.keys() - {item.file_name for item in found} if known else set()
        prefix = directory.rstrip("/") + "/"

        def drop_gone() -> set[str]:
            dropped: set[str] = set()
            for name in gone:
                dropped |= self._drop(prefix + name)
            return dropped

        return changed | (self._update(drop_gone) if gone else set())

    def _sync_chunk(
        self,
        chunk: list[scanning.Found],
        known: dict[str, SessionFile],
        cached: dict[str, Version] | None,
        scan: _Pass | None,
    ) -> tuple[set[str], int]:
        """Probe and place one chunk of a directory's files; the fingerprints
        changed, and how many of them were taken from the cache."""
        probes = probe.read_changed(chunk, known, self._loads, self._report, cached)
        for recorded in {read.workspace_root for read in probes}:
            self._learn_root(recorded)
        fresh = [read.found.path for read in probes if not read.saved]
        if scan is not None:
            scan.count(len(chunk), len(probes) - len(fresh), len(fresh))

        def place() -> set[str]:
            for path in fresh:
                self._learned(path)
            return self._records.place_all([self._file_of(read) for read in probes])

        return (self._update(place) if probes else set()), len(probes) - len(fresh)

    def _forget_unlisted(
        self, directory: str, cached: dict[str, Version], chunk: list[scanning.Found]
    ) -> None:
        """Let the cache forget the files of `directory` it holds that are not
        there any more (gone while nothing was mounted)."""
        assert self._cache is not None
        listed = {item.file_name for item in chunk}
        for name in cached.keys() - listed:
            self._cache.forget(os.path.join(directory, name))

    # --- loads --------------------------------------------------------------------

    def _load(self, path: str, file_name: str) -> Loaded | None:
        with self._lock:
            rec = self._records.backed_by(path)
            before = None if rec is None or not rec.loaded_before else rec.key
        return self._loads.load(path, file_name, before)

    def _take(self, loaded: Loaded) -> set[str]:
        """Record a load; re-place the file if its facts changed (lock held).

        A load that only confirms what the head said changes nothing the
        views show. One that turns a file the head judged empty into a
        target (or back) does: `latest` may have been decided without it.
        """
        rec = self._records.backed_by(loaded.path)
        if rec is None:
            return set()
        before = latest_rule.judge(rec)
        self._learned(rec.path)
        version = Version.of(loaded.key, None, loaded.summary, rec.stem)
        changed = self._place(probe.Probe(rec.found, version))
        now = self._records.get(rec.entry_path)
        if not changed and now is not None and before is not Verdict.CHECK:
            if latest_rule.judge(now) is not before:
                changed = {now.fp}
        return changed

    def _load_and_commit(self, rec: SessionFile) -> set[str]:
        """Load one file and commit it; a file that cannot be read is dropped."""
        loaded = self._load(rec.path, rec.file_name)
        if loaded is None:
            return self._update(lambda: self._drop(rec.entry_path))
        self._learn_root(membership.resolve(loaded.summary.workspace_root, rec.root))
        return self._update(lambda: self._take(loaded))

    def cached_load(self, sf: SessionFile) -> Summary | None:
        """The load of `sf`'s version if it was loaded (never loads)."""
        with self._lock:
            now = self._records.backed_by(sf.path)
            return now.summary if now is not None and now.key == sf.key else None

    def load(self, sf: SessionFile) -> Summary:
        """claw's list entry for the file's current version: its load, cached."""
        cached = self.cached_load(sf)
        if cached is not None:
            return cached
        loaded = self._load(sf.path, sf.file_name)
        if loaded is None:
            raise FileNotFoundError(sf.path)
        self._learn_root(membership.resolve(loaded.summary.workspace_root, sf.root))
        self._update(lambda: self._take(loaded))
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
                self._load_and_commit(rec)
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
        of every version not measured yet; the number re-placed.

        Meant for a background thread: the lock is held only to commit each
        result. `stop` ends it early. `duty` < 1 rests after each file for
        the matching share of the time its work took: loading holds the
        GIL, and a sweep of a 1 GB store at full speed would add up to a
        switch interval to every request the mount serves meanwhile. A rest
        lasts at most `SWEEP_REST_MAX` (rendering a 64 MiB session takes
        seconds), so a pause never looks like the end of the sweep to whoever
        watches its CPU (the bench waits for the daemon to go idle).
        """
        with self._lock:
            records = list(self._records.files())
        todo = [rec for rec in records if not rec.loaded or not _measured(rec)]
        rest = threading.Event() if stop is None else stop
        fixed = 0
        for rec in todo:
            if rest.is_set():
                break
            started = time.monotonic()
            if self.cached_load(rec) is None and self._load_and_commit(rec):
                fixed += 1
            if not _measured(rec):
                self.markdown.measure(rec.path, rec.file_name)
            if duty < 1.0:
                worked = time.monotonic() - started
                rest.wait(min(worked * (1.0 / duty - 1.0), SWEEP_REST_MAX))
        self.markdown.retain(self._indexed)  # files gone from the store
        return fixed


    # --- queries ------------------------------------------------------------------

    def workspaces(self) -> list[Workspace]:
        with self._lock:
            return [self._snapshot(fp) for fp in sorted(self._records.spaces)]

    def workspace(self, fp: str) -> Workspace | None:
        with self._lock:
            return self._snapshot(fp) if fp in self._records.spaces else None

    def _snapshot(self, fp: str) -> Workspace:
        return self._workspaces.snapshot(fp)

    def label_owner(self, label: str) -> str | None:
        """The fingerprint of the workspace labelled `label` (`workspaces/<label>`)."""
        with self._lock:
            return self._workspaces.label_owner(label)

    def labels(self) -> dict[str, str]:
        """fp -> label for workspaces that have one."""
        with self._lock:
            named = self._workspaces.labels().items()
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
        new_path = forkwriter.write_fork(
            current.path, directory, branch, file_name=current.file_name
        )
        _, entry_path = self._refresh_file(new_path)
        with self._lock:
            made = None if entry_path is None else self._records.get(entry_path)
        if made is None:
            raise FileNotFoundError(2, "the fork was written but is not in a store", new_path)
        return made


def _name_bytes(found: scanning.Found) -> bytes:
    """A listed file's name as the cache orders names (bytes, as on disk)."""
    return os.fsencode(found.file_name)


def _loaded_earlier(old: SessionFile, new: Version) -> bool:
    """Whether an earlier version than `new` of the file `old` is was loaded."""
    key = new.key
    if not old.key.same_file(key):
        return False
    return old.version.earlier_loaded or (old.loaded and old.key != key)


def _measured(rec: SessionFile) -> bool:
    """Whether the size of the Markdown of `rec`'s version is known."""
    return rec.rendered is not None and rec.rendered.size is not None


class _Renderings:
    """Where the Markdown cache keeps what it learns of each version
    (mdcache.Known): with the version, on the index's record of the file,
    so the index cache keeps it across mounts and nothing else holds one
    per file."""

    def __init__(self, index: StoreIndex) -> None:
        self._index = index

    def known(self, path: str, key: FileKey) -> Rendered | None:
        return self._of(path, versions.KEY.pack(*key))

    def size_of(self, path: str, st: os.stat_result) -> int | None:
        packed = versions.KEY.pack(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns,
                                   st.st_ctime_ns)
        rendered = self._of(path, packed)
        return None if rendered is None else rendered.size

    def _of(self, path: str, packed: bytes) -> Rendered | None:
        index = self._index
        with index._lock:
            rec = index._records.backed_by(path)
            return rec.rendered if rec is not None and rec.version.same_as(packed) else None

    def remember(self, path: str, key: FileKey, rendered: Rendered) -> None:
        index = self._index
        with index._lock:
            rec = index._records.backed_by(path)
            if rec is None or not rec.version.same_as(key):
                return
            now = rec.rendered
            if now == rendered or (now is not None and now.size is not None
                                   and rendered.size is None):
                return  # a title-only result never replaces a size
            if index._records.revise(path, rec.version.rendering(rendered)):
                index._learned(path)

    def grew(self, path: str, key: FileKey) -> bool:
        index = self._index
        with index._lock:
            rec = index._records.backed_by(path)
            return rec is not None and rec.key.same_file(key) and rec.version.earlier_loaded

    def retain(self, keep: Callable[[str], bool]) -> None:
        """Nothing to do: a file that leaves the index takes its version along."""
