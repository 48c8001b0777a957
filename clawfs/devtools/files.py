"""Write a store file with a chosen mtime, for generated stores.

claw orders sessions by mtime, so every generator (samplestore, the tests'
storegen, the bench's store) must set it exactly; one helper keeps the
nanosecond arithmetic in one place.
"""

from __future__ import annotations

import os
from pathlib import Path


def set_mtime(path: Path, mtime_ms: int) -> None:
    """Set both atime and mtime of `path` to `mtime_ms` (milliseconds)."""
    ns = mtime_ms * 1_000_000
    os.utime(path, ns=(ns, ns))


def write_file(path: Path, data: bytes, mtime_ms: int | None = None) -> Path:
    """Write `data` to `path` (parents created), then set its mtime if given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if mtime_ms is not None:
        set_mtime(path, mtime_ms)
    return path
