"""The index cache (store/cache.py): a round trip keeps every value, a file
whose identity changed is a miss, and a cache that is corrupt, from another
version, or left by a killed writer is detected, logged and rebuilt; two
processes writing at once leave one consistent file.

The killed writer and the two writers are real processes (this interpreter
running a small script), killed with SIGKILL where the test says so.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from clawfs.format.head import Head
from clawfs.format.summary import Summary
from clawfs.host import filesystems
from clawfs.store import cache as cache_mod
from clawfs.store.cache import (
    FILE_NAME,
    IndexCache,
    code_stamp,
    open_cache,
)
from clawfs.store.files import FileKey, file_key
from clawfs.store.versions import Rendered, Version

FP = "7822b0d4410230b2"


def head(session_id: str = "s1", model: str | None = None) -> Head:
    return Head(meta_found=True, session_id=session_id, created_at_ms=1, updated_at_ms=2,
                model=model, has_messages=True, scanned=300)


def entry(n: int, session_id: str | None = None) -> Version:
    sid = session_id or f"session-{n}"
    key = FileKey(2049, 1000 + n, 10 * n, 1_700_000_000_000_000_000 + n, 5 + n)
    return Version.of(key, head(sid), None, "stem")


def opened(directory: Path) -> IndexCache:
    cache = open_cache(directory)
    assert cache is not None
    return cache


def written(directory: Path, entries: dict[str, Version]) -> None:
    cache = opened(directory)
    for path, value in entries.items():
        cache.put(path, value)
    assert cache.commit() == len(entries)
    cache.close()


def everything(cache: IndexCache) -> dict[str, Version]:
    """Everything in the cache, by path (whatever identity), read as a scan reads."""
    with contextlib.closing(sqlite3.connect(cache.path)) as db:
        dirs = [os.fsdecode(p) for (p,) in db.execute("SELECT path FROM dirs")]
    with cache.reading() as reader:
        return {os.path.join(d, n): e for d in dirs for n, e in reader.entries(d).items()}


def stored(directory: Path) -> dict[str, Version]:
    return everything(opened(directory))


def test_a_round_trip_keeps_every_value(tmp_path: Path) -> None:
    huge = FileKey((1 << 64) - 2, (1 << 63) + 5, 123_456, 1_776_000_000_123_456_789,
                   1_776_000_000_987_654_321)
    head_only = Version.of(
        huge,
        Head(meta_found=True, session_id="session-1776-0", created_at_ms=11, updated_at_ms=12,
             parent_session_id="session-1775-0", branch_name="bugfix", model="claude-opus",
             workspace_root="/home/me/proj", has_messages=True, scanned=16384),
        None, "session-1776-0", rendered=Rendered("Fix the flaky test", 4567))
    loaded = Version.of(
        FileKey(1, 5, 3, 4, 5), None,
        Summary(session_id="other-id", created_at_ms=21, updated_at_ms=22, message_count=23,
                parent_session_id="p2", branch_name="b2", model="m2", workspace_root="/r2",
                error=None),
        "loaded", loaded_before=True)
    failed = Version.of(
        FileKey(1, 2, 3, 4, 5), None,
        Summary(session_id="x", created_at_ms=0, updated_at_ms=0, message_count=0,
                error="claw cannot load it: unexpected end"), "x")
    no_created = Version.of(FileKey(1, 3, 3, 4, 5),
                            Head(True, "s9", None, 2, model="claude-opus", scanned=5), None, "s9")
    odd_name = f"/store/{FP}/" + os.fsdecode(b"caf\xe9.jsonl")  # not UTF-8
    paths = {f"/store/{FP}/full.jsonl": head_only, f"/store/{FP}/failed.json": failed,
             f"/other/{FP}/same.jsonl": no_created, odd_name: entry(4),
             f"/store/{FP}/loaded.jsonl": loaded}
    written(tmp_path, paths)
    assert stored(tmp_path) == paths
    cache = opened(tmp_path)
    for path, value in paths.items():
        assert cache.get(path, value.key) == value
        assert cache.get(path, value.key._replace(ctime_ns=0)) is None
    with cache.reading() as reader:
        assert sorted(reader.entries(f"/store/{FP}")) == sorted(
            os.path.basename(p) for p in paths if p.startswith("/store/"))
        assert reader.entries("/sto") == {}
    back = stored(tmp_path)
    full = back[f"/store/{FP}/full.jsonl"].head("session-1776-0")
    assert full == head_only.head("session-1776-0") and full is not None
    assert full.scanned == 16384  # not compared by ==
    assert back[f"/store/{FP}/full.jsonl"].session_id is None  # it is the stem: not kept
    assert back[f"/store/{FP}/loaded.jsonl"].summary("loaded") == loaded.summary("loaded")
    assert back[f"/store/{FP}/loaded.jsonl"].head("loaded") is None
    assert back[f"/store/{FP}/loaded.jsonl"].loaded_before
    assert back[f"/other/{FP}/same.jsonl"].head("s9") == no_created.head("s9")
    assert back[f"/store/{FP}/failed.json"].summary("x") == failed.summary("x")
    assert back[odd_name].texts is entry(5).texts  # one tuple for the same texts


def test_a_directory_is_read_in_ranges_of_names(tmp_path: Path) -> None:
    """A scan reads one directory a range at a time: consecutive ranges
    (after, upto] of the names' bytes hand out every row exactly once."""
    names = ["a.jsonl", "b.jsonl", "c.jsonl", os.fsdecode(b"\xff.jsonl"), "\u00e9.jsonl"]
    written(tmp_path, {f"/s/{FP}/{n}": entry(k) for k, n in enumerate(names)})
    cuts = [None, b"a.jsonl", b"c.jsonl", None]
    with opened(tmp_path).reading() as reader:
        parts = [reader.entries(f"/s/{FP}", after, upto)
                 for after, upto in itertools.pairwise(cuts)]
        assert reader.entries(f"/t/{FP}") == {}
    assert [sorted(p) for p in parts] == [["a.jsonl"], ["b.jsonl", "c.jsonl"],
                                          sorted([names[3], names[4]])]


