"""What the kernel may have cached that a store change made wrong. No FUSE here.

The kernel caches three things for us (pyfuse3 notes): names -> inodes
(entries, `ENTRY_TIMEOUT`), attributes (`*_ATTR_TIMEOUT`) and, through the
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

Only held inodes in the workspaces that changed are checked (plus the top
levels: root aliases, `workspaces/`, `sessions/<fp>`), and what each was
last checked against is remembered per inode (`Seen`), so a burst of
appends to one session does not invalidate every other transcript.
A held inode seen for the first time is invalidated: in doubt, invalidate.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from clawfs.mount.view import Entry, EntryKind, Key, View, workspace_of

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


def in_scope(key: Key, fps: set[str] | None) -> bool:
    """Whether an entry may have changed when the workspaces `fps` did (None: any)."""
    if fps is None:
        return True
    fp = workspace_of(key)
    return fp is None or fp in fps


def find_stale(view: View, held: Iterable[Held], fps: set[str] | None, seen: Seen) -> Stale:
    """Check each held inode in scope against the view (module docstring)."""
    held = list(held)
    dirs: dict[Key, list[int]] = {}
    for inode, (kind, key), _, _ in held:
        if kind is EntryKind.DIR:
            dirs.setdefault(key, []).append(inode)
    stale = Stale()
    for inode, (kind, key), identity, current in held:
        if not key or not in_scope(key, fps) or seen.get(inode) == GONE:
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
