"""The one safe open of a backing file (store/files.py), and how its callers
in the store answer what it refuses."""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from clawfs.store import files, forkwriter
from clawfs.store.loads import LoadCache

import storegen as sg


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def regular(d: Path) -> Path:
    return sg.write_session(d, sg.make_session("session-1-0", messages=1))


def fifo(d: Path) -> Path:
    os.mkfifo(d / "session-1-0.jsonl")
    return d / "session-1-0.jsonl"


def directory(d: Path) -> Path:
    (d / "session-1-0.jsonl").mkdir()
    return d / "session-1-0.jsonl"


def symlink(d: Path) -> Path:
    """A link to a perfectly good session outside: never followed."""
    outside = d / "outside"
    outside.mkdir()
    os.symlink(regular(outside), d / "session-1-0.jsonl")
    return d / "session-1-0.jsonl"


def vanished(d: Path) -> Path:
    path = regular(d)
    path.unlink()
    return path


NOT_REGULAR: list[Callable[[Path], Path]] = [fifo, directory]


def test_a_regular_file_opens_with_its_identity(tmp_path: Path) -> None:
    path = regular(tmp_path)
    st = os.stat(path)
    before = open_fds()
    with files.open_backing(str(path)) as opened:
        assert os.pread(opened.fd, 100, 0) == path.read_bytes()[:100]
        assert opened.key == files.FileKey(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns,
                                           st.st_ctime_ns)
        assert opened.key == files.file_key(st)
        flags = os.get_blocking(opened.fd), os.get_inheritable(opened.fd)
        assert flags == (False, False)  # O_NONBLOCK, O_CLOEXEC
    assert open_fds() == before


def test_file_key_names_a_version() -> None:
    key = files.FileKey(1, 2, 3, 4, 5)
    assert key.same_file(files.FileKey(1, 2, 30, 40, 50))
    assert not key.same_file(files.FileKey(1, 5, 3, 4, 5))


def test_a_fifo_swapped_in_does_not_block_the_open(tmp_path: Path) -> None:
    path = fifo(tmp_path)
    raised: list[Exception] = []

    def attempt() -> None:
        try:
            files.open_backing(str(path))
        except Exception as e:  # reported to the test thread
            raised.append(e)

    opener = threading.Thread(target=attempt, daemon=True)
    opener.start()
    opener.join(10)
    assert not opener.is_alive(), "opening a FIFO without a writer blocked"
    assert len(raised) == 1 and isinstance(raised[0], files.NotRegular)


@pytest.mark.parametrize("make", NOT_REGULAR)
def test_what_is_not_a_regular_file_is_refused_as_enoent(
    make: Callable[[Path], Path], tmp_path: Path
) -> None:
    path = make(tmp_path)
    before = open_fds()
    with pytest.raises(files.NotRegular) as refused:
        files.open_backing(str(path))
    assert refused.value.errno == errno.ENOENT and refused.value.strerror == "not a regular file"
    assert isinstance(refused.value, FileNotFoundError)
    assert open_fds() == before  # the descriptor opened for the check is closed


def test_a_symlink_is_never_followed(tmp_path: Path) -> None:
    path = symlink(tmp_path)
    with pytest.raises(OSError) as refused:
        files.open_backing(str(path))
    assert refused.value.errno == errno.ELOOP
    with pytest.raises(files.NotRegular):
        files.lstat_regular(str(path))


def test_a_vanished_file_is_the_opens_own_enoent(tmp_path: Path) -> None:
    path = vanished(tmp_path)
    with pytest.raises(FileNotFoundError) as gone:
        files.open_backing(str(path))
    assert not isinstance(gone.value, files.NotRegular)
    with pytest.raises(FileNotFoundError):
        files.lstat_regular(str(path))


def test_a_failing_fstat_is_unreadable_and_closes_the_descriptor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = regular(tmp_path)

    def failing(fd: int) -> os.stat_result:
        raise OSError(errno.EIO, "Input/output error")

    before = open_fds()
    monkeypatch.setattr(os, "fstat", failing)
    with pytest.raises(files.Unreadable) as unreadable:
        files.open_backing(str(path))
    monkeypatch.undo()
    assert unreadable.value.errno == errno.EIO
    assert open_fds() == before


