"""Issue 9, the store changing under a read: a transcript deleted, truncated
or rotated while a reader is in the middle of it. The reader gets bytes or a
clean error, never a hang (the fixture's watchdog turns one into a
failure), and the mount stays up and answers.
"""

from __future__ import annotations

import errno
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from clawfs.format.fingerprint import fingerprint

import storegen as sg
from mounting import Mount, mounted, wait_until

WORKSPACE = "/srv/hardening-changes"
FP = fingerprint(WORKSPACE)
T0 = 1_750_000_000_000
CHUNK = 64 * 1024
CLEAN_ERRORS = {errno.ENOENT, errno.ESTALE, errno.EIO}
"""What a reader may see instead of bytes when its file is yanked away."""


def big_session(sid: str, messages: int = 4000) -> bytes:
    return sg.render(sg.make_session(sid, messages=[
        sg.text_message(f"{sid} line {n} " + "x" * 400) for n in range(messages)
    ], workspace_root=WORKSPACE, created_at_ms=T0))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[Mount, Path]]:
    directory = tmp_path / "store" / FP
    directory.mkdir(parents=True)
    for n in range(3):
        sid = f"session-{T0 + n}-0"
        sg.write_bytes(directory, f"{sid}.jsonl", big_session(sid), mtime_ms=T0 + n)
    with mounted([tmp_path / "store"], tmp=tmp_path) as m:
        yield m, directory


def read_through(path: Path, change: Callable[[], None]) -> bytes:
    """Read `path` a chunk at a time, calling `change` after the first chunk."""
    got = bytearray()
    with open(path, "rb", buffering=0) as f:
        got += f.read(CHUNK)
        change()
        while True:
            try:
                chunk = f.read(CHUNK)
            except OSError as e:
                assert e.errno in CLEAN_ERRORS, e
                break
            if not chunk:
                break
            got += chunk
    return bytes(got)


def still_answers(m: Mount) -> None:
    done = subprocess.run(["ls", "-lR", m.path], capture_output=True, timeout=60, check=False)
    assert done.returncode in (0, 1), done.stderr  # 1: a name vanished mid-listing
    assert (m.path / "sessions" / FP / "index.tsv").read_bytes().startswith(b"file\t")
    assert m.proc is not None and m.proc.poll() is None and m.is_mounted()


def test_deleted_under_a_reader(store: tuple[Mount, Path]) -> None:
    m, directory = store
    name = f"session-{T0}-0.jsonl"
    original = (directory / name).read_bytes()
    got = read_through(m.path / "sessions" / FP / name, lambda: (directory / name).unlink())
    assert got == original  # the open file keeps its bytes, as on a local disk
    still_answers(m)


def test_truncated_under_a_reader(store: tuple[Mount, Path]) -> None:
    m, directory = store
    name = f"session-{T0 + 1}-0.jsonl"
    original = (directory / name).read_bytes()
    keep = len(original) // 3

    def truncate() -> None:
        os.truncate(directory / name, keep)

    got = read_through(m.path / "sessions" / FP / name, truncate)
    assert original.startswith(got[:keep])
    assert len(got) <= len(original)
    still_answers(m)
    # Freshness is bounded by the attribute timeout even without the watcher.
    wait_until(lambda: (m.path / "sessions" / FP / name).read_bytes() == original[:keep], 5,
               "the truncated file to read as its new bytes")


def test_rotated_under_a_reader(store: tuple[Mount, Path]) -> None:
    """claw rotates: the log is renamed to `<stem>.rot-<ms>.jsonl` and a new
    one is saved under the old name (temp file + rename)."""
    m, directory = store
    stem = f"session-{T0 + 2}-0"
    original = (directory / f"{stem}.jsonl").read_bytes()
    fresh = big_session(stem, messages=3)

    def rotate() -> None:
        os.rename(directory / f"{stem}.jsonl", directory / f"{stem}.rot-{T0 + 5}.jsonl")
        sg.write_bytes(directory, f"{stem}.jsonl.tmp-1-1", fresh)
        os.rename(directory / f"{stem}.jsonl.tmp-1-1", directory / f"{stem}.jsonl")

    got = read_through(m.path / "sessions" / FP / f"{stem}.jsonl", rotate)
    assert got == original
    still_answers(m)


