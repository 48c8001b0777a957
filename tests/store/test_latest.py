"""The `latest` decision (latest.py) against a small fake index: no files.

The fake keeps what the real index keeps about a file (its head, whether
it belongs, its size, and its load once loaded) and orders by the load when
there is one, else the head, as the index does. A file's `body` is what a
load of it shows; None means it cannot be read (the index then drops it).
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import pytest

from clawfs.format.head import Head
from clawfs.format.summary import Summary
from clawfs.store import latest
from clawfs.store.latest import Decision, Stamp, Verdict
from clawfs.store.order import SortKey, sort_key

SIZE = 1000
"""Every fake file's size; a head that read this much saw all of it."""


@dataclass
class File:
    fp: str
    name: str
    head: Head
    body: Summary | None
    belongs: bool = True
    loaded: Summary | None = None

    @property
    def key(self) -> SortKey:
        updated = self.head.updated_at_ms if self.loaded is None else self.loaded.updated_at_ms
        assert updated is not None
        return sort_key(updated, 0, self.name, 0, self.name)


def session(
    fp: str,
    name: str,
    updated: int,
    *,
    messages: int = 1,
    later: int | None = None,
    belongs: bool = True,
    fails: bool = False,
    unreadable: bool = False,
    seen_whole: bool = False,
) -> File:
    """A file whose head says `updated`; its load says `later` if given (a
    later meta line wins), `messages` messages, or claw's fallback if it
    `fails`. `seen_whole`: the head read all of it and found no message."""
    head = Head(
        meta_found=True,
        session_id=name,
        updated_at_ms=updated,
        has_messages=not seen_whole,
        scanned=SIZE if seen_whole else 100,
    )
    if unreadable:
        body = None
    elif fails:
        body = Summary(name, 0, 0, 0, error="claw cannot load it")
    else:
        body = Summary(name, 0, updated if later is None else later, messages)
    return File(fp, name, head, body, belongs)


class Lock:
    """A lock that knows whether it is held (the decision must hold it to read)."""

    def __init__(self) -> None:
        self.held = False
        self._lock = threading.Lock()

    def __enter__(self) -> Lock:
        self._lock.acquire()
        self.held = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.held = False
        self._lock.release()


@dataclass
class FakeIndex:
    """The listing, lock, verdict and load of a tiny index (latest.Index)."""

    lock: Lock = field(default_factory=Lock)
    files: dict[tuple[str, str], File] = field(default_factory=dict)
    orders: dict[str, list[File]] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    generation: int = 0
    judged: list[str] = field(default_factory=list)
    loads: list[str] = field(default_factory=list)
    during_load: Callable[[], None] | None = None
    """Something another thread changes while a load runs (once)."""

    def add(self, *files: File) -> FakeIndex:
        for file in files:
            self.files[(file.fp, file.name)] = file
            bisect.insort(self.orders.setdefault(file.fp, []), file, key=_key)
            self.versions.setdefault(file.fp, 0)
        return self

    def commit(self, fps: Iterable[str]) -> set[str]:
        """One commit that changed these workspaces: each stamp moves on by one."""
        changed = set(fps)
        for fp in changed:
            self.versions[fp] += 1
        if changed:
            self.generation += 1
        return changed

    # --- latest.Listing -----------------------------------------------------------

    def fingerprints(self) -> Iterable[str]:
        assert self.lock.held
        return list(self.orders)

    def order(self, fp: str) -> Sequence[File] | None:
        assert self.lock.held
        return self.orders.get(fp)

    def rank(self, file: File) -> SortKey:
        assert self.lock.held
        return file.key

    def where(self, file: File) -> tuple[str, SortKey] | None:
        assert self.lock.held
        now = self.files.get((file.fp, file.name))
        return None if now is None else (now.fp, now.key)

    def stamp(self, fp: str | None) -> Stamp | None:
        assert self.lock.held
        if fp is None:
            return (0, self.generation)
        return None if fp not in self.versions else (0, self.versions[fp])

    # --- what the index gives besides its listing ---------------------------------

    def verdict(self, file: File) -> Verdict:
        assert self.lock.held
        self.judged.append(file.name)
        return latest.verdict(file.loaded, file.belongs, file.head, SIZE)

    def load(self, file: File) -> set[str]:
        assert not self.lock.held, "a load runs outside the lock"
        self.loads.append(file.name)
        if self.during_load is not None:
            change, self.during_load = self.during_load, None
            with self.lock:
                change()
        with self.lock:
            order = self.orders[file.fp]
            before = file.key
            if file.body is None:  # unreadable: dropped
                del self.files[(file.fp, file.name)]
                order.remove(file)
                return self.commit([file.fp])
            file.loaded = file.body
            if file.key == before:
                return set()  # the load confirms the head: nothing moves
            order.remove(file)
            bisect.insort(order, file, key=_key)
            return self.commit([file.fp])

    def index(self) -> latest.Index[File]:
        return latest.Index(self, self.lock, self.verdict, self.load)

    def latest(self, fp: str) -> str | None:
        return _name(latest.in_workspace(self.index(), fp))

    def root_alias(self) -> str | None:
        return _name(latest.over_all(self.index()))


