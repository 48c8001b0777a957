"""The index with its cache (store/cache.py) kept across mounts: a remount of
an unchanged store opens no session file, a changed file is read again, and
a cache that is corrupt, from another schema, left by a killed mount or
wrong about an old version changes no answer (SPEC §7).

Opens are counted at `files.open_backing`, the one way clawfs opens a
session file (heads, loads and reads all go through it).
"""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from clawfs.format.head import Head
from clawfs.store.cache import FILE_NAME, IndexCache, Reader, open_cache
from clawfs.store.index import StoreIndex
from clawfs.store.roots import RootKind, make_root
from clawfs.store.versions import Version

import storegen as sg

T0 = 1_760_000_000_000


CLAIMED = Path("/nonexistent/claimed")
"""A recorded workspace root that does not exist: the file does not belong."""


def make_store(tmp_path: Path) -> Path:
    """Two workspaces: sessions with messages, an empty one, forks, a
    meta-less legacy file, a corrupt file and a head that understates."""
    root = tmp_path / "root"
    ws = tmp_path / "proj"
    other = tmp_path / "other"
    ws.mkdir()
    other.mkdir()
    d = sg.fp_dir(root, str(ws))
    for n in range(6):
        sg.write_session(d, sg.make_session(f"session-{n}", updated_at_ms=T0 + n, messages=n % 3,
                                            workspace_root=str(ws)), mtime_ms=T0 + n)
    sg.write_session(d, sg.make_session("session-fork", updated_at_ms=T0 + 10, messages=2,
                                        workspace_root=str(ws), parent="session-1",
                                        branch="bugfix"), mtime_ms=T0 + 10)
    liar = sg.render(sg.make_session("session-liar", updated_at_ms=T0 - 5, workspace_root=str(ws)))
    truth = sg.render(sg.make_session("session-liar", updated_at_ms=T0 + 50, messages=0,
                                      workspace_root=str(ws)))
    sg.write_bytes(d, "session-liar.jsonl", liar + truth, mtime_ms=T0)
    sg.write_bytes(d, "legacy.json", sg.legacy_json(), mtime_ms=T0 + 3)
    sg.write_bytes(d, "corrupt.jsonl", b'{"type":"session_meta"\n', mtime_ms=T0 + 4)
    e = sg.fp_dir(root, str(other))
    sg.write_session(e, sg.make_session("session-other", updated_at_ms=T0 + 7, messages=1,
                                        workspace_root=str(other)), mtime_ms=T0 + 7)
    return root


def cache_in(tmp_path: Path) -> IndexCache:
    cache = open_cache(tmp_path / "cache")
    assert cache is not None
    return cache


def mount_index(root: Path, cache: IndexCache | None) -> StoreIndex:
    """What a mount does with the index: scan (before the fork)."""
    index = StoreIndex([make_root(str(root), RootKind.STORE, 0)], cache)
    index.scan()
    return index


def unmount(index: StoreIndex, cache: IndexCache) -> None:
    """What a mount does after serving: the sweep ran, the rest is written."""
    index.save()
    cache.close()


def answers(index: StoreIndex) -> dict[str, Any]:
    """Everything the index tells (names, order, aliases, forks, loads)."""
    told: dict[str, Any] = {}
    root_latest = index.global_latest()
    told["latest"] = None if root_latest is None else (root_latest.fp, root_latest.name)
    for ws in index.workspaces():
        latest = index.latest(ws.fp)
        lineage = index.lineage(ws.fp)
        told[ws.fp] = {
            "label": ws.label,
            "order": [sf.name for sf in ws.ordered],
            "latest": None if latest is None else latest.name,
            "forks": {name: lineage.parent_of(name) for name in lineage.nodes},
            "loaded": [(sf.name, sf.belongs, index.cached_load(sf)) for sf in ws.ordered],
        }
    return told


def truth(root: Path) -> dict[str, Any]:
    """The answers without any cache, once everything is loaded."""
    index = mount_index(root, None)
    index.sweep()
    return answers(index)


def first_mount(tmp_path: Path, root: Path) -> dict[str, Any]:
    """Mount, sweep, unmount: the answers once everything is loaded."""
    cache = cache_in(tmp_path)
    index = mount_index(root, cache)
    index.sweep()
    told = answers(index)
    unmount(index, cache)
    return told


