"""SPEC §1 through real mounts: the daemon, -f, logs, options, refusals,
signals, umount. Each clause has a test; all use ordinary tools."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from clawfs.cli.samplestore import SampleStore
from clawfs.host.mounts import mounts_at

from mounting import (
    READY_MARK,
    Sandbox,
    alive,
    clawfs_command,
    is_mounted,
    make_stale_mount,
    mounted,
    new_mount,
    unmounting,
    wait_until,
)


def latest_bytes(sample: SampleStore) -> bytes:
    return sample.files["ideas"].read_bytes()


def fails_with(done: subprocess.CompletedProcess[str], *phrases: str) -> str:
    """A refusal: non-zero exit, one line on stderr holding every phrase."""
    assert done.returncode != 0, done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    return lines[0]


# --- the daemon -----------------------------------------------------------


def test_mount_returns_when_ready_so_cat_latest_works_at_once(
    sample: SampleStore, tmp_path: Path
) -> None:
    mount = new_mount(tmp_path)
    command = " ".join(
        [*clawfs_command("mount", mount.path, "--log-file", mount.log_path),
         *sample.mount_args()]
    ) + f" && cat {mount.path}/latest"
    with unmounting(mount):
        done = subprocess.run(["bash", "-c", command], env=mount.sandbox.env(),
                              cwd=mount.sandbox.cwd, capture_output=True, timeout=60,
                              start_new_session=True, check=False)
        assert done.returncode == 0, done.stderr
        assert done.stdout == latest_bytes(sample)
        assert done.stderr == b"", "a daemon is quiet on success"
        assert mount.daemon_pid is not None and mount.daemon_pid != os.getpid()


def test_daemon_logs_to_default_log_file(sample: SampleStore, tmp_path: Path) -> None:
    mount = new_mount(tmp_path)
    mount.log_path = mount.sandbox.state / "clawfs" / "clawfs.log"
    with unmounting(mount):
        done = mount.sandbox.run("mount", mount.path, *sample.mount_args())
        assert done.returncode == 0, done.stderr
        assert READY_MARK in mount.log()
        assert "indexing" in mount.log()


def test_log_file_option_and_debug_logs_requests(sample: SampleStore, tmp_path: Path) -> None:
    with mounted(extra_args=[*sample.mount_args(), "--debug"], tmp=tmp_path,
                 foreground=False) as m:
        os.listdir(m.path / "sessions")
        assert m.log_path.exists()
        log = m.log()
        assert READY_MARK in log
        assert "opendir(" in log and "readdir(" in log and "lookup(" in log


def test_daemon_is_gone_after_kill_9_and_so_is_the_mount(
    sample: SampleStore, tmp_path: Path
) -> None:
    """auto_unmount: a killed daemon does not leave a stale mount behind."""
    with mounted(extra_args=sample.mount_args(), tmp=tmp_path, foreground=False) as m:
        assert m.daemon_pid is not None
        os.kill(m.daemon_pid, signal.SIGKILL)
        wait_until(lambda: not m.is_mounted(), 10, "the mount to go away")
        assert os.listdir(m.path) == []


# --- foreground -------------------------------------------------------------


def test_foreground_serves_until_stopped_and_logs_to_stderr(
    sample: SampleStore, tmp_path: Path
) -> None:
    with mounted(extra_args=sample.mount_args(), tmp=tmp_path) as m:
        assert m.proc is not None and m.proc.poll() is None
        assert (m.path / "latest").read_bytes() == latest_bytes(sample)
        assert READY_MARK in m.log() and "indexed" in m.log()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signals_unmount_cleanly(sample: SampleStore, tmp_path: Path, signum: int) -> None:
    with mounted(extra_args=sample.mount_args(), tmp=tmp_path) as m:
        assert m.proc is not None
        m.proc.send_signal(signum)
        assert m.proc.wait(timeout=10) == 0
        assert not m.is_mounted()
        assert os.listdir(m.path) == []


# --- what the mount looks like from outside ----------------------------------


def test_type_is_fuse_clawfs(sample: SampleStore, tmp_path: Path) -> None:
    with mounted(extra_args=sample.mount_args(), tmp=tmp_path) as m:
        (entry,) = mounts_at(m.path)
        assert (entry.fstype, entry.source) == ("fuse.clawfs", "clawfs")
        found = subprocess.run(["findmnt", "-n", "-t", "fuse.clawfs", "-o", "TARGET"],
                               capture_output=True, text=True, check=True)
        assert str(m.path) in found.stdout.split()


def test_allow_other_comes_with_default_permissions(sample: SampleStore, tmp_path: Path) -> None:
    with mounted(extra_args=[*sample.mount_args(), "--allow-other"], tmp=tmp_path) as m:
        options = mount_options(m.path)
        assert {"allow_other", "default_permissions"} <= options


def test_default_permissions_without_allow_other(sample: SampleStore, tmp_path: Path) -> None:
    with mounted(extra_args=sample.mount_args(), tmp=tmp_path) as m:
        options = mount_options(m.path)
        assert "default_permissions" in options and "allow_other" not in options


def mount_options(path: Path) -> set[str]:
    with open("/proc/self/mountinfo") as f:
        for line in f:
            if line.split()[4] == str(path):
                return set(line.split(" - ")[1].split()[2].split(","))
    raise AssertionError(f"{path} is not mounted")


# --- refusals -----------------------------------------------------------------


def test_refuses_missing_mountpoint(tmp_path: Path) -> None:
    done = Sandbox(tmp_path).run("mount", tmp_path / "nope", "--no-discover")
    fails_with(done, "no such directory", "mkdir -p")


def test_refuses_a_file_as_mountpoint(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    done = Sandbox(tmp_path).run("mount", tmp_path / "file", "--no-discover")
    fails_with(done, "not a directory")


def test_refuses_non_empty_mountpoint(tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    done = Sandbox(tmp_path).run("mount", tmp_path / "full", "--no-discover")
    fails_with(done, "not empty")


def test_refuses_already_mounted(sample: SampleStore, tmp_path: Path) -> None:
    with mounted(extra_args=sample.mount_args(), tmp=tmp_path) as m:
        done = m.sandbox.run("mount", m.path, *sample.mount_args())
        fails_with(done, "already mounted", "clawfs umount")
        assert len(mounts_at(m.path)) == 1, "nothing stacked on the live mount"


def test_refuses_stale_mount_and_umount_clears_it(tmp_path: Path) -> None:
    mount = new_mount(tmp_path)
    with unmounting(mount):
        make_stale_mount(mount.path)
        ls = subprocess.run(["ls", mount.path], capture_output=True, text=True, check=False)
        assert "Transport endpoint is not connected" in ls.stderr
        done = mount.sandbox.run("mount", mount.path, "--no-discover")
        fails_with(done, "stale mount", "Transport endpoint is not connected", "clawfs umount")
        cleared = mount.sandbox.run("umount", mount.path)
        assert cleared.returncode == 0, cleared.stderr
        assert not is_mounted(mount.path)


def test_refuses_when_fusermount3_is_missing(tmp_path: Path) -> None:
    (tmp_path / "mnt").mkdir()
    (tmp_path / "bin").mkdir()
    sandbox = Sandbox(tmp_path)
    env = {**sandbox.env(), "PATH": str(tmp_path / "bin")}
    done = subprocess.run(clawfs_command("mount", tmp_path / "mnt", "--no-discover"),
                          env=env, cwd=sandbox.cwd, capture_output=True, text=True,
                          timeout=60, check=False)
    fails_with(done, "FUSE is not available", "fusermount3", "apt-get install fuse3")


def test_refuses_mountpoint_inside_a_store_root(tmp_path: Path) -> None:
    store = tmp_path / "store"
    (store / "mnt").mkdir(parents=True)
    mount = new_mount(tmp_path)
    mount.path = store / "mnt"
    with unmounting(mount):
        done = mount.sandbox.run("mount", mount.path, "--store", store, "--no-discover")
        fails_with(done, "inside the store root", "choose a mountpoint outside")


@pytest.mark.parametrize("option", ["--store", "--workspace", "--data-dir"])
def test_refuses_a_store_root_inside_the_mountpoint(tmp_path: Path, option: str) -> None:
    mount = new_mount(tmp_path)
    with unmounting(mount):
        done = mount.sandbox.run("mount", mount.path, option, mount.path / "project",
                                 "--no-discover")
        fails_with(done, "is inside it")


# --- umount -------------------------------------------------------------------


def test_umount_unmounts_and_the_daemon_exits(sample: SampleStore, tmp_path: Path) -> None:
    with mounted(extra_args=sample.mount_args(), tmp=tmp_path, foreground=False) as m:
        pid = m.daemon_pid
        done = m.sandbox.run("umount", m.path)
        assert done.returncode == 0, done.stderr
        assert not m.is_mounted()
        assert pid is not None
        wait_until(lambda: not alive(pid), 10, "the daemon to exit")


def test_umount_of_a_busy_mount_fails_and_lazy_detaches(
    sample: SampleStore, tmp_path: Path
) -> None:
    with mounted(extra_args=sample.mount_args(), tmp=tmp_path) as m:
        holder = subprocess.Popen(["sleep", "60"], cwd=m.path / "sessions")
        try:
            busy = m.sandbox.run("umount", m.path)
            fails_with(busy, "busy", "--lazy")
            assert m.is_mounted()
            lazy = m.sandbox.run("umount", m.path, "--lazy")
            assert lazy.returncode == 0, lazy.stderr
            assert not m.is_mounted()
        finally:
            holder.kill()
            holder.wait()


def test_umount_of_something_not_mounted(tmp_path: Path) -> None:
    done = Sandbox(tmp_path).run("umount", tmp_path)
    fails_with(done, "not mounted")
