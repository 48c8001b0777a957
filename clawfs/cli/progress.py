"""How far the first index of a mount got, for the user and the log.

A first mount of a big store takes seconds (100,000 sessions: every head
read), and `mount` must not look hung meanwhile: on a terminal it shows
how many sessions are indexed of how many, once it has been at it for
`SHOW_AFTER` (a quick remount prints nothing), and says when the mount is
ready. The log gets the same figures every `LOG_EVERY` seconds, for a
daemon whose terminal nobody watches.

The index is built before the daemon forks, when no thread may exist
(mount/daemon.py), so the line is drawn from a timer signal (SIGALRM)
between the scan's steps, with what the scan last reported.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Iterator
from typing import TextIO

from clawfs.store import scan as scanning
from clawfs.store.index import Tally
from clawfs.store.roots import Root

log = logging.getLogger("clawfs")

TICK_SECONDS = 0.25
"""How often the line is redrawn."""
SHOW_AFTER = 1.0
"""Seconds of indexing before the line shows (a quick mount stays quiet)."""
LOG_EVERY = 2.0
"""How often the log is told how far it got."""


def counted(number: int, word: str) -> str:
    """`1 session`, `2 sessions`, `100,262 sessions`."""
    return f"{number:,} {word}{'' if number == 1 else 's'}"


class Progress:
    """The figures of one index build, shown on `terminal` if given."""

    def __init__(self, roots: list[Root], terminal: TextIO | None) -> None:
        self._terminal = terminal
        self.began = time.monotonic()
        self.total = scanning.count_sessions(roots) if terminal is not None else None
        """Sessions in the store: counted first on a terminal only (a listing
        of each directory, which the index then reads from the kernel's cache)."""
        self.tally = Tally()
        self._shown = False
        self._logged = self.began

    def update(self, tally: Tally) -> None:
        """What the scan reports after each step (StoreIndex.scan's `progress`)."""
        self.tally = tally

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.began

    def _tick(self, _signum: int, _frame: object) -> None:
        now = time.monotonic()
        if now - self._logged >= LOG_EVERY:
            self._logged = now
            log.info("still indexing: %s so far (%.0f s)", self._done(), now - self.began)
        if self._terminal is not None and now - self.began >= SHOW_AFTER:
            self._draw(f"clawfs: indexing: {self._done()}")

    def _done(self) -> str:
        done = self.tally.listed
        if self.total is None:
            return counted(done, "session")
        return f"{done:,} of {counted(max(self.total, done), 'session')}"

    def _draw(self, text: str) -> None:
        assert self._terminal is not None
        self._terminal.write("\r" + text + "\x1b[K")
        self._terminal.flush()
        self._shown = True

    def clear(self) -> None:
        """Take the line away (the index is built)."""
        if self._shown and self._terminal is not None:
            self._terminal.write("\r\x1b[K")
            self._terminal.flush()

    def ready_line(self, mountpoint: str, workspaces: int) -> str | None:
        """What the terminal is told once the mount answers, if it was shown
        the progress (None: it was quick, nothing to say)."""
        if not self._shown:
            return None
        return (f"clawfs: serving {mountpoint}: {counted(self.tally.listed, 'session')} in "
                f"{counted(workspaces, 'workspace')}, indexed in {self.seconds:.1f} s")

    @contextlib.contextmanager
    def ticking(self) -> Iterator[None]:
        """Draw and log from a timer signal while the block runs (no thread:
        the daemon has not forked yet)."""
        previous = signal.signal(signal.SIGALRM, self._tick)
        signal.setitimer(signal.ITIMER_REAL, TICK_SECONDS, TICK_SECONDS)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
            self.clear()


def terminal_of(stream: TextIO) -> TextIO | None:
    """`stream` if a person is watching it (a terminal), else None."""
    try:
        return stream if os.isatty(stream.fileno()) else None
    except (OSError, ValueError):
        return None
