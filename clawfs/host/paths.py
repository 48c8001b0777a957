"""Whether a path lies inside a directory: the one test, for every layer.

Symlinks are followed only while they stay inside a root, discovery never
walks into a mountpoint, and a mountpoint may not sit in a store (SPEC §1,
§6): each of those is this question. It is asked of paths as strings,
component by component (`/a/bc` is not inside `/a/b`), and never touches
the disk: callers pass real paths when links matter, and a mountpoint must
not even be stat'ed (asking a mount's daemon, maybe our own, could hang).
"""

from __future__ import annotations


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
