"""Inode numbers for the mount: our own, monotonic, never reused.

The backing file's `st_ino` is not usable (the disk recycles it after a
delete, and aliases and directories have none), so every node gets a number
from a counter (pyfuse3 notes). A number is bound to a *slot* (what the node
is: its kind and its path in the mount) and an *identity* (for a transcript,
the backing file's device and inode; None otherwise). While both stay the
same, the number stays the same; a transcript whose backing file was
replaced by a rename (claw's snapshot save) gets a new number, as it would
on a local disk, so `tail -F` sees a new file.

Old numbers are *retired* (never handed out again) but still resolve to what
they were, because an open file handle may still use them. A retired number
is dropped once the kernel has forgotten it (its lookup count is zero).

The numbers the kernel holds are also kept grouped by a caller-given scope
(the mount groups them by workspace), so that a change in one workspace
costs what that workspace holds, not what the whole mount holds.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

ROOT_INODE = 1  # FUSE's root inode (pyfuse3.ROOT_INODE)

Slot = TypeVar("Slot", bound=Hashable)
Identity = tuple[int, int] | None


class InodeTable(Generic[Slot]):
    """slot + identity <-> inode number, with the kernel's lookup counts."""

    def __init__(self, root: Slot, scope: Callable[[Slot], Hashable] = lambda slot: None) -> None:
        """`scope(slot)` names the group a slot belongs to for `held` (None: the
        group that every `held` call includes)."""
        self._next = ROOT_INODE + 1
        self._current: dict[Slot, tuple[Identity, int]] = {root: (None, ROOT_INODE)}
        self._entries: dict[int, tuple[Slot, Identity]] = {ROOT_INODE: (root, None)}
        self._lookups: dict[int, int] = {}
        self._scope = scope
        self._held: dict[Hashable, set[int]] = {}
        """Held inodes (lookup count > 0) by scope."""

    def number(self, slot: Slot, identity: Identity = None) -> int:
        """The inode for this slot and identity; a new one if either is new."""
        current = self._current.get(slot)
        if current is not None and current[0] == identity:
            return current[1]
        if current is not None:
            self._retire_number(slot, current[1])
        inode = self._next
        self._next += 1
        self._current[slot] = (identity, inode)
        self._entries[inode] = (slot, identity)
        return inode

    def entry(self, inode: int) -> tuple[Slot, Identity] | None:
        """What `inode` was given for, or None if unknown (never given or dropped)."""
        return self._entries.get(inode)

    def retire(self, inode: int) -> None:
        """The object behind `inode` is gone: never hand the number out again."""
        entry = self._entries.get(inode)
        if entry is not None and inode != ROOT_INODE:
            self._retire_number(entry[0], inode)

    def current(self, slot: Slot) -> int | None:
        """The number now given to `slot`, if any (none is made)."""
        current = self._current.get(slot)
        return None if current is None else current[1]

    def looked_up(self, inode: int) -> None:
        """The kernel now holds one more reference (lookup, readdirplus entry)."""
        count = self._lookups.get(inode, 0)
        self._lookups[inode] = count + 1
        entry = self._entries.get(inode)
        if count == 0 and entry is not None:
            self._held.setdefault(self._scope(entry[0]), set()).add(inode)

    def is_held(self, inode: int) -> bool:
        """Whether the kernel holds a reference to `inode` now."""
        return inode in self._lookups

    def forget(self, inode: int, count: int) -> None:
        """The kernel dropped `count` references. Unknown inodes are ignored."""
        left = self._lookups.get(inode, 0) - count
        if left > 0:
            self._lookups[inode] = left
            return
        self._lookups.pop(inode, None)
        entry = self._entries.get(inode)
        if entry is None:
            return
        group = self._held.get(self._scope(entry[0]))
        if group is not None:
            group.discard(inode)
            if not group:
                del self._held[self._scope(entry[0])]
        if self._current.get(entry[0], (None, 0))[1] != inode:
            del self._entries[inode]

    def _retire_number(self, slot: Slot, inode: int) -> None:
        current = self._current.get(slot)
        if current is not None and current[1] == inode:
            del self._current[slot]
        if inode not in self._lookups:
            self._entries.pop(inode, None)

    def held(
        self, scopes: Iterable[Hashable] | None = None
    ) -> list[tuple[int, Slot, Identity, bool]]:
        """The inodes the kernel holds now in `scopes` and in scope None (all
        of them when `scopes` is None), the root always included, as (inode,
        slot, identity, current): only these can be in its caches, so only
        these need invalidating when the store changes. `current` is false
        for a retired number (its object was replaced or is gone)."""
        if scopes is None:
            inodes: Iterable[int] = self._lookups
        else:
            groups = [self._held.get(scope, ()) for scope in {None, *scopes}]
            inodes = [inode for group in groups for inode in group]
        held = []
        for inode in [*inodes, *([] if ROOT_INODE in self._lookups else [ROOT_INODE])]:
            entry = self._entries.get(inode)
            if entry is not None:
                current = self._current.get(entry[0], (None, 0))[1] == inode
                held.append((inode, entry[0], entry[1], current))
        return held

    def __len__(self) -> int:
        return len(self._entries)
