"""Making the index match a store directory's listing, and a root's.

A scan, a watcher's "dir" event and a rescan all come down to this: list
a directory, probe what is new or changed (probe.py; a version the cache
holds costs one `stat`), place it, drop what is gone. A directory may hold
50,000 sessions, so its files are probed and committed `SYNC_CHUNK` at a
time: what a scan holds on top of the index stays small, and so does each
hold of the lock. Chunks go in the order of the names' bytes, which is
the order the cache's reader hands out a directory's rows in. The one
exception is a directory none of whose files is indexed yet (a mount's
scan, or a directory that appears while mounted: `_from_cache`): the
files the cache holds unchanged go in at once, by dictionary updates
under one hold of the lock (0.1 s for 50,000), since chunking them was a
third of a remount.
"""

from __future__ import annotations

import contextlib
import os
import stat as stat_module
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from clawfs.store import probe, versions
from clawfs.store import scan as scanning
from clawfs.store.cache import Reader
from clawfs.store.commits import Belonging, Commits
from clawfs.store.records import SessionFile
from clawfs.store.roots import Root
from clawfs.store.versions import Version

SYNC_CHUNK = 1000
"""Files of one directory probed and committed at a time."""


@dataclass(slots=True)
class Tally:
    """What one scan went through: session files listed, and of those the
    ones read (opened) and the ones taken from the index cache. The rest
    were known already, unchanged."""

    listed: int = 0
    read: int = 0
    cached: int = 0


@dataclass(slots=True)
class Pass:
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


