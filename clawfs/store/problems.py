"""Problems with store files, logged once each (SPEC §6).

A file that cannot be read is met again by every scan, event and sweep;
logging it each time would flood the log with one hostile file. So each
path is logged once, and the memory of what was logged is bounded: past
`REPORTED_LIMIT` paths the oldest may be logged again. It has its own lock
(it is told from threads holding the index's lock and from threads that
do not) and never logs with it held.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict

log = logging.getLogger(__name__)

REPORTED_LIMIT = 10_000
"""Files whose problem is remembered as logged (older ones may be logged again)."""


class Problems:
    """What was logged, by path (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reported: OrderedDict[str, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._reported)

    def report(self, path: str, problem: str) -> None:
        """Log a problem with a file, unless it was logged already."""
        with self._lock:
            if path in self._reported:
                return
            self._reported[path] = None
            if len(self._reported) > REPORTED_LIMIT:
                self._reported.popitem(last=False)
        log.warning("%s: %s", path, problem)
