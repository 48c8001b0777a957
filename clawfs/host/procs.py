"""What the kernel says about a process that asks the mount something.

A FUSE request carries the caller's uid, gid and pid, but not its
supplementary groups, and those decide what it may read natively (a file
0640 of group `devs`). They are in /proc/<pid>/status (`Groups:`), which
the mount reads for callers other than the mounting user (SPEC §3).
"""

from __future__ import annotations


def groups(pid: int) -> frozenset[int] | None:
    """The supplementary groups of process (or thread) `pid`; None when it is
    gone or /proc cannot tell (callers then count only its own gid)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"Groups:"):
                    return frozenset(int(field) for field in line.split()[1:])
    except (OSError, ValueError):
        return None
    return None
