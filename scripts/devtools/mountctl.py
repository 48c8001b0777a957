"""Run a real clawfs mount from a test or a script, and always take it down.

The tests' fixture (tests/mounting.py), scripts/soak.py and scripts/bench.py
all start `clawfs mount`, wait for it, read the daemon's memory and clean
up. They did it three ways; this is the one way, so a fix to the cleanup
chain (pyfuse3 notes: `fusermount3 -u`, `umount -f`, `fusermount3 -u -z`)
reaches every caller.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from clawfs.host.mounts import mounts_at
from clawfs.mount import mountpoint
from clawfs.mount.mountpoint import CONNECTIONS as CONNECTIONS
from clawfs.mount.mountpoint import MountError

READY_MARK = "ready: serving"
"""What `clawfs mount` logs once the mount answers."""
UNMOUNT_CHAIN = (["fusermount3", "-u"], ["umount", "-f"], ["fusermount3", "-u", "-z"])
"""Each step tried only while the path is still mounted."""
STEP_TIMEOUT = 10.0
"""Seconds an unmount step may take before the connection is aborted."""


class NotReady(Exception):
    """`clawfs mount` exited or did not answer in time; the message holds its log."""


def sandbox_env(base: Path) -> dict[str, str]:
    """This environment shut out from the machine: HOME, claw's config and
    XDG state under `base` (created), so no real store or state is read.

    Run the command in `sandbox_cwd(base)`: claw's workspace is the cwd.
    """
    home, state = base / "home", base / "state"
    for d in (home, state, sandbox_cwd(base)):
        d.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAW", "XDG_"))}
    env.update(HOME=str(home), CLAW_CONFIG_HOME=str(home / ".claw"),
               XDG_STATE_HOME=str(state), PYTHONUNBUFFERED="1")
    return env


def sandbox_cwd(base: Path) -> Path:
    """The working directory that goes with `sandbox_env(base)`."""
    return base / "cwd"


def is_mounted(path: str | os.PathLike[str]) -> bool:
    """A FUSE filesystem (ours or a stale one) is mounted at `path`."""
    return any(e.fstype.startswith("fuse") for e in mounts_at(path))


def abort_connection(path: str | os.PathLike[str]) -> bool:
    """Abort the FUSE connection mounted at `path`: every waiting call fails.

    `clawfs umount --force`'s first step; False when it could not be done.
    Needs the fusectl filesystem at /sys/fs/fuse/connections.
    """
    try:
        mountpoint.abort_connection(path)
    except MountError:
        return False
    return True


def force_unmount(path: str | os.PathLike[str]) -> None:
    """The cleanup chain that always worked, step by step, until nothing is mounted.

    A step that does not finish in `STEP_TIMEOUT` (a deadlocked daemon) gets
    the connection aborted, which ends it.
    """
    for command in UNMOUNT_CHAIN:
        if not is_mounted(path):
            return
        proc = subprocess.Popen([*command, os.fspath(path)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            proc.wait(timeout=STEP_TIMEOUT)
        except subprocess.TimeoutExpired:
            abort_connection(path)
            proc.wait()


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def wait_gone(pid: int, timeout: float = 10.0) -> None:
    """A daemon ends by itself once unmounted; kill it if it has not in `timeout` s."""
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    if alive(pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def status_mb(pid: int) -> dict[str, float]:
    """The Vm* lines of /proc/<pid>/status in MB (empty if the process is gone)."""
    values = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key.startswith("Vm"):
                    values[key] = int(rest.split()[0]) / 1024
    except (OSError, ValueError, IndexError):
        return {}
    return values


def vm_hwm_mb(pid: int) -> float | None:
    """The process's peak resident memory (VmHWM) in MB; None if it is gone."""
    return status_mb(pid).get("VmHWM")


def read_log(path: Path) -> str:
    """Everything logged so far ('' before the first line)."""
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def wait_ready(
    proc: subprocess.Popen[bytes], log_path: Path, mountpoint: Path, timeout: float
) -> None:
    """Wait until a `clawfs mount -f` process is mounted and logged `READY_MARK`.

    Raises `NotReady` (with the log) if it exits first or takes over `timeout`
    seconds; the caller still owns the cleanup.
    """
    deadline = time.monotonic() + timeout
    while not (is_mounted(mountpoint) and READY_MARK in read_log(log_path)):
        if proc.poll() is not None:
            raise NotReady(f"clawfs mount exited with {proc.returncode}:\n{read_log(log_path)}")
        if time.monotonic() > deadline:
            raise NotReady(f"clawfs mount did not get ready in {timeout:.0f} s:\n"
                           f"{read_log(log_path)}")
        time.sleep(0.02)


@dataclass
class Tally:
    """What a load did and what went wrong, shared by its worker threads."""

    runs: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ran(self, what: str) -> None:
        with self.lock:
            self.runs[what] = self.runs.get(what, 0) + 1

    def failed(self, what: str) -> None:
        with self.lock:
            self.failures.append(what)
