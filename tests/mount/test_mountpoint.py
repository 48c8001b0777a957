"""Mountpoint checks and the mount table, without mounting anything.

Refusals that need a live or stale mount are tested through real mounts in
test_mount_cli.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from clawfs.host.mounts import mount_table
from clawfs.mount.mountpoint import (
    MountError,
    check_fuse,
    check_mountpoint,
    check_overlap,
    mount_options,
)


def refusal(call: object, *args: object) -> str:
    assert callable(call)
    with pytest.raises(MountError) as caught:
        call(*args)
    text = str(caught.value)
    assert "\n" not in text
    return text


def test_missing_mountpoint(tmp_path: Path) -> None:
    text = refusal(check_mountpoint, tmp_path / "nope")
    assert "no such directory" in text and "mkdir -p" in text


def test_mountpoint_not_a_directory(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    assert "not a directory" in refusal(check_mountpoint, tmp_path / "f")


def test_mountpoint_not_empty(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("x")
    assert "not empty" in refusal(check_mountpoint, tmp_path)


def test_empty_directory_is_accepted(tmp_path: Path) -> None:
    check_mountpoint(tmp_path)


def test_mountpoint_inside_a_store_root(tmp_path: Path) -> None:
    root = tmp_path / "store"
    (root / "mnt").mkdir(parents=True)
    assert "inside the store root" in refusal(check_overlap, root / "mnt", [root])
    assert "inside the store root" in refusal(check_overlap, root, [root])


def test_store_root_inside_the_mountpoint(tmp_path: Path) -> None:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    text = refusal(check_overlap, mnt, [mnt / "a" / ".claw" / "sessions"])
    assert "is inside it" in text


def test_overlap_follows_symlinks(tmp_path: Path) -> None:
    root = tmp_path / "store"
    (root / "mnt").mkdir(parents=True)
    (tmp_path / "link").symlink_to(root)
    assert "inside the store root" in refusal(check_overlap, tmp_path / "link" / "mnt", [root])


def test_siblings_do_not_overlap(tmp_path: Path) -> None:
    check_overlap(tmp_path / "mnt", [tmp_path / "mnt-store", tmp_path / "store"])


def test_mount_table_unescapes_paths(tmp_path: Path) -> None:
    info = tmp_path / "mountinfo"
    info.write_text(
        "36 35 98:0 / /mnt/a\\040b rw,noatime shared:1 - fuse.clawfs clawfs rw,user_id=0\n"
        "37 35 0:52 / /proc rw - proc proc rw\n"
    )
    first, second = mount_table(str(info))
    assert first.mountpoint == "/mnt/a b"
    assert (first.fstype, first.source, first.minor) == ("fuse.clawfs", "clawfs", 0)
    assert (second.fstype, second.minor) == ("proc", 52)


def test_mount_options_name_the_type_and_never_ro() -> None:
    options = mount_options(allow_other=False)
    assert {"fsname=clawfs", "subtype=clawfs", "default_permissions"} <= options
    assert "ro" not in options and "allow_other" not in options


def test_allow_other_always_comes_with_default_permissions() -> None:
    assert {"allow_other", "default_permissions"} <= mount_options(allow_other=True)


def test_fuse_missing_device(monkeypatch: pytest.MonkeyPatch) -> None:
    real_exists = os.path.exists
    monkeypatch.setattr(os.path, "exists", lambda p: p != "/dev/fuse" and real_exists(p))
    text = refusal(check_fuse)
    assert "FUSE is not available" in text and "/dev/fuse" in text and "modprobe fuse" in text


def test_fuse_missing_fusermount3(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    text = refusal(check_fuse)
    assert "fusermount3" in text and "apt-get install fuse3" in text


def test_fuse_present_here() -> None:
    """This machine has FUSE: a missing /dev/fuse here is a failure, never a skip."""
    check_fuse()
