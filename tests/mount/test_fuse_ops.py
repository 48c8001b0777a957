"""The FUSE adapter's own rules, called directly (no mount): every failure
becomes an errno in 1..511, forget never raises, control-file handles.
Everything a real mount shows is tested through one in tests/e2e/."""

from __future__ import annotations

import errno
import logging
import os
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pyfuse3
import pytest
import trio

from clawfs.format.summary import Summary
from clawfs.mount.errors import RequestError
from clawfs.mount.fuse_ops import Operations
from clawfs.mount.inodes import ROOT_INODE
from clawfs.mount.privacy import Viewers
from clawfs.mount.view import Entry, EntryKind, View
from clawfs.store import files, lineage
from clawfs.store.files import FileKey
from clawfs.store.loads import LoadCache
from clawfs.store.versions import Rendered

import storegen as sg

FP = "0123456789abcdef"
T0 = 1_760_000_000_000  # the `project` fixture's first session time (conftest.py)
FORK = Entry(("sessions", FP, "fork"), EntryKind.CONTROL, "fork")
TSV = Entry(("sessions", FP, "index.tsv"), EntryKind.GENERATED, "index.tsv")
SUMMARY = Summary("a", 1, 2, 3)


@dataclass
class FakeFile:
    """What the adapter's collaborators read of a `SessionFile`."""

    name: str
    path: str
    key: FileKey | None = None
    belongs: bool = True
    file_name: str = "a.jsonl"


class FakeMarkdown:
    """The Markdown cache as xattrs use it: a version's title, learnt when asked."""

    def __init__(self, index: FakeIndex) -> None:
        self.index = index
        self.titled: set[FileKey | None] = set()

    def known(self, path: str, key: FileKey | None) -> Rendered | None:
        return Rendered("a title", None) if key in self.titled else None

    def title(self, path: str) -> str:
        self.titled.add(self.index.sf.key)
        return "a title"


class FakeIndex:
    """One workspace `FP` holding `a.jsonl`, its latest: counts the full loads
    behind xattrs (`summaries`); index.tsv builds block while `generating` is
    clear; forks are recorded (`forks`), or raise `fork_fail`."""

    def __init__(self, backing: Path) -> None:
        self.sf = FakeFile("a.jsonl", str(backing))
        self.summaries = 0
        self.summary_threads: set[int] = set()
        self.parsed: set[FileKey | None] = set()
        self.generating = threading.Event()
        self.generating.set()
        self.forks: list[str | None] = []
        self.fork_fail: BaseException | None = None
        self.markdown = FakeMarkdown(self)

    def file(self, fp: str, name: str) -> FakeFile | None:
        return self.sf if (fp, name) == (FP, self.sf.name) else None

    def load(self, sf: FakeFile) -> Summary:
        self.summaries += 1
        self.summary_threads.add(threading.get_ident())
        self.parsed.add(sf.key)
        return SUMMARY

    def cached_load(self, sf: FakeFile) -> Summary | None:
        return SUMMARY if sf.key in self.parsed else None

    def loaded(self, fp: str) -> list[tuple[FakeFile, Summary]]:
        self.generating.wait(10)
        return [(self.sf, SUMMARY)]

    def latest(self, fp: str) -> FakeFile | None:
        return self.sf if fp == FP else None

    def fork(self, sf: FakeFile, branch: str | None) -> FakeFile:
        if self.fork_fail is not None:
            raise self.fork_fail
        self.forks.append(branch)
        return FakeFile("new.jsonl", "/store/new.jsonl")


class Backing(NamedTuple):
    """What an entry shows of its session file (view.Backed)."""

    path: str
    key: FileKey


