"""Which held inodes a store change makes stale (kernelcache.find_stale), on a fake view."""

from __future__ import annotations

from typing import NamedTuple

from clawfs.mount.kernelcache import GONE, TOP, Held, find_stale, group_of, to_check
from clawfs.mount.view import Entry, EntryKind, Key, View
from clawfs.store.files import FileKey
from clawfs.store.records import Touched

FP, OTHER = "a" * 16, "b" * 16
WS: Key = ("sessions", FP)


class Backing(NamedTuple):
    """What an entry shows of its session file (view.Backed)."""

    path: str
    key: FileKey


class FakeView:
    def __init__(self, entries: dict[Key, Entry]) -> None:
        self.entries = entries

    def resolve(self, key: Key) -> Entry | None:
        return self.entries.get(key)


def transcript(key: Key, ino: int, size: int) -> Entry:
    return Entry(key, EntryKind.TRANSCRIPT, key[-1],
                 file=Backing("/x", FileKey(1, ino, size, size * 10, size * 10)))


def link(key: Key, target: str) -> Entry:
    return Entry(key, EntryKind.SYMLINK, key[-1], target=target)


def d(key: Key) -> Entry:
    return Entry(key, EntryKind.DIR, key[-1] if key else "")


HELD: list[Held] = [
    (1, (EntryKind.DIR, ()), None, True),
    (2, (EntryKind.DIR, ("sessions",)), None, True),
    (3, (EntryKind.DIR, WS), None, True),
    (4, (EntryKind.TRANSCRIPT, (*WS, "a.jsonl")), (1, 100), True),
    (5, (EntryKind.SYMLINK, (*WS, "latest")), None, True),
    (6, (EntryKind.TRANSCRIPT, (*WS, "gone.jsonl")), (1, 101), True),
]


def view(a_size: int = 10, a_ino: int = 100, latest: str = "a.jsonl") -> View:
    entries = {
        (): d(()),
        ("sessions",): d(("sessions",)),
        WS: d(WS),
        (*WS, "a.jsonl"): transcript((*WS, "a.jsonl"), a_ino, a_size),
        (*WS, "latest"): link((*WS, "latest"), latest),
        ("sessions", OTHER, "o.jsonl"): transcript(("sessions", OTHER, "o.jsonl"), 102, 1),
    }
    return FakeView(entries)  # type: ignore[return-value]


def test_what_a_change_checks_is_what_it_names() -> None:
    """The slots a change names (and their directories), and the groups no
    change names what it did to: the top levels, branches/, a rebuilt forks/."""
    changed = {FP: Touched(names={"a.jsonl"}, forks={("a", "b"), ("a",)})}
    slots, groups = to_check(changed)
    assert (EntryKind.TRANSCRIPT, (*WS, "a.jsonl")) in slots
    assert {(EntryKind.MARKDOWN, (*WS, "a.md")), (EntryKind.MARKDOWN, (*WS, "a.jsonl.md"))} \
        <= set(slots)
    assert (EntryKind.SYMLINK, (*WS, "latest")) in slots and (EntryKind.DIR, WS) in slots
    assert {(EntryKind.DIR, (*WS, "forks", "a", "b")), (EntryKind.DIR, (*WS, "forks", "a")),
            (EntryKind.SYMLINK, (*WS, "forks", "a", "b", "session.jsonl"))} <= set(slots)
    assert not any(key[1] == OTHER for _, key in slots)
    assert groups == [TOP, ("branches", FP)]
    assert to_check({FP: Touched(forks=None)})[1] == [TOP, ("branches", FP), ("forks", FP)]
    assert group_of((EntryKind.SYMLINK, ("latest",))) == TOP
    assert group_of((EntryKind.DIR, ("sessions", OTHER))) == TOP
    assert group_of((EntryKind.DIR, (*WS, "forks", "a"))) == ("forks", FP)
    assert group_of((EntryKind.TRANSCRIPT, (*WS, "a.jsonl"))) is None


def test_first_check_invalidates_in_doubt_then_only_what_changed() -> None:
    first = find_stale(view(), HELD, {})
    assert first.entries == [(3, "gone.jsonl")]  # gone: its name in its parent
    assert 4 in first.attrs and 5 in first.attrs
    seen = first.seen

    quiet = find_stale(view(), HELD, seen)
    # Directories only, and the gone name again: a current inode's slot can come
    # back under the same number (an alias), so it is never written off.
    assert quiet.entries == [(3, "gone.jsonl")] and quiet.attrs == [2, 3, 6]

    grown = find_stale(view(a_size=20), HELD, seen)
    assert 4 in grown.attrs and 5 not in grown.attrs

    repointed = find_stale(view(latest="b.jsonl"), HELD, seen)
    assert 5 in repointed.attrs and 4 not in repointed.attrs


def test_a_replaced_file_invalidates_its_name_and_a_retired_inode_only_once() -> None:
    seen = find_stale(view(), HELD, {}).seen
    replaced = find_stale(view(a_ino=999), HELD, seen)
    assert (3, "a.jsonl") in replaced.entries
    assert replaced.seen[4] is None  # current: checked again once the index caught up

    retired: list[Held] = [(8, (EntryKind.TRANSCRIPT, (*WS, "a.jsonl")), (1, 50), False), *HELD]
    once = find_stale(view(), retired, seen)
    assert (3, "a.jsonl") in once.entries and once.seen[8] == GONE
    again = find_stale(view(), retired, {**seen, **once.seen})
    assert (3, "a.jsonl") not in again.entries
