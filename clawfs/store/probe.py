"""Reading session files for the index: each one's version and head.

The disk half of indexing, run outside the index's lock. A probe opens a
file once, takes its version (`FileKey`) and reads its head (one small
read, format/head.py); a file without a meta line at the top (legacy JSON,
empty, corrupt) is loaded at once, since its order and its workspace
depend on it. A file whose version did not change is taken from what the
index knows of it, or from the index cache (store/cache.py) when a past
mount read that version, not read again: one `stat`. So is a file whose
load its writer handed over (`written`: a fork).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Mapping
from typing import NamedTuple

from clawfs.format import head as heads
from clawfs.format import session, summary
from clawfs.format.summary import Summary
from clawfs.host import paths
from clawfs.store import files, membership, versions
from clawfs.store import scan as scanning
from clawfs.store.files import FileKey
from clawfs.store.loads import LoadCache
from clawfs.store.records import SessionFile
from clawfs.store.scan import Found
from clawfs.store.versions import Version

Report = Callable[[str, str], None]
"""Logs a problem with a file once (the index's)."""


class Probe(NamedTuple):
    """A file read for indexing: what is known of its version now.

    `saved`: that came from the index cache (there is nothing to write back).
    """

    found: Found
    version: Version
    saved: bool = False

    @property
    def workspace_root(self) -> str | None:
        """The recorded root as claw reads it here (membership.resolve)."""
        return membership.resolve(self.version.workspace_root, self.found.root)


def read(found: Found, old: SessionFile | None, loads: LoadCache, report: Report) -> Probe | None:
    """Read a file's head (and load it when the head has no meta line).

    A file that did not change since `old` is taken from `old`. An
    unreadable one is left out, logged once.
    """
    try:
        opened = files.open_backing(found.path)
    except files.NotRegular:
        return _directory(found)
    except FileNotFoundError:
        return _dangling(found)
    except files.Unreadable as e:
        report(found.path, f"skipped, cannot read: {e.strerror}")
        return None
    except OSError as e:
        report(found.path, f"skipped, cannot open: {e.strerror}")
        return None
    try:
        key = opened.key
        if old is not None and old.key == key and old.path == found.path:
            return Probe(found, old.version)
        head = heads.read_head(opened.fd)
    except OSError as e:
        report(found.path, f"skipped, cannot read: {e.strerror}")
        return None
    finally:
        opened.close()
    stem = session.file_stem(found.file_name)
    if head.meta_found:
        return Probe(found, Version.of(key, head, None, stem))
    before = None if old is None or not old.loaded_before else old.key
    loaded = loads.load(found.path, found.file_name, before)
    if loaded is None:
        return None
    return Probe(found, Version.of(loaded.key, None, loaded.summary, stem))


def written(found: Found, key: FileKey, summary: Summary) -> Probe | None:
    """A file this process just wrote and knows the load of (a fork: `summary`
    for the version `key`, store/forkwriter.py `Written`), taken from that
    while it is still that version: one lstat, no open, nothing parsed. None
    when it is not (changed, replaced, a link now): then it is read.
    """
    if found.real is not None:
        return None
    try:
        st = files.lstat_regular(found.path)
    except OSError:
        return None
    if files.file_key(st) != key:
        return None
    return Probe(found, Version.of(key, None, summary, session.file_stem(found.file_name)))


def _directory(found: Found) -> Probe | None:
    """A directory named like a session in a fingerprint directory: claw lists
    it as a session that fails to load, with its fallback values (scan.py)."""
    try:
        st = os.lstat(found.path)
    except OSError:
        return None
    if found.fp_dir is None or not stat.S_ISDIR(st.st_mode):
        return None
    failed = summary.failed(found.file_name, session.LoadError(scanning.IS_A_DIRECTORY))
    key = files.file_key(st)
    return Probe(found, Version.of(key, None, failed, session.file_stem(found.file_name)))


def _dangling(found: Found) -> Probe | None:
    """A link inside the root that leads to nothing now (its target removed):
    claw lists it as a session that fails to load, with its fallback values
    (scan.py); its version is the link's own. None for anything else gone."""
    if found.real is None:
        return None
    try:
        st = os.lstat(found.entry_path)
        if not stat.S_ISLNK(st.st_mode):
            return None
        if paths.resolve_inside(found.entry_path, found.root.realpath) != found.real:
            return None  # it leads elsewhere now: the next probe reads it
        os.lstat(found.real)
        return None  # it leads somewhere again: the next probe reads it
    except FileNotFoundError:
        pass
    except OSError:
        return None
    failed = summary.failed(found.file_name, session.LoadError(scanning.NO_SUCH_FILE))
    key = files.file_key(st)
    return Probe(found, Version.of(key, None, failed, session.file_stem(found.file_name)))


def read_changed(
    found: Iterable[Found],
    known: Mapping[str, SessionFile],
    loads: LoadCache,
    report: Report,
    cached: Mapping[str, Version] | None = None,
) -> list[Probe]:
    """Probes of the files in a listing of one directory that are new or
    changed since `known` (file name -> file). Unchanged ones cost one stat
    each, and so do those `cached` holds for their version now (file name ->
    version from the index cache, for the files lying where they are listed)."""
    probes = []
    for item in found:
        old = known.get(item.file_name) if known else None
        hit = None if not cached or item.real is not None else cached.get(item.file_name)
        if old is not None or hit is not None:
            now = _version_now(item.path)  # the packed key: compared as bytes, no FileKey
            if now is not None:
                if (old is not None and old.path == item.path and old.version.same_as(now)
                        and old.link_mtime_ns == item.link_mtime_ns):
                    continue  # a link touched (`touch -h`) moves in claw's order
                if hit is not None and hit.same_as(now):
                    probes.append(Probe(item, hit, saved=True))
                    continue
        probe = read(item, old, loads, report)
        if probe is not None:
            probes.append(probe)
    return probes


def known(rec: SessionFile) -> Probe:
    """A probe that re-places an indexed file from what is known of it (no I/O)."""
    return Probe(rec.found, rec.version)


def _version_now(path: str) -> bytes | None:
    """The file's version now, packed as `Version.numbers` starts."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return versions.KEY.pack(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