class FakeView:
    """A root holding the entries of workspace `FP` (`a.jsonl`, `fork`,
    `index.tsv`) by name; `fail` makes lookup raise it."""

    reported = None
    """No other users (no --allow-other): nobody is answered per caller."""

    def __init__(self, backing: Path) -> None:
        self.index = FakeIndex(backing)
        self.viewers = Viewers(self.index, None)  # type: ignore[arg-type]
        self.fail: BaseException | None = None
        self.file = Entry(("sessions", FP, "a.jsonl"), EntryKind.TRANSCRIPT, "a.jsonl",
                          file=Backing(str(backing), files.file_key(os.stat(backing))))

    def root(self) -> Entry:
        return Entry((), EntryKind.DIR, "")

    def _entries(self) -> list[Entry]:
        return [self.file, FORK, TSV]

    def resolve(self, key: tuple[str, ...], who: object = None) -> Entry | None:
        return self.root() if key == () else {e.key: e for e in self._entries()}.get(key)

    def lookup(self, parent: Entry, name: str, who: object = None) -> Entry | None:
        if self.fail is not None:
            raise self.fail
        return {e.name: e for e in self._entries()}.get(name) if parent.key == () else None

    def entries(self, parent: Entry, who: object = None) -> list[Entry]:
        return [self.file, FORK]

    def shown(self, entry: Entry, st: object = None) -> None:
        return None

    def shared(self, entry: Entry) -> bool:
        return True


@pytest.fixture
def view(tmp_path: Path) -> FakeView:
    backing = tmp_path / "a.jsonl"
    backing.write_bytes(b"hello\n")
    return FakeView(backing)


@pytest.fixture
def ops(view: FakeView) -> Operations:
    return Operations(view)  # type: ignore[arg-type]


def run(call: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    return trio.run(call)


def errno_of(call: Callable[[], Coroutine[Any, Any, Any]]) -> int:
    with pytest.raises(pyfuse3.FUSEError) as caught:
        run(call)
    return caught.value.errno


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (OSError(errno.EACCES, "denied"), errno.EACCES),
        (OSError(0, "no errno"), errno.EIO),
        (OSError(1000, "out of range"), errno.EIO),
        (OSError("no errno at all"), errno.EIO),
        (RequestError(errno.ENOENT, "gone"), errno.ENOENT),
        (RequestError(-3, "negative"), errno.EIO),
        (ValueError("a bug"), errno.EIO),
        (KeyError("a bug"), errno.EIO),
    ],
)
def test_every_failure_becomes_a_valid_errno(
    ops: Operations, view: FakeView, failure: BaseException, expected: int
) -> None:
    view.fail = failure
    assert errno_of(lambda: ops.lookup(ROOT_INODE, b"a.jsonl", None)) == expected  # type: ignore[arg-type]


def test_unexpected_exceptions_are_logged(
    ops: Operations, view: FakeView, caplog: pytest.LogCaptureFixture
) -> None:
    view.fail = ZeroDivisionError("boom")
    with caplog.at_level(logging.ERROR):
        errno_of(lambda: ops.lookup(ROOT_INODE, b"a.jsonl", None))  # type: ignore[arg-type]
    assert "ZeroDivisionError" in caplog.text


def test_forget_never_raises(ops: Operations) -> None:
    async def scenario() -> int:
        attr = await ops.lookup(ROOT_INODE, b"a.jsonl", None)  # type: ignore[arg-type]
        await ops.lookup(ROOT_INODE, b"a.jsonl", None)  # type: ignore[arg-type]
        await ops.forget([(12345, 3), (ROOT_INODE, 1), (-1, 0), (attr.st_ino, 1)])
        assert ops._inodes.is_held(attr.st_ino)  # one of its two lookups is left
        await ops.forget([(attr.st_ino, 5)])  # more than it holds
        return attr.st_ino

    inode = run(scenario)
    table = ops._inodes
    assert not table.is_held(inode) and not table.is_held(12345) and not table.is_held(-1)
    assert table.entry(12345) is None and table.entry(-1) is None
    assert table.entry(ROOT_INODE) == ((EntryKind.DIR, ()), None)
    assert table.entry(inode) is None  # forgotten: dropped, and a new number next time
    again = run(lambda: ops.lookup(ROOT_INODE, b"a.jsonl", None)).st_ino  # type: ignore[arg-type]
    assert again > inode
    assert [h[0] for h in table.held()] == [again, ROOT_INODE]


def test_unknown_inode_is_estale(ops: Operations) -> None:
    assert errno_of(lambda: ops.getattr(999, None)) == errno.ESTALE  # type: ignore[arg-type]


