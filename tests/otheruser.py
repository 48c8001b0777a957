"""A second real user for permission tests (SPEC §3): created with `useradd`
and removed afterwards, it runs commands with `setpriv`. Tests run as root,
which ignores file modes, so what this user is denied must be shown denied
natively before it is asked through a mount."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

TEAM_GID = 43210
"""A group the user has only as a supplementary group, where `run_in_group` says so."""


@dataclass(frozen=True)
class OtherUser:
    name: str
    uid: int
    gid: int

    def run(self, *argv: str | os.PathLike[str]) -> subprocess.CompletedProcess[bytes]:
        """`argv` as this user (no supplementary groups), in the C locale."""
        return self._as(["--regid", str(self.gid), "--clear-groups"], argv)

    def run_in_group(self, *argv: str | os.PathLike[str]) -> subprocess.CompletedProcess[bytes]:
        """`argv` as this user with TEAM_GID as a supplementary group (which
        the mount reads from /proc: FUSE sends only uid and gid)."""
        return self._as(["--regid", str(self.gid), "--groups", str(TEAM_GID)], argv)

    def _as(
        self, groups: list[str], argv: tuple[str | os.PathLike[str], ...]
    ) -> subprocess.CompletedProcess[bytes]:
        command = ["setpriv", f"--reuid={self.uid}", *groups, *(os.fspath(a) for a in argv)]
        return subprocess.run(command, capture_output=True, timeout=60, check=False, cwd="/",
                              env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"})

    def stats(self, path: Path) -> bool:
        return self.run("stat", path).returncode == 0

    def read(self, path: Path) -> bytes | None:
        """The bytes of `path` as this user, or None when it may not read them."""
        done = self.run("cat", path)
        return done.stdout if done.returncode == 0 else None

    def listing(self, path: Path) -> list[str] | None:
        done = self.run("ls", "-1A", path)
        return done.stdout.decode().split() if done.returncode == 0 else None

    def readlink(self, path: Path) -> str | None:
        done = self.run("readlink", path)
        return done.stdout.decode().strip() if done.returncode == 0 else None

    def xattr_names(self, path: Path) -> list[str]:
        """What `listxattr` tells this user about `path` (names only)."""
        done = self.run("getfattr", "--absolute-names", "-m", "-", path)
        return [line for line in done.stdout.decode().splitlines() if line.startswith("user.")]

    def xattr_dump(self, path: Path) -> subprocess.CompletedProcess[bytes]:
        return self.run("getfattr", "--absolute-names", "-d", "-m", "-", path)


def _retry(*command: str) -> subprocess.CompletedProcess[str]:
    """A user-database command, retried while another one holds the lock."""
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    for _ in range(20):
        if done.returncode == 0 or "lock" not in done.stderr:
            break
        time.sleep(0.2)
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    return done


@contextlib.contextmanager
def other_user() -> Iterator[OtherUser]:
    """A fresh unprivileged user and group, removed afterwards whatever happens."""
    name = f"clawfs-t{uuid.uuid4().hex[:8]}"
    made = _retry("useradd", "--no-create-home", "--user-group", "--shell",
                  "/usr/sbin/nologin", name)
    assert made.returncode == 0, made.stderr
    try:
        ids = subprocess.run(["id", "-u", name], capture_output=True, text=True, check=True)
        gids = subprocess.run(["id", "-g", name], capture_output=True, text=True, check=True)
        yield OtherUser(name, int(ids.stdout), int(gids.stdout))
    finally:
        _retry("userdel", name)
        if subprocess.run(["getent", "group", name], capture_output=True).returncode == 0:
            _retry("groupdel", name)
        assert subprocess.run(["id", name], capture_output=True).returncode != 0, (
            f"user {name} was left behind")
