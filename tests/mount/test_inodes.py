"""The inode table: numbers are stable per slot and identity, never reused."""

from __future__ import annotations

import gc
import tracemalloc

from clawfs.mount import kernelcache
from clawfs.mount.fuse_ops import packed_slot, unpacked_slot
from clawfs.mount.inodes import ROOT_INODE, InodeTable
from clawfs.mount.view import EntryKind


def table() -> InodeTable[str]:
    return InodeTable("root")


def test_root_is_fuse_root_inode() -> None:
    t = table()
    assert t.number("root") == ROOT_INODE
    assert t.entry(ROOT_INODE) == ("root", None)


def test_same_slot_and_identity_keep_their_number() -> None:
    t = table()
    a = t.number("a", (1, 10))
    assert t.number("b") != a
    assert t.number("a", (1, 10)) == a
    assert t.entry(a) == ("a", (1, 10))


def test_new_identity_gets_new_number_and_old_one_is_never_reused() -> None:
    t = table()
    old = t.number("a", (1, 10))
    t.looked_up(old)  # the kernel still holds it (e.g. an open file)
    new = t.number("a", (1, 11))
    assert new != old
    assert t.entry(old) == ("a", (1, 10)), "held old number still resolves"
    # The old identity coming back (a recycled st_ino) is a new file: new number.
    again = t.number("a", (1, 10))
    assert again not in (old, new)


def test_retired_number_is_dropped_once_forgotten() -> None:
    t = table()
    n = t.number("a")
    t.looked_up(n)
    t.looked_up(n)
    t.retire(n)
    assert t.entry(n) == ("a", None)
    t.forget(n, 1)
    assert t.entry(n) is not None
    t.forget(n, 1)
    assert t.entry(n) is None
    assert t.number("a") > n


def test_a_forgotten_number_is_dropped_and_never_handed_out_again() -> None:
    """The table keeps what the kernel holds, not all it was ever shown (an
    `ls -l` of 100,000 entries, once the kernel lets go of them)."""
    t = table()
    n = t.number("a")
    t.looked_up(n)
    t.forget(n, 1)
    assert t.entry(n) is None and len(t) == 1  # the root only
    assert t.number("a") > n
    shown = t.number("b")  # numbered for a reply the kernel did not take: kept
    assert t.number("b") == shown


def test_forget_of_unknown_inode_is_ignored() -> None:
    t = table()
    t.forget(12345, 3)
    assert t.entry(12345) is None


def test_root_cannot_be_retired() -> None:
    t = table()
    t.retire(ROOT_INODE)
    assert t.number("root") == ROOT_INODE


def test_numbers_are_monotonic() -> None:
    t = table()
    numbers = [t.number(f"n{i}") for i in range(100)]
    assert numbers == sorted(numbers)
    assert len(set(numbers)) == 100


def test_held_is_kept_by_group_and_forget_drops_it() -> None:
    t: InodeTable[tuple[str, ...]] = InodeTable(
        (), group=lambda slot: slot[0] if slot and slot[0] != "c" else None)
    top, a1, a2, b1, c1 = (t.number(s) for s in
                           [("top",), ("a", "1"), ("a", "2"), ("b", "1"), ("c", "1")])
    for inode in (top, a1, a2, b1, c1):
        t.looked_up(inode)
    t.looked_up(a1)
    assert {h[0] for h in t.held(["a"])} == {ROOT_INODE, a1, a2}
    assert {h[0] for h in t.held(["b", "top"])} == {ROOT_INODE, b1, top}
    assert {h[0] for h in t.held()} == {ROOT_INODE, top, a1, a2, b1, c1}
    # In no group: found by its slot only.
    assert [h[0] for h in t.held_at([("c", "1"), ("c", "2"), ("a", "2")])] == [c1, a2]
    t.forget(a1, 1)
    assert t.is_held(a1) and a1 in {h[0] for h in t.held(["a"])}
    t.forget(a1, 1)
    t.forget(a2, 1)
    assert not t.is_held(a1)
    assert {h[0] for h in t.held(["a"])} == {ROOT_INODE}
    assert t.held_at([("a", "1")]) == []
    assert t.current(("a", "1")) is None and t.entry(a1) is None  # forgotten: dropped
    assert t.number(("a", "1")) > a1  # never the same number again


def test_what_an_inode_was_checked_against_is_kept_while_it_is_held() -> None:
    t = table()
    a = t.number("a", (1, 10))
    t.remember({a: "mark"})
    assert t.seen([a]) == {}  # not held: nothing to remember
    t.looked_up(a)
    t.remember({a: "mark"})
    t.tell(a, 123)
    assert t.seen([a, 999]) == {a: "mark"} and t.told(a) == 123
    t.forget(a, 1)
    again = t.number("a", (1, 10))
    t.looked_up(again)
    assert again != a and t.seen([again]) == {} and t.told(again) is None  # a new start


def test_the_oldest_bounded_inodes_are_let_go_of_once_not_new() -> None:
    """Beyond a limit, the session inodes used longest ago, never the
    ones just held (a listing being read), and only those still held."""
    clock = [100.0]
    t: InodeTable[str] = InodeTable("root", bounded=lambda slot: slot.startswith("s"),
                                    clock=lambda: clock[0])
    old = [t.number(f"s{n}") for n in range(5)]
    for inode in old:
        t.looked_up(inode)
    t.looked_up(t.number("dir"))  # not bounded: never let go of
    clock[0] += 10
    new = [t.number(f"s{n}") for n in range(5, 8)]
    for inode in new:
        t.looked_up(inode)
    t.forget(old[1], 1)  # the kernel let go of one by itself
    assert t.bounded_held == 7
    assert t.let_go(keep=2, older_than=5.0) == [(old[n], f"s{n}") for n in (0, 2, 3, 4)]
    assert t.bounded_held == 3
    assert t.let_go(keep=0, older_than=5.0) == []  # the rest are new
    clock[0] += 10
    assert [inode for inode, _ in t.let_go(keep=0, older_than=5.0)] == new


