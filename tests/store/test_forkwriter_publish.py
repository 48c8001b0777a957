"""The fork writer's publication step (store/forkwriter.py): an unnamed
temp file linked in at the end, so a crash leaves nothing; where the
filesystem has no O_TMPFILE, a named temp file of clawfs's own, which the
next mount removes (claw's own temp files never); and in every way, an
existing file is never replaced and nothing is left on failure."""

from __future__ import annotations

import errno
import fcntl
import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

from clawfs.format import session
from clawfs.store import forkwriter, scan
from clawfs.store.roots import RootKind, make_root

import storegen as sg

FUTURE_MS = 1_900_000_000_000


def _no_tmpfile(into: int) -> int:
    raise forkwriter._NoUnnamedFile  # what EOPNOTSUPP / EISDIR from open(O_TMPFILE) become


def _no_hard_links(src: object, dst: object, **kwargs: object) -> None:
    raise OSError(errno.EPERM, "hard links not supported")


def _squatted(d: Path) -> tuple[forkwriter.IdClock, Path]:
    """A clock whose first id is taken by a file that must survive."""
    clock = forkwriter.IdClock()
    clock._last_ms = FUTURE_MS  # the first id is known: session-<FUTURE_MS + 1>-0
    squatter = d / f"session-{FUTURE_MS + 1}-0.jsonl"
    squatter.write_bytes(b"keep me\n")
    return clock, squatter


def _check_fork(new: Path, d: Path, parent: Path, *others: Path) -> None:
    assert new.parent == d
    forked = session.load(new.read_bytes(), file_name=new.name, mtime_ms=0)
    assert forked.fork == session.Fork(parent.stem, "b")
    assert sorted(os.listdir(d)) == sorted([parent.name, new.name, *(o.name for o in others)])


def _watch_while_written(monkeypatch: pytest.MonkeyPatch, d: Path) -> list[list[str]]:
    """What the directory holds each time a fork's bytes are all written
    (before they are linked in)."""
    seen: list[list[str]] = []
    write = forkwriter._write

    def watching(fd: int, chunks: Iterable[bytes], st: os.stat_result) -> os.stat_result:
        written = write(fd, chunks, st)
        seen.append(sorted(os.listdir(d)))
        return written

    monkeypatch.setattr(forkwriter, "_write", watching)
    return seen


def test_the_fork_has_no_name_until_it_is_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = tmp_path / "d"
    parent = sg.write_session(d, sg.make_session("session-1-0", messages=2))
    clock, squatter = _squatted(d)
    seen = _watch_while_written(monkeypatch, d)
    new = Path(forkwriter.write_fork(str(parent), str(d), "b", clock=clock).path)
    assert squatter.read_bytes() == b"keep me\n"  # its id was taken: the next one is used
    _check_fork(new, d, parent, squatter)
    assert seen == [sorted([parent.name, squatter.name])] * 2  # no temp name, ever


def test_without_tmpfile_a_named_temp_of_clawfs_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = tmp_path / "d"
    parent = sg.write_session(d, sg.make_session("session-1-0", messages=2))
    clock, squatter = _squatted(d)
    monkeypatch.setattr(forkwriter, "_open_unnamed", _no_tmpfile)
    seen = _watch_while_written(monkeypatch, d)
    new = Path(forkwriter.write_fork(str(parent), str(d), "b", clock=clock).path)
    assert squatter.read_bytes() == b"keep me\n"
    _check_fork(new, d, parent, squatter)
    assert len(seen) == 2
    for names in seen:
        temps = [n for n in names if n not in (parent.name, squatter.name)]
        assert len(temps) == 1 and forkwriter.TEMP_NAME.fullmatch(temps[0]), names
        assert not scan.is_session_name(temps[0])  # listings ignore it


