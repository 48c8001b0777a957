"""The safety sweep's rescan (livestore.SWEEP_SECONDS) of a store the index holds.

It runs every minute over every file of every root, so its work per file
is what matters: at 100,000 sessions the full pass (a `Found` per file, a
sort by name bytes, a `stat` by path and a version compared in Python)
took about a second of the daemon's CPU, which is what landed in the
bench's per-deletion figure (BENCHMARKS.md). Files whose entry is, by one
`lstat` through the open directory, the plain file at the version held
are skipped; only the others are probed as a listing's files are.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from clawfs.store import probe, versions
from clawfs.store.index import StoreIndex
from clawfs.store.roots import RootKind, make_root

import storegen as sg

T0 = 1_760_000_000_000


@pytest.fixture
def probed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the files handed to the prober (probe.read_changed)."""
    names: list[str] = []
    real = probe.read_changed

    def counting(found: Iterable[Any], *args: Any, **kwargs: Any) -> Any:
        found = list(found)
        names.extend(item.file_name for item in found)
        return real(found, *args, **kwargs)

    monkeypatch.setattr(probe, "read_changed", counting)
    return names


def _store(tmp_path: Path, sessions: int) -> tuple[Path, Path, StoreIndex]:
    root, ws = tmp_path / "root", tmp_path / "proj"
    ws.mkdir()
    d = sg.fp_dir(root, os.path.realpath(ws))
    for n in range(sessions):
        sg.write_session(d, sg.make_session(f"session-{n}", updated_at_ms=T0 + n, messages=1,
                                            workspace_root=os.path.realpath(ws)),
                         mtime_ms=T0 + n)
    index = StoreIndex([make_root(str(root), RootKind.STORE, 0)])
    index.scan()
    return root, d, index


@pytest.mark.parametrize("sessions", [10, 100])
def test_a_rescan_of_an_unchanged_store_probes_no_file(
    tmp_path: Path, probed: list[str], sessions: int
) -> None:
    _root, _d, index = _store(tmp_path, sessions)
    probed.clear()
    assert index.scan() == set()
    assert probed == []


def test_a_rescan_probes_only_what_changed_and_drops_what_is_gone(
    tmp_path: Path, probed: list[str]
) -> None:
    """What the watcher missed is still found: an append, a save by rename
    (a new inode at the same size and mtime), a file replaced by a link to
    another, a deletion; and a new file, by the whole listing."""
    _root, d, index = _store(tmp_path, 6)
    sg.append_message(d / "session-1.jsonl", sg.text_message("missed by the watcher"))
    renamed = d / "session-2.jsonl"
    data, st = renamed.read_bytes(), renamed.stat()
    (d / "tmp").write_bytes(data)
    os.utime(d / "tmp", ns=(st.st_atime_ns, st.st_mtime_ns))
    os.rename(d / "tmp", renamed)
    os.unlink(d / "session-3.jsonl")
    os.symlink("session-0.jsonl", d / "session-3.jsonl")
    os.unlink(d / "session-4.jsonl")
    probed.clear()
    assert index.scan() == {d.name}
    assert sorted(probed) == ["session-1.jsonl", "session-2.jsonl", "session-3.jsonl"]
    assert index.file(d.name, "session-4.jsonl") is None
    appended = index.file(d.name, "session-1.jsonl")
    assert appended is not None and appended.version.same_as(_key(d / "session-1.jsonl"))
    link = index.file(d.name, "session-3.jsonl")
    assert link is not None and link.path == str(d / "session-0.jsonl")
    probed.clear()
    assert index.scan() == set()
    assert probed == ["session-3.jsonl"]  # a link is probed as a listing's file
    sg.write_session(d, sg.make_session("session-new", updated_at_ms=T0 + 99, messages=1,
                                        workspace_root=os.path.realpath(tmp_path / "proj")),
                     mtime_ms=T0 + 99)
    assert index.scan() == {d.name}  # a new name: the whole listing, as a scan's
    assert index.file(d.name, "session-new.jsonl") is not None


def _key(path: Path) -> bytes:
    """A file's version now, packed as the index compares it."""
    st = os.stat(path)
    return versions.KEY.pack(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
