"""Where each indexed file is listed, and under which name (SPEC §1, §2).

The index's bookkeeping, apart from its I/O and its lock: every file by
the path it was listed at (its *entry path*), by its real path (a file
reached twice, through a link, is indexed once), by store directory; and
per workspace the files by entry name, claw's order over them, the files
sharing a name on disk, the directories backing it, and its fork tree.

Two files of one workspace may share a name on disk (one per root): the
first by root precedence keeps it, the others get their root's `~<hex>`
suffix (SPEC §1). Placing a file that only adds a leaf grows the built
fork tree instead of dropping it (`lineage.grown`).

Everything here runs with the index's lock held and does no I/O: what it
needs from the disk (which workspace a file joins, whether a directory is
still there) the index finds out first, outside the lock. A workspace left
without files is forgotten here when no directory backs it; one that still
has directories is handed back (`emptied`) for the index to check.

Each workspace's state is named by a `Stamp` (the generation it was
created at, its changes since): `changed` moves it on by exactly one per
commit, so a reader can tell whether anything but its own commit happened
since it looked (latest.py's resume rule).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from clawfs.format import session
from clawfs.format.head import Head
from clawfs.format.summary import Summary
from clawfs.store import lineage as lineage_tree
from clawfs.store import order
from clawfs.store.files import FileKey
from clawfs.store.latest import Stamp
from clawfs.store.order import SortKey
from clawfs.store.roots import Root, suffixed_name
from clawfs.store.scan import Found, rot_stem


@dataclass(frozen=True, slots=True)
class Facts:
    """What the order, membership and lineage use about a file.

    From its load when `loaded` (a load of this version), else from its
    head.
    """

    session_id: str
    updated_at_ms: int
    parent_session_id: str | None
    workspace_root: str | None
    loaded: bool


def facts_of(head: Head, result: Summary | None) -> Facts:
    if result is not None:
        return Facts(
            result.session_id,
            result.updated_at_ms,
            result.parent_session_id,
            result.workspace_root,
            True,
        )
    assert head.session_id is not None and head.updated_at_ms is not None
    return Facts(
        head.session_id, head.updated_at_ms, head.parent_session_id, head.workspace_root, False
    )


@dataclass(frozen=True, slots=True)
class SessionFile:
    """One session file as the mount shows it.

    `name` is the entry name in `sessions/<fp>/` (with a `~<hex>` suffix
    when a file of the same name in a root of higher precedence won it);
    `path` the real path of the backing file; `entry_path` where it was
    listed (directory + name on disk); `directory` the store directory it
    lies in; `legacy` for a flat file lying in a root.
    """

    name: str
    path: str
    key: FileKey
    head: Head
    is_rot: bool
    belongs: bool
    fp: str
    root: Root
    file_name: str
    directory: str
    legacy: bool
    facts: Facts

    @property
    def entry_path(self) -> str:
        return os.path.join(self.directory, self.file_name)

    @property
    def mtime_ms(self) -> int:
        return order.mtime_ms(self.key.mtime_ns)

    @property
    def sort_key(self) -> SortKey:
        return order.sort_key(
            self.facts.updated_at_ms,
            self.mtime_ms,
            self.facts.session_id,
            self.root.precedence,
            self.name,
        )

    @property
    def fork_directory(self) -> str:
        """Where a fork of this file goes: its own directory, `<root>/<fp>/` for flat files."""
        return os.path.join(self.root.realpath, self.fp) if self.legacy else self.directory


def session_file(
    found: Found, key: FileKey, head: Head, facts: Facts, fp: str, belongs: bool
) -> SessionFile:
    """The file `found` as workspace `fp` lists it (before any name clash)."""
    return SessionFile(
        name=found.file_name,
        path=found.path,
        key=key,
        head=head,
        is_rot=rot_stem(found.file_name) is not None,
        belongs=belongs,
        fp=fp,
        root=found.root,
        file_name=found.file_name,
        directory=found.directory,
        legacy=found.fp_dir is None,
        facts=facts,
    )


@dataclass(slots=True)
class Space:
    """One workspace: do not change it from outside `Records`."""

    fp: str
    born: int
    """The generation it was created at: (born, version) is its `Stamp`."""
    version: int = 0
    files: dict[str, SessionFile] = field(default_factory=dict)
    order: list[SortKey] = field(default_factory=list)
    """claw's order by what is known (heads until loaded)."""
    groups: dict[str, list[str]] = field(default_factory=dict)
    """File name on disk -> entry paths with that name, winner first."""
    dirs: dict[str, Root] = field(default_factory=dict)
    """Real path of each fingerprint directory -> its root."""
    lineage: lineage_tree.Lineage | None = None
    grown: bool = False
    """`lineage` was grown by the files placed since the last `changed` (keep it)."""


