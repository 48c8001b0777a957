"""The index cache through real mounts (SPEC §7): a remount reads no session
file, two mounts of one store at once keep one consistent cache, and
`--no-cache` neither reads nor writes one.

What a mount read is what it logs once indexed ("N from the index cache,
M read"); the index-level tests (tests/store/test_index_cache.py) count
every open.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from clawfs.store.cache import FILE_NAME, open_cache
from clawfs.store.files import file_key
from clawfs.store.index import StoreIndex
from clawfs.store.roots import RootKind, make_root

from mounting import Mount, mounted, wait_until
from storegen import append_message, fp_dir, make_session, text_message, write_session

SOON = 5.0
T0 = 1_760_000_000_000
INDEXED = re.compile(
    r"indexed ([\d,]+) session files? .*: ([\d,]+) from the index cache, ([\d,]+) read")


def make_store(base: Path, sessions: int = 30) -> tuple[Path, Path]:
    project = base / "proj"
    project.mkdir()
    root = base / "store"
    d = fp_dir(root, os.path.realpath(project))
    for n in range(sessions):
        write_session(d, make_session(f"session-{n}", messages=1 + n % 3, updated_at_ms=T0 + n,
                                      workspace_root=os.path.realpath(project)), mtime_ms=T0 + n)
    return root, d


def indexed(mount: Mount) -> tuple[int, int, int]:
    """(listed, from the cache, read) of the mount's first scan."""
    found = INDEXED.search(mount.log())
    assert found, mount.log()
    listed, cached, read = (int(group.replace(",", "")) for group in found.groups())
    return listed, cached, read


def test_a_remount_reads_no_session_file(tmp_path: Path) -> None:
    root, d = make_store(tmp_path)
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    with mounted([root], tmp=tmp_path / "first", env=env) as m:
        latest = os.readlink(m.path / "latest")
        assert indexed(m) == (30, 0, 30)
    assert (tmp_path / "cache" / "clawfs" / FILE_NAME).exists()
    with mounted([root], tmp=tmp_path / "again", env=env) as m:
        assert indexed(m) == (30, 30, 0)
        assert os.readlink(m.path / "latest") == latest
        listed = os.listdir(m.path / "sessions" / d.name)
        assert sorted(n for n in listed if n.endswith(".jsonl")) == sorted(os.listdir(d))


def test_two_mounts_of_one_store_at_once_keep_one_consistent_cache(tmp_path: Path) -> None:
    root, d = make_store(tmp_path)
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    with mounted([root], tmp=tmp_path / "a", env=env) as a, \
            mounted([root], tmp=tmp_path / "b", env=env) as b:
        append_message(d / "session-3.jsonl", text_message("more"))
        write_session(d, make_session("session-new", messages=2, updated_at_ms=T0 + 99,
                                      workspace_root=os.path.realpath(tmp_path / "proj")))
        (d / "session-4.jsonl").unlink()
        size = (d / "session-3.jsonl").stat().st_size
        for m in (a, b):
            ws = m.path / "sessions" / d.name
            wait_until(lambda ws=ws: (ws / "session-new.jsonl").exists()
                       and not (ws / "session-4.jsonl").exists()
                       and (ws / "session-3.jsonl").stat().st_size == size,
                       SOON, "both mounts to see the changes")
    cache = open_cache(tmp_path / "cache" / "clawfs")
    assert cache is not None  # it opens: quick_check passed, nothing to rebuild
    with cache.reading() as reader:
        rows = reader.entries(str(d))
    on_disk = {entry.name: file_key(entry.stat()) for entry in os.scandir(d)}
    assert {name: row.key for name, row in rows.items()} == on_disk
    index = StoreIndex([make_root(str(root), RootKind.STORE, 0)], cache)
    index.scan()
    assert (index.tally.read, index.tally.cached) == (0, len(on_disk))


def test_no_cache_neither_reads_nor_writes_one(tmp_path: Path) -> None:
    root, _d = make_store(tmp_path)
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    with mounted([root], tmp=tmp_path / "first", env=env):
        pass
    cache_file = tmp_path / "cache" / "clawfs" / FILE_NAME
    before = cache_file.stat().st_mtime_ns
    with mounted([root], ["--no-cache"], tmp=tmp_path / "again", env=env) as m:
        assert indexed(m) == (30, 0, 30)
        assert "no index cache: every session file is read" in m.log()
    assert cache_file.stat().st_mtime_ns == before
