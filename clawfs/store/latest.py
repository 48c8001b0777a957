"""Where `latest` (`last`, `recent`) is decided.

claw's rule (claw-store-format §6; SPEC §2): the first session in claw's
list order with at least one message. Our changes to it, per the SPEC:
within one workspace only (claw's fallback to other workspaces and the
global root is not followed), and only sessions that *belong* to the
workspace (claw drops foreign ones from its list). The root alias takes
the first such session over all workspaces merged.

claw loads every file to decide; we order by what each file's head says
and load candidates from the top until one holds (SPEC §7). A load can
move a file (a later meta line wins, a corrupt line sends it to the bottom
with `updated_at_ms` 0, an unreadable file leaves the index), so after
each load the scan goes on from where that file was, or from where it
went if that is higher up.

The decision runs here against a narrow view of the index (`Index`: its
listing, its lock, a verdict of a file, a load); the index keeps the
answers. Resuming is safe only if nothing but
our own load changed what was scanned: each state has a `Stamp`, which a
commit that changes it moves on by exactly one, so `undisturbed` can tell
our commit from anyone else's; after any other change the scan starts
over from the top.
"""

from __future__ import annotations

import bisect
import enum
import heapq
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from clawfs.format.head import Head
from clawfs.format.summary import Summary
from clawfs.store.files import FileKey
from clawfs.store.order import SortKey

Stamp = tuple[int, int]
"""One state of a workspace, or of the whole index: (epoch, commits since)."""

F = TypeVar("F")


class Verdict(enum.Enum):
    TARGET = "target"
    """Checked: this session is what claw would resume."""
    SKIP = "skip"
    """Can never be the target (empty, failed to load, or foreign)."""
    CHECK = "check"
    """Only the head is known: a load must decide."""


class Candidate(Protocol):
    """What the verdict reads of a file (the index's `SessionFile`)."""

    @property
    def key(self) -> FileKey: ...

    @property
    def head(self) -> Head | None: ...

    @property
    def summary(self) -> Summary | None: ...

    @property
    def belongs(self) -> bool: ...


def judge(file: Candidate) -> Verdict:
    """What is known of `file` as an alias target now: from the load of its
    version if it was loaded, else from its head."""
    summary = file.summary
    if summary is not None:
        return verdict(summary, file.belongs, None, 0)
    return verdict(None, file.belongs, file.head, file.key.size)


def verdict(summary: Summary | None, belongs: bool, head: Head | None, size: int) -> Verdict:
    """What is known about one file as an alias target.

    `summary` is the load of the file's current version, if done. Without
    it a file is skipped only when its head saw the whole file
    (`head.scanned`) and no message record in it: the count is then 0
    whatever the meta says. The message check is a cheap hint, so the index
    re-points `latest` when a load later disagrees with it.
    """
    if summary is not None:
        return Verdict.TARGET if summary.message_count > 0 and belongs else Verdict.SKIP
    assert head is not None  # a file not loaded has its head
    if head.meta_found and not head.has_messages and size <= head.scanned:
        return Verdict.SKIP
    return Verdict.CHECK


class Listing(Protocol[F]):
    """The index's files as the decision reads them, for files of type `F`."""

    def fingerprints(self) -> Iterable[str]:
        """The workspaces."""
        ...

    def order(self, fp: str) -> Sequence[F] | None:
        """The workspace's files in claw's order by what is known (None: no
        such workspace)."""
        ...

    def rank(self, file: F) -> SortKey:
        """Where `file` is in that order (its sort key)."""
        ...

    def where(self, file: F) -> tuple[str, SortKey] | None:
        """The workspace and sort key `file` is listed under now; None if it is not."""
        ...

    def stamp(self, fp: str | None) -> Stamp | None:
        """The state of workspace `fp` (None: no such workspace), or of the
        whole index for `fp=None`."""
        ...


@dataclass(frozen=True, slots=True)
class Index(Generic[F]):
    """What deciding needs of the store index.

    `listing` and `verdict` are only used inside `lock`, so what one scan
    reads is one state of the index; `load` is called outside it.
    """

    listing: Listing[F]
    lock: AbstractContextManager[object]
    verdict: Callable[[F], Verdict]
    """What is known of a file now (`judge` with the index's load cache)."""
    load: Callable[[F], Collection[str]]
    """Load a file and commit what it shows; the workspaces that commit changed."""


