"""The poller against real directories: what it reports, and what a poll costs.

A poll must cost stats of directories (workspaces), not of sessions: the
counting tests count `os.stat` and `os.scandir` calls (listings; a listed
entry's own lstat comes with its listing) for polls of unchanged stores of
different sizes and for one changed directory.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from clawfs.live.changes import Change
from clawfs.live.poller import Poller

FP = "7822b0d4410230b2"
FP2 = "ae5cd9e2efd7ae18"
META = b'{"session_id":"s","type":"session_meta","updated_at_ms":1,"version":1}\n'
LINE = b'{"message":{"blocks":[{"text":"hi","type":"text"}],"role":"user"},"type":"message"}\n'
DAY_NS = 86_400 * 10**9


def age(path: Path, days: int = 2) -> None:
    """Make a file look idle (written `days` ago)."""
    then = time.time_ns() - days * DAY_NS
    os.utime(path, ns=(then, then))


@pytest.fixture
def store(tmp_path: Path) -> Path:
    root = tmp_path / "sessions"
    (root / FP).mkdir(parents=True)
    (root / FP / "a.jsonl").write_bytes(META)
    return root


def started(root: Path, **options: Any) -> Poller:
    poller = Poller(**options)
    poller.add_root(str(root), announce=False)
    assert poller.poll() == []  # the first listing reports nothing
    return poller


def claw_save(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp-1776000000000-0")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def test_an_announced_root_is_reported_with_its_fingerprint_dirs(store: Path) -> None:
    (store / "flat.jsonl").write_bytes(META)
    (store / "not-a-fingerprint").mkdir()
    poller = Poller()
    poller.add_root(str(store), announce=True)
    assert poller.poll() == [Change("dir", str(store)), Change("dir", str(store / FP))]
    assert poller.poll() == []
    assert poller.roots() == [str(store)]


def test_new_appended_saved_and_deleted_files(store: Path) -> None:
    poller = started(store)
    a = store / FP / "a.jsonl"
    new = store / FP / "b.jsonl"
    new.write_bytes(META)
    assert poller.poll() == [Change("file", str(new))]
    assert poller.poll() == []  # the directory listed once more
    with open(new, "ab") as f:  # a new file is hot: its append is seen
        f.write(LINE)
    assert poller.poll() == [Change("file", str(new))]
    with open(new, "ab") as f:
        f.write(LINE)
    assert poller.poll() == [Change("file", str(new))]
    claw_save(a, META + LINE)
    assert poller.poll() == [Change("file", str(a))]
    (store / FP / "b.jsonl.tmp-1-0").write_bytes(META)  # claw's temp file: not a session
    assert poller.poll() == []
    new.unlink()
    assert poller.poll() == [Change("file", str(new))]
    assert poller.poll() == []


def test_a_save_that_keeps_size_and_mtime_is_seen(store: Path) -> None:
    path = store / FP / "a.jsonl"
    age(path)
    poller = started(store)
    st = path.stat()
    claw_save(path, path.read_bytes())
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert poller.poll() == [Change("file", str(path))]


def test_fingerprint_dirs_and_the_root_come_and_go(store: Path) -> None:
    poller = started(store)
    (store / FP2).mkdir()
    (store / FP2 / "s.jsonl").write_bytes(META)
    assert poller.poll() == [Change("dir", str(store / FP2))]
    (store / FP2 / "s.jsonl").unlink()
    (store / FP2).rmdir()
    assert poller.poll() == [Change("dir", str(store / FP2))]
    (store / FP).rename(store.parent / "away")
    (store / FP).mkdir()  # the same name, another directory
    assert poller.poll() == [Change("dir", str(store / FP))]
    (store / FP).rmdir()
    store.rmdir()
    assert poller.poll() == [Change("dir", str(store)), Change("dir", str(store / FP))]
    assert poller.poll() == []
    (store / FP2).mkdir(parents=True)
    assert poller.poll() == [Change("dir", str(store)), Change("dir", str(store / FP2))]


def test_a_root_that_does_not_exist_yet(tmp_path: Path) -> None:
    root = tmp_path / "later" / "sessions"
    poller = started(root)
    assert poller.poll() == []
    (root / FP).mkdir(parents=True)
    (root / FP / "s.jsonl").write_bytes(META)
    assert poller.poll() == [Change("dir", str(root)), Change("dir", str(root / FP))]


def test_flat_files_in_the_root(store: Path) -> None:
    poller = started(store)
    flat = store / "legacy.json"
    flat.write_bytes(b'{"messages":[]}')
    assert poller.poll() == [Change("file", str(flat))]
    with open(flat, "ab") as f:
        f.write(b" ")
    assert poller.poll() == [Change("file", str(flat))]


def test_a_second_change_within_the_same_directory_mtime_is_found(store: Path) -> None:
    """A directory listed because it changed is listed once more at the next
    poll: a change made in the same mtime tick leaves its stat as it was."""
    directory = store / FP
    poller = started(store)
    (directory / "one.jsonl").write_bytes(META)
    assert poller.poll() == [Change("file", str(directory / "one.jsonl"))]
    tick = directory.stat().st_mtime_ns
    (directory / "two.jsonl").write_bytes(META)
    os.utime(directory, ns=(tick, tick))  # as if within the same tick
    assert poller.poll() == [Change("file", str(directory / "two.jsonl"))]
    (directory / "three.jsonl").write_bytes(META)
    os.utime(directory, ns=(tick, tick))
    assert poller.poll() == []  # no change seen last time: not listed again


def test_an_idle_file_is_stat_ed_only_when_its_directory_changes(store: Path) -> None:
    """The price of not stat'ing every session every interval: an append to
    a session idle for longer than `hot_s` shows with the next change of
    its directory (claw's save at the end of the turn), or the safety sweep."""
    idle = store / FP / "a.jsonl"
    age(idle)
    poller = started(store)
    with open(idle, "ab") as f:
        f.write(LINE)
    assert poller.poll() == []
    (store / FP / "other.jsonl").write_bytes(META)
    other = store / FP / "other.jsonl"
    assert set(poller.poll()) == {Change("file", str(idle)), Change("file", str(other))}
    assert poller.poll() == []
    with open(idle, "ab") as f:  # in use now: seen at once
        f.write(LINE)
    assert poller.poll() == [Change("file", str(idle))]


def test_a_file_cools_off_after_hot_s(store: Path) -> None:
    now = [1000.0]
    path = store / FP / "a.jsonl"
    poller = started(store, hot_s=60.0, clock=lambda: now[0])  # a.jsonl is new: hot
    with open(path, "ab") as f:
        f.write(LINE)
    assert poller.poll() == [Change("file", str(path))]
    now[0] += 59.0
    with open(path, "ab") as f:
        f.write(LINE)
    assert poller.poll() == [Change("file", str(path))]
    now[0] += 61.0
    with open(path, "ab") as f:
        f.write(LINE)
    assert poller.poll() == []


def test_a_symlinked_fingerprint_dir_is_named_by_its_link(store: Path) -> None:
    shared = store / "shared"
    shared.mkdir()
    behind = shared / "s.jsonl"
    behind.write_bytes(META)
    (store / FP2).symlink_to("shared")
    outside = store.parent / "outside"
    outside.mkdir()
    (outside / "o.jsonl").write_bytes(META)
    (store / "0123456789abcdef").symlink_to(outside)  # leads out of the root: not the store's
    poller = Poller()
    poller.add_root(str(store), announce=True)
    assert poller.poll() == [
        Change("dir", str(store)), Change("dir", str(store / FP)), Change("dir", str(store / FP2))
    ]
    with open(behind, "ab") as f:
        f.write(LINE)
    (outside / "o.jsonl").write_bytes(META + LINE)
    assert poller.poll() == [Change("file", str(store / FP2 / "s.jsonl"))]


# --- what a poll costs ----------------------------------------------------------


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Poller], Counter[str]]]:
    """`calls(poller)`: poll once, counting `os.stat` and `os.scandir`."""

    def counted(poller: Poller) -> Counter[str]:
        seen: Counter[str] = Counter()
        real_stat, real_scandir = os.stat, os.scandir

        def stat(*args: Any, **kwargs: Any) -> os.stat_result:
            seen["stat"] += 1
            return real_stat(*args, **kwargs)

        def scandir(*args: Any, **kwargs: Any) -> Any:
            seen["scandir"] += 1
            return real_scandir(*args, **kwargs)

        with monkeypatch.context() as patch:
            patch.setattr(os, "stat", stat)
            patch.setattr(os, "scandir", scandir)
            poller.poll()
        return seen

    yield counted