def test_forget_and_replace(tmp_path: Path) -> None:
    a, b = f"/s/{FP}/a.jsonl", f"/s/{FP}/b.jsonl"
    written(tmp_path, {a: entry(1), b: entry(2)})
    cache = opened(tmp_path)
    cache.forget(a)
    cache.put(b, entry(3))
    cache.put(b, entry(4))  # the last one queued wins
    assert cache.pending() == 2
    assert cache.commit() == 2
    assert stored(tmp_path) == {b: entry(4)}


def identity_of(path: Path) -> FileKey:
    return file_key(os.stat(path))


def test_a_changed_identity_is_a_miss(tmp_path: Path) -> None:
    """Each way a file can change, and what of its identity tells."""
    store = tmp_path / "store"
    store.mkdir()
    path = store / "s.jsonl"
    path.write_bytes(b'{"type":"session_meta"}\n')
    versions = {"first": identity_of(path)}

    with open(path, "ab") as f:
        f.write(b"{}\n")
    versions["append"] = identity_of(path)

    st = path.stat()
    path.write_bytes(path.read_bytes().replace(b"{}", b"[]"))  # same size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # mtime set back
    versions["same size and mtime, rewritten"] = identity_of(path)  # only ctime moved

    time.sleep(0.01)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    versions["same size, new mtime"] = identity_of(path)

    mtime = path.stat().st_mtime_ns
    tmp = store / "s.jsonl.tmp-1-0"
    tmp.write_bytes(path.read_bytes())
    os.utime(tmp, ns=(mtime, mtime))
    os.replace(tmp, path)  # claw's save: a rename over it
    versions["same size and mtime, new inode"] = identity_of(path)

    assert len(set(versions.values())) == len(versions)
    before, after = versions["append"], versions["same size and mtime, rewritten"]
    assert (before.ino, before.size, before.mtime_ns) == (after.ino, after.size, after.mtime_ns)
    cache_dir = tmp_path / "cache"
    for what, identity in versions.items():
        written(cache_dir, {str(path): Version.of(identity, head(what), None, "s")})
        cache = opened(cache_dir)
        for other, other_identity in versions.items():
            assert (cache.get(str(path), other_identity) is not None) == (other == what)


