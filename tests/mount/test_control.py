"""The fork control file protocol (SPEC §4) without a mount: the command
grammar, one write per handle, the result and error lines, the last results,
and which aliases a fork re-points. Through a real mount: tests/e2e/test_control.py."""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from clawfs.mount import control
from clawfs.mount.control import ControlFiles, ForkOutcome, Handle, LastResults, Result
from clawfs.mount.errors import RequestError
from clawfs.mount.inodes import InodeTable
from clawfs.mount.kernelcache import Slot
from clawfs.mount.view import Entry, EntryKind, View
from clawfs.store.index import StoreIndex

import storegen as sg

OTHER = "f" * 16


@pytest.mark.parametrize(
    ("command", "branch"),
    [
        (b"", None),
        (b"\n", None),
        (b"   \n", None),
        (b"topic", "topic"),
        (b"topic\n", "topic"),
        (b"  incident-review \n", "incident-review"),
        (b"\nname\n\n", "name"),  # empty lines around one line are no second line
        (b"two words\n", "two words"),
        ("ünïcode".encode(), "ünïcode"),
        (b"x" * 256, "x" * 256),
        (b"x" * 256 + b"\n", "x" * 256),  # the trailing newline is not counted
        ("é".encode() * 128, "é" * 128),  # 256 bytes, 128 characters
    ],
)
def test_valid_commands(command: bytes, branch: str | None) -> None:
    assert control.parse_fork_command(command) == branch


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        (b"a\nb", "more than one line"),
        (b"a\nb\n", "more than one line"),
        (b"a\n\nb\n", "more than one line"),
        (b"a\tb", "a control character"),
        (b"a\x01b", "a control character"),
        (b"\x00", "a control character"),
        (b"a\x7f", "a control character"),
        (b"a\rb", "a control character"),
        (b"\xff\n", "not valid UTF-8"),
        (b"\xc3", "not valid UTF-8"),
        (b"x" * 257, "longer than 256 bytes"),
        (b"x" * 256 + b"\n\n", "longer than 256 bytes"),  # only one newline is dropped
        (b"x" * 200 + "é".encode() * 40, "longer than 256 bytes"),  # 280 bytes, 240 characters
    ],
)
def test_invalid_commands_are_einval(command: bytes, reason: str) -> None:
    with pytest.raises(RequestError) as failed:
        control.parse_fork_command(command)
    assert failed.value.errno == errno.EINVAL
    assert reason in failed.value.message


def test_result_and_error_lines() -> None:
    assert ForkOutcome("s.jsonl", "topic", "/store/s.jsonl").line() == (
        b"s.jsonl\ttopic\t/store/s.jsonl\n"
    )
    assert ForkOutcome("s.jsonl", None, "/store/s.jsonl").line() == b"s.jsonl\t\t/store/s.jsonl\n"
    # A store path that is not UTF-8 comes back as its own bytes.
    odd = os.fsdecode(b"/store/\xff/s.jsonl")
    assert ForkOutcome("s.jsonl", None, odd).line() == b"s.jsonl\t\t/store/\xff/s.jsonl\n"
    assert control.error_line("no space") == b"error: no space\n"


def test_last_results_keep_the_most_recently_written() -> None:
    results = LastResults(keep=2)
    assert results.get(("a",)) is None
    for name in ("a", "b", "c"):
        results.put((name,), Result(name.encode(), 0))
    assert results.get(("a",)) is None and results.get(("c",)) == Result(b"c", 0)
    results.put(("b",), Result(b"b again", 0))  # written again: the newest now
    results.put(("d",), Result(b"d", 0))
    assert results.get(("c",)) is None
    assert (results.get(("b",)), results.get(("d",))) == (Result(b"b again", 0), Result(b"d", 0))


class NoView:
    """Accepting a command reads no view (only `Fork.run` does)."""

    index = None


def files(keep: int = control.LAST_RESULTS) -> ControlFiles:
    return ControlFiles(NoView(), keep)  # type: ignore[arg-type]


def table() -> InodeTable[Slot]:
    return InodeTable((EntryKind.DIR, ()))


FORK_FILE = Entry(("sessions", "a" * 16, "fork"), EntryKind.CONTROL, "fork")


def test_one_command_per_handle() -> None:
    controls, handle = files(), Handle(FORK_FILE)
    inodes = table()
    assert controls.accept(handle, b"", inodes) is None  # a flush before any data
    assert not handle.used
    fork = controls.accept(handle, b"topic\n", inodes)
    assert fork is not None and fork.command == b"topic\n" and handle.used
    with pytest.raises(RequestError) as failed:
        controls.accept(handle, b"again\n", inodes)
    assert failed.value.errno == errno.EINVAL
    assert controls.accept(handle, b"", inodes) is None  # still fine: no command
    other = controls.accept(Handle(FORK_FILE), b"topic\n", inodes)
    assert other is not None  # a new open forks again


