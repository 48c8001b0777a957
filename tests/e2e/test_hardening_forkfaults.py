"""Issue 9, forks under faults through a real mount (SPEC §4): a read-only
store, a full disk, the parent deleted between open and write. Each fails
with the errno that names it, the result reads `error: ...`, and the store
is left exactly as it was: no partial fork, no temporary file. (A store
directory without write permission is tests/test_mount_control.py's.)
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from clawfs.format import session

import storegen as sg
from mounting import mounted

WORKSPACE = "/srv/hardening-forks"
T0 = 1_750_000_000_000
SID = f"session-{T0}-0"


def one_session(root: Path, messages: int = 5) -> Path:
    directory = sg.fp_dir(root, WORKSPACE)
    s = sg.make_session(SID, messages=messages, workspace_root=WORKSPACE, created_at_ms=T0)
    return sg.write_session(directory, s, mtime_ms=T0)


def entries(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def fork_fails(control: Path, code: int) -> None:
    """A write to `control` fails with `code`; reading it then says why."""
    fd = os.open(control, os.O_RDWR)
    try:
        with pytest.raises(OSError) as failed:
            os.write(fd, b"doomed\n")
        assert failed.value.errno == code, failed.value
        assert os.pread(fd, 4096, 0).startswith(b"error: ")
    finally:
        os.close(fd)


def sh(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60,
                          check=False)


@contextlib.contextmanager
def read_only_bind(source: Path, target: Path) -> Iterator[Path]:
    """`source` seen read-only at `target` (root can't write there either)."""
    target.mkdir()
    subprocess.run(["mount", "--bind", source, target], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", target], check=True)
        yield target
    finally:
        subprocess.run(["umount", target], check=False)


@contextlib.contextmanager
def small_tmpfs(target: Path, size: str = "1m") -> Iterator[Path]:
    target.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", target], check=True)
    try:
        yield target
    finally:
        subprocess.run(["umount", target], check=False)


def fill(path: Path) -> None:
    """Write zeros to `path` until the disk is full."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 4096)
    finally:
        os.close(fd)


def test_read_only_store_is_erofs_and_unchanged(tmp_path: Path) -> None:
    one_session(tmp_path / "rw")
    with read_only_bind(tmp_path / "rw", tmp_path / "ro") as ro:
        probe = sh(f"touch {ro}/probe")
        assert probe.returncode != 0 and "Read-only" in probe.stderr, "precondition"
        before = entries(ro)
        with mounted([ro], tmp=tmp_path) as m:
            ws = m.path / "sessions" / sg.fp_dir(tmp_path / "rw", WORKSPACE).name
            fork_fails(ws / "fork", errno.EROFS)
            fork_fails(ws / "forks" / SID / "fork", errno.EROFS)
            done = sh(f"echo x > {ws}/fork")
            assert done.returncode == 1 and "Read-only file system" in done.stderr
            assert sorted(os.listdir(ws))[-2:] == [f"{SID}.jsonl", f"{SID}.md"]
        assert entries(ro) == before


def test_full_disk_is_enospc_and_leaves_nothing(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "small") as root:
        parent = one_session(root, messages=400)
        assert 20_000 < parent.stat().st_size < 500_000
        filler = root / "filler.bin"  # not a session name: never listed
        fill(filler)
        before = entries(root)
        with mounted([root], tmp=tmp_path) as m:
            ws = m.path / "sessions" / parent.parent.name
            fork_fails(ws / "fork", errno.ENOSPC)
            fork_fails(ws / "forks" / SID / "fork", errno.ENOSPC)
            assert entries(root) == before, "no partial fork, no temp file"
            filler.unlink()
            done = sh(f"echo room-again > {ws}/fork")
            assert done.returncode == 0, done.stderr
            made = (ws / "fork").read_text().split("\t")
            assert made[1] == "room-again"
            assert Path(made[2].strip()).parent == parent.parent


def test_parent_deleted_between_open_and_write(tmp_path: Path) -> None:
    parent = one_session(tmp_path / "store")
    sibling = sg.make_session(f"session-{T0 + 1}-0", workspace_root=WORKSPACE,
                              created_at_ms=T0 + 1)
    sg.write_session(parent.parent, sibling, mtime_ms=T0 + 1)
    with mounted([tmp_path / "store"], tmp=tmp_path) as m:
        ws = m.path / "sessions" / parent.parent.name
        fd = os.open(ws / "forks" / SID / "fork", os.O_RDWR | os.O_TRUNC)
        try:
            parent.unlink()
            with pytest.raises(OSError) as failed:
                os.write(fd, b"orphan\n")
            assert failed.value.errno == errno.ENOENT
            assert os.pread(fd, 4096, 0).startswith(b"error: ")
        finally:
            os.close(fd)
        assert sorted(os.listdir(parent.parent)) == [f"{sibling.session_id}.jsonl"]
        # The mount goes on: the other session still forks.
        done = sh(f"echo fine > {ws}/forks/{sibling.session_id}/fork")
        assert done.returncode == 0, done.stderr
        new = [p for p in parent.parent.iterdir() if p.name != f"{sibling.session_id}.jsonl"]
        assert len(new) == 1
        loaded = session.load(new[0].read_bytes(), file_name=new[0].name, mtime_ms=T0)
        assert loaded.fork is not None and loaded.fork.parent_session_id == sibling.session_id
