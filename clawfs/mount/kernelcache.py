"""What the kernel may have cached that a store change made wrong. No FUSE here.

The kernel caches three things for us (pyfuse3 notes): names -> inodes
(entries, attrs.py `ENTRY_TIMEOUT`), attributes (`*_ATTR_TIMEOUT`) and, through the
attributes, file pages (libfuse's AUTO_INVAL_DATA drops them when size or
mtime change). Listings are not cached (no FOPEN_CACHE_DIR), symlink
targets are not cached (readlink is asked on every resolution), and an
ENOENT is not cached (we reply an error, not a negative entry). So a new
name shows by itself, and what can be stale is only what the kernel holds:
the inodes it looked up and has not forgotten, which the adapter's inode
table counts.

So instead of diffing listings, each held inode is checked against the view
now (`find_stale`, run in a worker thread: resolving an alias may need to
load files):

- gone, a different kind, or (a transcript or its Markdown) a different
  backing file, as after claw's save by temp file + rename or a rotation: its entry in its
  parent is invalidated, so the next lookup finds the new entry (a new inode
  per SPEC §3, which is what lets `tail -F` see a new file) or nothing;
- a transcript (or its Markdown) whose backing size or mtime changed (an
  append), an alias whose target changed (its size is the target's
  length): attributes invalidated.
  `tail -f` fstat()s once a second from the attribute cache, so this is
  what makes it follow an append at once;
- a directory in a workspace that changed: attributes invalidated (cheap;
  the next getattr re-resolves it and answers ESTALE if it is gone).

Only what a change can affect is checked (`to_check`): the index says
which names of which workspaces changed and which nodes of their fork
trees (records.Touched), and those slots are looked up in the inode
table; the rest is checked by group, where a change does not say what it
touched: the top levels (root aliases, `workspaces/`, `sessions/<fp>`),
each changed workspace's `branches/`, and its `forks/` when its tree was
built anew. So the work per change does not grow with the workspace (an
append in a workspace of 50,000 sessions whose every entry the kernel
holds checks a dozen inodes). A rescan checks everything held. What each
inode was last checked against is remembered (`Seen`), so a burst of
appends to one session does not invalidate every other transcript. A held
inode seen for the first time is invalidated: in doubt, invalidate.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field

from clawfs.format import session
from clawfs.mount.inodes import InodeTable
from clawfs.mount.view import (
    ALIASES,
    BRANCHES,
    FORK,
    FORKS,
    MD,
    MD_ALIASES,
    SESSION_LINK,
    SESSION_MD,
    SESSIONS,
    Entry,
    EntryKind,
    Key,
    View,
    workspace_of,
)
from clawfs.store.records import Touched

Identity = tuple[int, int] | None
Slot = tuple[EntryKind, Key]
"""What an inode is given for (inodes.py): an entry's kind and key."""
Held = tuple[int, Slot, Identity, bool]
"""(inode, (kind, key), identity, current): one entry of `InodeTable.held()`."""

GONE = "gone"
"""Seen value of a retired inode whose entry was invalidated already: once is
enough (an open file may keep a replaced inode held for a long time)."""

Seen = dict[int, object]


@dataclass(slots=True)
class Stale:
    """What to invalidate: entries as (parent inode, name), attributes by inode,
    and the new `Seen` values to remember."""

    entries: list[tuple[int, str]] = field(default_factory=list)
    attrs: list[int] = field(default_factory=list)
    seen: Seen = field(default_factory=dict)


TOP = "top"
"""The group of the top levels' inodes (`group_of`)."""


def group_of(slot: Slot) -> Hashable | None:
    """The group a held inode is checked with when a change does not name it
    (inodes.InodeTable): the top levels (`TOP`: the root aliases, the labels
    in `workspaces/`, `sessions/<fp>`), which any change may touch; a
    workspace's `forks/` tree and its `branches/`, by workspace; None for
    the rest, which changes name."""
    key = slot[1]
    fp = workspace_of(key)
    if fp is None:
        return TOP
    if len(key) > 3 and key[2] in (FORKS, BRANCHES):
        return (key[2], fp)
    return None