def test_foreign_xattr_namespaces_answer_without_the_view(
    ops: Operations, view: FakeView
) -> None:
    view.fail = AssertionError("the view must not be asked")
    for name in (b"security.selinux", b"system.posix_acl_access", b"trusted.x"):
        assert errno_of(lambda: ops.getxattr(ROOT_INODE, name, None)) == errno.EOPNOTSUPP  # type: ignore[arg-type]  # noqa: B023


def test_lookup_then_read_a_transcript(ops: Operations) -> None:
    async def scenario() -> bytes:
        attr = await ops.lookup(ROOT_INODE, b"a.jsonl", None)  # type: ignore[arg-type]
        info = await ops.open(attr.st_ino, os.O_RDONLY, None)  # type: ignore[arg-type]
        data = await ops.read(info.fh, 0, 100)
        await ops.release(info.fh)
        return data

    assert run(scenario) == b"hello\n"


def test_transcript_open_for_writing_is_erofs(ops: Operations) -> None:
    async def scenario() -> None:
        attr = await ops.lookup(ROOT_INODE, b"a.jsonl", None)  # type: ignore[arg-type]
        await ops.open(attr.st_ino, os.O_WRONLY, None)  # type: ignore[arg-type]

    assert errno_of(scenario) == errno.EROFS


@pytest.mark.parametrize(
    ("request_name", "args"),
    [
        ("setxattr", (ROOT_INODE, b"user.x", b"v", None)),
        ("removexattr", (ROOT_INODE, b"user.x", None)),
        ("create", (ROOT_INODE, b"new", 0o644, os.O_WRONLY, None)),
        ("mknod", (ROOT_INODE, b"new", 0o644, 0, None)),
        ("mkdir", (ROOT_INODE, b"new", 0o755, None)),
        ("symlink", (ROOT_INODE, b"new", b"a.jsonl", None)),
        ("link", (ROOT_INODE, ROOT_INODE, b"new", None)),
        ("unlink", (ROOT_INODE, b"a.jsonl", None)),
        ("rmdir", (ROOT_INODE, b"sessions", None)),
        ("rename", (ROOT_INODE, b"a.jsonl", ROOT_INODE, b"b.jsonl", 0, None)),
    ],
)
def test_every_request_that_would_change_the_store_is_erofs_logged_by_name(
    ops: Operations, view: FakeView, caplog: pytest.LogCaptureFixture,
    request_name: str, args: tuple[object, ...],
) -> None:
    with caplog.at_level(logging.DEBUG, logger="clawfs.mount.fuse_ops"):
        assert errno_of(lambda: getattr(ops, request_name)(*args)) == errno.EROFS
    assert caplog.records[0].getMessage().startswith(f"{request_name}(")
    assert view.file.backing_path is not None and os.path.exists(view.file.backing_path)


def test_control_handle_forks_once(ops: Operations, view: FakeView) -> None:
    async def scenario() -> tuple[int, int, bytes, int]:
        attr = await ops.lookup(ROOT_INODE, b"fork", None)  # type: ignore[arg-type]
        info = await ops.open(attr.st_ino, os.O_RDWR | os.O_TRUNC, None)  # type: ignore[arg-type]
        empty = await ops.write(info.fh, 0, b"")
        first = await ops.write(info.fh, 0, b"topic\n")
        result = await ops.read(info.fh, 0, 4096)
        try:
            await ops.write(info.fh, 6, b"again\n")
            second = 0
        except pyfuse3.FUSEError as e:
            second = e.errno
        await ops.release(info.fh)
        return empty, first, result, second

    empty, first, result, second = run(scenario)
    assert (empty, first, second) == (0, 6, errno.EINVAL)
    assert result == b"new.jsonl\ttopic\t/store/new.jsonl\n"
    assert view.index.forks == ["topic"]


def test_failed_fork_is_readable_as_an_error(ops: Operations) -> None:
    assert fork_once(ops, b"a\nb\n") == (
        errno.EINVAL, b"error: fork command has more than one line\n"
    )