class Records:
    """Every indexed file and where it is listed; see the module docstring."""

    def __init__(self) -> None:
        self.generation = 0
        """Moves on with every commit that changed anything."""
        self.spaces: dict[str, Space] = {}
        """Fingerprint -> workspace (read only outside this class)."""
        self._files: dict[str, SessionFile] = {}
        """Entry path -> file."""
        self._backing: dict[str, str] = {}
        """Real path -> entry path."""
        self._by_dir: dict[str, set[str]] = {}
        """Store directory -> entry paths listed in it."""
        self._emptied: set[str] = set()
        """Workspaces that lost their last file since `emptied` was asked."""

    # --- reading ----------------------------------------------------------------

    def get(self, entry_path: str) -> SessionFile | None:
        return self._files.get(entry_path)

    def backed_by(self, path: str) -> SessionFile | None:
        """The file whose real path is `path`, if indexed."""
        entry_path = self._backing.get(path)
        return None if entry_path is None else self._files.get(entry_path)

    def files(self) -> list[SessionFile]:
        return list(self._files.values())

    def listed_in(self, directory: str) -> dict[str, SessionFile]:
        """Entry path -> file, for the files listed in one store directory."""
        return {path: self._files[path] for path in self._by_dir.get(directory, ())}

    def dirs_of(self, root: Root) -> list[tuple[str, str]]:
        """(fp, real path) of every fingerprint directory of `root` known to back a workspace."""
        return [
            (fp, directory)
            for fp, space in self.spaces.items()
            for directory, owner in space.dirs.items()
            if owner.realpath == root.realpath
        ]

    def members(self, fp: str) -> list[lineage_tree.Member]:
        """The fork tree's members, in claw's order: rotated copies whose live
        file exists are left out (claw resumes the live file)."""
        space = self.spaces[fp]
        live = {
            (rec.directory, session.file_stem(rec.file_name))
            for rec in space.files.values()
            if not rec.is_rot
        }
        members = []
        for key in space.order:
            rec = space.files[key[-1]]
            stem = rot_stem(rec.file_name)
            if stem is not None and (rec.directory, stem) in live:
                continue
            members.append(_member(rec))
        return members

    # --- the listing latest.py reads (`latest.Listing`) --------------------------

    def fingerprints(self) -> Iterable[str]:
        return self.spaces

    def order(self, fp: str) -> Sequence[SortKey] | None:
        space = self.spaces.get(fp)
        return None if space is None else space.order

    def file(self, fp: str, name: str) -> SessionFile:
        return self.spaces[fp].files[name]

    def where(self, file: SessionFile) -> tuple[str, SortKey] | None:
        now = self._files.get(file.entry_path)
        return None if now is None else (now.fp, now.sort_key)

    def stamp(self, fp: str | None) -> Stamp | None:
        """A workspace's state, or the whole index's for `fp=None`."""
        if fp is None:
            return (0, self.generation)
        space = self.spaces.get(fp)
        return None if space is None else (space.born, space.version)

    # --- changing ---------------------------------------------------------------

    def place(self, new: SessionFile) -> set[str]:
        """Index (or re-index) one file; the fingerprints changed."""
        entry_path = new.entry_path
        owner = self._backing.get(new.path)
        if owner is not None and owner != entry_path:
            return set()  # the same file reached through a link: indexed once
        old = self._files.get(entry_path)
        if old is not None and _material(old) == _material(new):
            # Same place in every listing, order and tree (e.g. only loaded now):
            # update quietly, so a sweep does not invalidate the views.
            quiet = replace(new, name=old.name)
            self._files[entry_path] = quiet
            space = self.spaces[old.fp]
            if space.files.get(old.name) is old:
                space.files[old.name] = quiet
            return set()
        changed = self.drop(entry_path)
        self._files[entry_path] = new
        self._backing[new.path] = entry_path
        self._by_dir.setdefault(new.directory, set()).add(entry_path)
        space = self._space(new.fp)
        if not new.legacy:
            space.dirs.setdefault(new.directory, new.root)
        group = space.groups.setdefault(new.file_name, [])
        group.append(entry_path)
        if len(group) == 1 and new.file_name not in space.files:
            space.files[new.file_name] = new  # the common case: no clash
            order.insort(space.order, new.sort_key)
            self._grow_lineage(space, new)
        else:
            _drop_lineage(space)
            group.sort(key=self._group_rank)
            self._name_group(space, new.file_name)
        return changed | {new.fp}

    def drop(self, entry_path: str) -> set[str]:
        """Forget the file listed at `entry_path`; the fingerprints changed."""
        rec = self._files.pop(entry_path, None)
        if rec is None:
            return set()
        if self._backing.get(rec.path) == entry_path:
            del self._backing[rec.path]
        self._by_dir.get(rec.directory, set()).discard(entry_path)
        space = self.spaces[rec.fp]
        _drop_lineage(space)
        current = space.files.get(rec.name)
        if current is not None and current.entry_path == entry_path:
            _unlist(space, current)
        group = space.groups[rec.file_name]
        group.remove(entry_path)
        if group:
            self._name_group(space, rec.file_name)
        else:
            del space.groups[rec.file_name]
        if not space.files:
            self._emptied.add(space.fp)
        return {rec.fp}

    def note_dir(self, fp: str, directory: str, root: Root) -> set[str]:
        """Record that `directory` (a real path, there now) backs workspace `fp`;
        `{fp}` if that made the workspace."""
        new = fp not in self.spaces
        self._space(fp).dirs.setdefault(directory, root)
        return {fp} if new else set()

    def drop_dir(self, fp: str, directory: str) -> set[str]:
        """Record that `directory` no longer backs workspace `fp`."""
        space = self.spaces.get(fp)
        if space is None or space.dirs.pop(directory, None) is None:
            return set()
        if not space.files:
            self._emptied.add(fp)
        return {fp}

    def emptied(self) -> dict[str, tuple[str, ...]]:
        """Settle the workspaces left without files since the last call.

        One with no directory either is forgotten now. The others are
        returned with their directories (fp -> real paths): the caller
        checks those on disk and `forget`s the workspaces whose are all gone.
        """
        check = {}
        for fp in self._emptied:
            space = self.spaces.get(fp)
            if space is None or space.files:
                continue
            if space.dirs:
                check[fp] = tuple(space.dirs)
            else:
                del self.spaces[fp]
        self._emptied.clear()
        return check

    def forget(self, fp: str, dirs: tuple[str, ...]) -> bool:
        """Forget workspace `fp` if it is still empty and backed by just `dirs`
        (which the caller found gone); whether it was."""
        space = self.spaces.get(fp)
        if space is None or space.files or tuple(space.dirs) != dirs:
            return False
        del self.spaces[fp]
        return True

    def changed(self, fps: Iterable[str]) -> None:
        """One commit changed these workspaces: move their stamps on, and drop
        each fork tree that placing did not keep up to date."""
        for fp in fps:
            space = self.spaces.get(fp)
            if space is not None:
                space.version += 1
                if not space.grown:
                    space.lineage = None
                space.grown = False
        self.generation += 1

    def keep_lineage(self, fp: str, stamp: Stamp, built: lineage_tree.Lineage) -> None:
        """Keep a fork tree built from the members at `stamp`, if that is still the state."""
        space = self.spaces.get(fp)
        if space is not None and (space.born, space.version) == stamp:
            space.lineage = built

    # --- placing ------------------------------------------------------------------

    def _space(self, fp: str) -> Space:
        space = self.spaces.get(fp)
        if space is None:
            space = self.spaces[fp] = Space(fp, born=self.generation)
        return space

    def _grow_lineage(self, space: Space, rec: SessionFile) -> None:
        """Add a file just placed to the built lineage, if it only adds a leaf
        (lineage.grown): a new session or fork then costs no rebuild of a
        10,000-member tree, when placed and again when the kernel's held
        `forks/` nodes are checked. Otherwise the lineage is dropped."""
        if space.lineage is None or rec.is_rot or _has_rot_copy(space, rec):
            _drop_lineage(space)
            return
        files = space.files
        grown = lineage_tree.grown(space.lineage, _member(rec), lambda name: files[name].sort_key)
        if grown is None:
            _drop_lineage(space)
        else:
            space.lineage, space.grown = grown, True

    def _group_rank(self, entry_path: str) -> tuple[int, bool, str]:
        rec = self._files[entry_path]
        return (rec.root.precedence, rec.legacy, entry_path)

    def _name_group(self, space: Space, file_name: str) -> None:
        """Give the files sharing `file_name` their entry names (SPEC §1).

        The first by root precedence keeps the name, the others get their
        root's `~<hex>` suffix (a further `~<n>` only if that is taken too).
        """
        group = space.groups[file_name]
        for entry_path in group:
            rec = self._files[entry_path]
            current = space.files.get(rec.name)
            if current is not None and current.entry_path == entry_path:
                _unlist(space, current)
        for position, entry_path in enumerate(group):
            rec = self._files[entry_path]
            name = file_name if position == 0 else suffixed_name(file_name, rec.root)
            stem = session.file_stem(name)
            number = 2
            while name in space.files:
                name = f"{stem}~{number}{file_name[len(session.file_stem(file_name)):]}"
                number += 1
            rec = replace(rec, name=name)
            self._files[entry_path] = rec
            space.files[name] = rec
            order.insort(space.order, rec.sort_key)


