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
they were, because an open file handle may still use them. A number the
kernel has forgotten (its lookup count is zero) is dropped, retired or not:
a new lookup of its slot gets a new number.

The table also keeps, per number the kernel holds, what the kernel's caches
of it were last checked against (`seen`, mount/kernelcache.py) and what the
adapter last told the kernel of it (`told`, `opened`), so that a change can
be checked against just the slots it may affect (`held_at`).
Those the mount cannot name from a change (the labels, a workspace's fork
tree) are kept grouped by a caller-given key (`held`).

Memory: the kernel may hold an inode for every entry it was shown (an
`ls -l` of 100,000 entries holds 100,000, a `cat` of every transcript as
many more), so each costs one small object, two dictionary entries and 8
bytes in an array (no object per membership), and those of session files
(`bounded` slots) are let go of beyond a limit: the least recently used
(a lookup or an open uses one), once they are not new (`let_go`), which the
adapter does by asking the kernel to drop their names; it then forgets
them, and looks a name up again if it is used again. Least recently used,
not first held: a `cat` of every transcript after an `ls -l` of every
directory keeps the transcripts it reads, not the `.md` entries listed
and never opened, so a second `cat` looks nothing up again.
"""

from __future__ import annotations

import time
from array import array
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from typing import Any, Generic, TypeVar

ROOT_INODE = 1  # FUSE's root inode (pyfuse3.ROOT_INODE)

Slot = TypeVar("Slot", bound=Hashable)
Identity = tuple[int, int] | None
Held = tuple[int, Slot, Identity, bool]
"""(inode, slot, identity, current): one held inode."""

UNSEEN: object = object()
"""`seen` of an inode never checked."""

EPOCH_SECONDS = 2.0
"""Bounded inodes are kept in batches of the ones last used within this long."""


class _Node:
    """One number: what it was given for (its slot as the table keeps it:
    `InodeTable`'s `pack`), the kernel's references to it, and what its
    cached state was last checked against."""

    __slots__ = ("slot", "identity", "lookups", "seen", "told", "opened", "epoch")

    def __init__(self, slot: Hashable, identity: int) -> None:
        self.slot = slot
        self.identity = identity
        """Device and inode as one int (-1: none)."""
        self.lookups = 0
        self.seen: object = UNSEEN
        self.told: object = None
        """What the adapter last told the kernel of it (its attributes' version)."""
        self.opened: object = UNSEEN
        """What the file last opened under it was (the adapter's: its generation)."""
        self.epoch: _Epoch | None = None
        """The batch it was last used in, while a bounded inode counts as held."""


class _Epoch:
    """Bounded inodes used within EPOCH_SECONDS of `start`. An inode used
    again moves to a later batch: its number stays behind here, and counts
    only in the batch its node names."""

    __slots__ = ("start", "inodes")

    def __init__(self, start: float) -> None:
        self.start = start
        self.inodes = array("q")


def _packed(identity: Identity) -> int:
    return -1 if identity is None else identity[0] << 64 | identity[1]


def _unpacked(packed: int) -> Identity:
    return None if packed < 0 else (packed >> 64, packed & ((1 << 64) - 1))


class InodeTable(Generic[Slot]):
    """slot + identity <-> inode number, with the kernel's lookup counts."""

    def __init__(
        self,
        root: Slot,
        group: Callable[[Slot], Hashable] = lambda slot: None,
        bounded: Callable[[Slot], bool] = lambda slot: False,
        clock: Callable[[], float] = time.monotonic,
        pack: Callable[[Slot], Hashable] = lambda slot: slot,
        unpack: Callable[[Any], Slot] = lambda packed: packed,
    ) -> None:
        """`group(slot)` names the group whose held inodes `held` can list
        (None: in no group); `bounded(slot)`: its inodes are let go of
        beyond a limit (`let_go`). `pack` turns a slot into what the table
        keeps of it (a compact equivalent: the kernel may hold 100,000
        inodes, each with its slot), `unpack` back."""
        self._pack = pack
        self._unpack = unpack
        self._next = ROOT_INODE + 1
        packed_root = pack(root)
        self._nodes: dict[int, _Node] = {ROOT_INODE: _Node(packed_root, -1)}
        self._current: dict[Hashable, int] = {packed_root: ROOT_INODE}
        self._group = group
        self._groups: dict[Hashable, set[int]] = {}
        """Held inodes (lookup count > 0) by group."""
        self._bounded = bounded
        self._clock = clock
        self._epochs: deque[_Epoch] = deque()
        """Bounded inodes by when they were last used, oldest first."""
        self._listed = 0
        """Numbers in the epochs, the stale ones (used again since) included."""
        self.bounded_held = 0
        """Bounded inodes held and not let go of."""

    def number(self, slot: Slot, identity: Identity = None) -> int:
        """The inode for this slot and identity; a new one if either is new."""
        packed = _packed(identity)
        kept = self._pack(slot)
        inode = self._current.get(kept)
        if inode is not None:
            if self._nodes[inode].identity == packed:
                return inode
            self._retire_number(kept, inode)
        inode = self._next
        self._next += 1
        self._current[kept] = inode
        self._nodes[inode] = _Node(kept, packed)
        return inode

    def entry(self, inode: int) -> tuple[Slot, Identity] | None:
        """What `inode` was given for, or None if unknown (never given or dropped)."""
        node = self._nodes.get(inode)
        return None if node is None else (self._unpack(node.slot), _unpacked(node.identity))

    def retire(self, inode: int) -> None:
        """The object behind `inode` is gone: never hand the number out again."""
        node = self._nodes.get(inode)
        if node is not None and inode != ROOT_INODE:
            self._retire_number(node.slot, inode)

    def current(self, slot: Slot) -> int | None:
        """The number now given to `slot`, if any (none is made)."""
        return self._current.get(self._pack(slot))

    def looked_up(self, inode: int) -> None:
        """The kernel now holds one more reference (lookup, readdirplus entry)."""
        node = self._nodes.get(inode)
        if node is None:
            return
        node.lookups += 1
        if node.lookups == 1:
            group = self._group(self._unpack(node.slot))
            if group is not None:
                self._groups.setdefault(group, set()).add(inode)
        if node.epoch is not None:
            self._use(inode, node)
        elif self._bounded(self._unpack(node.slot)):  # new, or let go of and looked up again
            self.bounded_held += 1
            self._use(inode, node)

    def _use(self, inode: int, node: _Node) -> None:
        """`node` (bounded, held) was used now: it is let go of last."""
        now = self._clock()
        if not self._epochs or now - self._epochs[-1].start >= EPOCH_SECONDS:
            self._epochs.append(_Epoch(now))
        epoch = self._epochs[-1]
        if node.epoch is not epoch:
            node.epoch = epoch
            epoch.inodes.append(inode)
            self._listed += 1
            if self._listed > 2 * self.bounded_held + 1024:
                self._compact()

    def _compact(self) -> None:
        """Drop the numbers of inodes used again since (or forgotten): the
        epochs stay within twice what is held."""
        for epoch in self._epochs:
            epoch.inodes = array("q", (n for n in epoch.inodes if self._counts(n, epoch)))
        self._listed = sum(len(epoch.inodes) for epoch in self._epochs)

    def _counts(self, inode: int, epoch: _Epoch) -> bool:
        node = self._nodes.get(inode)
        return node is not None and node.epoch is epoch

    def is_held(self, inode: int) -> bool:
        """Whether the kernel holds a reference to `inode` now."""
        node = self._nodes.get(inode)
        return node is not None and node.lookups > 0

    def forget(self, inode: int, count: int) -> None:
        """The kernel dropped `count` references. Unknown inodes are ignored."""
        node = self._nodes.get(inode)
        if node is None or node.lookups == 0:
            return
        node.lookups = max(node.lookups - count, 0)
        if node.lookups:
            return
        if node.epoch is not None:
            node.epoch = None
            self.bounded_held -= 1
        group = self._group(self._unpack(node.slot))
        members = None if group is None else self._groups.get(group)
        if members is not None:
            members.discard(inode)
            if not members:
                del self._groups[group]
        if inode == ROOT_INODE:
            node.seen, node.told, node.opened = UNSEEN, None, UNSEEN
            return
        # Nothing of it is cached any more: the number goes (a new lookup of
        # its slot gets a new one), so the table keeps what the kernel holds,
        # not everything it was ever shown.
        if self._current.get(node.slot) == inode:
            del self._current[node.slot]
        del self._nodes[inode]

    def _retire_number(self, slot: Hashable, inode: int) -> None:
        if self._current.get(slot) == inode:
            del self._current[slot]
        node = self._nodes.get(inode)
        if node is not None and node.lookups == 0:
            del self._nodes[inode]

    # --- what a change may have made stale ---------------------------------------

    def held(self, groups: Iterable[Hashable] | None = None) -> list[Held[Slot]]:
        """The inodes the kernel holds now in `groups` (all of them when
        `groups` is None), the root always included: only these can be in
        its caches, so only these need invalidating when the store changes.
        `current` is false for a retired number (its object was replaced
        or is gone)."""
        if groups is None:
            inodes: Iterable[int] = [n for n, node in self._nodes.items() if node.lookups]
        else:
            inodes = [inode for group in groups for inode in self._groups.get(group, ())]
        return self._held([*inodes, *([] if self.is_held(ROOT_INODE) else [ROOT_INODE])])

    def held_at(self, slots: Iterable[Slot]) -> list[Held[Slot]]:
        """The held inodes now given to any of `slots` (a change names the
        slots it may affect: checking those costs what the change touched)."""
        numbers = (self._current.get(self._pack(slot)) for slot in slots)
        return self._held([n for n in numbers if n is not None and self._nodes[n].lookups])

    def _held(self, inodes: Iterable[int]) -> list[Held[Slot]]:
        held: list[Held[Slot]] = []
        for inode in dict.fromkeys(inodes):
            node = self._nodes.get(inode)
            if node is not None:
                current = self._current.get(node.slot) == inode
                held.append((inode, self._unpack(node.slot), _unpacked(node.identity), current))
        return held

    def seen(self, inodes: Iterable[int]) -> dict[int, object]:
        """What each of `inodes` was last checked against, for those checked."""
        found = {}
        for inode in inodes:
            node = self._nodes.get(inode)
            if node is not None and node.seen is not UNSEEN:
                found[inode] = node.seen
        return found

    def remember(self, seen: dict[int, object]) -> None:
        """Keep what these inodes were checked against (for those still held)."""
        for inode, mark in seen.items():
            node = self._nodes.get(inode)
            if node is not None and node.lookups:
                node.seen = mark

    def let_go(self, keep: int, older_than: float) -> list[tuple[int, Slot]]:
        """Bounded inodes to let go of, least recently used first, until
        `keep` are left, of those last used more than `older_than` seconds
        ago (a listing being read right now is never cut short): (inode,
        slot) of each one. The caller asks the kernel to drop them; one
        used again before the kernel forgets it counts again."""
        now = self._clock()
        out: list[tuple[int, Slot]] = []
        while self.bounded_held > keep and self._epochs and \
                now - self._epochs[0].start > older_than:
            epoch = self._epochs[0]
            taken = 0
            for inode in epoch.inodes:
                taken += 1
                node = self._nodes.get(inode)
                if node is not None and node.epoch is epoch:
                    node.epoch = None
                    self.bounded_held -= 1
                    out.append((inode, self._unpack(node.slot)))
                    if self.bounded_held <= keep:
                        break
            # Only as many as asked: an epoch may hold a whole `ls -l` of
            # 100,000, and letting go of all of it at once is a burst of
            # invalidations (and of memory) for nothing.
            self._listed -= taken
            if taken == len(epoch.inodes):
                self._epochs.popleft()
            else:
                del epoch.inodes[:taken]
        return out

    def told(self, inode: int) -> object:
        """What `tell` last kept for `inode` (None: nothing)."""
        node = self._nodes.get(inode)
        return None if node is None else node.told

    def tell(self, inode: int, value: object) -> None:
        """Keep what the kernel was just told of `inode` (until it forgets it)."""
        node = self._nodes.get(inode)
        if node is not None:
            node.told = value

    def opened(self, inode: int, default: object) -> object:
        """What `note_open` last kept for `inode`; `default` if nothing."""
        node = self._nodes.get(inode)
        return default if node is None or node.opened is UNSEEN else node.opened

    def note_open(self, inode: int, value: object) -> None:
        """Keep what the file just opened under `inode` was (until it is
        forgotten); an open uses it (`let_go`)."""
        node = self._nodes.get(inode)
        if node is not None:
            node.opened = value
            if node.epoch is not None:
                self._use(inode, node)

    def __len__(self) -> int:
        return len(self._nodes)
