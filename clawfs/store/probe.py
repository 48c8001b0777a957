"""Reading session files for the index: each one's version and head.

The disk half of indexing, run outside the index's lock. A probe opens a
file once, takes its version (`FileKey`) and reads its head (one small
read, format/head.py); a file without a meta line at the top (legacy JSON,
empty, corrupt) is loaded at once, since its order and its workspace
depend on it. A file whose version did not change is taken from what the
index knows of it, not read again.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from clawfs.format import head as heads
from clawfs.format.head import Head
from clawfs.format.summary import Summary
from clawfs.store import files
from clawfs.store.files import FileKey, file_key
from clawfs.store.loads import LoadCache
from clawfs.store.records import SessionFile
from clawfs.store.scan import Found

Report = Callable[[str, str], None]
"""Logs a problem with a file once (the index's)."""


@dataclass(frozen=True, slots=True)
class Probe:
    """A file read for indexing: its version, head, and its load if loaded."""

    found: Found
    key: FileKey
    head: Head
    loaded: Summary | None

    @property
    def workspace_root(self) -> str | None:
        return self.head.workspace_root if self.loaded is None else self.loaded.workspace_root


def read(found: Found, old: SessionFile | None, loads: LoadCache, report: Report) -> Probe | None:
    """Read a file's head (and load it when the head has no meta line).

    A file that did not change since `old` is taken from `old`. An
    unreadable one is left out, logged once.
    """
    try:
        opened = files.open_backing(found.path)
    except files.NotRegular:
        return None
    except files.Unreadable as e:
        report(found.path, f"skipped, cannot read: {e.strerror}")
        return None
    except OSError as e:
        report(found.path, f"skipped, cannot open: {e.strerror}")
        return None
    try:
        key = opened.key
        if old is not None and old.key == key and old.path == found.path:
            return Probe(found, key, old.head, loads.cached(found.path, key))
        head = heads.read_head(opened.fd)
    except OSError as e:
        report(found.path, f"skipped, cannot read: {e.strerror}")
        return None
    finally:
        opened.close()
    result = loads.cached(found.path, key)
    if result is None and not head.meta_found:
        loaded = loads.load(found.path, found.file_name)
        if loaded is None:
            return None
        key, result = loaded.key, loaded.summary
        head = loaded.head or head
        loads.store(found.path, key, result)
    return Probe(found, key, head, result)


def read_changed(
    found: Iterable[Found], known: Mapping[str, SessionFile], loads: LoadCache, report: Report
) -> list[Probe]:
    """Probes of the files in a listing that are new or changed since `known`
    (entry path -> file); unchanged ones cost one stat each."""
    probes = []
    for item in found:
        old = known.get(os.path.join(item.directory, item.file_name))
        if old is not None and _unchanged(old, item):
            continue
        probe = read(item, old, loads, report)
        if probe is not None:
            probes.append(probe)
    return probes


def known(rec: SessionFile, key: FileKey, head: Head, loads: LoadCache) -> Probe:
    """A probe that re-places an indexed file from what is known of it (no I/O)."""
    found = Found(rec.root, None if rec.legacy else rec.fp, rec.file_name, rec.path, rec.directory)
    return Probe(found, key, head, loads.cached(rec.path, key))


def _unchanged(old: SessionFile, found: Found) -> bool:
    try:
        st = os.stat(found.path)
    except OSError:
        return False
    return old.path == found.path and old.key == file_key(st)