def test_the_file_is_private(tmp_path: Path) -> None:
    written(tmp_path / "cache", {f"/s/{FP}/a.jsonl": entry(1)})
    assert (tmp_path / "cache").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "cache" / FILE_NAME).stat().st_mode & 0o777 == 0o600


# --- caches not to be trusted ------------------------------------------------------


def some_rows(directory: Path, count: int = 2000) -> dict[str, Version]:
    rows = {f"/s/{FP}/f{n}.jsonl": entry(n) for n in range(count)}
    written(directory, rows)
    assert len(stored(directory)) == count
    return rows


def test_garbage_is_detected_and_rebuilt(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    some_rows(tmp_path)
    (tmp_path / FILE_NAME).write_bytes(os.urandom(3) + b"garbage" * 5000)
    with caplog.at_level(logging.WARNING, logger="clawfs.store.cache"):
        cache = opened(tmp_path)
    assert "is unreadable" in caplog.text and "starting a new one" in caplog.text
    assert len(everything(cache)) == 0
    written(tmp_path, {f"/s/{FP}/new.jsonl": entry(1)})
    assert list(stored(tmp_path)) == [f"/s/{FP}/new.jsonl"]


def test_a_truncated_file_is_detected_and_rebuilt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    some_rows(tmp_path)
    path = tmp_path / FILE_NAME
    assert not (tmp_path / (FILE_NAME + "-wal")).exists()  # all of it is in the main file
    os.truncate(path, path.stat().st_size // 2)
    with caplog.at_level(logging.WARNING, logger="clawfs.store.cache"):
        cache = opened(tmp_path)
    assert "is unreadable" in caplog.text and "malformed" in caplog.text
    assert len(everything(cache)) == 0


def test_another_schema_version_is_emptied(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    some_rows(tmp_path)
    with sqlite3.connect(tmp_path / FILE_NAME) as db:
        db.execute("PRAGMA user_version = 99")
    with caplog.at_level(logging.WARNING, logger="clawfs.store.cache"):
        cache = opened(tmp_path)
    assert f"schema version 99, not {cache_mod.SCHEMA_VERSION}: emptied" in caplog.text
    assert len(everything(cache)) == 0
    with sqlite3.connect(tmp_path / FILE_NAME) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == cache_mod.SCHEMA_VERSION


def test_another_clawfs_is_emptied_and_an_older_writer_stops(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = some_rows(tmp_path)
    older = opened(tmp_path)  # a mount of this version, still running
    monkeypatch.setattr(cache_mod, "code_stamp", lambda: "clawfs 9.9 format 0123")
    with caplog.at_level(logging.WARNING, logger="clawfs.store.cache"):
        newer = opened(tmp_path)
    assert f"written by {code_stamp()}, not clawfs 9.9 format 0123: emptied" in caplog.text
    assert len(everything(newer)) == 0
    monkeypatch.undo()
    older.put(f"/s/{FP}/late.jsonl", entry(1))
    with caplog.at_level(logging.WARNING, logger="clawfs.store.cache"):
        assert older.commit() == 0
    assert "taken over by another clawfs" in caplog.text
    older.put(f"/s/{FP}/later.jsonl", entry(2))
    assert older.commit() == 0
    with sqlite3.connect(tmp_path / FILE_NAME) as db:
        assert db.execute("SELECT count(*) FROM files").fetchone()[0] == 0
    assert rows


@pytest.mark.parametrize(("damage", "seen"), [
    ("UPDATE files SET model = 999", "a row it cannot hold"),  # no such text
    # The numbers have their one length: quick_check checks the constraint.
    ("UPDATE files SET numbers = x'00'", "CHECK constraint failed in files"),
])
def test_a_row_the_code_never_writes_empties_the_cache(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str, seen: str
) -> None:
    some_rows(tmp_path, 10)
    with sqlite3.connect(tmp_path / FILE_NAME) as db:
        db.execute("PRAGMA ignore_check_constraints = ON")  # as a flipped bit would
        db.execute(damage)
    with caplog.at_level(logging.WARNING, logger="clawfs.store.cache"):
        cache = opened(tmp_path)
        assert len(everything(cache)) == 0
    assert seen in caplog.text
    assert len(everything(opened(tmp_path))) == 0


CHILD = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from clawfs.format.head import Head
    from clawfs.store import cache as cache_mod
    from clawfs.store.cache import open_cache
    from clawfs.store.files import FileKey
    from clawfs.store.versions import Version

    directory, role = Path(sys.argv[1]), sys.argv[2]
    cache = open_cache(directory)

    def entry(n, sid):
        return Version.of(FileKey(2049, n, n, n, n), Head(True, sid, 1, 2, has_messages=True),
                          None, "stem")

    if role == "killed":
        cache_mod.BATCH_ROWS = 10**9  # the second commit is one transaction
        for n in range(100):
            cache.put(f"/s/first/{n}.jsonl", entry(n, "first"))
        cache.commit()
        print("first", flush=True)
        for n in range(150_000):
            cache.put(f"/s/second/{n}.jsonl", entry(n, "second"))
        print("second", flush=True)
        cache.commit()
        print("committed", flush=True)
    else:  # a writer among two: rounds of rows over the same paths
        writer = int(role)
        print("ready", flush=True)
        while not (directory / "go").exists():  # both start at once
            pass
        for round in range(6):
            for n in range(3000):
                ident = writer * 10**6 + round * 10**4 + n
                cache.put(f"/s/both/{n}.jsonl", entry(ident, f"w{writer}-r{round}-{n}"))
            cache.commit()
        cache.close()
        print("done", cache.pending(), flush=True)
""")


def child(directory: Path, role: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", CHILD, str(directory), role],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_cache_left_by_a_writer_killed_mid_batch_is_detected_and_rebuilt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clean = {f"/s/clean/{n}.jsonl": entry(n) for n in range(50)}
    written(tmp_path, clean)  # a mount that closed the cache
    proc = child(tmp_path, "killed")
    assert proc.stdout is not None
    assert proc.stdout.readline() == "first\n"
    assert proc.stdout.readline() == "second\n"
    wal = tmp_path / (FILE_NAME + "-wal")  # none between two commits: the last close removes it
    deadline = time.monotonic() + 60
    while not wal.exists() or wal.stat().st_size < 1 << 20:  # the transaction spills into it
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate()
    assert out == "" and proc.returncode == -signal.SIGKILL, err  # never committed
    with caplog.at_level(logging.WARNING, logger="clawfs.store.cache"):
        cache = opened(tmp_path)
    assert f"a mount (pid {proc.pid}) ended without closing it: dropped the 100 row(s)" \
        in caplog.text
    assert stored(tmp_path) == clean  # neither the committed nor the interrupted batch
    with sqlite3.connect(tmp_path / FILE_NAME) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("SELECT count(*) FROM writers").fetchone()[0] == 0
    cache.put("/s/first/0.jsonl", entry(0))
    assert cache.commit() == 1


def test_a_writer_whose_pid_was_reused_counts_as_dead(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    some_rows(tmp_path, 5)
    with sqlite3.connect(tmp_path / FILE_NAME) as db:
        (session,) = db.execute(
            "INSERT INTO writers(pid, started, boot) VALUES (?, 'long ago', ?) RETURNING session",
            (os.getpid(), cache_mod._boot_id())).fetchone()
        db.execute("UPDATE files SET session = ?", (session,))
    with caplog.at_level(logging.WARNING, logger="clawfs.store.cache"):
        assert len(everything(opened(tmp_path))) == 0
    assert "ended without closing it: dropped the 5 row(s)" in caplog.text


def test_a_live_writer_s_rows_are_kept(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cache = opened(tmp_path)
    cache.put(f"/s/{FP}/a.jsonl", entry(1))
    cache.commit()  # registered, not closed: a mount still running
    with caplog.at_level(logging.WARNING, logger="clawfs.store.cache"):
        assert len(everything(opened(tmp_path))) == 1
    assert caplog.text == ""


def test_two_processes_writing_at_once_stay_consistent(tmp_path: Path) -> None:
    opened(tmp_path).close()
    procs = [child(tmp_path, str(writer)) for writer in (1, 2)]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    (tmp_path / "go").touch()
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert (proc.returncode, out) == (0, "done 0\n"), err
        assert "failed" not in err
    rows = stored(tmp_path)
    assert len(rows) == 3000
    finals = set()
    for path, value in rows.items():
        n = int(os.path.basename(path).split(".")[0])
        writer, round, number = (value.key.ino // 10**6, value.key.ino // 10**4 % 100,
                                 value.key.ino % 10**4)
        assert value.session_id == f"w{writer}-r{round}-{n}" and number == n  # not torn
        finals.add((writer, round))
    assert finals <= {(1, 5), (2, 5)}  # the last round of one writer or the other
    with sqlite3.connect(tmp_path / FILE_NAME) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


# --- where and how long ----------------------------------------------------------


def test_a_directory_on_a_shared_filesystem_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(filesystems, "shared_kind", lambda path: "nfs")
    with caplog.at_level(logging.WARNING, logger="clawfs.store.cache"):
        assert open_cache(tmp_path / "cache") is None
    assert "is on nfs, and SQLite's WAL needs a local filesystem" in caplog.text


def test_an_unwritable_directory_means_no_cache(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="clawfs.store.cache"):
        assert open_cache(blocker / "cache") is None
    assert "no index cache: cannot create" in caplog.text


def test_directories_no_mount_read_for_long_expire(tmp_path: Path) -> None:
    old, kept = f"/old/{FP}/a.jsonl", f"/kept/{FP}/b.jsonl"
    written(tmp_path, {old: entry(1), kept: entry(2)})
    today = cache_mod._today()
    with sqlite3.connect(tmp_path / FILE_NAME) as db:
        db.execute("UPDATE dirs SET used_day = ? WHERE path = ?",
                   (today - cache_mod.EXPIRE_DAYS - 1, f"/old/{FP}".encode()))
        db.execute("UPDATE dirs SET used_day = ? WHERE path = ?",
                   (today - cache_mod.EXPIRE_DAYS + 1, f"/kept/{FP}".encode()))
    reader = opened(tmp_path)  # expires /old
    with reader.reading() as scan:
        assert len(scan.entries(f"/kept/{FP}")) == 1  # read now: used again
    assert reader.commit() == 0  # no rows: only that the directory was used
    with sqlite3.connect(tmp_path / FILE_NAME) as db:
        days = dict(db.execute("SELECT path, used_day FROM dirs"))
    assert days == {f"/kept/{FP}".encode(): today}
    assert list(stored(tmp_path)) == [kept]
    with sqlite3.connect(tmp_path / FILE_NAME) as db:
        texts = db.execute("SELECT count(*) FROM texts").fetchone()[0]
    assert texts == 0  # entry() names no model or root


def test_remove_cache(tmp_path: Path) -> None:
    written(tmp_path, {f"/s/{FP}/a.jsonl": entry(1)})
    cache_mod.remove_cache(tmp_path)
    assert os.listdir(tmp_path) == []
    assert len(everything(opened(tmp_path))) == 0
