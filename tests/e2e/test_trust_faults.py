"""Issue 13, faults (SPEC §6): a daemon killed in the middle of a fork leaves
nothing in the store once it is mounted again (only clawfs's own leftovers
go; claw's are none of its business). ESTALE under claw's save:
test_trust_estale.py.

Bounded by counts, not durations: the kill comes once the daemon has
written part of the fork, seen in its `wchar` (past the spool the fork's
messages are rendered into first, as big as the parent: forkwriter.py).
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from clawfs.format.fingerprint import fingerprint

import storegen as sg
from mounting import bindfs, mounted, wait_until

T0 = 1_780_000_000_000
WORKSPACE = "/srv/faults"
FP = fingerprint(WORKSPACE)


def versions(count: int) -> list[bytes]:
    """Successive saves of one session, as claw's snapshot save renders them."""
    return [sg.render(sg.make_session("s", messages=1 + n % 5, workspace_root=WORKSPACE,
                                      updated_at_ms=T0 + n)) for n in range(count)]


# --- kill -9 in the middle of a fork -------------------------------------------------

CLEANUP_TIMEOUT = 10.0
"""Seconds a clean-up after the next mount may take (it takes milliseconds)."""
BIG_MESSAGES = 3000
"""Messages of ~10 KB: a parent of ~30 MB, so its fork takes a while to write."""


def wchar(pid: int) -> int:
    """Bytes the process's write syscalls took, all files together."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise AssertionError(f"no wchar for {pid}")


def big_store(base: Path) -> Path:
    store = base / "store"
    body = [sg.text_message(f"{n} " + "x" * 10_000) for n in range(BIG_MESSAGES)]
    session = sg.make_session("big", messages=body, workspace_root=WORKSPACE, updated_at_ms=T0)
    sg.write_session(sg.fp_dir(store, WORKSPACE), session, mtime_ms=T0)
    return store


def kill_midway_through_a_fork(store: Path, tmp: Path) -> list[str]:
    """Mount `store`, start a fork of its big session, kill -9 the daemon once
    a MiB of the fork itself is written (after the spool, which holds no
    more than the parent's bytes); the store directory's names after that."""
    directory = store / FP
    spool_at_most = (directory / "big.jsonl").stat().st_size
    outcome: list[BaseException | None] = []
    with mounted([store], tmp=tmp) as m:
        assert m.proc is not None
        pid = m.proc.pid
        control = m.path / "sessions" / FP / "forks" / "big" / "fork"

        def fork() -> None:
            try:
                fd = os.open(control, os.O_WRONLY)
                try:
                    os.write(fd, b"doomed\n")
                finally:
                    os.close(fd)
                outcome.append(None)
            except OSError as e:
                outcome.append(e)

        start = wchar(pid)
        writer = threading.Thread(target=fork)
        writer.start()
        deadline = time.monotonic() + 60
        while wchar(pid) - start < spool_at_most + (1 << 20) and not outcome:
            assert time.monotonic() < deadline, "the fork wrote nothing"
            time.sleep(0.005)
        os.kill(pid, signal.SIGKILL)
        writer.join(timeout=60)
    assert len(outcome) == 1 and outcome[0] is not None, "the fork finished before the kill"
    return sorted(os.listdir(directory))


def assert_the_next_mount_leaves_nothing(store: Path, before: list[str], tmp: Path) -> None:
    directory = store / FP
    with mounted([store], tmp=tmp) as m:
        assert os.readlink(m.path / "sessions" / FP / "latest") == "big.jsonl"
        # A clean-up at start may run in the background: give it time.
        with contextlib.suppress(AssertionError):
            wait_until(lambda: sorted(os.listdir(directory)) == before, CLEANUP_TIMEOUT,
                       "the leftover to be removed")
        left = {name: (directory / name).stat().st_size
                for name in os.listdir(directory) if name not in before}
        assert left == {}, f"left in the store (bytes): {left}"


def test_a_fork_killed_midway_leaves_nothing_after_the_next_mount(tmp_path: Path) -> None:
    """Where the filesystem has O_TMPFILE (ext4 here), nothing is left at all."""
    store = big_store(tmp_path)
    before = sorted(os.listdir(store / FP))
    assert (store / FP / "big.jsonl").stat().st_size > 20 << 20
    assert kill_midway_through_a_fork(store, tmp_path / "m1") == before
    assert_the_next_mount_leaves_nothing(store, before, tmp_path / "m2")


def test_without_tmpfile_the_next_mount_removes_only_clawfs_leftover(tmp_path: Path) -> None:
    """A store behind a FUSE passthrough (bindfs: no O_TMPFILE): the kill leaves
    clawfs's named temp file, which the next mount removes, and claw's own
    temp file (a crashed save of claw's) stays."""
    backing = big_store(tmp_path)
    claws = sg.write_bytes(backing / FP, f"big.jsonl.tmp-{T0}-7", b"claw's half save", T0)
    before = sorted(os.listdir(backing / FP))
    with bindfs(backing, tmp_path / "view") as store:
        with pytest.raises(OSError) as no_tmpfile:  # precondition: really no O_TMPFILE here
            os.close(os.open(store / FP, os.O_TMPFILE | os.O_WRONLY, 0o600))
        assert no_tmpfile.value.errno == errno.EOPNOTSUPP
        after_kill = kill_midway_through_a_fork(store, tmp_path / "m1")
        leftovers = [name for name in after_kill if name not in before]
        assert len(leftovers) == 1 and leftovers[0].startswith(".clawfs-fork-"), after_kill
        assert_the_next_mount_leaves_nothing(store, before, tmp_path / "m2")
    assert claws.read_bytes() == b"claw's half save"


def test_claws_own_temporary_files_are_left_alone(tmp_path: Path) -> None:
    """Passes on main (nothing is cleaned): a leftover of claw's own crashed
    save (`<name>.tmp-<ms>-<n>`, claw-store-format §1) is claw's, and a
    mount must not remove it, whatever it cleans of its own."""
    store = tmp_path / "store"
    directory = sg.fp_dir(store, WORKSPACE)
    sg.write_bytes(directory, "s.jsonl", versions(1)[0], T0)
    claws = sg.write_bytes(directory, f"s.jsonl.tmp-{T0}-5", versions(2)[1][:100], T0)
    with mounted([store], tmp=tmp_path / "m") as m:
        assert os.readlink(m.path / "sessions" / FP / "latest") == "s.jsonl"
    assert claws.read_bytes() == versions(2)[1][:100]
    assert sorted(os.listdir(directory)) == ["s.jsonl", claws.name]
