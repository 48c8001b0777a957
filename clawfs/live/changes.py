"""What a watcher tells its consumer: which paths of the store to look at again.

The inotify watcher and the poller (watcher.py, poller.py) both speak in
these values, and the live store (livestore.py) gathers them the same way
before it applies a batch; what each kind asks of the consumer is in
watcher.py's docstring.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from typing import Literal

ChangeKind = Literal["file", "dir", "rescan"]


@dataclass(frozen=True, slots=True)
class Change:
    """One thing the consumer must look at again (see the module docstring)."""

    kind: ChangeKind
    path: str


RESCAN = Change("rescan", "")


class Batcher:
    """Gathers changes between two deliveries and shapes them into one batch.

    A burst must cost the consumer bounded work: each change appears once,
    entries of a directory named as a whole are dropped, and more than
    `dir_threshold` entries of one directory become one "dir" change.
    """

    def __init__(self, dir_threshold: int = 128) -> None:
        self._threshold = dir_threshold
        self._changes: dict[Change, None] = {}  # an ordered set

    def __bool__(self) -> bool:
        return bool(self._changes)

    def add(self, change: Change) -> None:
        self._changes[change] = None

    def take(self) -> list[Change]:
        """Return the batch gathered so far and start a new one."""
        changes, self._changes = list(self._changes), {}
        if RESCAN in changes:
            return [RESCAN]
        per_dir = Counter(os.path.dirname(c.path) for c in changes if c.kind == "file")
        whole = {c.path for c in changes if c.kind == "dir"}
        whole |= {d for d, n in per_dir.items() if n > self._threshold}
        batch: dict[Change, None] = {}
        for change in changes:
            parent = os.path.dirname(change.path)
            if change.kind == "file" and parent in whole:
                change = Change("dir", parent)
            batch[change] = None
        return list(batch)