def to_check(changes: Mapping[str, Touched]) -> tuple[list[Slot], list[Hashable]]:
    """What to check after `changes` (workspace -> what changed in it): the
    slots they name, and the groups to check whole (module docstring). Every
    slot's parent directory is among them, for its entry to be invalidated."""
    slots: list[Slot] = []
    groups: list[Hashable] = [TOP]
    dir_, link = EntryKind.DIR, EntryKind.SYMLINK
    for fp, touched in changes.items():
        base = (SESSIONS, fp)
        slots += [(dir_, base), (dir_, (*base, FORKS)), (dir_, (*base, BRANCHES))]
        slots += [(link, (*base, alias)) for alias in (*ALIASES, *MD_ALIASES)]
        groups.append((BRANCHES, fp))
        for name in touched.names:
            slots.append((EntryKind.TRANSCRIPT, (*base, name)))
            for md in (session.file_stem(name) + MD, name + MD):
                slots.append((EntryKind.MARKDOWN, (*base, md)))
        if touched.forks is None:
            groups.append((FORKS, fp))
            continue
        for path in touched.forks:
            node = (*base, FORKS, *path)
            slots += [(dir_, node), (EntryKind.CONTROL, (*node, FORK)),
                      (link, (*node, SESSION_LINK)), (link, (*node, SESSION_MD))]
    return slots, groups


def held_for(inodes: InodeTable[Slot], changes: Mapping[str, Touched] | None) -> list[Held]:
    """The held inodes to check after `changes` (None: every one held)."""
    if changes is None:
        return inodes.held()
    slots, groups = to_check(changes)
    return [*inodes.held_at(slots), *inodes.held(groups)]


def find_stale(view: View, held: Iterable[Held], seen: Seen) -> Stale:
    """Check each of `held` against the view (module docstring)."""
    held = list(held)
    dirs: dict[Key, list[int]] = {}
    for inode, (kind, key), _, _ in held:
        if kind is EntryKind.DIR:
            dirs.setdefault(key, []).append(inode)
    stale = Stale()
    for inode, (kind, key), identity, current in held:
        if not key or seen.get(inode) == GONE:
            continue
        entry = view.resolve(key)
        if entry is None or entry.kind is not kind or _identity(entry) != identity or not current:
            stale.entries += [(parent, key[-1]) for parent in dirs.get(key[:-1], [])]
            stale.attrs.append(inode)
            # A current inode may match again once the index caught up (the
            # kernel looks the name up again and gets the same number).
            stale.seen[inode] = None if current else GONE
            continue
        mark = _mark(entry)
        if kind is EntryKind.DIR or seen.get(inode, GONE) != mark:
            stale.attrs.append(inode)
        stale.seen[inode] = mark
    return stale


BACKED = (EntryKind.TRANSCRIPT, EntryKind.MARKDOWN)
"""Entries served from a backing file: a transcript and its Markdown."""


def _identity(entry: Entry) -> Identity:
    """A transcript's (or its Markdown's) backing file as the index knows it
    (the inode table keys on the same device and inode)."""
    if entry.kind not in BACKED or entry.file_key is None:
        return None
    return (entry.file_key.dev, entry.file_key.ino)


def _mark(entry: Entry) -> object:
    """What the attributes the kernel caches depend on, beyond identity: for
    a transcript its version (size, mtime, and ctime, which a chmod moves);
    a Markdown file's size is its transcript version's rendering."""
    if entry.kind in BACKED and entry.file_key is not None:
        return entry.file_key
    if entry.kind is EntryKind.SYMLINK:
        return entry.target
    return None


# Inodes of transcripts and .md files the kernel may hold before the least
# recently used are let go of (inodes.py `let_go`): an `ls -l` of 100,000
# entries or a `cat` of every session would otherwise keep ~400 bytes each
# (inodes.py) for as long as the kernel keeps its entries, which with plenty
# of memory is forever. The kernel is asked to drop their names (an entry
# invalidation; it then forgets them), never those used within HELD_AGE
# seconds, so a listing being read is not cut short; one used again is
# looked up again. Past the bound, a pass over more files than it (a `cat`
# of every transcript, in a cycle) would look every name up again, so it
# holds every transcript of a store of 100,000 sessions, or every transcript
# and `.md` of one of 50,000: ~50 MB at most.
HELD_MAX = 131_072
HELD_AGE = 5.0


def let_go(inodes: InodeTable[Slot]) -> Stale:
    """Past HELD_MAX session inodes held, the names of the least recently
    used, for the kernel to drop (down to HELD_MAX less one in 32: small
    batches, each one a burst of invalidations and of FORGETs back)."""
    stale = Stale()
    if inodes.bounded_held <= HELD_MAX:
        return stale
    for _inode, (_kind, key) in inodes.let_go(HELD_MAX - HELD_MAX // 32, HELD_AGE):
        parent = inodes.current((EntryKind.DIR, key[:-1]))
        if parent is not None:
            stale.entries.append((parent, key[-1]))
    return stale
