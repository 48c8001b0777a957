"""`clawfs path FILE...`: the backing file of anything in a mount.

`claw --resume` appends to the file it resumes, so it needs the session's
real file, not the read-only path in the mount:

    claw --resume "$(clawfs path ~/claw/latest)"

The mount answers with the `user.claw.path` attribute of a transcript
(SPEC §3); the kernel follows an alias (`latest`, `workspaces/<label>/...`)
to its transcript first. A `forks/` node stands for its session, so its
`session.jsonl` is asked. Anything else gets an error that says what the
path is and what would work, one line per path, and a non-zero exit.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys

from clawfs.host import paths
from clawfs.host.mounts import mount_table
from clawfs.mount.mountpoint import FSTYPE
from clawfs.mount.render import PATH_XATTR
from clawfs.mount.view import SESSION_LINK


class PathError(Exception):
    """Why a path has no backing file; one line."""


def backing_path(path: str) -> str:
    """The store file behind `path` in a clawfs mount, or PathError."""
    mount = _mount_of(path)
    if mount is None or mount[1] != FSTYPE:
        if not os.path.lexists(path):
            raise PathError(f"{path}: no such file or directory")
        where = f"on {mount[1]} at {mount[0]}" if mount is not None else "nowhere"
        raise PathError(
            f"{path}: not in a clawfs mount (it is {where}; "
            "`findmnt -t fuse.clawfs` lists the mounts)"
        )
    asked = os.path.join(path, SESSION_LINK) if _is_dir(path) else path
    try:
        value = os.getxattr(asked, PATH_XATTR)
    except OSError as e:
        if asked != path and e.errno == errno.ENOENT:
            e = OSError(errno.ENODATA, "no session here")  # a directory of the mount
        raise PathError(_reason(path, e, mount[0])) from None
    return os.fsdecode(value)


def _mount_of(path: str) -> tuple[str, str] | None:
    """(mountpoint, type) of the innermost mount holding `path`'s real path."""
    real = os.path.realpath(path)
    best: tuple[str, str] | None = None
    for entry in mount_table():
        if paths.inside(real, entry.mountpoint):
            if best is None or len(entry.mountpoint) >= len(best[0]):
                best = (entry.mountpoint, entry.fstype)
    return best


def _is_dir(path: str) -> bool:
    try:
        return os.path.isdir(path)
    except OSError:
        return False


def _reason(path: str, e: OSError, mountpoint: str) -> str:
    if e.errno == errno.ENOENT:
        return f"{path}: no such file in the mount"
    if e.errno in (errno.ENODATA, errno.EOPNOTSUPP):
        return (
            f"{path}: has no backing file (only sessions do: a transcript, an alias such "
            "as latest, or a forks/ node)"
        )
    if e.errno == errno.ENOTCONN:
        return f"{path}: the mount is not connected (clean it up: clawfs umount {mountpoint})"
    return f"{path}: {e.strerror}"


def run_path(args: argparse.Namespace) -> int:
    """Entry for the `path` subcommand: one backing path per line, in order."""
    status = 0
    for path in args.paths:
        try:
            found = backing_path(path)
        except PathError as e:
            print(f"clawfs: {e}", file=sys.stderr)
            status = 1
            continue
        sys.stdout.buffer.write(os.fsencode(found) + b"\n")
    sys.stdout.buffer.flush()
    return status