def test_a_remount_of_an_unchanged_store_opens_no_session_file(
    tmp_path: Path, opens: list[str]
) -> None:
    root = make_store(tmp_path)
    told = first_mount(tmp_path, root)
    assert len(set(opens)) == 11  # every file was read

    opens.clear()
    cache = cache_in(tmp_path)
    index = mount_index(root, cache)
    assert index.sweep() == 0
    assert answers(index) == told
    assert opens == []
    assert index.unsaved() == 0  # nothing learned: nothing to write
    unmount(index, cache)


def test_the_order_is_built_in_one_sort(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A remount places every file of a workspace, then sorts once when the
    order is first read: no insertion per file."""
    import bisect

    root = make_store(tmp_path)
    first_mount(tmp_path, root)
    inserted: list[object] = []
    real = bisect.insort

    def counting(*args: Any, **kwargs: Any) -> None:
        inserted.append(args[1])
        real(*args, **kwargs)

    monkeypatch.setattr(bisect, "insort", counting)
    cache = cache_in(tmp_path)
    index = mount_index(root, cache)
    answers(index)
    assert inserted == []


def change(path: Path, how: str) -> None:
    st = path.stat()
    data = path.read_bytes()
    if how == "append":
        sg.append_message(path, sg.text_message("appended"))
    elif how == "rename over":  # claw's save: one more message
        sg.write_bytes(path.parent, path.name + ".tmp", sg.render(sg.make_session(
            "session-2", updated_at_ms=T0 + 2, messages=3, workspace_root=str(CLAIMED))))
        os.replace(str(path) + ".tmp", path)
    elif how == "same size, new mtime":
        path.write_bytes(data.replace(b"message 0", b"message X"))
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    elif how == "same size and mtime, new inode":
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data.replace(b"message 0", b"message X"))
        os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
        os.replace(tmp, path)
    elif how == "same size and mtime, rewritten":
        path.write_bytes(data.replace(b"message 0", b"message X"))
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    else:
        raise AssertionError(how)
    now = path.stat()
    if how.startswith("same size"):
        assert now.st_size == st.st_size
    if "and mtime" in how:
        assert now.st_mtime_ns == st.st_mtime_ns
    if "new inode" in how:
        assert now.st_ino != st.st_ino


@pytest.mark.parametrize("how", ["append", "rename over", "same size, new mtime",
                                 "same size and mtime, new inode",
                                 "same size and mtime, rewritten"])
def test_a_changed_file_is_read_again(tmp_path: Path, opens: list[str], how: str) -> None:
    root = make_store(tmp_path)
    first_mount(tmp_path, root)
    target = next(root.glob("*/session-2.jsonl"))
    change(target, how)

    opens.clear()
    cache = cache_in(tmp_path)
    index = mount_index(root, cache)
    index.sweep()
    assert set(opens) == {str(target)}
    assert answers(index) == truth(root)  # as if there were no cache
    sf = index.file(target.parent.name, target.name)
    loaded = None if sf is None else index.cached_load(sf)
    assert loaded is not None
    assert loaded.message_count == (3 if how in ("append", "rename over") else 2)
    assert loaded.error is None
    unmount(index, cache)

    opens.clear()
    mount_index(root, cache_in(tmp_path)).sweep()
    assert opens == []  # and the new version is kept


def test_files_that_came_and_went_while_unmounted(tmp_path: Path, opens: list[str]) -> None:
    root = make_store(tmp_path)
    first_mount(tmp_path, root)
    d = next(root.glob("*/session-2.jsonl")).parent
    (d / "session-2.jsonl").unlink()
    new = sg.write_session(d, sg.make_session("session-new", updated_at_ms=T0 + 99, messages=1,
                                              workspace_root=str(tmp_path / "proj")))
    opens.clear()
    cache = cache_in(tmp_path)
    index = mount_index(root, cache)
    assert set(opens) == {str(new)}
    assert answers(index) == truth(root)
    unmount(index, cache)
    with sqlite3.connect(cache.path) as db:
        names = {os.fsdecode(n) for (n,) in db.execute("SELECT name FROM files")}
    assert "session-2.jsonl" not in names and "session-new.jsonl" in names


def test_a_cache_wrong_about_an_old_version_changes_no_answer(
    tmp_path: Path, opens: list[str]
) -> None:
    """Rows that lie about the version a file had (here: every row made to
    name another session, newest of all) are never used once the file changed."""
    root = make_store(tmp_path)
    first_mount(tmp_path, root)
    cache = cache_in(tmp_path)
    with cache.reading() as reader:
        rows = {os.path.join(str(d), name): entry for d in root.iterdir()
                for name, entry in reader.entries(str(d)).items()}
    lie = Head(True, "session-lie", T0, T0 + 10**6, None, None, None, None, True, 1 << 20)
    for path, entry in rows.items():
        cache.put(path, Version.of(entry.key, lie, None, "stem"))
    cache.commit()
    for path in rows:
        os.utime(path, ns=(0, os.stat(path).st_mtime_ns + 1))  # a new version of each
    opens.clear()
    index = mount_index(root, cache_in(tmp_path))
    assert len(set(opens)) == len(rows)
    index.sweep()
    assert answers(index) == truth(root)


def corrupt(cache_dir: Path) -> str:
    (cache_dir / FILE_NAME).write_bytes(b"not a database at all" * 1000)
    for suffix in ("-wal", "-shm"):
        (cache_dir / (FILE_NAME + suffix)).unlink(missing_ok=True)
    return "is unreadable"


def other_schema(cache_dir: Path) -> str:
    with sqlite3.connect(cache_dir / FILE_NAME) as db:
        db.execute("PRAGMA user_version = 1")
    return "schema version 1"


KILLED = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from clawfs.store.cache import open_cache
    from clawfs.store.index import StoreIndex
    from clawfs.store.roots import RootKind, make_root

    cache = open_cache(Path(sys.argv[1]))
    index = StoreIndex([make_root(sys.argv[2], RootKind.STORE, 0)], cache)
    index.scan()
    index.sweep()
    index.save()
    os.kill(os.getpid(), signal.SIGKILL)  # a mount killed: the cache is never closed
""")


