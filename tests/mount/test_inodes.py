"""The inode table: numbers are stable per slot and identity, never reused."""

from __future__ import annotations

from clawfs.mount.inodes import ROOT_INODE, InodeTable


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


def test_current_number_survives_forget() -> None:
    t = table()
    n = t.number("a")
    t.looked_up(n)
    t.forget(n, 1)
    assert t.entry(n) == ("a", None)
    assert t.number("a") == n


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


def test_held_is_kept_by_scope_and_forget_drops_it() -> None:
    t: InodeTable[tuple[str, ...]] = InodeTable((), scope=lambda slot: slot[0] if slot else None)
    top, a1, a2, b1 = (t.number(s) for s in [("top",), ("a", "1"), ("a", "2"), ("b", "1")])
    for inode in (top, a1, a2, b1):
        t.looked_up(inode)
    t.looked_up(a1)
    # ("top",) is its own scope "top": only the root (scope None) is always in.
    assert {h[0] for h in t.held(["a"])} == {ROOT_INODE, a1, a2}
    assert {h[0] for h in t.held(["b", "top"])} == {ROOT_INODE, b1, top}
    assert {h[0] for h in t.held()} == {ROOT_INODE, top, a1, a2, b1}
    t.forget(a1, 1)
    assert t.is_held(a1) and a1 in {h[0] for h in t.held(["a"])}
    t.forget(a1, 1)
    t.forget(a2, 1)
    assert not t.is_held(a1)
    assert {h[0] for h in t.held(["a"])} == {ROOT_INODE}
    assert t.current(("a", "1")) == a1  # forgotten, not retired: same number again
