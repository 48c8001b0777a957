"""Where `latest` (`last`, `recent`) is decided.

claw's rule (claw-store-format §6; SPEC §2): the first session in claw's
list order with at least one message. Our changes to it, per the SPEC:
within one workspace only (claw's fallback to other workspaces and the
global root is not followed), and only sessions that *belong* to the
workspace (claw drops foreign ones from its list). The root alias takes
the first such session over all workspaces merged (the index walks the
merged order with the same verdicts).

claw parses every file to decide; we order by what each file's head says
and fully check candidates from the top until one holds (SPEC §7). A full
load can move a file (a later meta line wins, a corrupt line sends it to
the bottom with `updated_at_ms` 0), so the caller re-sorts it and scans
again; `scan` is written to resume where the last scan stopped.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence

from clawfs.format.head import Head
from clawfs.format.summary import Summary
from clawfs.store.order import SortKey


class Verdict(enum.Enum):
    TARGET = "target"
    """Checked: this session is what claw would resume."""
    SKIP = "skip"
    """Can never be the target (empty, failed to load, or foreign)."""
    CHECK = "check"
    """Only the head is known: a full load must decide."""


def verdict(summary: Summary | None, belongs: bool, head: Head, size: int) -> Verdict:
    """What is known about one file as an alias target.

    `summary` is the full load for the file's current version, if done.
    Without it a file is skipped only when its head saw the whole file
    (`head.scanned`) and no message record in it: the count is then 0
    whatever the meta says. The message check is a cheap hint, so the index
    re-points `latest` when a full load later disagrees with it.
    """
    if summary is not None:
        return Verdict.TARGET if summary.message_count > 0 and belongs else Verdict.SKIP
    if head.meta_found and not head.has_messages and size <= head.scanned:
        return Verdict.SKIP
    return Verdict.CHECK


def scan(
    order: Sequence[SortKey], judge: Callable[[str], Verdict], start: int = 0
) -> tuple[Verdict, int]:
    """The first file at or after `start` that is not skipped, and its position.

    `(SKIP, len(order))` when there is none. Keys end with the entry name,
    which is what `judge` is asked about.
    """
    for position in range(start, len(order)):
        result = judge(order[position][-1])
        if result is not Verdict.SKIP:
            return result, position
    return Verdict.SKIP, len(order)