@pytest.mark.parametrize("damage", ["corrupt", "other schema", "killed mount"])
def test_a_cache_that_cannot_be_trusted_is_rebuilt(
    tmp_path: Path, opens: list[str], caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    root = make_store(tmp_path)
    cache_dir = tmp_path / "cache"
    if damage == "killed mount":
        done = subprocess.run([sys.executable, "-c", KILLED, str(cache_dir), str(root)],
                              capture_output=True, check=False)
        assert done.returncode == -signal.SIGKILL, done.stderr
        assert (cache_dir / FILE_NAME).stat().st_size > 0
        expected = "ended without closing it"
    else:
        first_mount(tmp_path, root)
        expected = corrupt(cache_dir) if damage == "corrupt" else other_schema(cache_dir)
    expected_answers = truth(root)

    opens.clear()
    with caplog.at_level(logging.WARNING, logger="clawfs.store.cache"):
        cache = cache_in(tmp_path)
    assert expected in caplog.text
    index = mount_index(root, cache)
    index.sweep()
    assert len(set(opens)) == 11  # nothing was taken from it
    assert answers(index) == expected_answers
    unmount(index, cache)

    opens.clear()
    index = mount_index(root, cache_in(tmp_path))
    assert opens == []  # rebuilt: the next mount uses it
    assert answers(index) == expected_answers


def test_without_a_cache_nothing_is_kept(tmp_path: Path, opens: list[str]) -> None:
    root = make_store(tmp_path)
    index = mount_index(root, None)
    index.sweep()
    assert index.unsaved() == 0 and index.save() == 0
    opens.clear()
    mount_index(root, None)
    assert len(set(opens)) == 11


def test_a_remount_takes_each_file_from_its_row_in_one_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A remount of an unchanged store makes each record from the cache's row
    for it (dirsync.hits): no probe, no record made by the way of a read
    file (`file_of`), no file placed one at a time."""
    from clawfs.store import probe
    from clawfs.store.commits import Commits
    from clawfs.store.records import Records

    root = make_store(tmp_path)
    told = first_mount(tmp_path, root)
    calls: list[str] = []
    for owner, name in ((probe, "read_changed"), (Commits, "file_of"), (Records, "place")):
        real = getattr(owner, name)

        def counting(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            calls.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(owner, name, counting)
    cache = cache_in(tmp_path)
    index = mount_index(root, cache)
    assert (index.tally.listed, index.tally.cached, index.tally.read) == (11, 11, 0)
    assert calls == []
    assert answers(index) == told


def test_a_rescan_of_held_files_decodes_no_cache_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The safety sweep rescans a store the index holds: each held file is
    compared with its record, so no cache row is decoded; a file new since
    the scan still takes its row (one written by another mount)."""
    root = make_store(tmp_path)
    first_mount(tmp_path, root)
    cache = cache_in(tmp_path)
    index = mount_index(root, cache)
    decoded: list[str] = []
    real = Reader.versions

    def counting(self: Reader, directory: str, *args: Any) -> Any:
        decoded.append(directory)
        return real(self, directory, *args)

    monkeypatch.setattr(Reader, "versions", counting)
    index.scan()
    assert decoded == []
    d = next(p.parent for p in root.rglob("session-0.jsonl"))
    sg.write_session(d, sg.make_session("session-new", updated_at_ms=T0 + 90, messages=1,
                                        workspace_root=str(tmp_path / "proj")), mtime_ms=T0 + 90)
    index.scan()
    assert decoded == [str(d)]
    assert index.file(d.name, "session-new.jsonl") is not None


def odd_store(tmp_path: Path) -> tuple[Path, Path]:
    """Two roots holding one workspace: what a remount cannot take in bulk
    (links, rotated copies, a directory named like a session, a dangling
    link, names in both roots, a file that does not belong, one that
    records no root, a flat legacy file) beside plain files."""
    ws = tmp_path / "proj"
    ws.mkdir()
    first, second = tmp_path / "root", tmp_path / "second"
    d, e = sg.fp_dir(first, str(ws)), sg.fp_dir(second, str(ws))
    for n in range(4):
        for directory in (d, e):
            sg.write_session(directory, sg.make_session(
                f"session-{n}", updated_at_ms=T0 + n, messages=n % 2, workspace_root=str(ws)),
                mtime_ms=T0 + n)
    sg.write_session(e, sg.make_session("session-only-second", updated_at_ms=T0 + 20,
                                        messages=1, workspace_root=str(ws)), mtime_ms=T0 + 20)
    sg.write_bytes(d, "session-1.rot-1760000000500.jsonl",
                   sg.render(sg.make_session("session-1", updated_at_ms=T0 - 1, messages=1,
                                             workspace_root=str(ws))), mtime_ms=T0 - 1)
    sg.write_session(d, sg.make_session("session-claimed", updated_at_ms=T0 + 30, messages=1,
                                        workspace_root=str(CLAIMED)), mtime_ms=T0 + 30)
    sg.write_session(d, sg.make_session("session-rootless", updated_at_ms=T0 + 31, messages=1,
                                        workspace_root=None), mtime_ms=T0 + 31)
    os.symlink("session-2.jsonl", d / "session-link.jsonl")
    os.utime(d / "session-link.jsonl", ns=((T0 + 40) * 1_000_000,) * 2, follow_symlinks=False)
    os.symlink("gone.jsonl", d / "session-dangling.jsonl")
    (d / "session-dir.jsonl").mkdir()
    sg.write_bytes(first, "legacy.json", sg.legacy_json(), mtime_ms=T0 + 3)
    return first, second


def test_a_remount_of_an_odd_store_answers_as_without_a_cache(
    tmp_path: Path, opens: list[str]
) -> None:
    first, second = odd_store(tmp_path)

    def mounted(cache: IndexCache | None) -> StoreIndex:
        index = StoreIndex([make_root(str(first), RootKind.STORE, 0),
                            make_root(str(second), RootKind.STORE, 1)], cache)
        index.scan()
        return index

    without = mounted(None)
    without.sweep()
    expected = answers(without)
    cache = cache_in(tmp_path)
    index = mounted(cache)
    index.sweep()
    assert answers(index) == expected
    unmount(index, cache)

    opens.clear()
    index = mounted(cache_in(tmp_path))
    assert index.tally.cached == index.tally.listed - 2  # all but the links
    assert sorted(Path(p).name for p in opens) == ["gone.jsonl", "session-2.jsonl"]
    index.sweep()  # loads the link: the cache keeps no row for a link
    assert answers(index) == expected