def test_the_real_open_tells_a_filesystem_without_tmpfile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EOPNOTSUPP (the filesystem) and EISDIR (an old kernel) mean "named",
    anything else is the error of the fork."""
    real_open = os.open

    def failing(code: int) -> object:
        def open_(path: object, flags: int, *args: object, **kwargs: object) -> int:
            if flags & os.O_TMPFILE == os.O_TMPFILE:
                raise OSError(code, os.strerror(code))
            return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]
        return open_

    d = tmp_path / "d"
    parent = sg.write_session(d, sg.make_session("session-1-0", messages=2))
    for code in (errno.EOPNOTSUPP, errno.EISDIR):
        monkeypatch.setattr(os, "open", failing(code))
        new = Path(forkwriter.write_fork(str(parent), str(d), "b").path)
        monkeypatch.setattr(os, "open", real_open)
        _check_fork(new, d, parent)
        new.unlink()
    monkeypatch.setattr(os, "open", failing(errno.EACCES))
    with pytest.raises(OSError) as caught:
        forkwriter.write_fork(str(parent), str(d), None)
    monkeypatch.setattr(os, "open", real_open)
    assert caught.value.errno == errno.EACCES
    assert os.listdir(d) == [parent.name]


def test_an_unnamed_file_that_cannot_be_linked_is_written_again_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No /proc and no CAP_DAC_READ_SEARCH (AT_EMPTY_PATH): EPERM/ENOENT."""
    d = tmp_path / "d"
    parent = sg.write_session(d, sg.make_session("session-1-0", messages=2))

    def no_link(fd: int, into: int, final: str) -> bool:
        raise forkwriter._NoUnnamedFile

    monkeypatch.setattr(forkwriter, "_link_unnamed", no_link)
    new = Path(forkwriter.write_fork(str(parent), str(d), "b").path)
    _check_fork(new, d, parent)


