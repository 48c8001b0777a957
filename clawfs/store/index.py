"""The store index: every session file of every root, by workspace, in claw's order.

Costs grow with the number of sessions, not their bytes (SPEC §7): a scan
reads each file's *head* (its first meta line, one small read) and orders
by it. What a head cannot tell is found out by full loads, which are
cached per file version (`FileKey`, loads.py):

* `latest` checks candidates from the top of the order until one holds
  (latest.py), re-sorting any file whose body disagrees with its head;
* `sweep`, run from a background thread, fully loads every file that was
  only head-read and corrects heads that lie;
* a file that only grew (same device and inode, old bytes kept, as when
  claw appends a message) is loaded from its old end with a kept
  `JsonlReader`, not from the start.

Files without a meta line at the top (legacy JSON, empty, corrupt) are
fully loaded at once: their order and their workspace depend on it.

Changes are applied per file or per directory (`refresh_path`,
`refresh_dir`), never by rebuilding everything. Everything public is safe
to call from several threads: the FUSE adapter reads from its thread while
a sweep or a fork runs in another. One lock guards the state; file I/O and
loading happen outside it, and results are committed under it only if the
file is still the version that was read.
"""

from __future__ import annotations

import bisect
import functools
import heapq
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol

from clawfs.format import head as heads
from clawfs.format import session
from clawfs.format.head import Head
from clawfs.format.summary import Summary
from clawfs.store import files, forkwriter, labels, order
from clawfs.store import latest as latest_rule
from clawfs.store import lineage as lineage_tree
from clawfs.store import scan as scanning
from clawfs.store.files import FileKey, file_key
from clawfs.store.loads import LoadCache, Loaded
from clawfs.store.membership import Membership
from clawfs.store.roots import Root, RootKind, make_root, suffixed_name

log = logging.getLogger(__name__)

REPORTED_LIMIT = 10_000
"""Files whose problem is remembered as logged (older ones may be logged again)."""

