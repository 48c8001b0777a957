"""`Operations(read_only=True)` (`clawfs mount --read-only`): the fork control
files answer EROFS in the adapter itself, so nothing changes the store even
on a mount without the kernel's `ro` flag (issue 15)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pyfuse3
import pytest
import trio

from clawfs.mount.fuse_ops import Operations
from clawfs.mount.inodes import ROOT_INODE
from clawfs.mount.view import View
from clawfs.store.index import StoreIndex
from clawfs.store.roots import RootKind, make_root

import storegen as sg


def operations(store: Path, read_only: bool) -> Operations:
    index = StoreIndex([make_root(str(store), RootKind.STORE, 0)])
    index.scan()
    return Operations(View(index), read_only=read_only)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    sg.workspace_store(tmp_path / "store", "/work/p",
                       [(sg.make_session("s1", messages=2), 1_700_000_000_000)])
    return tmp_path / "store"


async def fork_file(ops: Operations) -> int:
    sessions = await ops.lookup(ROOT_INODE, b"sessions", None)  # type: ignore[arg-type]
    (workspace_of_store,) = ops.view.index.workspaces()
    fp = workspace_of_store.fp
    workspace = await ops.lookup(sessions.st_ino, os.fsencode(fp), None)  # type: ignore[arg-type]
    return (await ops.lookup(workspace.st_ino, b"fork", None)).st_ino  # type: ignore[arg-type]


def test_read_only_fork_files_answer_erofs(store: Path) -> None:
    before = sorted(os.listdir(next(store.iterdir())))
    ops = operations(store, read_only=True)

    async def scenario() -> tuple[int, list[int]]:
        inode = await fork_file(ops)
        mode = (await ops.getattr(inode, None)).st_mode  # type: ignore[arg-type]
        codes = []
        for flags in (os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_TRUNC):
            handle = await ops.open(inode, flags, None)  # type: ignore[arg-type]
            try:
                await ops.write(handle.fh, 0, b"bugfix\n")
                codes.append(0)
            except pyfuse3.FUSEError as e:
                codes.append(e.errno)
            await ops.release(handle.fh)
        try:
            attr = await ops.getattr(inode, None)  # type: ignore[arg-type]
            await ops.setattr(inode, attr, pyfuse3.SetattrFields(), None, None)  # type: ignore[arg-type]
            codes.append(0)
        except pyfuse3.FUSEError as e:
            codes.append(e.errno)
        reading = await ops.open(inode, os.O_RDONLY, None)  # type: ignore[arg-type]
        codes.append(len(await ops.read(reading.fh, 0, 100)))
        return mode & 0o777, codes

    mode, codes = trio.run(scenario)
    assert mode == 0o444
    assert codes == [errno.EROFS] * 4 + [0], "reading the (empty) result still works"
    assert sorted(os.listdir(next(store.iterdir()))) == before


def test_without_read_only_the_same_fork_file_forks(store: Path) -> None:
    ops = operations(store, read_only=False)

    async def scenario() -> tuple[int, bytes]:
        inode = await fork_file(ops)
        mode = (await ops.getattr(inode, None)).st_mode  # type: ignore[arg-type]
        handle = await ops.open(inode, os.O_WRONLY, None)  # type: ignore[arg-type]
        await ops.write(handle.fh, 0, b"bugfix\n")
        return mode & 0o777, await ops.read(handle.fh, 0, 4096)

    mode, result = trio.run(scenario)
    assert mode == 0o644 and b"\tbugfix\t" in result
    assert len(os.listdir(next(store.iterdir()))) == 2