@pytest.mark.parametrize("make", NOT_REGULAR)
def test_lstat_regular_refuses_what_is_not_a_regular_file(
    make: Callable[[Path], Path], tmp_path: Path
) -> None:
    with pytest.raises(files.NotRegular):
        files.lstat_regular(str(make(tmp_path)))


def test_lstat_regular_of_a_session_file(tmp_path: Path) -> None:
    path = regular(tmp_path)
    assert files.lstat_regular(str(path)).st_ino == os.stat(path).st_ino


# --- the callers in the store keep their own answers ---------------------------


@pytest.mark.parametrize("make", [*NOT_REGULAR, symlink, vanished])
def test_a_full_load_of_what_is_no_session_file_is_none_and_not_reported(
    make: Callable[[Path], Path], tmp_path: Path
) -> None:
    problems: list[str] = []
    cache = LoadCache(threading.RLock(), lambda path, problem: problems.append(problem))
    path = make(tmp_path)
    assert cache.load(str(path), path.name) is None
    assert problems == []


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (fifo, "session to fork is unreadable: not a regular file"),
        (directory, "session to fork is unreadable: not a regular file"),
        (symlink, "session to fork is gone or unreadable: Too many levels of symbolic links"),
        (vanished, "session to fork is gone or unreadable: No such file or directory"),
    ],
)
def test_a_fork_of_what_is_no_session_file_is_enoent_and_leaves_nothing(
    make: Callable[[Path], Path], message: str, tmp_path: Path
) -> None:
    path = make(tmp_path)
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(FileNotFoundError) as refused:
        forkwriter.write_fork(str(path), str(tmp_path), None)
    assert refused.value.errno == errno.ENOENT and refused.value.strerror == message
    assert sorted(os.listdir(tmp_path)) == before


def test_a_file_reached_through_a_directory_swapped_for_a_link_is_refused(
    tmp_path: Path,
) -> None:
    """`ln -s /elsewhere STORE/<fp>`: the path the store has still names a
    file, but not one inside the store (SPEC §6): Moved (ENOENT), nothing read."""
    store, outside = tmp_path / "store", tmp_path / "outside"
    (store / "fp").mkdir(parents=True)
    outside.mkdir()
    inside = store / "fp" / "s.jsonl"
    inside.write_bytes(b"inside\n")
    (outside / "s.jsonl").write_bytes(b"OUTSIDE\n")
    with files.open_backing(str(inside)) as opened:
        assert os.pread(opened.fd, 100, 0) == b"inside\n"
    (store / "fp").rename(store / "old")
    (store / "fp").symlink_to(outside)
    with pytest.raises(files.Moved) as refused:
        files.open_backing(str(inside))
    assert refused.value.errno == errno.ENOENT


def test_a_file_saved_over_while_open_is_still_the_one_opened(tmp_path: Path) -> None:
    """claw's save renames a new file over the name: what was opened is the
    file that was there (the kernel names it `<path> (deleted)`)."""
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"old\n")
    with files.open_backing(str(path)) as opened:
        (tmp_path / "new").write_bytes(b"new\n")
        os.replace(tmp_path / "new", path)
        assert files.opened_at(opened.fd, str(path))
        assert not files.opened_at(opened.fd, str(tmp_path / "other.jsonl"))


def test_the_generation_tells_a_new_file_that_got_an_old_number(tmp_path: Path) -> None:
    """ext4 keeps one (tmp_path is ext4 here); a file without (a pipe) has None."""
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"x\n")
    with files.open_backing(str(path)) as opened:
        first = files.generation(opened.fd)
        assert isinstance(first, int)
        assert files.generation(opened.fd) == first
    read_end, write_end = os.pipe()
    try:
        assert files.generation(read_end) is None
    finally:
        os.close(read_end)
        os.close(write_end)