def test_at_empty_path_is_the_second_way_to_link(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    into = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    fd = forkwriter._open_unnamed(into)
    try:
        os.write(fd, b"x\n")
        forkwriter._linkat_empty_path(fd, into, "a.jsonl")  # root has CAP_DAC_READ_SEARCH
        with pytest.raises(FileExistsError):
            forkwriter._linkat_empty_path(fd, into, "a.jsonl")
    finally:
        os.close(fd)
        os.close(into)
    assert (d / "a.jsonl").read_bytes() == b"x\n"


def test_rename_noreplace_fallback_never_replaces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No O_TMPFILE and no hard links either: renameat2(RENAME_NOREPLACE)."""
    d = tmp_path / "d"
    parent = sg.write_session(d, sg.make_session("session-1-0", messages=2))
    clock, squatter = _squatted(d)
    monkeypatch.setattr(forkwriter, "_open_unnamed", _no_tmpfile)
    monkeypatch.setattr(os, "link", _no_hard_links)
    new = Path(forkwriter.write_fork(str(parent), str(d), "b", clock=clock).path)
    assert squatter.read_bytes() == b"keep me\n"
    assert new != squatter
    _check_fork(new, d, parent, squatter)  # no temp


@pytest.mark.parametrize("unnamed", [True, False], ids=["unnamed", "named"])
def test_other_link_errors_are_not_swallowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unnamed: bool
) -> None:
    d = tmp_path / "d"
    parent = sg.write_session(d, sg.make_session("session-1-0"))

    def no_space(src: object, dst: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "full")

    if not unnamed:
        monkeypatch.setattr(forkwriter, "_open_unnamed", _no_tmpfile)
    monkeypatch.setattr(os, "link", no_space)
    with pytest.raises(OSError) as caught:
        forkwriter.write_fork(str(parent), str(d), None)
    assert caught.value.errno == errno.ENOSPC
    assert os.listdir(d) == [parent.name]


# --- what the next mount removes -------------------------------------------------------


def _store_with_leftovers(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "store"
    d = sg.fp_dir(root, "/srv/leftovers")
    sg.write_session(d, sg.make_session("s", messages=1))
    return root, d


def test_the_next_start_removes_only_clawfs_unlocked_temp_files(tmp_path: Path) -> None:
    root, d = _store_with_leftovers(tmp_path)
    ours = d / ".clawfs-fork-0123456789abcdef.tmp"
    ours.write_bytes(b"half a fork")
    keep = {
        "s.jsonl",
        "s.jsonl.tmp-1780000000000-3",  # claw's own crashed save: claw's business
        ".clawfs-fork-0123456789abcdef.tmp.jsonl",  # a session, however named
        ".clawfs-fork-0123.tmp",  # not our pattern
        "x.clawfs-fork-0123456789abcdef.tmp",
    }
    for name in keep - {"s.jsonl"}:
        (d / name).write_bytes(b"x")
    link = d / ".clawfs-fork-aaaaaaaaaaaaaaaa.tmp"
    link.symlink_to(ours)
    folder = d / ".clawfs-fork-bbbbbbbbbbbbbbbb.tmp"
    folder.mkdir()
    flat = root / ".clawfs-fork-cccccccccccccccc.tmp"  # forks never go into a root itself
    flat.write_bytes(b"x")
    removed = forkwriter.remove_leftovers([make_root(str(root), RootKind.STORE, 0)])
    assert removed == [str(ours)]
    assert set(os.listdir(d)) == keep | {link.name, folder.name}
    assert flat.exists()


def test_a_temp_file_another_mount_is_writing_stays(tmp_path: Path) -> None:
    """Its writer holds the lock (here another process, as another mount would)."""
    root, d = _store_with_leftovers(tmp_path)
    busy = d / ".clawfs-fork-0123456789abcdef.tmp"
    busy.write_bytes(b"being written")
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, os, sys\n"
         "fd = os.open(sys.argv[1], os.O_WRONLY)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX)\n"
         "print('locked', flush=True)\n"
         "sys.stdin.read()\n", str(busy)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        assert forkwriter.remove_leftovers([make_root(str(root), RootKind.STORE, 0)]) == []
        assert busy.exists()
    finally:
        holder.communicate("")
    assert forkwriter.remove_leftovers([make_root(str(root), RootKind.STORE, 0)]) == [str(busy)]


def test_a_writer_gives_up_a_name_the_clean_up_took(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The clean-up locked (and removed) the new temp file between its create and
    the writer's lock: the writer takes a new name; the fork still succeeds."""
    d = tmp_path / "d"
    parent = sg.write_session(d, sg.make_session("session-1-0", messages=2))
    monkeypatch.setattr(forkwriter, "_open_unnamed", _no_tmpfile)
    real_lock = forkwriter._lock
    taken: list[str] = []

    def contended(fd: int) -> bool | None:
        if not taken:
            name = next(n for n in os.listdir(d) if forkwriter.TEMP_NAME.fullmatch(n))
            taken.append(name)
            other = os.open(d / name, os.O_RDONLY)
            fcntl.flock(other, fcntl.LOCK_EX)  # the clean-up's lock, as another mount takes it
            os.unlink(d / name)
            result = real_lock(fd)
            os.close(other)
            return result
        return real_lock(fd)

    monkeypatch.setattr(forkwriter, "_lock", contended)
    new = Path(forkwriter.write_fork(str(parent), str(d), "b").path)
    assert len(taken) == 1
    _check_fork(new, d, parent)


@pytest.mark.parametrize("unnamed", [True, False], ids=["unnamed", "named"])
def test_a_directory_swapped_for_a_link_gets_no_fork(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unnamed: bool
) -> None:
    """The store directory is where the store has it or the fork is refused
    (ENOENT): `ln -s /elsewhere STORE/<fp>` leads no fork out of the store."""
    d = tmp_path / "store" / "d"
    parent = sg.write_session(d, sg.make_session("session-1-0", messages=2))
    outside = tmp_path / "outside"
    outside.mkdir()
    moved = tmp_path / "store" / "moved"
    d.rename(moved)
    d.symlink_to(outside)
    if not unnamed:
        monkeypatch.setattr(forkwriter, "_open_unnamed", _no_tmpfile)
    with pytest.raises(OSError) as refused:
        forkwriter.write_fork(str(moved / parent.name), str(d), "b")
    assert refused.value.errno == errno.ENOENT
    assert os.listdir(outside) == [] and os.listdir(moved) == [parent.name]

