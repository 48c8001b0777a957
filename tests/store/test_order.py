"""claw's order as one sort key, and `Ordered`, which keeps a workspace's
files in it: many additions go in with one sort, a few by insertion, and a
coarse key never changes the order, only how fast it is found."""

from __future__ import annotations

import bisect
import random

import pytest

from clawfs.store import order
from clawfs.store.order import Ordered, SortKey


def key_of(item: tuple[int, int, str]) -> SortKey:
    updated, mtime, sid = item
    return order.sort_key(updated, mtime, sid, 0, sid)


def coarse_of(item: tuple[int, int, str]) -> int:
    updated, mtime, _ = item
    return -((updated << 64) + mtime)


def items(n: int, seed: int = 1) -> list[tuple[int, int, str]]:
    """Many ties on (updated, mtime), which only the session id breaks."""
    rng = random.Random(seed)
    return [(rng.randrange(5), rng.randrange(3), f"s{k}") for k in range(n)]


@pytest.mark.parametrize("coarse", [None, coarse_of])
def test_bulk_and_single_additions_give_claws_order(coarse: object) -> None:
    every = items(500)
    ordered: Ordered[tuple[int, int, str]] = Ordered(key_of, coarse)  # type: ignore[arg-type]
    for item in every[:400]:
        ordered.add(item)
    assert ordered.items() == sorted(every[:400], key=key_of)
    for item in every[400:]:  # few: inserted one by one
        ordered.add(item)
    assert ordered.items() == sorted(every, key=key_of)
    assert len(ordered) == 500


def test_bulk_additions_are_sorted_once_and_few_are_inserted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inserted: list[object] = []
    real = bisect.insort

    def counting(*args: object, **kwargs: object) -> None:
        inserted.append(args[1])
        real(*args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(bisect, "insort", counting)
    ordered: Ordered[tuple[int, int, str]] = Ordered(key_of, coarse_of)
    for item in items(1000):
        ordered.add(item)
    ordered.items()
    assert inserted == []
    ordered.add((9, 9, "new"))
    assert ordered.items()[0] == (9, 9, "new") and inserted == [(9, 9, "new")]


def test_remove_and_replace_find_an_item_by_its_key() -> None:
    every = items(50)
    ordered: Ordered[tuple[int, int, str]] = Ordered(key_of, coarse_of)
    for item in every:
        ordered.add(item)
    gone = every[7]
    ordered.remove(gone)
    ordered.remove(gone)  # not there: nothing
    assert gone not in ordered.items() and len(ordered) == 49
    old = every[8]
    twin = (old[0], old[1], old[2])  # equal key, another object
    ordered.replace(old, twin)
    assert any(item is twin for item in ordered.items())
    assert ordered.items() == sorted(ordered.items(), key=key_of)
