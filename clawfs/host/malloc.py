"""The C allocator's arenas: fewer, so freed memory is used again (SPEC §7 peak).

glibc gives every thread that allocates while another holds the main
arena an arena of its own, up to 8 per core. The daemon renders Markdown
and loads sessions in trio's worker threads: each such thread leaves its
freed blocks in its own arena, where the next thread (or the request
thread) does not reuse them. At 100,000 sessions, after a `cat` and a
`grep -c` of every `.md`, the arenas held ~36 MB free and unreturned of
66 MB (mallinfo2); with two arenas 19 MB of 47, and the daemon's peak
(VmHWM) was 16 MB lower. Two, not one: the request thread and a worker
rarely wait on each other's allocations.

Elsewhere (musl, macOS) there is no `mallopt`, and nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from typing import Any

log = logging.getLogger(__name__)

M_ARENA_MAX = -8
"""glibc's mallopt(3) parameter: the most arenas the allocator makes."""

ARENAS = 2


def limit_arenas(libc: Any = None, arenas: int = ARENAS) -> bool:
    """Cap the allocator's arenas at `arenas`; whether it took.

    Call it before any thread starts: an arena once made stays."""
    if libc is None:
        name = ctypes.util.find_library("c")
        if name is None:
            return False
        try:
            libc = ctypes.CDLL(name)
        except OSError:
            return False
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:
        return False
    taken = bool(mallopt(M_ARENA_MAX, arenas))
    if not taken:
        log.debug("mallopt(M_ARENA_MAX, %d) refused", arenas)
    return taken