@dataclass(frozen=True, slots=True)
class Decision(Generic[F]):
    """The file an alias names (None: no session qualifies), its workspace,
    and the state it was decided at (None: no such workspace)."""

    file: F | None
    fp: str | None
    stamp: Stamp | None


def undisturbed(before: Stamp | None, after: Stamp | None, ours: bool) -> bool:
    """Whether the only change from `before` to `after` was our own commit
    (`ours`: it changed this state): then a scan may resume where it stopped."""
    return before is not None and after == (before[0], before[1] + ours)


def in_workspace(index: Index[F], fp: str) -> Decision[F]:
    """The target of `sessions/<fp>/latest`: the first file of the workspace's
    order that holds. Skipping many files is linear: each load is followed
    by a scan from where it stopped, unless something else changed meanwhile.
    """
    listing, start = index.listing, 0
    while True:
        with index.lock:
            stamp, files = listing.stamp(fp), listing.order(fp)
            if files is None:
                return Decision(None, None, None)
            result, position = _scan(index, files, start)
            if result is Verdict.SKIP:
                return Decision(None, fp, stamp)
            file = files[position]
            if result is Verdict.TARGET:
                return Decision(file, fp, stamp)
        ours = fp in index.load(file)
        with index.lock:
            resume = undisturbed(stamp, listing.stamp(fp), ours)
            start = _resume_at(listing, fp, file, position) if resume else 0


def _resume_at(listing: Listing[F], fp: str, file: F, position: int) -> int:
    """Where to go on scanning after `file` (at `position`) was loaded and
    nothing else changed: everything above `position` was skipped and still
    is; `file` itself may have moved up, down, or away."""
    files, now = listing.order(fp), listing.where(file)
    if files is None or now is None or now[0] != fp:
        return position
    return min(position, bisect.bisect_left(files, now[1], key=listing.rank))


def over_all(index: Index[F]) -> Decision[F]:
    """The target of the root alias: the first file that holds in claw's
    order over all workspaces merged.

    The workspaces' orders are merged lazily (heapq.merge) and checked from
    the top, so usually one file is loaded, not every workspace's top.
    After a load the merge resumes at the loaded file (or where it moved
    up to) unless something else changed meanwhile.
    """
    listing = index.listing
    floor: SortKey | None = None
    while True:
        with index.lock:
            stamp = listing.stamp(None)
            found = _first_candidate(index, floor)
            if found is None:
                return Decision(None, None, stamp)
            fp, key, file, result = found
            if result is Verdict.TARGET:
                return Decision(file, fp, stamp)
        ours = bool(index.load(file))
        with index.lock:
            if not undisturbed(stamp, listing.stamp(None), ours):
                floor = None
            else:
                now = listing.where(file)
                floor = key if now is None else min(key, now[1])


def _first_candidate(
    index: Index[F], floor: SortKey | None
) -> tuple[str, SortKey, F, Verdict] | None:
    """The first file at or after `floor` in the merged order that is not skipped."""
    listing, streams = index.listing, []
    for fp in listing.fingerprints():
        files = listing.order(fp)
        if files:
            start = 0 if floor is None else bisect.bisect_left(files, floor, key=listing.rank)
            streams.append(_tail(listing, files, start, fp))
    for key, fp, file in heapq.merge(*streams, key=lambda item: item[0]):
        result = index.verdict(file)
        if result is not Verdict.SKIP:
            return fp, key, file, result
    return None


def _tail(
    listing: Listing[F], files: Sequence[F], start: int, fp: str
) -> Iterator[tuple[SortKey, str, F]]:
    """The files of one workspace from `start` on, each with its sort key
    and workspace (for the merge)."""
    for position in range(start, len(files)):
        file = files[position]
        yield listing.rank(file), fp, file


def _scan(index: Index[F], files: Sequence[F], start: int) -> tuple[Verdict, int]:
    """The first file of the workspace at or after `start` that is not
    skipped, and its position; `(SKIP, len(files))` when there is none."""
    for position in range(start, len(files)):
        result = index.verdict(files[position])
        if result is not Verdict.SKIP:
            return result, position
    return Verdict.SKIP, len(files)
