"""Changing the index: the one way its records change, and what follows.

Everything the index learns from the disk (a probe of a file, a load, a
file gone) is committed here, under the index's lock: the file's record
is made (which workspace it joins, whether it belongs: membership.py,
whose realpath checks are decided before the lock is taken), placed in the
records (records.py: where it is listed, under which name), and the change
published (`changed`): the workspaces' stamps move on, which makes every
answer kept for them stale (snapshots, aliases, fork trees). What the
cache does not hold yet is noted on the way (unsaved.py).

I/O never happens with the lock held: a caller reads first, commits the
result after (`update`), and a load is committed only if the file is still
the version that was read.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from clawfs.format.summary import Summary
from clawfs.store import latest as latest_rule
from clawfs.store import membership, probe
from clawfs.store.latest import Verdict
from clawfs.store.loads import LoadCache, Loaded
from clawfs.store.membership import Membership
from clawfs.store.problems import Problems
from clawfs.store.records import Records, SessionFile
from clawfs.store.roots import Root
from clawfs.store.unsaved import Unsaved
from clawfs.store.versions import Version
from clawfs.store.workspaces import Workspaces


class Commits:
    """The index's state under its lock (`lock`), and the changes made to it.

    `forgotten` is told of workspaces that are gone, to let go of what is
    kept for them elsewhere (the façade's alias answers).
    """

    def __init__(
        self,
        roots: list[Root],
        unsaved: Unsaved,
        problems: Problems,
        forgotten: Callable[[set[str]], None],
    ) -> None:
        self.lock = threading.RLock()
        self.roots = roots
        """The roots, in precedence order (read and changed with the lock held)."""
        self.records = Records()
        self.membership = Membership()
        self.workspaces = Workspaces(self.records)
        self.unsaved = unsaved
        self.report = problems.report
        self.loads = LoadCache(self.lock, self.report)
        self._forgotten = forgotten

    # --- membership (decided outside the lock) -----------------------------------

    def learn_root(self, workspace_root: str | None) -> None:
        """Decide a recorded root's membership now, without the lock (realpath),
        so that placing the file under the lock finds it decided."""
        if workspace_root is None:
            return
        with self.lock:
            if self.membership.knows(workspace_root):
                return
        fresh, preferred = Membership.compute_both([workspace_root])
        with self.lock:
            self.membership.learn(fresh, preferred)

    def recheck_membership(self) -> set[str]:
        """Re-decide membership where a recorded root's canonical form changed
        (a directory created, removed or re-linked since it was decided)."""
        with self.lock:
            recorded = self.membership.recorded()
        fresh = Membership.compute(recorded)

        def replace_moved() -> set[str]:
            moved = self.membership.update(fresh)
            changed: set[str] = set()
            if moved:
                for rec in list(self.records.files()):
                    if rec.workspace_root in moved:
                        changed |= self.place(probe.known(rec))
            return changed

        return self.update(replace_moved)

    # --- committing (lock held) ----------------------------------------------------

    def update(self, change: Callable[[], set[str]]) -> set[str]:
        """Apply `change` to the records under the lock and publish what it
        changed; the fingerprints changed.

        A workspace it left with no files is forgotten if no directory
        backs it any more: whether they are still there is asked outside
        the lock, and the workspace forgotten only if it stayed as it was.
        """
        with self.lock:
            changed = change()
            emptied = self.records.emptied()
            self.changed(changed)
        gone = {fp: dirs for fp, dirs in emptied.items() if not any(map(os.path.isdir, dirs))}
        if gone:
            with self.lock:
                forgotten = {fp for fp, dirs in gone.items() if self.records.forget(fp, dirs)}
                self.changed(forgotten)
            changed |= forgotten
        return changed

    def changed(self, fps: set[str]) -> None:
        """Publish a change of these workspaces: their stamps move on, which
        makes every answer kept for them (and for the root alias) stale."""
        if not fps:
            return
        self.records.changed(fps)
        self.workspaces.changed(fps)
        self._forgotten(fps - self.records.spaces.keys())

    def place(self, read: probe.Probe) -> set[str]:
        """Index (or re-index) one file from a probe; the fingerprints changed."""
        return self.records.place(self.file_of(read))

    def file_of(self, read: probe.Probe) -> SessionFile:
        """The record of a probed file: which workspace it joins, whether it belongs."""
        found = read.found
        old = self.records.listed(found.directory, found.file_name)
        read = _keeping_load(old, read)
        recorded = read.workspace_root
        fp = found.fp_dir
        if fp is None:
            known = set(self.records.spaces)
            fp = self.membership.legacy_workspace(recorded, found.root, known)
        belongs = self.membership.belongs(fp, recorded, found.path, found.root)
        version = read.version
        if old is not None and not version.earlier_loaded and _loaded_earlier(old, version):
            version = version.loaded_once()
        return SessionFile(found, version, fp, belongs)

    def belonging(self, fp: str, root: Root, directory: str) -> Belonging:
        """Whether the files of the fingerprint directory `directory` (of
        `root`) belong to workspace `fp`, as `file_of` decides it, asked
        once per recorded root (`Belonging`)."""
        return Belonging(self, fp, root, directory)

    def drop(self, entry_path: str) -> set[str]:
        """Forget the file listed at `entry_path`, and let the cache forget it."""
        rec = self.records.get(entry_path)
        if rec is not None and not rec.is_link:  # a link's file is not the link's to forget
            self.unsaved.forget(rec.path)
        return self.records.drop(entry_path)

    def indexed(self, path: str) -> bool:
        """Whether the file at real path `path` is in the index."""
        with self.lock:
            return self.records.backed_by(path) is not None

    # --- loads ---------------------------------------------------------------------

    def cached_load(self, sf: SessionFile) -> Summary | None:
        """The load of `sf`'s version if it was loaded (never loads). Per
        entry: a link beside its target is loaded by itself (records.py)."""
        with self.lock:
            now = self.records.get(sf.entry_path)
            return now.summary if now is not None and now.key == sf.key else None

    def load(self, path: str, file_name: str) -> Loaded | None:
        """A load of the file at real path `path` (loads.py), not committed;
        kept there only for a file more entries than one reach (links)."""
        with self.lock:
            rec = self.records.backed_by(path)
            before = None if rec is None or not rec.loaded_before else rec.key
            others = len(self.records.backing(path)) != 1
        return self.loads.load(path, file_name, before, for_others=others)

    def take(self, loaded: Loaded, rec: SessionFile) -> set[str]:
        """Commit a load of the entry `rec` (its root says how its recorded root reads)."""
        self.learn_root(membership.resolve(loaded.summary.workspace_root, rec.root))
        entry_path = rec.entry_path
        return self.update(lambda: self._take(loaded, entry_path))

    def load_and_commit(self, rec: SessionFile) -> set[str]:
        """Load one file and commit it; a file that cannot be read is dropped."""
        loaded = self.load(rec.path, rec.file_name)
        if loaded is None:
            return self.update(lambda: self.drop(rec.entry_path))
        return self.take(loaded, rec)

    def _take(self, loaded: Loaded, entry_path: str) -> set[str]:
        """Record a load of the entry at `entry_path`; re-place it if its
        facts changed (lock held). Per entry, as claw loads each entry it
        lists: a file without an id takes the entry's stem (records.py).

        A load that only confirms what the head said changes nothing the
        views show. One that turns a file the head judged empty into a
        target (or back) does: `latest` may have been decided without it.
        """
        rec = self.records.get(entry_path)
        if rec is None or rec.path != loaded.path:
            return set()
        before = latest_rule.judge(rec)
        self.unsaved.learned(rec.path)
        # What is known of this version's Markdown stays: it is the version's.
        kept = rec.rendered if rec.key == loaded.key else None
        version = Version.of(loaded.key, None, loaded.summary, rec.stem, rendered=kept)
        changed = self.place(probe.Probe(rec.found, version))
        now = self.records.get(rec.entry_path)
        if not changed and now is not None and before is not Verdict.CHECK:
            if latest_rule.judge(now) is not before:
                changed = {now.fp}
        return changed


def _keeping_load(old: SessionFile | None, read: probe.Probe) -> probe.Probe:
    """`read`, or the load `old` holds of the same version when `read` is only
    its head: a probe begun before that load (or a fork's handoff) was
    committed may commit after it, and the load says more of the same bytes
    (`latest` would otherwise load the file again)."""
    if (old is None or not old.loaded or read.version.loaded or old.path != read.found.path
            or not read.version.same_as(old.key)):
        return read
    return read._replace(version=old.version)


def _loaded_earlier(old: SessionFile, new: Version) -> bool:
    """Whether an earlier version than `new` of the file `old` is was loaded."""
    key = new.key
    if not old.key.same_file(key):
        return False
    return old.version.earlier_loaded or (old.loaded and old.key != key)


class Belonging:
    """Whether a file of one fingerprint directory, named `file_name` with
    this recorded root (as the file says it, not `resolve`d), belongs to its
    workspace: what `Commits.file_of` decides, once per recorded root for
    all of the directory's files (a remount asks it of 100,000 files and a
    few hundred roots; dirsync.py). `decided` holds the answers that do not
    depend on the file (look there first: no call per file). Call it
    without the lock held: a root not decided yet is decided first
    (`learn_root`, which touches the disk)."""

    __slots__ = ("decided", "_commits", "_fp", "_root", "_prefix")

    def __init__(self, commits: Commits, fp: str, root: Root, directory: str) -> None:
        self.decided: dict[str | None, bool] = {}
        self._commits, self._fp, self._root = commits, fp, root
        self._prefix = directory.rstrip("/") + "/"

    def __call__(self, recorded: str | None, file_name: str) -> bool:
        known = self.decided.get(recorded)
        if known is not None:
            return known
        commits, root = self._commits, self._root
        resolved = membership.resolve(recorded, root)
        path = self._prefix + file_name
        if resolved is None and root.owner_dir() is not None:
            # Decided by where the file lies (Membership.belongs): no I/O.
            return commits.membership.belongs(self._fp, None, path, root)
        if resolved is not None and membership.belongs_as_recorded(self._fp, resolved):
            self.decided[recorded] = True
            return True
        commits.learn_root(resolved)
        with commits.lock:
            known = self.decided[recorded] = commits.membership.belongs(
                self._fp, resolved, path, root)
        return known
