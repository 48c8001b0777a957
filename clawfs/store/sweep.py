"""The sweep: finding out, in the background, what a scan's heads could not tell.

A scan reads heads only (SPEC §7), and a head may lie about what claw
makes of the whole file. The sweep loads every file known only by its
head (which corrects the lies: commits.py re-places a file whose load says
otherwise) and measures the Markdown of every version not measured yet
(SPEC §8: an `.md` file's size must be known before it is listed), so that
requests later find both at hand.
"""

from __future__ import annotations

import threading
import time

from clawfs.store.commits import Commits
from clawfs.store.mdcache import MarkdownCache
from clawfs.store.records import SessionFile

SWEEP_REST_MAX = 1.0
"""Seconds the sweep rests at most after one file (see `sweep`)."""


def sweep(
    commits: Commits,
    markdown: MarkdownCache,
    stop: threading.Event | None = None,
    *,
    duty: float = 1.0,
) -> int:
    """Load every file known only by its head, and measure the Markdown
    of every version not measured yet; the number re-placed.

    Meant for a background thread: the lock is held only to commit each
    result. `stop` ends it early. `duty` < 1 rests after each file for
    the matching share of the time its work took: loading holds the
    GIL, and a sweep of a 1 GB store at full speed would add up to a
    switch interval to every request the mount serves meanwhile. A rest
    lasts at most `SWEEP_REST_MAX` (rendering a 64 MiB session takes
    seconds), so a pause never looks like the end of the sweep to whoever
    watches its CPU (the bench waits for the daemon to go idle).
    """
    with commits.lock:
        todo = [rec for rec in commits.records.files() if not rec.loaded or not _measured(rec)]
    # Taken from the end, so each record is let go of once swept: its
    # commit replaced it in the index, and a list holding every record swept
    # would keep two of each until the end (the first-ever sweep's peak).
    todo.reverse()
    rest = threading.Event() if stop is None else stop
    fixed = 0
    while todo and not rest.is_set():
        rec = todo.pop()
        started = time.monotonic()
        if commits.cached_load(rec) is None and commits.load_and_commit(rec):
            fixed += 1
        if not _measured(rec):
            markdown.measure(rec.path)
        if duty < 1.0:
            worked = time.monotonic() - started
            rest.wait(min(worked * (1.0 / duty - 1.0), SWEEP_REST_MAX))
    markdown.retain(commits.indexed)  # files gone from the store
    return fixed


def _measured(rec: SessionFile) -> bool:
    """Whether the size of the Markdown of `rec`'s version is known."""
    return rec.version.measured
