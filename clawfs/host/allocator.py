"""glibc's malloc, told how the daemon uses memory (issue 16: peak within 150 MB).

Python takes objects up to 512 bytes from its own pools; everything
bigger (the chunks a load or a render reads, a line of JSON, a rendered
window, a fork's spool buffers) comes from glibc's malloc, one arena per
thread that allocates (the sweep's thread, the render and read workers).
Left to itself glibc raises its mmap threshold to the size of every large
block freed (up to 32 MiB), and its trim threshold to twice that: after the
first 1 MiB read buffer is freed, every later one comes from an arena, and
an arena whose top holds one small block that lives on keeps all the free
memory below it. A 20,000-session sweep measured that way ended with 8-12 MB
of its arenas free (mallinfo2), and the first-ever mount's peak grew with it.

`tune` fixes the mmap threshold (which also stops both adjustments): a
block of `MMAP_THRESHOLD` or more is mapped for itself and given back when
freed. The threshold is glibc's own starting value, so what it changes is
only that it stays there. `trim` gives back what the arenas hold free
(`malloc_trim`), for when the daemon has finished a burst of work.

Arenas are not capped (M_ARENA_MAX): threads that share an arena wait on
its lock, and a cap tried before slowed forks (BENCHMARKS.md).

On a libc without these (not glibc), both do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_MMAP_THRESHOLD = -3
"""mallopt's parameter number (malloc.h)."""

MMAP_THRESHOLD = 128 << 10
"""Blocks of this many bytes or more are mapped for themselves (see the module docstring)."""


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """The C library, if it is glibc (it has `mallopt` and `malloc_trim`)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
    except (OSError, AttributeError):
        return None
    return libc


def tune() -> bool:
    """Fix glibc's mmap threshold at `MMAP_THRESHOLD`; whether it was set."""
    libc = _glibc()
    return libc is not None and libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1


def trim() -> bool:
    """Give the free memory of glibc's arenas back to the system; whether any was."""
    libc = _glibc()
    return libc is not None and libc.malloc_trim(0) == 1