def _key(file: File) -> SortKey:
    return file.key


def _name(decision: Decision[File]) -> str | None:
    return None if decision.file is None else decision.file.name


# --- one workspace --------------------------------------------------------------------


def test_skips_empty_foreign_and_failed_files() -> None:
    index = FakeIndex().add(
        session("w", "empty", 50, seen_whole=True),
        session("w", "foreign", 40, belongs=False),
        session("w", "no-messages", 30, messages=0),
        session("w", "corrupt", 20, fails=True),
        session("w", "mine", 10),
        session("w", "older", 5),
    )
    assert index.latest("w") == "mine"
    # The empty file is skipped by its head: no load. The others need one.
    assert index.loads == ["foreign", "no-messages", "corrupt", "mine"]
    assert "older" not in index.judged


def test_the_first_file_that_holds_needs_one_load() -> None:
    index = FakeIndex().add(session("w", "a", 30), session("w", "b", 20))
    assert index.latest("w") == "a"
    assert index.loads == ["a"]
    assert index.latest("w") == "a"  # loaded now: a target without a load
    assert index.loads == ["a"]


def test_no_target_and_no_workspace() -> None:
    index = FakeIndex().add(session("w", "empty", 5, seen_whole=True))
    decision = latest.in_workspace(index.index(), "w")
    assert decision.file is None and decision.fp == "w" and decision.stamp == (0, 0)
    assert latest.in_workspace(index.index(), "nowhere") == Decision(None, None, None)


def test_a_later_meta_line_moves_a_file_down() -> None:
    """The head of `a` overstates: its load says it is older than `b`."""
    index = FakeIndex().add(session("w", "a", 30, later=5), session("w", "b", 20))
    assert index.latest("w") == "b"
    assert index.loads == ["a", "b"]
    assert [file.name for file in index.orders["w"]] == ["b", "a"]


def test_a_later_meta_line_moves_a_file_up() -> None:
    """`a` is foreign and `b` empty; the load of `c` puts it on top."""
    index = FakeIndex().add(
        session("w", "a", 30, belongs=False),
        session("w", "b", 20, seen_whole=True),
        session("w", "c", 10, later=99),
    )
    assert index.latest("w") == "c"
    assert index.loads == ["a", "c"]
    assert [file.name for file in index.orders["w"]] == ["c", "a", "b"]


def test_a_file_that_fails_to_load_drops_to_the_bottom() -> None:
    index = FakeIndex().add(
        session("w", "corrupt", 30, fails=True), session("w", "b", 20), session("w", "c", 10)
    )
    assert index.latest("w") == "b"
    assert [file.name for file in index.orders["w"]] == ["b", "c", "corrupt"]


def test_an_unreadable_file_leaves_the_listing() -> None:
    index = FakeIndex().add(session("w", "gone", 30, unreadable=True), session("w", "b", 20))
    assert index.latest("w") == "b"
    assert index.loads == ["gone", "b"]
    assert ("w", "gone") not in index.files


def test_resumes_after_its_own_commits() -> None:
    """200 files above the target each need a load (foreign, failing, or
    moving down): after each load the scan resumes, so every file is judged
    at most twice, not once per load above it."""
    files = []
    for n in range(200):
        kind = n % 3
        files.append(session("w", f"s{n:03}", 1000 - n, belongs=kind != 0,
                             fails=kind == 1, later=1 if kind == 2 else None,
                             messages=0 if kind == 2 else 1))
    index = FakeIndex().add(*files, session("w", "mine", 500))
    assert index.latest("w") == "mine"
    assert len(index.loads) == 201
    assert max(index.judged.count(name) for name in set(index.judged)) <= 2
    assert len(index.judged) <= 2 * 201