def test_setattr_truncate_on_control_succeeds_elsewhere_erofs(ops: Operations) -> None:
    fields = pyfuse3.SetattrFields()

    async def scenario(name: bytes) -> None:
        attr = await ops.lookup(ROOT_INODE, name, None)  # type: ignore[arg-type]
        await ops.setattr(attr.st_ino, attr, fields, None, None)  # type: ignore[arg-type]

    run(lambda: scenario(b"fork"))
    assert errno_of(lambda: scenario(b"a.jsonl")) == errno.EROFS


def test_xattrs_of_a_parsed_file_version_need_no_worker_thread(
    ops: Operations, view: FakeView
) -> None:
    """Only the first ask for a version loads the file (in a worker thread);
    later ones are answered on the request thread from the index's cached load."""
    async def scenario() -> dict[bytes, bytes]:
        attr = await ops.lookup(ROOT_INODE, b"a.jsonl", None)  # type: ignore[arg-type]
        names = await ops.listxattr(attr.st_ino, None)  # type: ignore[arg-type]
        return {n: await ops.getxattr(attr.st_ino, n, None) for n in names}  # type: ignore[arg-type]

    index = view.index
    values = run(scenario)
    assert values[b"user.claw.session_id"] == b"a" and values[b"user.claw.message_count"] == b"3"
    assert values[b"user.claw.title"] == b"a title"
    assert index.summaries == 1 and threading.get_ident() not in index.summary_threads
    assert run(scenario) == values and index.summaries == 1
    index.sf = FakeFile("a.jsonl", index.sf.path, FileKey(1, 2, 3, 4, 5))  # a new version: loaded
    assert run(scenario) == values and index.summaries == 2


def test_index_tsv_builds_never_hold_up_xattrs(ops: Operations, view: FakeView) -> None:
    view.index.generating.clear()  # index.tsv builds block until released

    async def scenario() -> bytes:
        tsv = await ops.lookup(ROOT_INODE, b"index.tsv", None)  # type: ignore[arg-type]
        attr = await ops.lookup(ROOT_INODE, b"a.jsonl", None)  # type: ignore[arg-type]
        async with trio.open_nursery() as nursery:
            for _ in range(3):  # more builds than there are parse threads
                nursery.start_soon(ops.open, tsv.st_ino, os.O_RDONLY, None)  # type: ignore[arg-type]
            await trio.sleep(0.05)
            with trio.fail_after(5):
                value = await ops.getxattr(attr.st_ino, b"user.claw.session_id", None)  # type: ignore[arg-type]
            view.index.generating.set()
        return value

    assert run(scenario) == b"a"


def fork_once(ops: Operations, command: bytes) -> tuple[int, bytes]:
    """Write `command` to `fork` (errno or 0), then what a new open reads."""
    async def scenario() -> tuple[int, bytes]:
        attr = await ops.lookup(ROOT_INODE, b"fork", None)  # type: ignore[arg-type]
        info = await ops.open(attr.st_ino, os.O_WRONLY, None)  # type: ignore[arg-type]
        try:
            await ops.write(info.fh, 0, command)
            code = 0
        except pyfuse3.FUSEError as e:
            code = e.errno
        await ops.release(info.fh)
        again = await ops.open(attr.st_ino, os.O_RDONLY, None)  # type: ignore[arg-type]
        return code, await ops.read(again.fh, 0, 4096)

    return run(scenario)  # type: ignore[no-any-return]


def test_a_fork_failing_unexpectedly_is_eio_and_reads_back_as_an_error(
    ops: Operations, view: FakeView
) -> None:
    view.index.fork_fail = ZeroDivisionError("a bug")
    assert fork_once(ops, b"topic\n") == (errno.EIO, b"error: internal error\n")


def test_path_xattr_needs_no_parse(ops: Operations, view: FakeView) -> None:
    """`user.claw.path` (what `claw --resume` needs) is the backing file: no parse."""
    async def scenario() -> bytes:
        attr = await ops.lookup(ROOT_INODE, b"a.jsonl", None)  # type: ignore[arg-type]
        return await ops.getxattr(attr.st_ino, b"user.claw.path", None)  # type: ignore[arg-type]

    assert run(scenario) == str(view.file.backing_path).encode()
    assert view.index.summaries == 0


