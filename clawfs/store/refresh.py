"""Applying what changed on disk, one file or one directory at a time.

The watcher and the poller report paths (live/watcher.py); a fork reports
the file it wrote. Each is located among the roots (scan.locate: the
layout `<root>/<fp>/<name>` or `<root>/<name>`) and only that file or
directory is read again, never everything (SPEC §7). Containment (SPEC §6)
is decided here too: a fingerprint directory that is gone or a link out of
the root now is dropped with all it held, whatever the link reaches.
"""

from __future__ import annotations

import os

from clawfs.store import probe
from clawfs.store import scan as scanning
from clawfs.store.commits import Commits
from clawfs.store.dirsync import DirSync
from clawfs.store.forkwriter import Written
from clawfs.store.records import SessionFile
from clawfs.store.roots import Root


class Refresh:
    """Re-reads changed paths into the index (see the module docstring)."""

    def __init__(self, commits: Commits, sync: DirSync) -> None:
        self._commits = commits
        self._sync = sync

    def file(
        self, path: str, links: bool = True, written: Written | None = None
    ) -> tuple[set[str], str | None]:
        """Re-read one file (or directory) that changed; the fingerprints
        changed, and the entry path the file is indexed under (if a file).

        The layout is read from the path as given (`<root>/<fp>/<name>`,
        which may be a linked fingerprint directory), else from its real
        path; files are indexed under their fingerprint directory's real path.
        `links`: re-read the other entries reaching the same file too (a
        link beside its target, records.py), of which no event tells.
        `written`: what the fork writer knows of the file at `path`, taken
        instead of reading it while the file is still the version written
        (probe.written).
        """
        commits = self._commits
        parent, name = os.path.split(os.path.abspath(path))
        given = os.path.join(parent, name)
        with commits.lock:
            where = self._root_of(given)
        if where is None:
            # Only a path outside every root as given is resolved: a realpath
            # follows links, and one into a filesystem that never answers
            # would hold the watcher (host/paths.resolve_inside, SPEC §6).
            real = os.path.join(os.path.realpath(parent), name)
            with commits.lock:
                where = self._root_of(real) or self._in_known_dir(real)
        if where is None:
            return set(), None
        root, fp, name = where
        if not name or (fp is None and scanning.FINGERPRINT_DIR.fullmatch(name)):
            return self.directory(given), None
        fp_dir = None if fp is None else scanning.find_fp_dir(root, fp)
        if fp is not None and fp_dir is None:
            # The fingerprint directory is gone or a link out of the root now:
            # nothing in it is the store's (SPEC §6), whatever the link reaches.
            return self.directory(os.path.join(root.realpath, fp)), None
        directory = root.realpath if fp_dir is None else fp_dir
        found = scanning.find_entry(root, fp, directory, name)
        entry_path = os.path.join(directory, name)
        with commits.lock:
            old = commits.records.get(entry_path)
        read = None
        if found is not None:
            if written is not None and written.key is not None and written.path == path:
                read = probe.written(found, written.key, written.summary)
            if read is None:
                read = probe.read(found, old, commits.loads, commits.report)
        if read is not None:
            commits.learn_root(read.workspace_root)

        def place_or_drop() -> set[str]:
            changed = set()
            if fp is not None and fp_dir is not None:
                changed = commits.records.note_dir(fp, fp_dir, root)
            if read is None:
                return changed | commits.drop(entry_path)
            if not read.saved:
                commits.unsaved.learned(read.found.path)
            return changed | commits.place(read)

        changed = commits.update(place_or_drop)
        if links:
            for other in self._sharing(entry_path, old, read):
                changed |= self.file(other, links=False)[0]
        return changed, entry_path

    def _sharing(
        self, entry_path: str, old: SessionFile | None, read: probe.Probe | None
    ) -> list[str]:
        """The other entries whose real path is the one the entry at
        `entry_path` had (`old`) or has now (`read`), and which may not hold
        the file's version now: none that holds the version just read, and
        none where a link changed (touched, made, removed, re-pointed: its
        file did not, and a change to the file has an event of its own), so
        link churn beside N links costs no N re-reads (SPEC §6)."""
        reals = {old.path} if old is not None else set()
        if read is not None:
            reals.add(read.found.path)
        a_link = (old is not None and old.is_link) or (read is not None
                                                       and read.found.real is not None)
        with self._commits.lock:
            records = self._commits.records
            return [rec.entry_path for real in reals for rec in records.backing(real)
                    if rec.entry_path != entry_path and not _holds(rec, read)
                    and not (a_link and (read is None or rec.path != read.found.path))]

    def directory(self, path: str) -> set[str]:
        """Re-list a root or fingerprint directory; the fingerprints changed.

        Located by the path as given, then by its real path: a fingerprint
        directory swapped for a link out of the root has its real path out
        there, and must still be found to be dropped (SPEC §6).
        """
        given = os.path.abspath(path)
        with self._commits.lock:
            where = self._root_of(given)
        if where is None:  # resolved only when outside every root as given (file())
            real = os.path.realpath(path)
            with self._commits.lock:
                where = self._root_of(real)
        if where is None:
            return set()
        root, fp, name = where
        if fp is None and not name:
            with self._sync.passing() as scan:
                return self._sync.root(root, scan)
        if fp is not None and name:  # a directory named like a session (scan.py)
            return self.file(given)[0]
        if fp is None or name:
            return set()
        directory = scanning.find_fp_dir(root, fp)
        with self._commits.lock:
            before = [d for known, d in self._commits.records.dirs_of(root) if known == fp]
        changed: set[str] = set()
        for old in before:
            if old != directory:  # gone, moved, or a link out of the root now
                changed |= self._sync.directory(root, fp, old, [])
        if directory is not None:
            changed |= self._sync.directory(root, fp, directory)
        return changed

    def _root_of(self, path: str) -> tuple[Root, str | None, str] | None:
        """The root `path` lies in, and its fingerprint and name there (lock held)."""
        for root in self._commits.roots:
            where = scanning.locate(root, path)
            if where is not None:
                return root, where[0], where[1]
        return None

    def _in_known_dir(self, path: str) -> tuple[Root, str | None, str] | None:
        """Where `path` sits when its directory is the real path of a linked
        fingerprint directory (`<root>/<fp> -> <root>/elsewhere`), which the
        layout alone cannot tell (lock held)."""
        directory, name = os.path.split(path)
        for root in self._commits.roots:
            for fp, known in self._commits.records.dirs_of(root):
                if known == directory:
                    return root, fp, name
        return None


def _holds(rec: SessionFile, read: probe.Probe | None) -> bool:
    """Whether `rec` is an entry of the file `read` just read, at that version."""
    return (read is not None and rec.path == read.found.path
            and rec.version.same_as(read.version.key))