def _new_session_on_top(index: FakeIndex, fp: str = "w") -> Callable[[], None]:
    def change() -> None:
        index.add(session(fp, "new", 99))
        index.commit([fp])

    return change


def test_starts_over_after_another_change() -> None:
    """While `a` loads (and moves down: our commit), another commit puts a
    new session on top: resuming at `a`'s place would miss it, so the scan
    starts from the top again."""
    index = FakeIndex().add(
        session("w", "x", 40, seen_whole=True),
        session("w", "a", 30, later=5),
        session("w", "b", 20),
    )
    index.during_load = _new_session_on_top(index)
    assert index.latest("w") == "new"
    assert index.loads == ["a", "new"]


def test_one_change_that_was_not_ours_is_enough_to_start_over() -> None:
    """Our load of `a` changed nothing (it confirmed the head), but another
    commit put a session on top meanwhile: the stamp is one step ahead, and
    that step was not ours, so resuming at `a` would miss the new top."""
    index = FakeIndex().add(
        session("w", "x", 40, seen_whole=True),
        session("w", "a", 30, belongs=False),
        session("w", "b", 20),
    )
    index.during_load = _new_session_on_top(index)
    assert index.latest("w") == "new"


def test_undisturbed_is_exactly_our_own_commit() -> None:
    assert latest.undisturbed((3, 7), (3, 7), ours=False)
    assert latest.undisturbed((3, 7), (3, 8), ours=True)
    assert not latest.undisturbed((3, 7), (3, 8), ours=False)  # someone else's
    assert not latest.undisturbed((3, 7), (3, 9), ours=True)  # ours and another
    assert not latest.undisturbed((3, 7), (4, 1), ours=True)  # made anew
    assert not latest.undisturbed((3, 7), None, ours=True)  # gone
    assert not latest.undisturbed(None, None, ours=False)


# --- the root alias ---------------------------------------------------------------------


def _many_workspaces(count: int) -> FakeIndex:
    index = FakeIndex()
    for n in range(count):
        index.add(*(session(f"w{n:02}", f"s-{n}-{k}", 10 * n + k) for k in range(3)))
    return index


def test_root_alias_loads_one_candidate_not_one_per_workspace() -> None:
    index = _many_workspaces(20)
    index.add(session("w19", "s-empty", 10_000, seen_whole=True))
    assert index.root_alias() == "s-19-2"
    assert index.loads == ["s-19-2"]


def test_root_alias_picks_across_workspaces() -> None:
    """The tops of two workspaces do not qualify; the target is a third's."""
    index = FakeIndex().add(
        session("a", "a-foreign", 50, belongs=False),
        session("b", "b-corrupt", 40, fails=True),
        session("a", "a-empty", 30, seen_whole=True),
        session("c", "c-top", 20),
        session("b", "b-next", 10),
        session("a", "a-next", 5),
    )
    assert index.root_alias() == "c-top"
    assert index.loads == ["a-foreign", "b-corrupt", "c-top"]
    assert index.latest("a") == "a-next"


def test_root_alias_follows_a_file_its_load_moved() -> None:
    index = FakeIndex().add(
        session("a", "a-1", 50, later=1), session("b", "b-1", 40), session("c", "c-1", 30)
    )
    assert index.root_alias() == "b-1"
    assert index.loads == ["a-1", "b-1"]


def test_root_alias_starts_over_after_another_change() -> None:
    index = FakeIndex().add(
        session("a", "a-0", 60, seen_whole=True),
        session("a", "a-1", 50, belongs=False),
        session("b", "b-1", 40),
    )
    index.during_load = _new_session_on_top(index, "c")
    assert index.root_alias() == "new"


def test_root_alias_of_an_empty_index() -> None:
    assert FakeIndex().root_alias() is None


@pytest.mark.parametrize("top", ["a", "b"])
def test_root_alias_agrees_with_the_workspace_it_names(top: str) -> None:
    index = FakeIndex().add(
        session("a", "a-1", 30 if top == "a" else 10), session("b", "b-1", 20)
    )
    decision = latest.over_all(index.index())
    assert decision.file is not None and decision.fp == decision.file.fp
    assert decision.file.name == index.latest(decision.fp)
