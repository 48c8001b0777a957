"""Detach from the terminal, and tell the waiting parent when the mount answers.

`clawfs mount X && cat X/latest` must work with no sleep (SPEC §1), so the
process the shell waits for may only exit once the daemon serves requests.
The order matters (pyfuse3 notes): mount first (`pyfuse3.init()`, so mount
errors reach the terminal), then fork, and only then start trio or any
thread, which do not survive a fork.

The parent keeps a pipe; the daemon writes `ready` once the kernel's INIT is
answered and its startup work is done, or an error line. The parent then
stats the mountpoint (a request the daemon must answer) and exits 0, or
prints the error and exits 1.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from clawfs.format import printable

READY = b"ready\n"


class ReadyPipe:
    """The daemon's end of the pipe: say `ready` or an error, once."""

    def __init__(self, fd: int | None) -> None:
        self._fd = fd

    def ready(self) -> None:
        self._send(READY)

    def fail(self, message: str) -> None:
        self._send(f"error: {message}\n".encode(errors="replace"))

    def _send(self, data: bytes) -> None:
        if self._fd is None:
            return
        try:
            os.write(self._fd, data)
            os.close(self._fd)
        except OSError:
            pass  # the parent is gone: nobody is waiting any more
        self._fd = None


def detach(mountpoint: str, log_file: Path) -> ReadyPipe:
    """Fork. The parent waits for the daemon and exits; the daemon returns.

    The daemon starts a new session (no controlling terminal, no SIGHUP when
    the terminal closes), works from `/` (so it keeps no directory busy) and
    has stdin/stdout/stderr on /dev/null: it logs to `log_file`.
    """
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid > 0:
        os.close(write_end)
        os._exit(_parent(read_end, mountpoint, log_file))
    os.close(read_end)
    os.setsid()
    os.chdir("/")
    _to_dev_null()
    return ReadyPipe(write_end)


def _parent(read_end: int, mountpoint: str, log_file: Path) -> int:
    """Exit status for the `clawfs mount` the user ran."""
    _close_fuse_fds()
    with os.fdopen(read_end, "rb") as pipe:
        line = pipe.readline()
    if line != READY:
        reason = line.decode(errors="replace").strip().removeprefix("error: ")
        if not reason:
            reason = "the daemon stopped before the mount was ready"
        # The daemon's reason may quote store text (an exception's message).
        print(f"clawfs: {printable.shown(reason)} (see {log_file})", file=sys.stderr)
        return 1
    try:
        os.stat(mountpoint)  # answered by the daemon: proves the mount serves
    except OSError as e:
        print(f"clawfs: the mount does not answer: {e.strerror} (see {log_file})",
              file=sys.stderr)
        return 1
    return 0


def _close_fuse_fds() -> None:
    """Drop the parent's copy of the /dev/fuse descriptor.

    While any process holds it, the kernel keeps the connection alive: if the
    daemon died, the parent's stat would hang instead of failing.
    """
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}") == "/dev/fuse":
                os.close(int(name))
        except OSError:
            continue


def _to_dev_null() -> None:
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    if null > 2:
        os.close(null)