def test_files_churning_under_parsers_and_readers(store: tuple[Mount, Path]) -> None:
    """Full parses (xattrs, index.tsv) and reads race a writer that truncates,
    rewrites and deletes the same files for a while: every call ends with
    bytes or a clean errno, and nothing in the daemon breaks."""
    m, directory = store
    names = sorted(p.name for p in directory.iterdir())
    data = {n: (directory / n).read_bytes() for n in names}
    stop = threading.Event()
    failures: list[BaseException] = []
    ws = m.path / "sessions" / FP

    def churn() -> None:
        i = 0
        while not stop.is_set():
            name = names[i % len(names)]
            path = directory / name
            action = i % 4
            if action == 0:
                os.truncate(path, len(data[name]) // (2 + i % 5)) if path.exists() else None
            elif action == 1:
                path.write_bytes(data[name])
            elif action == 2:
                path.unlink(missing_ok=True)
            else:
                sg.write_bytes(directory, name, data[name])
            i += 1
            time.sleep(0.002)

    def hammer(call: Callable[[], object]) -> None:
        while not stop.is_set():
            try:
                call()
            except OSError as e:
                if e.errno not in CLEAN_ERRORS | {errno.ENODATA}:
                    failures.append(e)
            except BaseException as e:
                failures.append(e)

    calls: list[Callable[[], object]] = [
        lambda: (ws / "index.tsv").read_bytes(),
        lambda: [os.getxattr(ws / n, "user.claw.message_count") for n in names],
        lambda: [(ws / n).read_bytes() for n in names],
        lambda: os.listdir(ws),
    ]
    threads = [threading.Thread(target=churn)]
    threads += [threading.Thread(target=hammer, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    time.sleep(3)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a call through the mount hung"
    assert failures == []
    for name in names:
        sg.write_bytes(directory, name, data[name])
    still_answers(m)
    assert "Traceback" not in m.log(), m.log()[-3000:]


def in_thread(call: Callable[[], object], unblock: Path, seconds: float = 10) -> object:
    """`call()`'s result or exception; fails if it blocks, after unblocking it
    (a writer opening the FIFO at `unblock` lets a blocked reader's open return)."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as e:
            outcome.append(e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        fd = os.open(unblock, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        thread.join(10)
        raise AssertionError(f"blocked on a FIFO for {seconds:.0f} s")
    return outcome[0]


def replace_with_fifo(path: Path) -> None:
    fifo = path.with_name(path.name + ".tmp-fifo")
    os.mkfifo(fifo)
    os.rename(fifo, path)


def test_store_code_never_blocks_on_a_fifo(tmp_path: Path) -> None:
    """A session file swapped for a FIFO after it was indexed: opening a FIFO
    for reading waits for a writer, so every open of a backing file must not."""
    from clawfs.store import forkwriter
    from clawfs.store.index import StoreIndex
    from clawfs.store.roots import RootKind, make_root

    directory = sg.fp_dir(tmp_path / "store", WORKSPACE)
    path = sg.write_session(directory, sg.make_session("session-1-0", workspace_root=WORKSPACE),
                            mtime_ms=T0)
    index = StoreIndex([make_root(str(tmp_path / "store"), RootKind.STORE, 0)])
    index.scan()
    sf = index.file(FP, path.name)
    assert sf is not None
    replace_with_fifo(path)
    assert isinstance(in_thread(lambda: index.load(sf), path), FileNotFoundError)
    forked = in_thread(lambda: index.fork(sf, None), path)
    assert isinstance(forked, OSError) and forked.errno == errno.ENOENT, forked
    written = in_thread(lambda: forkwriter.write_fork(str(path), str(directory), None), path)
    assert isinstance(written, OSError) and written.errno == errno.ENOENT, written
    in_thread(index.scan, path)
    assert index.file(FP, path.name) is None
    assert sorted(p.name for p in directory.iterdir()) == [path.name]


def test_session_swapped_for_a_fifo_never_hangs_the_mount(store: tuple[Mount, Path]) -> None:
    """Opened through the mount before the watcher has seen the swap, a FIFO
    must give a clean error: a blocked open would stall every request."""
    m, directory = store
    ws = m.path / "sessions" / FP
    for n in range(3):
        name = f"session-{T0 + n}-0.jsonl"
        os.stat(ws / name)  # the kernel knows the entry: open goes straight to the daemon
        replace_with_fifo(directory / name)
        got = in_thread(lambda: (ws / name).read_bytes(), directory / name)  # noqa: B023
        assert isinstance(got, OSError) and got.errno in CLEAN_ERRORS, got
    assert os.listdir(ws)
    still_answers(m)