class DirSync:
    """Syncs directories into the index through `commits`."""

    def __init__(self, commits: Commits) -> None:
        self._commits = commits

    @contextlib.contextmanager
    def passing(self, progress: Callable[[Tally], None] | None = None) -> Iterator[Pass]:
        """One pass over directories: with the cache's reader, if there is a cache."""
        with self._commits.unsaved.reading() as reader:
            yield Pass(reader, Tally(), progress)

    def root(self, root: Root, scan: Pass) -> set[str]:
        """Re-list a whole root: its fingerprint directories, its flat files,
        and the directories it had that it lists no more; the fingerprints changed."""
        listing = scanning.read_root(root)
        changed: set[str] = set()
        listed = set()
        for fp, directory in listing.fp_dirs:
            listed.add(directory)
            changed |= self.directory(root, fp, directory, scan=scan)
        changed |= self.directory(root, None, root.realpath, listing.flat, scan)
        with self._commits.lock:
            known = self._commits.records.dirs_of(root)
            gone = [(fp, d) for fp, d in known if d not in listed]
        for fp, directory in gone:
            # Not listed: gone, or a link now (out of the root, SPEC §6): never
            # listed again through its old path, which would follow the link.
            changed |= self.directory(root, fp, directory, [], scan=scan)
        return changed

    def directory(
        self,
        root: Root,
        fp: str | None,
        directory: str,
        listing: list[scanning.Found] | None = None,
        scan: Pass | None = None,
    ) -> set[str]:
        """Make the index match one store directory's listing.

        For a fingerprint directory the listing is read here, unless the
        caller found the directory gone (`listing=[]`).
        """
        commits = self._commits
        records = commits.records
        present = listing is None and os.path.isdir(directory)
        reader = None if scan is None else scan.reader
        if present and scan is not None and reader is not None and reader.holds(directory):
            assert fp is not None  # only flat files come with a listing
            with commits.lock:
                indexed = records.lists(directory)
            if not indexed:
                from_cache = self._from_cache(root, fp, directory, reader, scan)
                if from_cache is not None:
                    return from_cache
        with commits.lock:
            known = records.listed_in(directory)
        held = None if not (present and known and fp) else _held(root, fp, directory, known)
        if held is not None:
            found, gone = held
        elif listing is not None:
            found = sorted(listing, key=_name_bytes)
        else:
            assert fp is not None  # only flat files come without a fingerprint
            found = sorted(scanning.read_fp_dir(root, fp, directory), key=_name_bytes)
        if held is None:
            gone = known.keys() - {item.file_name for item in found} if known else set()

        def note() -> set[str]:
            if fp is not None and present:
                return records.note_dir(fp, directory, root)
            return set() if fp is None else records.drop_dir(fp, directory)

        changed = commits.update(note)
        after: bytes | None = None
        for start in range(0, max(len(found), 1), SYNC_CHUNK):
            chunk = found[start : start + SYNC_CHUNK]
            upto = None if start + SYNC_CHUNK >= len(found) else _name_bytes(chunk[-1])
            reader = None if scan is None else scan.reader
            cached = None if reader is None or not _news(chunk, known) else reader.entries(
                directory, after, upto
            )
            after = upto
            placed, taken = self._chunk(chunk, known, cached, scan)
            changed |= placed
            if cached and taken < len(cached):
                self._forget_unlisted(directory, cached, chunk, known)
        prefix = directory.rstrip("/") + "/"

        def drop_gone() -> set[str]:
            dropped: set[str] = set()
            for name in gone:
                dropped |= commits.drop(prefix + name)
            return dropped

        return changed | (commits.update(drop_gone) if gone else set())

    def _from_cache(
        self, root: Root, fp: str, directory: str, reader: Reader, scan: Pass
    ) -> set[str] | None:
        """Index a fingerprint directory none of whose files is indexed yet
        (a mount's scan) from what the cache holds; the fingerprints changed,
        or None when the directory cannot be opened now.

        One loop over the cache's rows for it and one `stat` per file: a
        file whose identity now is the row's becomes its record at once
        (`hits`). The rest (new or changed files, links, anything not a
        plain file or directory) go the way of every listing (`_chunk`),
        and rows of files not listed any more are forgotten.
        """
        commits = self._commits
        try:
            fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            listed = scanning.session_names(fd)
            place = scanning.Place(root, fp, directory)
            belongs = commits.belonging(fp, root, directory)
            recs, unlisted = hits(fd, place, listed, reader.versions(directory), belongs)
            listed -= recs.keys()
        finally:
            os.close(fd)
        changed = commits.update(lambda: commits.records.note_dir(fp, directory, root))
        changed |= commits.update(lambda: commits.records.place_listing(directory, fp, recs))
        scan.count(len(recs), len(recs), 0)
        if unlisted:
            with commits.lock:
                for name in unlisted:
                    commits.unsaved.forget(place.prefix + name)
        rest = [scanning.find_entry(root, fp, directory, name) for name in listed]
        found = sorted((item for item in rest if item is not None), key=_name_bytes)
        for start in range(0, len(found), SYNC_CHUNK):
            changed |= self._chunk(found[start : start + SYNC_CHUNK], {}, None, scan)[0]
        return changed

    def _chunk(
        self,
        chunk: list[scanning.Found],
        known: dict[str, SessionFile],
        cached: dict[str, Version] | None,
        scan: Pass | None,
    ) -> tuple[set[str], int]:
        """Probe and place one chunk of a directory's files; the fingerprints
        changed, and how many of them were taken from the cache."""
        if not chunk:
            return set(), 0
        commits = self._commits
        probes = probe.read_changed(chunk, known, commits.loads, commits.report, cached)
        for recorded in {read.workspace_root for read in probes}:
            commits.learn_root(recorded)
        fresh = [read.found.path for read in probes if not read.saved]
        if scan is not None:
            scan.count(len(chunk), len(probes) - len(fresh), len(fresh))

        def place() -> set[str]:
            for path in fresh:
                commits.unsaved.learned(path)
            return commits.records.place_all([commits.file_of(read) for read in probes])

        return (commits.update(place) if probes else set()), len(probes) - len(fresh)

    def _forget_unlisted(
        self,
        directory: str,
        cached: dict[str, Version],
        chunk: list[scanning.Found],
        known: dict[str, SessionFile],
    ) -> None:
        """Let the cache forget the files of `directory` it holds that are not
        there any more (gone while nothing was mounted). Not those the index
        holds: a rescan's chunk leaves out the unchanged ones (`_held`), and
        the index forgets its own gone files (`Commits.drop`)."""
        listed = {item.file_name for item in chunk}
        for name in cached.keys() - listed - known.keys():
            self._commits.unsaved.forget(os.path.join(directory, name))


def _news(chunk: list[scanning.Found], known: dict[str, SessionFile]) -> bool:
    """Whether a chunk names a file the index does not hold: only then can the
    cache's rows help (a held file is compared with its record). The safety
    sweep's rescan of 100,000 held files so decodes no row (0.55 s of 1.3).
    The price: a row of a file this mount never held (another mount's),
    gone since, is forgotten at the next mount's scan (`hits` names the
    rows listed no more), not by this rescan; rows are identity-checked,
    so it never changes an answer."""
    return any(item.file_name not in known for item in chunk)


