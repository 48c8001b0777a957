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

Under systemd the same moment is sent as `READY=1` (sd_notify(3)) when
`NOTIFY_SOCKET` is set, so a `Type=notify` unit, and every unit ordered
after it, starts only once the mount answers. It is one datagram on a unix
socket: no library needed.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from collections.abc import Mapping
from pathlib import Path

from clawfs.format import printable

log = logging.getLogger(__name__)

READY = b"ready\n"
NOTIFY_SOCKET = "NOTIFY_SOCKET"


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


def notify_systemd(message: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send `message` (e.g. `READY=1`) to systemd if it asked for one.

    `NOTIFY_SOCKET` is a path, or an abstract socket when it starts with
    `@`. Without it this does nothing: a mount started by hand is not
    started by systemd. A failure is logged, never raised: the mount works
    either way.
    """
    address = (os.environ if environ is None else environ).get(NOTIFY_SOCKET, "")
    if address.startswith("@"):
        address = "\0" + address[1:]
    elif not address.startswith("/"):
        return False  # unset, or a kind of address we do not speak (vsock:)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(message.encode("utf-8", "surrogateescape"), address)
    except OSError as e:
        log.warning("cannot notify systemd at %s: %s", address.lstrip("\0"), e.strerror)
        return False
    return True


def detach(mountpoint: str, log_file: Path, ready_line: str | None = None) -> ReadyPipe:
    """Fork. The parent waits for the daemon and exits; the daemon returns.

    The daemon starts a new session (no controlling terminal, no SIGHUP when
    the terminal closes), works from `/` (so it keeps no directory busy) and
    has stdin/stdout/stderr on /dev/null: it logs to `log_file`. The parent
    prints `ready_line`, if any, once the mount answers.
    """
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid > 0:
        os.close(write_end)
        os._exit(_parent(read_end, mountpoint, log_file, ready_line))
    os.close(read_end)
    os.setsid()
    os.chdir("/")
    _to_dev_null()
    return ReadyPipe(write_end)


def _parent(read_end: int, mountpoint: str, log_file: Path, ready_line: str | None) -> int:
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
    if ready_line is not None:
        print(ready_line, file=sys.stderr)
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
