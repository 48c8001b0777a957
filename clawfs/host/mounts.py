"""The machine's mount table (/proc/self/mountinfo), read as plain values.

The mountpoint checks, discovery (which must never walk into a FUSE
mount) and the demo all ask "what is mounted where"; this is the one
parser of mountinfo. Nothing here knows about claw or FUSE requests.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

MOUNTINFO = "/proc/self/mountinfo"


@dataclass(frozen=True, slots=True)
class MountEntry:
    """One line of /proc/self/mountinfo, the fields we use."""

    mountpoint: str
    fstype: str
    source: str
    minor: int
    """Device minor: names the FUSE connection in /sys/fs/fuse/connections."""


def mount_table(path: str = MOUNTINFO) -> list[MountEntry]:
    """Parse mountinfo (proc(5)): fields, then ` - `, then type and source."""
    entries = []
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            before, _, after = line.partition(" - ")
            fields = before.split()
            tail = after.split()
            if len(fields) < 5 or len(tail) < 2:
                continue
            minor = int(fields[2].partition(":")[2])
            entries.append(MountEntry(_unescape(fields[4]), tail[0], _unescape(tail[1]), minor))
    return entries


def mounts_at(path: str | os.PathLike[str]) -> list[MountEntry]:
    """Mounts whose mountpoint is `path` (innermost last)."""
    where = real_mountpoint(path)
    return [e for e in mount_table() if e.mountpoint == where]


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes."""
    for code in ("\\040", "\\011", "\\012", "\\134"):
        field = field.replace(code, chr(int(code[1:], 8)))
    return field


def real_mountpoint(path: str | os.PathLike[str]) -> str:
    """realpath that does not touch the last component's contents.

    Resolving the parent and keeping the name means a stale mountpoint (whose
    stat fails) still maps to the path mountinfo shows.
    """
    p = Path(os.path.abspath(path))
    return os.path.join(os.path.realpath(p.parent), p.name) if p.name else str(p)