def _name_bytes(found: scanning.Found) -> bytes:
    """A listed file's name as the cache orders names (bytes, as on disk)."""
    return os.fsencode(found.file_name)


def _held(
    root: Root, fp: str, directory: str, known: dict[str, SessionFile]
) -> tuple[list[scanning.Found], set[str]] | None:
    """The entries of a fingerprint directory the index holds (`known`: file
    name -> file) that are new or not the version known, as the listing's
    way finds them (sorted as it sorts them), and the known names listed
    no more; None when the directory cannot be opened now.

    A rescan's one loop (the watcher's catch-up where it needs one, and
    its safety sweep every minute: 100,000 files at 100,000 sessions): an
    unchanged file costs a `stat` and nothing kept, where the listing's way
    makes and sorts a `Found` for each and looks up its path again (the
    same loop as `hits`, with the record's version for the cache's row).
    """
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        names, seen = _not_known(fd, known)
        gone = set() if seen == len(known) else known.keys() - scanning.session_names(fd)
    finally:
        os.close(fd)
    rest = [scanning.find_entry(root, fp, directory, name) for name in names]
    found = [item for item in rest if item is not None]
    # A held name that is no session file now (a FIFO swapped in) is
    # listed but not found: it goes, as the listing's way would drop it.
    taken = {item.file_name for item in found}
    gone |= {name for name in names if name in known and name not in taken}
    return sorted(found, key=_name_bytes), gone


def _not_known(fd: int, known: dict[str, SessionFile]) -> tuple[list[str], int]:
    """The names of the session entries of the open directory `fd` that are
    not the version `known` holds of them (new, changed, a link, not a plain
    file or directory any more), and how many known names it lists."""
    names: list[str] = []
    seen = 0
    stat, pack, is_session = os.stat, versions.KEY.pack, scanning.is_session_name
    regular, directory, file_type = stat_module.S_IFREG, stat_module.S_IFDIR, _FORMAT
    with os.scandir(fd) as entries:
        for entry in entries:
            name = entry.name
            if not is_session(name):
                continue
            rec = known.get(name)
            if rec is None:
                names.append(name)
                continue
            seen += 1
            if rec.is_link:
                names.append(name)  # its target's version: the listing's way
                continue
            try:
                st = stat(name, dir_fd=fd, follow_symlinks=False)
            except OSError:
                names.append(name)
                continue
            kind = st.st_mode & file_type
            if (kind != regular and kind != directory) or not rec.version.numbers.startswith(
                pack(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
            ):
                names.append(name)
    return names, seen


def hits(
    fd: int,
    place: scanning.Place,
    listed: set[str],
    rows: Iterator[tuple[str, Version]],
    belongs: Belonging,
) -> tuple[dict[str, SessionFile], list[str]]:
    """The records of the files of one directory (open as `fd`, listed by
    name in `listed`) whose identity now is what the cache's row for them
    was written for (`rows`: file name -> version), and the names of the
    rows listed no more.

    A remount's one loop over its files (100,000 of them, SPEC §7): a
    `stat` (of the entry itself: a link is never taken for a file), the
    identity compared as packed bytes, the record made from the row's
    version. A row is used only when the entry is a plain file or a
    directory (claw lists a directory named like a session, scan.py) whose
    device, inode, size, mtime and ctime are the row's.
    """
    recs: dict[str, SessionFile] = {}
    unlisted: list[str] = []
    fp = place.fp_dir
    assert fp is not None
    stat, pack, record = os.stat, versions.KEY.pack, SessionFile.lying_where_listed
    regular, directory, file_type = stat_module.S_IFREG, stat_module.S_IFDIR, _FORMAT
    decided = belongs.decided
    for name, version in rows:
        if name not in listed:
            unlisted.append(name)
            continue
        try:
            st = stat(name, dir_fd=fd, follow_symlinks=False)
        except OSError:
            continue  # gone meanwhile: the listing's way finds out
        kind = st.st_mode & file_type
        if (kind != regular and kind != directory) or not version.numbers.startswith(
            pack(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        ):
            continue
        member = decided.get(version.texts[2])
        if member is None:
            member = belongs(version.texts[2], name)
        recs[name] = record(place, name, version, fp, member)
    return recs, unlisted


_FORMAT = 0o170000
"""`stat.S_IFMT`'s mask (the file type bits of `st_mode`), without its call."""
