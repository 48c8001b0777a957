"""Issue 13, bounded work (SPEC §6), in the index alone: what the index reads
of a 300 MB file (one line of NULs, or 300 MB of newlines), counted at the
read syscalls, whatever it is asked (scan, the aliases, the sweep, the
exact values of index.tsv and the xattrs), at its first scan or when the
file appears later.

READ_BOUND is SPEC §6's example cap on one check (64 MiB) plus 16 MiB of
slack for heads and checks; a fix that documents another cap changes it
with it. A read past it fails at once, so on main (which reads the whole
file: a plain scan took 58 s and 1.5 GB for the single line, 78 s and
1.2 GB for the newlines, measured) the tests fail in about a second.

The mount-level tests (tests/e2e/test_trust_bounded.py) bound the daemon's
reads and memory and the time for an unrelated session to show.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from clawfs.store.index import StoreIndex
from clawfs.store.roots import RootKind, make_root

import storegen as sg

T0 = 1_780_000_000_000
WORKSPACE = "/srv/bounded"
HUGE = 300 << 20
READ_BOUND = 80 << 20
KINDS = ["single-line", "newlines"]


class OverBudget(AssertionError):
    """Raised from inside a read: not an OSError, so nothing in the index hides it."""


class ReadCounter:
    """Counts the bytes `os.read`/`os.pread` return for one file (by identity)."""

    def __init__(self, path: Path) -> None:
        st = os.stat(path)
        self.identity = (st.st_dev, st.st_ino)
        self.total = 0

    def wrap(self, read: Callable[..., bytes]) -> Callable[..., bytes]:
        def counted(fd: int, *args: int) -> bytes:
            data = read(fd, *args)
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) == self.identity:
                self.total += len(data)
                if self.total > READ_BOUND:
                    raise OverBudget(f"the index read over {READ_BOUND >> 20} MiB of the file")
            return data

        return counted


@pytest.fixture(scope="module")
def huge_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    base = tmp_path_factory.mktemp("huge")
    single = base / "single-line"
    with open(single, "wb") as f:
        f.truncate(HUGE)
    newlines = base / "newlines"
    with open(newlines, "wb") as f:
        chunk = b"\n" * (1 << 20)
        for _ in range(HUGE // len(chunk)):
            f.write(chunk)
    yield {"single-line": single, "newlines": newlines}
    single.unlink()
    newlines.unlink()


def counting(monkeypatch: pytest.MonkeyPatch, path: Path) -> ReadCounter:
    counter = ReadCounter(path)
    monkeypatch.setattr(os, "read", counter.wrap(os.read))
    monkeypatch.setattr(os, "pread", counter.wrap(os.pread))
    return counter


def store_with_good(base: Path) -> tuple[Path, Path]:
    store = base / "store"
    directory = sg.fp_dir(store, WORKSPACE)
    sg.write_session(directory, sg.make_session("good", messages=2, workspace_root=WORKSPACE,
                                                updated_at_ms=T0), mtime_ms=T0)
    return store, directory


def ask_everything(index: StoreIndex, fp: str) -> None:
    """Everything the mount and the commands ask of the index about a workspace."""
    latest = index.latest(fp)
    assert latest is not None and latest.name == "good.jsonl"
    assert index.global_latest() == latest
    index.sweep()
    rows = {sf.name: summary for sf, summary in index.loaded(fp)}
    assert set(rows) == {"good.jsonl", "z.jsonl"}  # listed, as claw lists it
    assert rows["z.jsonl"].message_count == 0
    huge = index.file(fp, "z.jsonl")
    assert huge is not None
    index.load(huge)
    assert index.latest(fp) == latest


@pytest.mark.parametrize("kind", KINDS)
def test_a_huge_file_at_the_first_scan(
    tmp_path: Path, huge_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    store, directory = store_with_good(tmp_path)
    os.link(huge_files[kind], directory / "z.jsonl")
    counter = counting(monkeypatch, huge_files[kind])
    index = StoreIndex([make_root(str(store), RootKind.STORE, 0)])
    index.scan()
    ask_everything(index, directory.name)
    assert counter.total <= READ_BOUND


@pytest.mark.parametrize("kind", KINDS)
def test_a_huge_file_that_appears(
    tmp_path: Path, huge_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    store, directory = store_with_good(tmp_path)
    index = StoreIndex([make_root(str(store), RootKind.STORE, 0)])
    index.scan()
    os.link(huge_files[kind], directory / "z.jsonl")
    counter = counting(monkeypatch, huge_files[kind])
    index.refresh_path(str(directory / "z.jsonl"))
    ask_everything(index, directory.name)
    assert counter.total <= READ_BOUND