@pytest.mark.parametrize("swap", ["fifo", "directory", "symlink"])
def test_a_transcript_swapped_after_lookup_is_not_opened(
    ops: Operations, view: FakeView, swap: str, tmp_path: Path
) -> None:
    """The safe open (store/files.py) refuses what is no longer a session file
    as ENOENT."""
    backing = Path(view.file.backing_path or "")

    async def scenario() -> None:
        attr = await ops.lookup(ROOT_INODE, b"a.jsonl", None)  # type: ignore[arg-type]
        backing.unlink()
        if swap == "fifo":
            os.mkfifo(backing)
        elif swap == "directory":
            backing.mkdir()
        elif swap == "symlink":
            (tmp_path / "elsewhere.jsonl").write_bytes(b"secret\n")
            os.symlink(tmp_path / "elsewhere.jsonl", backing)
        await ops.open(attr.st_ino, os.O_RDONLY, None)  # type: ignore[arg-type]

    assert errno_of(scenario) == errno.ENOENT


def test_a_transcript_saved_over_after_lookup_serves_the_new_file(
    ops: Operations, view: FakeView, tmp_path: Path
) -> None:
    """claw's save renames a new file over the name: an open or stat through
    the old inode gets the new file, never ESTALE (SPEC §6), and not the old
    file's cached pages; a new lookup gives it a new inode (SPEC §3)."""
    backing = Path(view.file.backing_path or "")

    async def scenario() -> tuple[int, int, int, bytes, int, bool]:
        attr = await ops.lookup(ROOT_INODE, b"a.jsonl", None)  # type: ignore[arg-type]
        (tmp_path / "new.jsonl").write_bytes(b"another file\n")  # a new inode
        os.replace(tmp_path / "new.jsonl", backing)
        stat = await ops.getattr(attr.st_ino, None)  # type: ignore[arg-type]
        info = await ops.open(attr.st_ino, os.O_RDONLY, None)  # type: ignore[arg-type]
        data = await ops.read(info.fh, 0, 4096)
        again = await ops.lookup(ROOT_INODE, b"a.jsonl", None)  # type: ignore[arg-type]
        return attr.st_ino, stat.st_ino, stat.st_size, data, again.st_ino, info.keep_cache

    old, stat_ino, size, data, new, kept = run(scenario)
    assert stat_ino == old and size == len(b"another file\n")
    assert data == b"another file\n" and not kept
    assert new != old