def test_a_handle_reads_its_own_result_a_new_open_the_last_one() -> None:
    controls = files(keep=1)
    first, second = Handle(FORK_FILE), Handle(FORK_FILE)
    assert controls.read(first, 0, 100) == b""  # before any write
    controls.accept(first, b"x", table())
    assert controls.read(first, 0, 100) == b""  # written, not finished yet
    controls.remember(first, b"one\n", None)
    controls.accept(second, b"y", table())
    controls.remember(second, b"two\n", None)
    assert controls.read(first, 0, 100) == b"one\n"  # its own, not the file's last
    assert controls.read(Handle(FORK_FILE), 0, 100) == b"two\n"
    assert controls.read(Handle(FORK_FILE), 1, 2) == b"wo"
    elsewhere = Entry(("sessions", OTHER, "fork"), EntryKind.CONTROL, "fork")
    controls.remember(Handle(elsewhere), b"three\n", None)  # keep=1: the older result is dropped
    assert controls.read(Handle(FORK_FILE), 0, 100) == b""
    assert controls.read(Handle(elsewhere), 0, 100) == b"three\n"


def test_a_fork_checks_the_held_aliases_of_the_root_and_its_workspace() -> None:
    fp = FORK_FILE.key[1]
    assert control.alias_keys(None) == [("latest",), ("last",), ("recent",)]
    assert control.alias_keys(fp) == [
        ("latest",), ("last",), ("recent",),
        ("sessions", fp, "latest"), ("sessions", fp, "last"), ("sessions", fp, "recent"),
    ]
    inodes = table()
    numbers = {}
    for key in [("latest",), ("last",), ("sessions", fp, "latest"), ("sessions", OTHER, "latest")]:
        numbers[key] = inodes.number((EntryKind.SYMLINK, key))
        inodes.looked_up(numbers[key])
    inodes.forget(numbers[("last",)], 1)  # numbered once, no longer held
    directory = inodes.number((EntryKind.DIR, ("sessions", fp)))
    inodes.remember({numbers[("latest",)]: "old", numbers[("sessions", OTHER, "latest")]: "other"})
    fork = files().accept(Handle(FORK_FILE), b"x", inodes)
    assert fork is not None
    assert [(inode, slot) for inode, slot, *_ in fork.aliases] == [
        (numbers[("latest",)], (EntryKind.SYMLINK, ("latest",))),
        (numbers[("sessions", fp, "latest")], (EntryKind.SYMLINK, ("sessions", fp, "latest"))),
    ]
    assert fork.seen == {numbers[("latest",)]: "old"}
    assert fork.directory == directory
    top = Entry(("fork",), EntryKind.CONTROL, "fork")  # no workspace: root aliases only
    fork = files().accept(Handle(top), b"x", inodes)
    assert fork is not None and fork.directory is None
    assert [slot for _, slot, *_ in fork.aliases] == [(EntryKind.SYMLINK, ("latest",))]


def _at(view: View, *key: str) -> Entry:
    return view.resolve(key) or pytest.fail(f"nothing at {key}")


def test_fork_through_the_view(project: tuple[View, str, Path]) -> None:
    view, fp, d = project
    fork_file = _at(view, "sessions", fp, "forks", "session-1-0", "fork")
    assert fork_file.kind is EntryKind.CONTROL
    outcome = control.fork(view.index, fork_file, b"  review\n")
    name, branch, path = outcome.line().decode().rstrip("\n").split("\t")
    assert branch == "review" and path == str(d / name)
    made = _at(view, "sessions", fp, name)
    parent = view.index.load(view.index.file(fp, name) or pytest.fail())
    assert made.backing_path == path and parent.parent_session_id == "session-1-0"
    child = _at(view, "sessions", fp, "forks", "session-1-0", name.removesuffix(".jsonl"))
    assert child.kind is EntryKind.DIR
    assert _at(view, "sessions", fp, "latest").target == name  # the fork is the newest
    # The workspace's own control file forks what `latest` names: the fork just made.
    second = control.fork(view.index, _at(view, "sessions", fp, "fork"), b"")
    assert second.branch_name is None
    again = view.index.load(view.index.file(fp, second.name) or pytest.fail())
    assert again.parent_session_id == name.removesuffix(".jsonl")
    before = set(os.listdir(d))
    for bad in [b"a\nb\n", b"\xff\n", b"a\x01b", b"x" * 257]:
        with pytest.raises(RequestError) as failed:
            control.fork(view.index, fork_file, bad)
        assert failed.value.errno == errno.EINVAL
    assert set(os.listdir(d)) == before