def test_an_inode_used_again_is_let_go_of_after_those_only_listed() -> None:
    """Least recently used, not first held: after an `ls -l` of everything,
    a `cat` of the transcripts (a lookup or an open each) keeps them, and
    the `.md` entries only listed go first; one let go of and looked up
    again before the kernel forgot it counts again."""
    clock = [100.0]
    t: InodeTable[str] = InodeTable("root", bounded=lambda slot: True, clock=lambda: clock[0])
    listed = {name: t.number(name) for name in ("t1", "m1", "t2", "m2", "t3", "m3")}
    for inode in listed.values():
        t.looked_up(inode)
    clock[0] += 10
    t.note_open(listed["t1"], 1)
    t.looked_up(listed["t2"])
    t.note_open(listed["t3"], 1)
    clock[0] += 10
    assert [slot for _, slot in t.let_go(keep=3, older_than=5.0)] == ["m1", "m2", "m3"]
    assert t.bounded_held == 3
    assert [slot for _, slot in t.let_go(keep=0, older_than=5.0)] == ["t1", "t2", "t3"]
    t.looked_up(listed["t1"])  # looked up again before the kernel forgot it
    assert t.bounded_held == 1
    t.forget(listed["t1"], 2)
    assert t.bounded_held == 0


def test_the_epochs_keep_no_more_numbers_than_twice_those_held() -> None:
    """Every use of a held inode in a new epoch leaves its number behind in
    the old one: a table used over and over stays within its bound."""
    clock = [100.0]
    t: InodeTable[str] = InodeTable("root", bounded=lambda slot: True, clock=lambda: clock[0])
    inodes = [t.number(f"s{n}") for n in range(2000)]
    for _ in range(20):
        for inode in inodes:
            t.looked_up(inode)
        clock[0] += 10
    assert t.bounded_held == 2000
    assert sum(len(e.inodes) for e in t._epochs) <= 2 * 2000 + 1024
    assert len(t.let_go(keep=0, older_than=5.0)) == 2000


def test_a_held_session_inode_takes_about_400_bytes() -> None:
    """What the table keeps per transcript the kernel holds, with all it
    is told (identity, attributes' version, opened generation, checked
    mark), counted by tracemalloc: the bound of 131,072 held
    (kernelcache.HELD_MAX) costs ~50 MB at most. The names arrive as fresh
    strings (os.fsdecode of the kernel's), so they are made before counting
    and dropped: only what the table keeps of them counts."""
    fp = "25717e5d7cde87d3"
    table: InodeTable[kernelcache.Slot] = InodeTable(
        (EntryKind.DIR, ()), group=kernelcache.group_of,
        bounded=lambda slot: slot[0] in kernelcache.BACKED,
        pack=packed_slot, unpack=unpacked_slot,
    )
    count = 10_000
    names = [f"session-{1_785_716_513_019 + 7919 * n}-{n % 10}.jsonl" for n in range(count)]
    mark = object()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(count):
            inode = table.number((EntryKind.TRANSCRIPT, ("sessions", fp, names[n])),
                                 (2051, 40_000_000 + n))
            names[n] = ""  # the kernel's name is gone once looked up
            table.looked_up(inode)
            table.tell(inode, (40_960 + n) << 64 | (1_785_716_513_019_000_000 + n))
            table.note_open(inode, 3_000_000_000 + n)
            table.remember({inode: mark})
        gc.collect()
        per_inode = (tracemalloc.get_traced_memory()[0] - before) / count
    finally:
        tracemalloc.stop()
    assert table.bounded_held == count
    assert 200 < per_inode < 420, per_inode  # ~490 with tuples for slots, lists for epochs


def test_a_packed_slot_unpacks_to_itself() -> None:
    slots: list[kernelcache.Slot] = [
        (EntryKind.DIR, ()), (EntryKind.DIR, ("sessions",)),
        (EntryKind.TRANSCRIPT, ("sessions", "fp", "a b\udcff.jsonl")),
        (EntryKind.CONTROL, ("sessions", "fp", "forks", "s-1", "s-2", "fork")),
    ]
    assert [unpacked_slot(packed_slot(slot)) for slot in slots] == slots
    assert len({packed_slot(slot) for slot in slots}) == len(slots)


def test_only_as_many_as_asked_are_let_go_of() -> None:
    """One epoch may hold a whole `ls -l`: letting go stops within it, and
    the rest of it goes first next time."""
    clock = [100.0]
    t: InodeTable[str] = InodeTable("root", bounded=lambda slot: True, clock=lambda: clock[0])
    inodes = [t.number(f"s{n}") for n in range(10)]
    for inode in inodes:
        t.looked_up(inode)
    clock[0] += 10
    assert [inode for inode, _ in t.let_go(keep=7, older_than=5.0)] == inodes[:3]
    assert [inode for inode, _ in t.let_go(keep=5, older_than=5.0)] == inodes[3:5]
    assert t.bounded_held == 5
