"""Whether a path lies inside a directory: the one test, for every layer.

Symlinks are followed only while they stay inside a root, discovery never
walks into a mountpoint, and a mountpoint may not sit in a store (SPEC §1,
§6): each of those is this question. It is asked of paths as strings,
component by component (`/a/bc` is not inside `/a/b`), and never touches
the disk: callers pass real paths when links matter, and a mountpoint must
not even be stat'ed (asking a mount's daemon, maybe our own, could hang).

`resolve_inside` makes a path real for that question, touching nothing
outside the directory it must stay in: `os.path.realpath` resolves a link
all the way first, so a link in a store to a filesystem that never answers
(a stopped FUSE daemon, a hung NFS server) stalled whoever asked, and it
takes `missing/..` as nothing where the kernel fails.
"""

from __future__ import annotations

import errno
import os
import stat

MAX_LINKS = 40
"""Links followed in one resolution before giving up (the kernel's MAXSYMLINKS: ELOOP)."""


def relative(path: str, directory: str) -> str | None:
    """The part of `path` below `directory`: "" for the directory itself, None
    when `path` is outside it. A trailing `/` on `directory` does not count."""
    base = directory.rstrip("/")
    if path in (directory, base):
        return ""
    if path.startswith(base + "/"):
        return path[len(base) + 1 :]
    return None


def inside(path: str, directory: str) -> bool:
    """`path` is `directory` or lies below it."""
    return relative(path, directory) is not None


def below(path: str, directory: str) -> bool:
    """`path` lies below `directory` and is not the directory itself."""
    return bool(relative(path, directory))


def overlap(one: str, other: str) -> bool:
    """Either path is the other or lies inside it."""
    return inside(one, other) or inside(other, one)


def resolve_inside(path: str, directory: str) -> str | None:
    """The real path `path` (inside the real directory `directory`) names,
    resolved one component at a time as the kernel resolves it (a `..` goes
    up from what the path before it is on disk), or None as soon as it would
    leave `directory`: nothing outside it is ever stat'ed or read, the root
    of an absolute link target included (such a target must name
    `directory` itself, as the real path it is). Where a component is
    missing the kernel fails (ENOENT): the path through it is given as is,
    which names nothing (a link leading to nothing). Raises OSError for
    what the kernel would fail on otherwise: ELOOP past `MAX_LINKS`, a
    component not a directory (ENOTDIR), one it may not read (EACCES)."""
    rest = relative(path, directory)
    if rest is None:
        return None
    base = directory.rstrip("/") or "/"
    done, todo, links = base, _parts(rest), 0
    while todo:
        name = todo.pop()
        if name == "..":
            if done == base:
                return None  # out of the directory
            done = os.path.dirname(done)
            continue
        step = os.path.join(done, name)
        try:
            st = os.lstat(step)
        except FileNotFoundError:
            return os.path.join(step, *reversed(todo))
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > MAX_LINKS:
                raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
            target = os.readlink(step)
            if target.startswith("/"):
                inner = relative(target, base)
                if inner is None:
                    return None  # an absolute target that does not name the directory
                done, target = base, inner
            todo += _parts(target)
        elif todo and not stat.S_ISDIR(st.st_mode):
            raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
        else:
            done = step
    return done


def _parts(path: str) -> list[str]:
    """The components of a relative path, last first (a stack), without `.`."""
    return [part for part in reversed(path.split("/")) if part not in ("", ".")]
