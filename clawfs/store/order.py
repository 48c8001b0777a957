"""claw's list order (claw-store-format §5), as one ascending sort key.

claw sorts summaries by `updated_at_ms` descending, then the file's mtime
in ms descending, then the session id descending *byte-wise*; complete ties
keep directory-read order. We break those ties deterministically by root
precedence, then entry name, so the order (and `latest`) never depends on
the order a directory happens to be read in.

The key is a plain tuple so lists can be kept sorted with `bisect`.
`Ordered` keeps one workspace's files in that order.
"""

from __future__ import annotations

import bisect
import operator
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")

SortKey = tuple[int, int, bytes, int, str]

# UTF-8 never contains the bytes 0xFE and 0xFF, so mapping b -> 0xFE - b
# reverses the order of every byte that can occur and leaves 0xFF free as a
# terminator that sorts after them all: a prefix ("a") then comes after its
# extensions ("ab"), which is what descending byte order wants.
_INVERT = bytes(0xFE - b if b <= 0xFE else 0 for b in range(256))


def descending(text: str) -> bytes:
    """Bytes that sort ascending exactly as `text`'s UTF-8 sorts descending."""
    return text.encode("utf-8", "surrogatepass").translate(_INVERT) + b"\xff"


def sort_key(
    updated_at_ms: int, mtime_ms: int, session_id: str, precedence: int, name: str
) -> SortKey:
    return (-updated_at_ms, -mtime_ms, descending(session_id), precedence, name)


def mtime_ms(mtime_ns: int) -> int:
    """claw's `modified_epoch_millis`: whole milliseconds since the epoch."""
    return mtime_ns // 1_000_000 if mtime_ns > 0 else 0


BULK_SHARE = 16
"""Added items go in by one sort once they are more than 1/BULK_SHARE of the
list (a scan), else by one insertion each (a change)."""


class Ordered(Generic[T]):
    """Items kept in ascending order of `key(item)`, which is unique per item.

    Additions wait, unsorted, until the order is next read: then they go in
    with one sort when they are many (a scan placing 50,000 files, which
    one insertion each would make quadratic), else one insertion each.
    `coarse`, if given, is a cheaper key that orders as `key` does but may
    tie: a sort goes by it, then by `key` among ties only.
    """

    __slots__ = ("_key", "_coarse", "_items", "_added")

    def __init__(
        self, key: Callable[[T], SortKey], coarse: Callable[[T], int] | None = None
    ) -> None:
        self._key = key
        self._coarse = coarse
        self._items: list[T] = []
        self._added: list[T] = []

    def __len__(self) -> int:
        return len(self._items) + len(self._added)

    def add(self, item: T) -> None:
        self._added.append(item)

    def extend(self, items: Iterable[T]) -> None:
        """`add` each of `items`."""
        self._added.extend(items)

    def remove(self, item: T) -> None:
        """Remove `item` (found by its key) if it is there."""
        items, key = self.items(), self._key(item)
        position = bisect.bisect_left(items, key, key=self._key)
        if position < len(items) and self._key(items[position]) == key:
            del items[position]

    def replace(self, old: T, new: T) -> None:
        """Put `new` where `old` is; they must have the same key."""
        items, key = self.items(), self._key(old)
        position = bisect.bisect_left(items, key, key=self._key)
        if position < len(items) and items[position] is old:
            items[position] = new

    def items(self) -> list[T]:
        """Everything, in order (do not change the list)."""
        added = self._added
        if added:
            self._added = []
            if len(added) * BULK_SHARE > len(self._items):
                self._items.extend(added)
                self._sort()
            else:
                for item in added:
                    bisect.insort(self._items, item, key=self._key)
        return self._items

    def _sort(self) -> None:
        """One sort by the coarse key, computed once per item, then by the
        full key among its ties only."""
        items, coarse = self._items, self._coarse
        if coarse is None:
            items.sort(key=self._key)
            return
        decorated = sorted(zip(map(coarse, items), items, strict=True), key=operator.itemgetter(0))
        items[:] = [item for _, item in decorated]
        values = [value for value, _ in decorated]
        if len(set(values)) == len(values):
            return  # no ties (the common case): no loop over them
        start, first = 0, None
        for position, (value, _) in enumerate(decorated):
            if value != first:
                if position - start > 1:
                    items[start:position] = sorted(items[start:position], key=self._key)
                start, first = position, value
        if len(items) - start > 1:
            items[start:] = sorted(items[start:], key=self._key)