def _unlist(space: Space, rec: SessionFile) -> None:
    del space.files[rec.name]
    order.remove(space.order, rec.sort_key)


def _drop_lineage(space: Space) -> None:
    space.lineage, space.grown = None, False


def _has_rot_copy(space: Space, rec: SessionFile) -> bool:
    """Whether `rec` has rotated copies, which a live file takes out of the lineage."""
    stem = session.file_stem(rec.file_name)
    return any(
        other.is_rot and other.directory == rec.directory and rot_stem(other.file_name) == stem
        for other in space.files.values()
    )


def _material(sf: SessionFile) -> tuple[object, ...]:
    """What decides where a file shows (order, membership, lineage, workspace)."""
    facts = sf.facts
    return (
        sf.path, sf.key.dev, sf.key.ino, sf.key.size, sf.key.mtime_ns, sf.is_rot, sf.belongs,
        sf.fp,
        sf.root, sf.file_name, sf.directory, sf.legacy,
        facts.session_id, facts.updated_at_ms, facts.parent_session_id, facts.workspace_root,
    )


def _member(rec: SessionFile) -> lineage_tree.Member:
    return lineage_tree.Member(
        name=rec.name,
        session_id=rec.facts.session_id,
        parent_session_id=rec.facts.parent_session_id,
        stem=session.file_stem(rec.file_name),
        precedence=rec.root.precedence,
    )