def test_what_each_control_file_forks(project: tuple[View, str, Path]) -> None:
    view, fp, d = project
    index = view.index
    assert control.fork_source(index, _at(view, "sessions", fp, "fork")).name == "session-2-0.jsonl"
    node = _at(view, "sessions", fp, "forks", "session-1-0", "session-2-0", "fork")
    assert control.fork_source(index, node).name == "session-2-0.jsonl"
    top = _at(view, "sessions", fp, "forks", "broken", "fork")
    assert control.fork_source(index, top).name == "broken.jsonl"
    not_control = _at(view, "sessions", fp, "session-1-0.jsonl")
    with pytest.raises(RequestError) as failed:
        control.fork_source(index, not_control)
    assert failed.value.errno == errno.EINVAL
    os.unlink(d / "session-2-0.jsonl")  # the node's session is gone
    index.refresh_path(str(d / "session-2-0.jsonl"))
    with pytest.raises(RequestError) as failed:
        control.fork_source(index, node)
    assert failed.value.errno == errno.ENOENT


def test_no_latest_is_enoent(view_of: Callable[..., View], tmp_path: Path) -> None:
    ws = os.path.realpath(tmp_path)
    root = tmp_path / "root"
    d = sg.fp_dir(root, ws)
    sg.write_session(d, sg.make_session("session-1-0", messages=0, workspace_root=ws))
    view = view_of(root)
    with pytest.raises(RequestError) as failed:
        control.fork(view.index, _at(view, "sessions", d.name, "fork"), b"x\n")
    assert failed.value.errno == errno.ENOENT and "no latest" in failed.value.message


def test_a_store_error_keeps_its_errno(
    project: tuple[View, str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    view, fp, _ = project

    def full(self: StoreIndex, sf: object, branch: str | None) -> object:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(StoreIndex, "fork", full)
    with pytest.raises(RequestError) as failed:
        control.fork(view.index, _at(view, "sessions", fp, "fork"), b"x")
    assert (failed.value.errno, failed.value.message) == (errno.ENOSPC, "No space left on device")


def _held(inodes: InodeTable[Slot], kind: EntryKind, *key: str) -> int:
    inode = inodes.number((kind, key))
    inodes.looked_up(inode)
    return inode


def test_a_fork_run_finds_the_aliases_it_moved(project: tuple[View, str, Path]) -> None:
    """Read your writes: what `Fork.run` returns is what the kernel must drop."""
    view, fp, _ = project
    inodes = table()
    root_latest = _held(inodes, EntryKind.SYMLINK, "latest")
    ws_latest = _held(inodes, EntryKind.SYMLINK, "sessions", fp, "latest")
    directory = _held(inodes, EntryKind.DIR, "sessions", fp)
    inodes.remember({
        root_latest: (_at(view, "latest")).target,
        ws_latest: (_at(view, "sessions", fp, "latest")).target,
    })
    controls = ControlFiles(view)
    handle = Handle(_at(view, "sessions", fp, "fork"))
    fork = controls.accept(handle, b"topic\n", inodes)
    assert fork is not None
    stale = fork.run()
    name = (handle.result or b"").split(b"\t")[0].decode()
    assert sorted(stale.attrs) == sorted([root_latest, ws_latest])  # both re-pointed
    assert stale.entries == [(directory, name)]  # an older file of that name may be cached
    assert stale.seen == {root_latest: f"sessions/{fp}/{name}", ws_latest: name}
    assert controls.read(Handle(handle.entry), 0, 4096) == handle.result


def test_a_failed_run_reads_back_as_an_error(project: tuple[View, str, Path]) -> None:
    view, fp, d = project
    controls = ControlFiles(view)
    handle = Handle(_at(view, "sessions", fp, "fork"))
    fork = controls.accept(handle, b"a\nb\n", table())
    assert fork is not None
    before = set(os.listdir(d))
    with pytest.raises(RequestError) as failed:
        fork.run()
    assert failed.value.errno == errno.EINVAL and set(os.listdir(d)) == before
    assert controls.read(handle, 0, 4096) == b"error: fork command has more than one line\n"
    assert controls.read(Handle(handle.entry), 0, 4096) == handle.result


def test_an_unexpected_failure_is_eio_logged_and_reads_as_an_internal_error(
    project: tuple[View, str, Path],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    view, fp, _ = project

    def bug(self: StoreIndex, sf: object, branch: str | None) -> object:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(StoreIndex, "fork", bug)
    controls = ControlFiles(view)
    handle = Handle(_at(view, "sessions", fp, "fork"))
    fork = controls.accept(handle, b"x", table())
    assert fork is not None
    with caplog.at_level(logging.ERROR), pytest.raises(RequestError) as failed:
        fork.run()
    assert failed.value.errno == errno.EIO and "ZeroDivisionError" in caplog.text
    assert controls.read(handle, 0, 4096) == b"error: internal error\n"
