"""The demo's Python half (scripts/demo minus the installing): it mounts a
sample store when the machine has no claw sessions, and prints what to try."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mounting import new_mount, unmounting


def run_demo(mount_base: Path, mountpoint: Path) -> subprocess.CompletedProcess[str]:
    sandbox = new_mount(mount_base).sandbox
    return subprocess.run([sys.executable, "-m", "clawfs.cli.demo", str(mountpoint)],
                          env=sandbox.env(), cwd=sandbox.cwd, capture_output=True, text=True,
                          timeout=120, start_new_session=True, check=False)


def test_demo_mounts_a_sample_and_prints_tips(tmp_path: Path) -> None:
    mount = new_mount(tmp_path)
    mount.log_path = mount.sandbox.state / "clawfs" / "clawfs.log"
    with unmounting(mount):
        done = run_demo(tmp_path, mount.path)
        assert done.returncode == 0, done.stderr
        assert "a sample store" in done.stdout
        assert "W=" in done.stdout and "umount" in done.stdout
        assert sorted(os.listdir(mount.path / "workspaces")) == ["cli-tool", "notes", "webapp"]
        store = mount.sandbox.home / ".local" / "share" / "clawfs" / "demo-store"
        assert os.readlink(mount.path / "latest").startswith("sessions/")
        assert (mount.path / "latest").resolve().read_bytes().startswith(b'{"created_at_ms"')
        assert store.is_dir()
        again = run_demo(tmp_path, mount.path)
        assert again.returncode == 0, again.stderr
        assert "remounting" in again.stdout


def test_demo_leaves_a_non_empty_directory_alone(tmp_path: Path) -> None:
    target = tmp_path / "busy"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    done = run_demo(tmp_path, target)
    assert done.returncode == 1
    assert "not an empty directory" in done.stderr and "scripts/demo /tmp/claw" in done.stderr
    assert os.listdir(target) == ["keep.txt"]
