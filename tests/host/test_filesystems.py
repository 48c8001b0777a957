"""statfs(2)'s filesystem type, and which filesystems count as shared.

A real FUSE filesystem is judged "fuse" in tests/e2e/test_network_store.py
(bindfs); here the magic numbers are faked where no such mount exists.
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from clawfs.host import filesystems
from clawfs.host.filesystems import fs_magic, shared_kind

EXT4_OR_TMPFS = {0xEF53, 0x01021994, 0x9123683E, 0x58465342, 0x794C7630}
"""ext2/3/4, tmpfs, btrfs, xfs, overlayfs: where tests' temporary directories lie."""


def test_a_local_directory_is_not_shared(tmp_path: Path) -> None:
    assert fs_magic(tmp_path) in EXT4_OR_TMPFS
    assert shared_kind(tmp_path) is None


def test_a_missing_path_is_judged_by_its_nearest_existing_ancestor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    def magic(path: str) -> int:
        asked.append(str(path))
        if str(path) != str(tmp_path):
            raise OSError(errno.ENOENT, "missing")
        return 0x6969  # NFS

    monkeypatch.setattr(filesystems, "fs_magic", magic)
    assert shared_kind(tmp_path / "a" / "b") == "nfs"
    assert asked == [str(tmp_path / "a" / "b"), str(tmp_path / "a"), str(tmp_path)]


def test_statfs_errors_are_raised(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        fs_magic(tmp_path / "missing")


@pytest.mark.parametrize(
    ("magic", "kind"),
    [(0x6969, "nfs"), (0xFF534D42, "cifs"), (0xFE534D42, "smb2"), (0x65735546, "fuse"),
     (0x01021997, "9p"), (0xEF53, None)],
)
def test_shared_kinds(monkeypatch: pytest.MonkeyPatch, magic: int, kind: str | None) -> None:
    monkeypatch.setattr(filesystems, "fs_magic", lambda path: magic)
    assert shared_kind("/anywhere") == kind