def test_a_file_with_an_old_number_but_another_generation_is_not_served_from_cache(
    ops: Operations, view: FakeView, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new file that got the old one's device and inode number, size and
    (coarse) mtime back, in a burst of saves: its inode generation differs,
    so the kernel's pages of the old one are dropped (no keep_cache)."""
    generations = iter([7, 7, 8])
    monkeypatch.setattr(files, "generation", lambda fd: next(generations))

    async def scenario() -> list[bool]:
        attr = await ops.lookup(ROOT_INODE, b"a.jsonl", None)  # type: ignore[arg-type]
        kept = []
        for _ in range(3):
            info = await ops.open(attr.st_ino, os.O_RDONLY, None)  # type: ignore[arg-type]
            kept.append(info.keep_cache)
            await ops.release(info.fh)
        return kept

    assert run(scenario) == [True, True, False]


def test_a_read_waiting_for_the_disk_holds_up_no_other_request(
    ops: Operations, monkeypatch: pytest.MonkeyPatch
) -> None:
    """By construction: the backing file's pages are not cached (RWF_NOWAIT
    says EAGAIN) and its read cannot finish until the test lets it, which it
    does only once a getattr and a second read of a cached range have been
    answered. Were the read on the request thread, they could not be."""
    real_preadv, real_pread = os.preadv, os.pread
    cold = threading.Event()
    cold.set()
    reading, let_go = threading.Event(), threading.Event()

    def preadv(fd: int, buffers: list[memoryview], off: int, flags: int = 0) -> int:
        if cold.is_set():
            raise BlockingIOError(errno.EAGAIN, "not cached")
        return real_preadv(fd, buffers, off, flags)

    def pread(fd: int, size: int, off: int) -> bytes:
        reading.set()
        let_go.wait(10)
        return real_pread(fd, size, off)

    monkeypatch.setattr(os, "preadv", preadv)
    monkeypatch.setattr(os, "pread", pread)
    done: list[str] = []

    async def scenario() -> bytes:
        attr = await ops.lookup(ROOT_INODE, b"a.jsonl", None)  # type: ignore[arg-type]
        info = await ops.open(attr.st_ino, os.O_RDONLY, None)  # type: ignore[arg-type]
        got: list[bytes] = []

        async def cold_read() -> None:
            got.append(await ops.read(info.fh, 0, 100))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(cold_read)
            await trio.to_thread.run_sync(reading.wait, 10)  # it waits in its worker thread
            assert (await ops.getattr(attr.st_ino, None)).st_size == 6  # type: ignore[arg-type]
            cold.clear()
            assert await ops.read(info.fh, 1, 4) == b"ello"
            done.append("answered meanwhile")
            assert not got
            let_go.set()
        await ops.release(info.fh)
        return got[0]

    assert run(scenario) == b"hello\n"
    assert done == ["answered meanwhile"]


def test_what_the_view_derives_is_computed_off_the_request_thread(
    project: tuple[View, str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An alias's target (its candidates fully loaded) and a fork tree
    (0.17 s at 10,000 sessions) are computed in worker threads, the first
    time they are asked at a state of the workspace; asked again at that
    state, they come from the index's caches, on the request thread."""
    view, fp, backing_dir = project
    index = view.index
    request_thread = threading.get_ident()
    work: list[tuple[str, bool]] = []
    """(what was computed, whether in a worker thread)"""
    real_load, real_build = LoadCache.load, lineage.build

    def load(self: LoadCache, path: str, file_name: str, *args: Any, **kwargs: Any) -> Any:
        work.append((f"load {file_name}", threading.get_ident() != request_thread))
        return real_load(self, path, file_name, *args, **kwargs)

    def build(members: Any) -> Any:
        work.append(("fork tree", threading.get_ident() != request_thread))
        return real_build(members)

    monkeypatch.setattr(LoadCache, "load", load)
    monkeypatch.setattr(lineage, "build", build)
    asked: dict[object, list[bool]] = {}
    """For each state of the workspace, each ask of the fork tree: whether
    from a worker thread."""
    real_lineage = index.lineage

    def lineage_of(fp: str) -> Any:
        at = asked.setdefault(index.version(fp), [])
        at.append(threading.get_ident() != request_thread)
        return real_lineage(fp)

    monkeypatch.setattr(index, "lineage", lineage_of)
    ops = Operations(view)

    async def lookup(*path: str) -> int:
        inode = ROOT_INODE
        for name in path:
            inode = (await ops.lookup(inode, name.encode(), None)).st_ino  # type: ignore[arg-type]
        return inode

    async def scenario() -> list[bytes]:
        latest = await lookup("sessions", fp, "latest")
        targets = [await ops.readlink(latest, None)]  # type: ignore[arg-type]
        await lookup("sessions", fp, "forks", "session-1-0", "session-2-0")
        newer = sg.make_session("session-5-0", updated_at_ms=T0 + 10, messages=1,
                                workspace_root=os.path.realpath(tmp_path / "myproj"))
        path = sg.write_session(backing_dir, newer)
        assert index.refresh_path(str(path)) == {fp}  # a new state of the workspace
        targets += [await ops.readlink(latest, None) for _ in range(2)]  # type: ignore[arg-type]
        await lookup("sessions", fp, "forks", "session-1-0", "fork")
        return targets

    assert run(scenario) == [b"session-2-0.jsonl", b"session-5-0.jsonl", b"session-5-0.jsonl"]
    # 4 is the newest but foreign: loaded, skipped. The new file is a new
    # top of the tree: the tree grows in place, it is not built again.
    assert [what for what, _ in work] == [
        "load session-4-0.jsonl", "load session-2-0.jsonl", "fork tree", "load session-5-0.jsonl"
    ]
    assert all(in_worker for _, in_worker in work)
    # One hop per state, not per entry: below forks/, the first ask at each
    # state was from a worker thread, every later one from here.
    assert len(asked) == 2
    assert all(at[0] and len(at) > 1 and not any(at[1:]) for at in asked.values())