def idle_store(root: Path, dirs: int, files: int) -> list[Path]:
    """`dirs` fingerprint directories of `files` idle sessions each."""
    made = []
    for d in range(dirs):
        directory = root / f"{d:016x}"
        directory.mkdir(parents=True)
        for n in range(files):
            path = directory / f"session-{n}.jsonl"
            path.write_bytes(META)
            age(path)
        made.append(directory)
    return made


@pytest.mark.parametrize("files", [5, 50])
def test_a_poll_of_an_unchanged_store_stats_each_directory_once(
    tmp_path: Path, calls: Callable[[Poller], Counter[str]], files: int
) -> None:
    root = tmp_path / "sessions"
    idle_store(root, 20, files)
    poller = started(root)
    assert calls(poller) == Counter(stat=21)  # the root and 20 directories, no listing


@pytest.mark.parametrize("files", [5, 50])
def test_a_change_costs_the_changed_directory_only(
    tmp_path: Path, calls: Callable[[Poller], Counter[str]], files: int
) -> None:
    root = tmp_path / "sessions"
    dirs = idle_store(root, 20, files)
    poller = started(root)
    (dirs[7] / "new.jsonl").write_bytes(META)
    # Each directory's stat, one listing, and a stat of what it names.
    assert calls(poller) == Counter(stat=21 + files + 1, scandir=1)
    # Listed once more (a change within the same mtime tick), then only the
    # new file, which is in use, is stat'ed beside the directories.
    assert calls(poller) == Counter(stat=21 + files + 1, scandir=1)
    assert calls(poller) == Counter(stat=21 + 1)


def test_polling_cost_does_not_grow_with_sessions(
    tmp_path: Path, calls: Callable[[Poller], Counter[str]]
) -> None:
    """The same store shape with 10x the sessions per directory: an unchanged
    poll costs the same, a change in one directory grows by that directory."""
    small, large = tmp_path / "small", tmp_path / "large"
    idle_store(small, 10, 3)
    idle_store(large, 10, 30)
    costs = []
    for root in (small, large):
        poller = started(root)
        quiet = calls(poller)
        (root / f"{0:016x}" / "new.jsonl").write_bytes(META)
        costs.append((quiet, calls(poller)))
    assert costs[0][0] == costs[1][0] == Counter(stat=11)
    assert costs[1][1]["stat"] - costs[0][1]["stat"] == 27  # 30 - 3 files in that directory
    assert costs[0][1]["scandir"] == costs[1][1]["scandir"] == 1
