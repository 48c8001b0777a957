"""Issue 9, signals and crashes while the mount is in use. SIGTERM and
SIGINT during a load unmount cleanly; after `kill -9` with files open in the
mount, readers get errors (not hangs), the mount goes away by itself
(auto_unmount), and the same mountpoint mounts again. A stale mount left by
something else is named as stale with the fix, `clawfs umount --lazy`
clears it, and a new mount then works.

(tests/test_mount_cli.py covers the quiet cases: signals on an idle mount,
kill -9 of an idle daemon, `clawfs umount` of a stale mount.)
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from clawfs.cli.samplestore import SampleStore

from mounting import (
    Mount,
    alive,
    make_stale_mount,
    mounted,
    new_mount,
    unmounting,
    wait_until,
)


class Readers:
    """Threads reading through the mount in a loop until stopped; any
    outcome but a hang is fine (the mount may vanish under them)."""

    def __init__(self, m: Mount, count: int = 8) -> None:
        self._stop = threading.Event()
        self._root = m.path
        self.reads = 0
        # Daemon threads: a failing test must not leave pytest unable to exit.
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(count)]
        for t in self._threads:
            t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            subprocess.run(["bash", "-c", f"cat {self._root}/sessions/*/*.jsonl; "
                            f"ls -lR {self._root}"], capture_output=True, timeout=60,
                           check=False)
            self.reads += 1

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=90)
        assert not any(t.is_alive() for t in self._threads), "a reader hung"


def holder(directory: Path) -> subprocess.Popen[bytes]:
    """A process that keeps `directory` busy (its working directory)."""
    return subprocess.Popen(["sleep", "120"], cwd=directory)


def mounts_again(sample: SampleStore, tmp_path: Path) -> None:
    """The same mountpoint takes a new mount that serves."""
    with mounted(extra_args=sample.mount_args(), tmp=tmp_path) as again:
        assert (again.path / "latest").read_bytes() == sample.files["ideas"].read_bytes()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_under_load_unmounts_cleanly(
    sample: SampleStore, tmp_path: Path, signum: int
) -> None:
    with mounted(extra_args=sample.mount_args(), tmp=tmp_path) as m:
        assert m.proc is not None
        readers = Readers(m)
        busy = holder(m.path / "sessions")
        try:
            wait_until(lambda: readers.reads > 0, 30, "the readers to get going")
            m.proc.send_signal(signum)
            assert m.proc.wait(timeout=30) == 0, m.log()[-2000:]
            wait_until(lambda: not m.is_mounted(), 10, "the mount to go away")
        finally:
            readers.stop()
            busy.kill()
            busy.wait()
        assert "Traceback" not in m.log(), m.log()[-3000:]
    mounts_again(sample, tmp_path)


def test_kill_9_with_open_files_goes_away_and_remounts(
    sample: SampleStore, tmp_path: Path
) -> None:
    with mounted(extra_args=sample.mount_args(), tmp=tmp_path, foreground=False) as m:
        pid = m.daemon_pid
        assert pid is not None
        readers = Readers(m)
        busy = holder(m.path / "sessions")
        opened = os.open(m.path / "latest", os.O_RDONLY)
        try:
            wait_until(lambda: readers.reads > 0, 30, "the readers to get going")
            os.kill(pid, signal.SIGKILL)
            wait_until(lambda: not alive(pid), 10, "the daemon to die")
            try:  # bytes from the page cache, or a clean error: never a hang
                os.pread(opened, 4096, 0)
            except OSError as e:
                assert e.errno in (errno.ENOTCONN, errno.ECONNABORTED), e
            wait_until(lambda: not m.is_mounted(), 10, "auto_unmount to remove the mount")
        finally:
            readers.stop()
            busy.kill()
            busy.wait()
            with contextlib.suppress(OSError):
                os.close(opened)  # the kernel may report the dead connection on close
    mounts_again(sample, tmp_path)


def test_stale_mount_is_named_then_lazy_umount_and_remount(
    sample: SampleStore, tmp_path: Path
) -> None:
    mount = new_mount(tmp_path)
    with unmounting(mount):
        make_stale_mount(mount.path)
        refused = mount.sandbox.run("mount", mount.path, *sample.mount_args())
        assert refused.returncode != 0
        assert "stale mount" in refused.stderr and "clawfs umount" in refused.stderr
        cleared = mount.sandbox.run("umount", mount.path, "--lazy")
        assert cleared.returncode == 0, cleared.stderr
        assert not mount.is_mounted()
    mounts_again(sample, tmp_path)