class PathChange(Protocol):
    """What the watcher reports (live/watcher.py `Change`)."""

    @property
    def kind(self) -> str: ...

    @property
    def path(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Facts:
    """What the order, membership and lineage use about a file.

    From its load when `loaded` (a load of this version), else from its
    head.
    """

    session_id: str
    updated_at_ms: int
    parent_session_id: str | None
    workspace_root: str | None
    loaded: bool


@dataclass(frozen=True, slots=True)
class SessionFile:
    """One session file as the mount shows it.

    `name` is the entry name in `sessions/<fp>/` (with a `~<hex>` suffix
    when a file of the same name in a root of higher precedence won it);
    `path` the real path of the backing file; `entry_path` where it was
    listed (directory + name on disk); `directory` the store directory it
    lies in; `legacy` for a flat file lying in a root.
    """

    name: str
    path: str
    key: FileKey
    head: Head
    is_rot: bool
    belongs: bool
    fp: str
    root: Root
    file_name: str
    directory: str
    legacy: bool
    facts: Facts

    @property
    def entry_path(self) -> str:
        return os.path.join(self.directory, self.file_name)

    @property
    def mtime_ms(self) -> int:
        return order.mtime_ms(self.key.mtime_ns)

    @property
    def sort_key(self) -> order.SortKey:
        return order.sort_key(
            self.facts.updated_at_ms,
            self.mtime_ms,
            self.facts.session_id,
            self.root.precedence,
            self.name,
        )

    @property
    def fork_directory(self) -> str:
        """Where a fork of this file goes: its own directory, `<root>/<fp>/` for flat files."""
        return os.path.join(self.root.realpath, self.fp) if self.legacy else self.directory


@dataclass(frozen=True, slots=True)
class Workspace:
    """A snapshot of one workspace: do not mutate (it is shared)."""

    fp: str
    label: str | None
    path: str | None
    """The workspace directory it is labelled after (a recorded root), if known."""
    files: Mapping[str, SessionFile]
    ordered: tuple[SessionFile, ...]
    """claw's order by what is known (heads until loaded)."""
    directories: tuple[tuple[Root, str], ...]
    """The fingerprint directories backing it: (root, real path)."""


@dataclass(frozen=True, slots=True)
class _Probe:
    """A file read for indexing: its version, head, and its load if loaded."""

    found: scanning.Found
    key: FileKey
    head: Head
    summary: Summary | None


_UNSET = object()


@dataclass(slots=True)
class _Space:
    """Mutable state of one workspace (guarded by the index lock)."""

    fp: str
    files: dict[str, SessionFile] = field(default_factory=dict)
    order: list[order.SortKey] = field(default_factory=list)
    groups: dict[str, list[str]] = field(default_factory=dict)
    """File name on disk -> entry paths with that name, winner first."""
    dirs: dict[str, Root] = field(default_factory=dict)
    """Real path of each fingerprint directory -> its root."""
    born: int = 0
    """The index generation it was created at: (born, version) names a state."""
    version: int = 0
    latest: object = _UNSET
    lineage: lineage_tree.Lineage | None = None
    grown: bool = False
    """`lineage` was grown by the files placed since the last `_changed` (keep it)."""
    snapshot: Workspace | None = None
    home: object = _UNSET
    """The workspace's own directory as far as known (str | None), or unset."""


def _facts_of(head: Head, result: Summary | None) -> Facts:
    if result is not None:
        return Facts(
            result.session_id,
            result.updated_at_ms,
            result.parent_session_id,
            result.workspace_root,
            True,
        )
    assert head.session_id is not None and head.updated_at_ms is not None
    return Facts(
        head.session_id, head.updated_at_ms, head.parent_session_id, head.workspace_root, False
    )


class StoreIndex:
    """All session files of the given roots; see the module docstring."""

    def __init__(self, roots: Iterable[Root]) -> None:
        self._lock = threading.RLock()
        self._roots: list[Root] = sorted(roots, key=lambda r: r.precedence)
        self._records: dict[str, SessionFile] = {}
        """Entry path -> file."""
        self._backing: dict[str, str] = {}
        """Real path -> entry path (a file reached twice is indexed once)."""
        self._by_dir: dict[str, set[str]] = {}
        """Store directory -> entry paths listed in it."""
        self._spaces: dict[str, _Space] = {}
        self._loads = LoadCache(self._lock, self._report)
        self._membership = Membership()
        self._labels: dict[str, str | None] | None = None
        self._label_owners: dict[str, str] | None = None
        """label -> fp, built with `_labels`."""
        self._global_latest: object = _UNSET
        self._reported: OrderedDict[str, None] = OrderedDict()
        self.generation = 0
        """Bumps on every change the view can see."""

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
        return self._rescan_root(root)

    # --- scanning ---------------------------------------------------------------

    def scan(self) -> set[str]:
        """Bring the index up to date with the disk; the fingerprints changed.

        The first call indexes everything. Later ones (a watcher's
        "rescan") re-read only files whose version changed, directory by
        directory, so the lock is never held for long and nothing that did
        not change is invalidated.
        """
        with self._lock:
            roots = list(self._roots)
        changed = self._recheck_membership()
        for root in roots:
            changed |= self._rescan_root(root)
        return changed

    def _rescan_root(self, root: Root) -> set[str]:
        listing = scanning.read_root(root)
        changed: set[str] = set()
        listed = set()
        for fp, directory in listing.fp_dirs:
            listed.add(directory)
            changed |= self._sync_dir(root, fp, directory)
        changed |= self._sync_dir(root, None, root.realpath, listing.flat)
        with self._lock:
            gone = [
                (fp, directory)
                for fp, space in self._spaces.items()
                for directory, owner in space.dirs.items()
                if owner.realpath == root.realpath and directory not in listed
            ]
        for fp, directory in gone:
            changed |= self._sync_dir(root, fp, directory)
        return changed

    def _recheck_membership(self) -> set[str]:
        """Re-decide membership where a recorded root's canonical form changed
        (a directory created, removed or re-linked since it was decided)."""
        with self._lock:
            recorded = self._membership.recorded()
        fresh = Membership.compute(recorded)
        with self._lock:
            moved = self._membership.update(fresh)
            if not moved:
                return set()
            changed: set[str] = set()
            for rec in list(self._records.values()):
                if rec.facts.workspace_root in moved:
                    changed |= self._place(self._reprobe(rec, rec.key, rec.head))
            self._changed(changed)
        return changed

    def _reprobe(self, rec: SessionFile, key: FileKey, head: Head) -> _Probe:
        """A probe that re-places a known file from what is known of it (lock held)."""
        found = scanning.Found(
            rec.root, None if rec.legacy else rec.fp, rec.file_name, rec.path, rec.directory
        )
        return _Probe(found, key, head, self._loads.cached(rec.path, key))

    def _probe(self, found: scanning.Found, old: SessionFile | None = None) -> _Probe | None:
        """Read a file's head (and all of it when the head has no meta line).

        A file that did not change since `old` is taken from `old`. An
        unreadable one is left out, logged once.
        """
        try:
            opened = files.open_backing(found.path)
        except files.NotRegular:
            return None
        except files.Unreadable as e:
            self._report(found.path, f"skipped, cannot read: {e.strerror}")
            return None
        except OSError as e:
            self._report(found.path, f"skipped, cannot open: {e.strerror}")
            return None
        try:
            key = opened.key
            if old is not None and old.key == key and old.path == found.path:
                return _Probe(found, key, old.head, self._cached_load(found.path, key))
            head = heads.read_head(opened.fd)
        except OSError as e:
            self._report(found.path, f"skipped, cannot read: {e.strerror}")
            return None
        finally:
            opened.close()
        result = self._cached_load(found.path, key)
        if result is None and not head.meta_found:
            loaded = self._load(found.path, found.file_name)
            if loaded is None:
                return None
            key, result = loaded.key, loaded.summary
            head = loaded.head or head
            self._loads.store(found.path, key, result)
        self._learn_root(head.workspace_root if result is None else result.workspace_root)
        return _Probe(found, key, head, result)

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

    def cached_load(self, sf: SessionFile) -> Summary | None:
        """The load of `sf`'s version if one is cached (never loads)."""
        return self._cached_load(sf.path, sf.key)

    def _cached_load(self, path: str, key: FileKey) -> Summary | None:
        return self._loads.cached(path, key)

    # --- placing files (lock held) -------------------------------------------

    def _space(self, fp: str) -> _Space:
        space = self._spaces.get(fp)
        if space is None:
            space = self._spaces[fp] = _Space(fp, born=self.generation)
            self._labels = None
        return space

    def _place_all(self, probes: Iterable[_Probe]) -> set[str]:
        changed: set[str] = set()
        for probe in probes:
            changed |= self._place(probe)
        return changed

    def _place(self, probe: _Probe) -> set[str]:
        """Index (or re-index) one file from a probe; the fingerprints changed."""
        found = probe.found
        entry_path = os.path.join(found.directory, found.file_name)
        owner = self._backing.get(found.path)
        if owner is not None and owner != entry_path:
            return set()  # the same file reached through a link: indexed once
        facts = _facts_of(probe.head, probe.summary)
        if found.fp_dir is not None:
            fp = found.fp_dir
        else:
            fp = self._membership.legacy_workspace(
                facts.workspace_root, found.root, set(self._spaces)
            )
        new = SessionFile(
            name=found.file_name,
            path=found.path,
            key=probe.key,
            head=probe.head,
            is_rot=scanning.rot_stem(found.file_name) is not None,
            belongs=self._membership.belongs(fp, facts.workspace_root),
            fp=fp,
            root=found.root,
            file_name=found.file_name,
            directory=found.directory,
            legacy=found.fp_dir is None,
            facts=facts,
        )
        old = self._records.get(entry_path)
        if old is not None and _material(old) == _material(new):
            # Same place in every listing, order and tree (e.g. only loaded now):
            # update quietly, so a sweep does not invalidate the views.
            quiet = replace(new, name=old.name)
            self._records[entry_path] = quiet
            space = self._spaces[old.fp]
            if space.files.get(old.name) is old:
                space.files[old.name] = quiet
            return set()
        changed = self._drop(entry_path)
        self._records[entry_path] = new
        self._backing[found.path] = entry_path
        self._by_dir.setdefault(found.directory, set()).add(entry_path)
        space = self._space(fp)
        if found.fp_dir is not None:
            space.dirs.setdefault(found.directory, found.root)
        group = space.groups.setdefault(found.file_name, [])
        group.append(entry_path)
        if len(group) == 1 and found.file_name not in space.files:
            space.files[found.file_name] = new  # the common case: no clash
            order.insort(space.order, new.sort_key)
            self._grow_lineage(space, new)
        else:
            self._drop_lineage(space)
            group.sort(key=self._group_rank)
            self._name_group(space, found.file_name)
        return changed | {fp}

    def _grow_lineage(self, space: _Space, rec: SessionFile) -> None:
        """Add a file just placed to the built lineage, if it only adds a leaf
        (lineage.grown): a new session or fork then costs no rebuild of a
        10,000-member tree, when placed and again when the kernel's held
        `forks/` nodes are checked. Otherwise the lineage is dropped."""
        if space.lineage is None or rec.is_rot or self._has_rot_copy(space, rec):
            self._drop_lineage(space)
            return
        files = space.files
        grown = lineage_tree.grown(space.lineage, _member(rec), lambda name: files[name].sort_key)
        if grown is None:
            self._drop_lineage(space)
        else:
            space.lineage, space.grown = grown, True

    @staticmethod
    def _has_rot_copy(space: _Space, rec: SessionFile) -> bool:
        """Whether `rec` has rotated copies, which a live file takes out of the lineage."""
        stem = session.file_stem(rec.file_name)
        return any(
            other.is_rot
            and other.directory == rec.directory
            and scanning.rot_stem(other.file_name) == stem
            for other in space.files.values()
        )

    @staticmethod
    def _drop_lineage(space: _Space) -> None:
        space.lineage, space.grown = None, False

    def _group_rank(self, entry_path: str) -> tuple[int, bool, str]:
        rec = self._records[entry_path]
        return (rec.root.precedence, rec.legacy, entry_path)

    def _name_group(self, space: _Space, file_name: str) -> None:
        """Give the files sharing `file_name` their entry names (SPEC §1).

        The first by root precedence keeps the name, the others get their
        root's `~<hex>` suffix (a further `~<n>` only if that is taken too).
        """
        group = space.groups[file_name]
        for entry_path in group:
            rec = self._records[entry_path]
            current = space.files.get(rec.name)
            if current is not None and current.entry_path == entry_path:
                self._unlist(space, current)
        for position, entry_path in enumerate(group):
            rec = self._records[entry_path]
            name = file_name if position == 0 else suffixed_name(file_name, rec.root)
            stem = session.file_stem(name)
            number = 2
            while name in space.files:
                name = f"{stem}~{number}{file_name[len(session.file_stem(file_name)):]}"
                number += 1
            rec = replace(rec, name=name)
            self._records[entry_path] = rec
            space.files[name] = rec
            order.insort(space.order, rec.sort_key)

    def _unlist(self, space: _Space, rec: SessionFile) -> None:
        del space.files[rec.name]
        order.remove(space.order, rec.sort_key)

    def _drop(self, entry_path: str) -> set[str]:
        """Forget the file listed at `entry_path`; the fingerprints changed."""
        rec = self._records.pop(entry_path, None)
        if rec is None:
            return set()
        if self._backing.get(rec.path) == entry_path:
            del self._backing[rec.path]
        self._by_dir.get(rec.directory, set()).discard(entry_path)
        space = self._spaces[rec.fp]
        self._drop_lineage(space)
        current = space.files.get(rec.name)
        if current is not None and current.entry_path == entry_path:
            self._unlist(space, current)
        group = space.groups[rec.file_name]
        group.remove(entry_path)
        if group:
            self._name_group(space, rec.file_name)
        else:
            del space.groups[rec.file_name]
        self._forget_if_empty(space)
        return {rec.fp}

    def _forget_if_empty(self, space: _Space) -> None:
        if not space.files and not any(os.path.isdir(d) for d in space.dirs):
            del self._spaces[space.fp]
            self._labels = None

    def _changed(self, fps: set[str]) -> None:
        """Invalidate what depends on these workspaces, and only that.

        Labels are recomputed only when a workspace's home changed (an
        append does not change it); the root alias always, as any new
        session can be the newest of all.
        """
        if not fps:
            return
        for fp in fps:
            space = self._spaces.get(fp)
            if space is not None:
                space.version += 1
                space.latest = _UNSET
                if not space.grown:
                    space.lineage = None
                space.grown = False
                space.snapshot = None
                home = space.home
                space.home = _UNSET
                if home is _UNSET or self._home(space) != home:
                    self._labels = None
        self._global_latest = _UNSET
        self.generation += 1

    # --- refreshing ---------------------------------------------------------------

    def _root_of(self, path: str) -> tuple[Root, str | None, str] | None:
        for root in self._roots:
            where = scanning.locate(root, path)
            if where is not None:
                return root, where[0], where[1]
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
            where = self._root_of(given) or self._root_of(real)
        if where is None:
            return set(), None
        root, fp, name = where
        if not name or (fp is None and scanning.FINGERPRINT_DIR.fullmatch(name)):
            return self.refresh_dir(real), None
        if fp is None:
            directory = root.realpath
        else:
            directory = scanning.find_fp_dir(root, fp) or os.path.dirname(real)
        found = scanning.find_entry(root, fp, directory, name)
        entry_path = os.path.join(directory, name)
        with self._lock:
            old = self._records.get(entry_path)
        probe = None if found is None else self._probe(found, old)
        with self._lock:
            if fp is not None:
                self._note_dir(root, fp)
            changed = self._place(probe) if probe is not None else self._drop(entry_path)
            self._changed(changed)
        return changed, entry_path

    def refresh_dir(self, path: str) -> set[str]:
        """Re-list a root or fingerprint directory; the fingerprints changed."""
        real = os.path.realpath(path)
        with self._lock:
            where = self._root_of(real)
        if where is None:
            return set()
        root, fp, name = where
        if fp is None and not name:
            return self._rescan_root(root)
        if fp is None or name:
            return set()
        directory = scanning.find_fp_dir(root, fp)
        if directory is None:
            return self._sync_dir(root, fp, real, [])
        return self._sync_dir(root, fp, directory)

    def _note_dir(self, root: Root, fp: str) -> None:
        directory = scanning.find_fp_dir(root, fp)
        if directory is not None:
            self._space(fp).dirs.setdefault(directory, root)

    def _sync_dir(
        self,
        root: Root,
        fp: str | None,
        directory: str,
        listing: list[scanning.Found] | None = None,
    ) -> set[str]:
        """Make the index match one store directory's listing."""
        if listing is not None:
            found = listing
        else:
            assert fp is not None  # only flat files come without a fingerprint
            found = scanning.read_fp_dir(root, fp, directory)
        with self._lock:
            known = {p: self._records[p] for p in self._by_dir.get(directory, set())}
        probes = []
        for item in found:
            entry_path = os.path.join(item.directory, item.file_name)
            old = known.get(entry_path)
            if old is not None and _unchanged(old, item):
                continue
            probe = self._probe(item, old)
            if probe is not None:
                probes.append(probe)
        listed = {os.path.join(item.directory, item.file_name) for item in found}
        with self._lock:
            changed: set[str] = set()
            if fp is not None:
                changed |= self._note_fp_dir(root, fp, directory, listing is None)
            for entry_path in set(known) - listed:
                changed |= self._drop(entry_path)
            changed |= self._place_all(probes)
            self._changed(changed)
        return changed

    def _note_fp_dir(self, root: Root, fp: str, directory: str, check: bool) -> set[str]:
        """Record that `directory` backs workspace `fp`, or that it is gone."""
        if not check or os.path.isdir(directory):
            known = fp in self._spaces
            self._space(fp).dirs.setdefault(directory, root)
            return set() if known else {fp}
        space = self._spaces.get(fp)
        if space is None or space.dirs.pop(directory, None) is None:
            return set()
        self._forget_if_empty(space)
        return {fp}

    # --- full loads -------------------------------------------------------------

    def _load(self, path: str, file_name: str) -> Loaded | None:
        return self._loads.load(path, file_name)

    def _commit(self, loaded: Loaded) -> set[str]:
        """Record a full load; re-place the file if its facts changed (lock held).

        A load that only confirms what the head said changes nothing the
        views show. One that turns a file the head judged empty into a
        target (or back) does: `latest` may have been decided without it.
        """
        entry_path = self._backing.get(loaded.path)
        rec = None if entry_path is None else self._records.get(entry_path)
        before = None if rec is None else self._verdict(rec)
        self._loads.store(loaded.path, loaded.key, loaded.summary)
        if rec is None or entry_path is None:
            return set()
        changed = self._place(self._reprobe(rec, loaded.key, loaded.head or rec.head))
        now = self._records.get(entry_path)
        if not changed and now is not None and before is not latest_rule.Verdict.CHECK:
            if self._verdict(now) is not before:
                changed = {now.fp}
        return changed

    def _load_and_commit(self, rec: SessionFile) -> set[str]:
        """Fully load one file and commit it; a file that cannot be read is dropped."""
        loaded = self._load(rec.path, rec.file_name)
        if loaded is not None:
            self._learn_root(loaded.summary.workspace_root)
        with self._lock:
            if loaded is None:
                changed = self._drop(rec.entry_path) if self._records.get(rec.entry_path) else set()
            else:
                changed = self._commit(loaded)
            self._changed(changed)
        return changed

    def load(self, sf: SessionFile) -> Summary:
        """claw's list entry for the file's current version: its load, cached."""
        cached = self._cached_load(sf.path, sf.key)
        if cached is not None:
            return cached
        loaded = self._load(sf.path, sf.file_name)
        if loaded is None:
            raise FileNotFoundError(sf.path)
        self._learn_root(loaded.summary.workspace_root)
        with self._lock:
            self._changed(self._commit(loaded))
        return loaded.summary

    def sweep(self, stop: threading.Event | None = None, *, duty: float = 1.0) -> int:
        """Fully load every file known only by its head; the number re-placed.

        Meant for a background thread: the lock is held only to commit each
        result. `stop` ends it early. `duty` < 1 rests after each file for
        the matching share of the time its load took: loading holds the
        GIL, and a sweep of a 1 GB store at full speed would add up to a
        switch interval to every request the mount serves meanwhile.
        """
        with self._lock:
            todo = [rec for rec in self._records.values() if not rec.facts.loaded]
        rest = threading.Event() if stop is None else stop
        fixed = 0
        for rec in todo:
            if rest.is_set():
                break
            started = time.monotonic()
            if self._cached_load(rec.path, rec.key) is None and self._load_and_commit(rec):
                fixed += 1
            if duty < 1.0:
                rest.wait((time.monotonic() - started) * (1.0 / duty - 1.0))
        return fixed

    # --- queries ------------------------------------------------------------------

    def workspaces(self) -> list[Workspace]:
        with self._lock:
            return [self._snapshot(space) for _, space in sorted(self._spaces.items())]

    def workspace(self, fp: str) -> Workspace | None:
        with self._lock:
            space = self._spaces.get(fp)
            return None if space is None else self._snapshot(space)

    def _snapshot(self, space: _Space) -> Workspace:
        label = self._all_labels().get(space.fp)
        home = self._home(space)
        snap = space.snapshot
        if snap is None or snap.label != label:
            snap = space.snapshot = Workspace(
                fp=space.fp,
                label=label,
                path=home,
                files=dict(space.files),
                ordered=tuple(space.files[key[-1]] for key in space.order),
                directories=tuple(
                    (root, d) for d, root in sorted(space.dirs.items(), key=_dir_rank)
                ),
            )
        return snap

    def _all_labels(self) -> dict[str, str | None]:
        if self._labels is None:
            raw: dict[str, str] = {}
            for fp, space in self._spaces.items():
                home = self._home(space)
                if home is not None:
                    raw[fp] = labels.label_of(home)
            resolved = labels.resolve_collisions(raw)
            self._labels = {fp: resolved.get(fp) for fp in self._spaces}
            self._label_owners = {label: fp for fp, label in resolved.items()}
        return self._labels

    def label_owner(self, label: str) -> str | None:
        """The fingerprint of the workspace labelled `label` (`workspaces/<label>`)."""
        with self._lock:
            self._all_labels()
            assert self._label_owners is not None
            return self._label_owners.get(label)

    def fingerprints(self) -> list[str]:
        """The workspaces' fingerprints, sorted (no snapshots built)."""
        with self._lock:
            return sorted(self._spaces)

    def version(self, fp: str) -> tuple[int, int] | None:
        """A stamp of a workspace's state: it changes whenever anything in the
        workspace does (its files, order, lineage, latest), and only then."""
        with self._lock:
            space = self._spaces.get(fp)
            return None if space is None else (space.born, space.version)

    def _home(self, space: _Space) -> str | None:
        """The path a workspace is named after (SPEC §2), cached per change.

        A recorded root that belongs, else the newest recorded root, else
        the project above `.claw/sessions`, else none.
        """
        if space.home is _UNSET:
            space.home = self._find_home(space)
        return space.home  # type: ignore[return-value]

    def _find_home(self, space: _Space) -> str | None:
        newest: str | None = None
        for key in space.order:
            recorded = space.files[key[-1]].facts.workspace_root
            if recorded is None:
                continue
            if self._membership.belongs(space.fp, recorded):
                return recorded
            if newest is None:
                newest = recorded
        if newest is not None:
            return newest
        roots = sorted(
            [*space.dirs.values(), *(f.root for f in space.files.values())],
            key=lambda r: r.precedence,
        )
        for root in roots:
            owner = root.owner_dir()
            if owner is not None:
                return owner
        return None

    def labels(self) -> dict[str, str]:
        """fp -> label for workspaces that have one."""
        with self._lock:
            return {fp: label for fp, label in self._all_labels().items() if label is not None}

    def latest(self, fp: str) -> SessionFile | None:
        """The session `latest` names in this workspace (latest.py), or None.

        Candidates are fully loaded outside the lock, one at a time, from
        the top; the scan resumes where it stopped unless something else
        changed the workspace meanwhile, so skipping many files is linear.
        """
        start = 0
        while True:
            with self._lock:
                space = self._spaces.get(fp)
                if space is None:
                    return None
                if space.latest is not _UNSET:
                    return space.latest  # type: ignore[return-value]
                judge = functools.partial(self._judge, space)
                result, position = latest_rule.scan(space.order, judge, start)
                if result is latest_rule.Verdict.SKIP:
                    space.latest = None
                    return None
                rec = space.files[space.order[position][-1]]
                if result is latest_rule.Verdict.TARGET:
                    space.latest = rec
                    return rec
                version = space.version
            self._load_and_commit(rec)
            with self._lock:
                start = self._resume_at(fp, version, rec, position)

    def _resume_at(self, fp: str, version: int, rec: SessionFile, position: int) -> int:
        """Where to go on scanning after `rec` (at `position`) was loaded (lock held).

        Everything above `position` was skipped and is unchanged if the
        only change since was our own commit; `rec` itself may have moved up.
        """
        space = self._spaces.get(fp)
        if space is None or space.version - version > 1:
            return 0
        now = self._records.get(rec.entry_path)
        if now is None or now.fp != fp:
            return position
        return min(position, bisect.bisect_left(space.order, now.sort_key))

    def _judge(self, space: _Space, name: str) -> latest_rule.Verdict:
        return self._verdict(space.files[name])

    def _verdict(self, rec: SessionFile) -> latest_rule.Verdict:
        """What is known of `rec` as an alias target now (lock held)."""
        loaded = self._loads.cached(rec.path, rec.key)
        return latest_rule.verdict(loaded, rec.belongs, rec.head, rec.key.size)

    def global_latest(self) -> SessionFile | None:
        """The root alias: the first target in claw's order over all workspaces merged.

        The workspaces' orders are merged lazily (heapq.merge) and checked
        from the top as `latest` does, so usually one file is fully loaded,
        not every workspace's top. After a load the merge resumes at the
        loaded file unless something else changed meanwhile.
        """
        floor: order.SortKey | None = None
        while True:
            with self._lock:
                if self._global_latest is not _UNSET:
                    return self._global_latest  # type: ignore[return-value]
                generation = self.generation
                rec = self._first_candidate(floor)
                if rec is None or self._verdict(rec) is latest_rule.Verdict.TARGET:
                    self._global_latest = rec
                    if rec is not None:
                        self._spaces[rec.fp].latest = rec  # nothing above it qualifies
                    return rec
            self._load_and_commit(rec)
            with self._lock:
                now = self._records.get(rec.entry_path)
                if self.generation - generation > 1:
                    floor = None
                else:
                    floor = rec.sort_key if now is None else min(rec.sort_key, now.sort_key)

    def _first_candidate(self, floor: order.SortKey | None) -> SessionFile | None:
        """The first file at or after `floor` in the merged order that is not
        skipped (lock held)."""
        streams = []
        for fp, space in self._spaces.items():
            start = 0 if floor is None else bisect.bisect_left(space.order, floor)
            streams.append(_tail(space.order, start, fp))
        for key, fp in heapq.merge(*streams):
            rec = self._spaces[fp].files[key[-1]]
            if self._verdict(rec) is not latest_rule.Verdict.SKIP:
                return rec
        return None

    def lineage(self, fp: str) -> lineage_tree.Lineage:
        """The fork tree of a workspace (rot copies whose live file exists left out)."""
        with self._lock:
            space = self._spaces.get(fp)
            if space is None:
                return lineage_tree.Lineage()
            if space.lineage is not None:
                return space.lineage
            members, version = self._members(space), space.version
        built = lineage_tree.build(members)  # outside the lock: 18 ms per 10k members
        with self._lock:
            if self._spaces.get(fp) is space and space.version == version:
                space.lineage = built
        return built

    def _members(self, space: _Space) -> list[lineage_tree.Member]:
        live = {
            (rec.directory, session.file_stem(rec.file_name))
            for rec in space.files.values()
            if not rec.is_rot
        }
        members = []
        for key in space.order:
            rec = space.files[key[-1]]
            stem = scanning.rot_stem(rec.file_name)
            if stem is not None and (rec.directory, stem) in live:
                continue
            members.append(_member(rec))
        return members

    def loaded(self, fp: str) -> list[tuple[SessionFile, Summary]]:
        """Every file of a workspace with its full load, in claw's true order.

        Loads what is not loaded yet (index.tsv needs exact values).
        """
        snap = self.workspace(fp)
        for _round in range(3):  # a file that keeps changing must not keep us here
            if snap is None:
                return []
            pending = [
                rec for rec in snap.ordered if self._cached_load(rec.path, rec.key) is None
            ]
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

    def has_workspace(self, fp: str) -> bool:
        with self._lock:
            return fp in self._spaces

    def file(self, fp: str, name: str) -> SessionFile | None:
        with self._lock:
            space = self._spaces.get(fp)
            return None if space is None else space.files.get(name)

    # --- forks ----------------------------------------------------------------------

    def fork(self, sf: SessionFile, branch: str | None) -> SessionFile:
        """Fork `sf` as claw does, into its store directory; the new file, indexed.

        Raises OSError: ENOENT when `sf` is gone or unreadable, EACCES/EROFS
        when its directory is not writable, ENOSPC on a full disk.
        """
        with self._lock:
            current = self._records.get(sf.entry_path, sf)
        directory = current.fork_directory
        if current.legacy:
            os.makedirs(directory, exist_ok=True)
        new_path = forkwriter.write_fork(
            current.path, directory, branch, file_name=current.file_name
        )
        _, entry_path = self._refresh_file(new_path)
        with self._lock:
            made = None if entry_path is None else self._records.get(entry_path)
        if made is None:
            raise FileNotFoundError(2, "the fork was written but is not in a store", new_path)
        return made


def _material(sf: SessionFile) -> tuple[object, ...]:
    """What decides where a file shows (order, membership, lineage, workspace)."""
    facts = sf.facts
    return (
        sf.path, sf.key.dev, sf.key.ino, sf.key.size, sf.key.mtime_ns, sf.is_rot, sf.belongs,
        sf.fp,
        sf.root, sf.file_name, sf.directory, sf.legacy,
        facts.session_id, facts.updated_at_ms, facts.parent_session_id, facts.workspace_root,
    )


def _member(rec: SessionFile) -> lineage_tree.Member:
    return lineage_tree.Member(
        name=rec.name,
        session_id=rec.facts.session_id,
        parent_session_id=rec.facts.parent_session_id,
        stem=session.file_stem(rec.file_name),
        precedence=rec.root.precedence,
    )


def _tail(keys: list[order.SortKey], start: int, fp: str) -> Iterator[tuple[order.SortKey, str]]:
    """The keys of one workspace from `start` on, each with the workspace (for the merge)."""
    for position in range(start, len(keys)):
        yield keys[position], fp


def _dir_rank(item: tuple[str, Root]) -> tuple[int, str]:
    return (item[1].precedence, item[0])


def _unchanged(old: SessionFile, found: scanning.Found) -> bool:
    try:
        st = os.stat(found.path)
    except OSError:
        return False
    return old.path == found.path and old.key == file_key(st)
