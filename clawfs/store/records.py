"""Where each indexed file is listed, and under which name (SPEC §1, §2).

The index's bookkeeping, apart from its I/O and its lock: every file by
the directory it was listed in and its name there (its *entry path*), the
links by the real path they reach; and per workspace the files by entry
name, claw's order over them, the directories backing it, and its fork
tree.

A link is an entry of its own, as claw lists every directory entry: a link
to a sibling session is listed beside it, with its own name, load and
mtime (the link's lstat: claw's `DirEntry::metadata`, session_control.rs
398, does not follow links), so `latest` may name the link. Several
entries may then share a real path (`backing`): each is loaded by itself
(a file without an id takes its entry's stem, claw's fallback takes the
entry's name, 430-439), and what belongs to the file rather than the entry
(its Markdown) is kept on each of them (`revise`).

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

Memory: a mount holds one `SessionFile` per session, 100,000 of them within
SPEC §7's 150 MB with everything else, so a record is small (its store
directory shared, its version packed: versions.py) and is kept in one
dictionary per directory and one per workspace, nothing per file besides.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from clawfs.format import session
from clawfs.format.head import Head
from clawfs.format.summary import Summary
from clawfs.store import lineage as lineage_tree
from clawfs.store import membership, order, versions
from clawfs.store.files import FileKey
from clawfs.store.latest import Stamp
from clawfs.store.order import Ordered, SortKey
from clawfs.store.roots import Root, suffixed_name
from clawfs.store.scan import NOT_FILES, Found, Place, rot_stem
from clawfs.store.versions import Rendered, Version

K = TypeVar("K")


class SessionFile:
    """One session file, one version of it, as the mount shows it.

    `name` is the entry name in `sessions/<fp>/` (with a `~<hex>` suffix
    when a file of the same name in a root of higher precedence won it);
    `place` where it was listed, `file_name` its name there; `path` the
    real path of the backing file; for a link, `link_mtime_ns` its own
    mtime, which claw orders it by. `version` is what is known of the
    version indexed (versions.py): the facts the order, membership and
    lineage use (`session_id`, `updated_at_ms`, `parent_session_id`,
    `workspace_root`) come from its load (`summary`) once loaded, else from
    its head (`head`).

    Immutable: a version learned later is a new record.
    """

    __slots__ = ("name", "place", "file_name", "_link", "fp", "belongs", "version")

    def __init__(
        self, found: Found, version: Version, fp: str, belongs: bool, name: str | None = None
    ) -> None:
        self.name = found.file_name if name is None else name
        self.place = found.place
        self.file_name = found.file_name
        self._link = None if found.real is None else (found.real, found.link_mtime_ns)
        """None, or a link's real path and own mtime (one slot: links are rare)."""
        self.fp = fp
        self.belongs = belongs
        self.version = version

    @classmethod
    def lying_where_listed(
        cls, place: Place, file_name: str, version: Version, fp: str, belongs: bool
    ) -> SessionFile:
        """The record of a file listed where it lies (not a link), under its
        own name: what a remount makes for each file the cache holds, made
        without a `Found` (100,000 of them: a quarter of the cost of each)."""
        rec = cls.__new__(cls)
        rec.name = rec.file_name = file_name
        rec.place, rec._link, rec.fp, rec.belongs, rec.version = place, None, fp, belongs, version
        return rec

    def renamed(self, name: str) -> SessionFile:
        """This record under another entry name."""
        return SessionFile(self.found, self.version, self.fp, self.belongs, name)

    def __repr__(self) -> str:
        return f"SessionFile({self.fp}/{self.name}, {self.key}, loaded={self.loaded})"

    # --- where ------------------------------------------------------------------

    @property
    def root(self) -> Root:
        return self.place.root

    @property
    def directory(self) -> str:
        """The store directory it was listed in."""
        return self.place.directory

    @property
    def legacy(self) -> bool:
        """A flat file lying in a root."""
        return self.place.fp_dir is None

    @property
    def entry_path(self) -> str:
        return self.place.prefix + self.file_name

    @property
    def path(self) -> str:
        """The real path of the backing file."""
        return self.entry_path if self._link is None else self._link[0]

    @property
    def is_link(self) -> bool:
        """Listed where it does not lie (a link in the store)."""
        return self._link is not None

    @property
    def link_mtime_ns(self) -> int | None:
        """A link's own mtime (lstat); None for a file listed where it lies."""
        return None if self._link is None else self._link[1]

    @property
    def found(self) -> Found:
        """Where it was found, as the scan found it."""
        if self._link is None:
            return Found(self.place, self.file_name)
        return Found(self.place, self.file_name, *self._link)

    @property
    def stem(self) -> str:
        return session.file_stem(self.file_name)

    @property
    def is_rot(self) -> bool:
        return rot_stem(self.file_name) is not None

    @property
    def not_a_file(self) -> bool:
        """A directory named like a session, or a link leading to nothing
        (scan.py): listed as claw lists it (index.tsv, tree), but no file of
        the mount, nor a node of `forks/`."""
        return self.version.texts[3] in NOT_FILES and self.version.loaded

    @property
    def fork_directory(self) -> str:
        """Where a fork of this file goes: its own directory, `<root>/<fp>/` for flat files."""
        return os.path.join(self.root.realpath, self.fp) if self.legacy else self.directory

    # --- the version ---------------------------------------------------------------

    @property
    def key(self) -> FileKey:
        return self.version.key

    @property
    def mtime_ms(self) -> int:
        """The mtime claw orders it by: a link's own (lstat), else its file's."""
        return order.mtime_ms(_listed_mtime_ns(self, self.key.mtime_ns))

    @property
    def loaded(self) -> bool:
        return self.version.loaded

    @property
    def loaded_before(self) -> bool:
        """This file (the same device and inode) was loaded at this version or
        an earlier one: one that changes, whose reader is worth keeping."""
        return self.version.loaded_before

    @property
    def session_id(self) -> str:
        return self.version.session_id or self.stem

    @property
    def updated_at_ms(self) -> int:
        return self.version.updated_at_ms

    @property
    def parent_session_id(self) -> str | None:
        return self.version.parent_session_id

    @property
    def workspace_root(self) -> str | None:
        """The recorded root as claw reads it here (membership.resolve): what
        membership and the labels go by; index.tsv shows the file's own."""
        return membership.resolve(self.version.workspace_root, self.root)

    @property
    def branch_name(self) -> str | None:
        return self.version.texts[0]

    @property
    def head(self) -> Head | None:
        """What its first meta line says; None once loaded (the load says it all)."""
        return self.version.head(self.stem)

    @property
    def summary(self) -> Summary | None:
        """claw's list entry for this version, once loaded."""
        return self.version.summary(self.stem)

    @property
    def rendered(self) -> Rendered | None:
        return self.version.rendered

    @property
    def sort_key(self) -> SortKey:
        """Its place in claw's order (order.py)."""
        numbers = versions.NUMBERS.unpack(self.version.numbers)
        return order.sort_key(numbers[6], order.mtime_ms(_listed_mtime_ns(self, numbers[3])),
                              self.session_id, self.place.root.precedence, self.name)


def _listed_mtime_ns(rec: SessionFile, file_mtime_ns: int) -> int:
    """The mtime of `rec`'s directory entry, as claw's list takes it with an
    lstat (session_control.rs 398, `DirEntry::metadata` follows no link): a
    link's own, else its file's."""
    link = rec._link
    return file_mtime_ns if link is None or link[1] is None else link[1]


def _rank(rec: SessionFile) -> SortKey:
    return rec.sort_key


def _coarse_rank(rec: SessionFile) -> int:
    """The first two parts of `sort_key` as one int (updated_at_ms, then the
    mtime in ms, both descending): what a bulk sort goes by (order.Ordered),
    once per file at a remount, so read straight from the packed numbers."""
    mtime_ns: int
    updated: int
    mtime_ns, updated = _MTIME_UPDATED.unpack_from(rec.version.numbers)
    link = rec._link
    if link is not None and link[1] is not None:
        mtime_ns = link[1]
    return -((updated << 64) + order.mtime_ms(mtime_ns))


_MTIME_UPDATED = struct.Struct("<24xq16xq")
"""mtime_ns and updated_at_ms, where `versions.NUMBERS` packs them (not
declared there: versions.py is part of the cache's code stamp, and this is
only a way of reading it; tests/store/test_records.py ties the two)."""


@dataclass(slots=True)
class Space:
    """One workspace: do not change it from outside `Records`."""

    fp: str
    born: int
    """The generation it was created at: (born, version) is its `Stamp`."""
    version: int = 0
    files: dict[str, SessionFile] = field(default_factory=dict)
    """Entry name -> file."""
    order: Ordered[SessionFile] = field(default_factory=lambda: Ordered(_rank, _coarse_rank))
    """claw's order by what is known (heads until loaded): read it with `items()`."""
    places: dict[str, int] = field(default_factory=dict)
    """Store directories holding its files -> how many (where name clashes can come from)."""
    dirs: dict[str, Root] = field(default_factory=dict)
    """Real path of each fingerprint directory -> its root."""
    rots: dict[tuple[str, str], int] = field(default_factory=dict)
    """(directory, live file's stem) -> its rotated copies here (they take it out of
    the lineage)."""
    lineage: lineage_tree.Lineage | None = None
    grown: bool = False
    """`lineage` was grown by the files placed since the last `changed` (keep it)."""


@dataclass(slots=True)
class Touched:
    """What changes to one workspace may have made stale in what the mount
    shows: the entry names placed, dropped or renamed; the fork tree's
    nodes (paths of directory names below `forks/`) that came or went and
    their parents; `forks` None when the tree changed in a way not named
    (it was dropped, to be built again)."""

    names: set[str] = field(default_factory=set)
    forks: set[tuple[str, ...]] | None = field(default_factory=set)


class Records:
    """Every indexed file and where it is listed; see the module docstring."""

    def __init__(self) -> None:
        self.generation = 0
        """Moves on with every commit that changed anything."""
        self.spaces: dict[str, Space] = {}
        """Fingerprint -> workspace (read only outside this class)."""
        self._dirs: dict[str, dict[str, SessionFile]] = {}
        """Store directory -> file name -> file listed there."""
        self._linked: dict[str, list[str]] = {}
        """Real path -> entry paths of the links to it, in the order placed."""
        self._emptied: set[str] = set()
        """Workspaces that lost their last file since `emptied` was asked."""
        self._touched: dict[str, Touched] = {}
        """What changed per workspace since `take_changes` was asked."""

    # --- reading ----------------------------------------------------------------

    def get(self, entry_path: str) -> SessionFile | None:
        return self.listed(*os.path.split(entry_path))

    def listed(self, directory: str, file_name: str) -> SessionFile | None:
        """The file listed as `file_name` in the store directory `directory`."""
        listed = self._dirs.get(directory)
        return None if listed is None else listed.get(file_name)

    def backed_by(self, path: str) -> SessionFile | None:
        """An entry whose real path is `path`, if one is indexed: the file
        listed where it lies if it is, else the first link to it placed."""
        rec = self.get(path)
        if rec is not None and rec._link is None:
            return rec
        links = self._linked.get(path)
        return None if not links else self.get(links[0])

    def backing(self, path: str) -> list[SessionFile]:
        """Every entry whose real path is `path`: the file listed where it
        lies, then the links to it (several when a link reaches a sibling)."""
        rec = self.get(path)
        found = [rec] if rec is not None and rec._link is None else []
        for entry_path in self._linked.get(path, ()):
            link = self.get(entry_path)
            if link is not None:
                found.append(link)
        return found

    def files(self) -> Iterator[SessionFile]:
        for listed in self._dirs.values():
            yield from listed.values()

    def count(self) -> int:
        return sum(map(len, self._dirs.values()))

    def lists(self, directory: str) -> bool:
        """Whether any file listed in the store directory `directory` is indexed."""
        return directory in self._dirs

    def listed_in(self, directory: str) -> dict[str, SessionFile]:
        """File name -> file, for the files listed in one store directory (a copy)."""
        return dict(self._dirs.get(directory, {}))

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
        return [_member(rec) for rec in space.order.items()
                if not (space.rots and self._live_file_of(rec))]

    def _live_file_of(self, rec: SessionFile) -> bool:
        """Whether `rec` is a rotated copy whose live file (same stem, same
        directory, not itself a rotated copy) is indexed."""
        stem = rot_stem(rec.file_name)
        if stem is None:
            return False
        listed = self._dirs.get(rec.directory, {})
        return any(
            live is not None and live.fp == rec.fp and not live.is_rot
            for live in (listed.get(stem + ".jsonl"), listed.get(stem + ".json"))
        )

    # --- the listing latest.py reads (`latest.Listing`) --------------------------

    def fingerprints(self) -> Iterable[str]:
        return self.spaces

    def order(self, fp: str) -> Sequence[SessionFile] | None:
        space = self.spaces.get(fp)
        return None if space is None else space.order.items()

    def rank(self, file: SessionFile) -> SortKey:
        return file.sort_key

    def file(self, fp: str, name: str) -> SessionFile:
        return self.spaces[fp].files[name]

    def where(self, file: SessionFile) -> tuple[str, SortKey] | None:
        now = self.get(file.entry_path)
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
        old = self.listed(new.directory, new.file_name)
        if old is not None and _material(old) == _material(new):
            # Same place in every listing, order and tree (e.g. only loaded now):
            # update quietly, so a sweep does not invalidate the views.
            self._swap(old, new.renamed(old.name))
            return set()
        tree = self._tree_kept(old, new)
        changed = set() if old is None else self.drop(new.entry_path, shrink=tree is None)
        self._dirs.setdefault(new.directory, {})[new.file_name] = new
        if new._link is not None:
            self._linked.setdefault(new._link[0], []).append(new.entry_path)
        space = self._space(new.fp)
        space.places[new.directory] = space.places.get(new.directory, 0) + 1
        if not new.legacy:
            space.dirs.setdefault(new.directory, new.root)
        stem = rot_stem(new.file_name)
        if stem is not None:
            space.rots[(new.directory, stem)] = space.rots.get((new.directory, stem), 0) + 1
        group = self._group(space, new.file_name)
        self._touch(new.fp, new.name)
        if len(group) == 1 and new.file_name not in space.files:
            space.files[new.file_name] = new  # the common case: no clash
            space.order.add(new)
            if tree is not None:
                space.lineage, space.grown = tree, True  # the same member: the same tree
            else:
                self._grow_lineage(space, new, stem is not None)
        else:
            self._drop_lineage(space)
            self._name_group(space, group)
        return changed | {new.fp}

    def place_all(self, recs: Iterable[SessionFile]) -> set[str]:
        """`place` each of `recs` (a scan's chunk); the fingerprints changed.

        What almost every file of a scan is, a new file in a workspace that
        has no other directory with files (so no name can clash), not a
        link, not a rotated copy, is placed in a few steps here.
        """
        changed: set[str] = set()
        for rec in recs:
            directory, file_name = rec.place.directory, rec.file_name
            listed = self._dirs.get(directory)
            space = self.spaces.get(rec.fp)
            if (
                space is None or self._linked or rec._link is not None or ".rot-" in file_name
                or (listed is not None and file_name in listed) or file_name in space.files
                or space.lineage is not None or len(space.places) > 1
                or (space.places and directory not in space.places)
            ):
                changed |= self.place(rec)
                continue
            if listed is None:
                listed = self._dirs[directory] = {}
            listed[file_name] = rec
            space.places[directory] = space.places.get(directory, 0) + 1
            if rec.place.fp_dir is not None:
                space.dirs.setdefault(directory, rec.place.root)
            space.files[file_name] = rec
            space.order.add(rec)
            changed.add(rec.fp)
        return changed

    def place_listing(self, directory: str, fp: str, recs: dict[str, SessionFile]) -> set[str]:
        """Place the files of one fingerprint directory `directory` of workspace
        `fp` (file name -> record, each under its own name); the
        fingerprints changed.

        What a remount is: nothing else of the workspace placed yet, or only
        from this directory, and no link anywhere. Then no name can clash and
        no tree is kept, so they go in by a few bulk steps (dictionary
        updates, one sort later); anything else goes by `place_all`, and so
        do links and rotated copies (which the lineage counts).
        """
        space, listed = self.spaces.get(fp), self._dirs.get(directory)
        if (
            space is None or self._linked or space.lineage is not None
            or not space.places.keys() <= {directory}
            or not space.files.keys().isdisjoint(recs)
            or (listed is not None and not listed.keys().isdisjoint(recs))
        ):
            return self.place_all(recs.values())
        special = {name for name, rec in recs.items() if rec._link is not None or ".rot-" in name}
        plain = {n: rec for n, rec in recs.items() if n not in special} if special else recs
        if plain:
            if listed is None:
                self._dirs[directory] = dict(plain)
            else:
                listed.update(plain)
            space.places[directory] = space.places.get(directory, 0) + len(plain)
            space.dirs.setdefault(directory, next(iter(plain.values())).place.root)
            space.files.update(plain)
            space.order.extend(plain.values())
        changed = {fp} if plain else set()
        return changed | self.place_all(recs[name] for name in sorted(special))

    def revise(self, path: str, version: Version) -> SessionFile | None:
        """Keep `version` for the file at real path `path` (`backed_by`'s
        entry) if it is still that version (what was learned of it that
        changes nothing it shows, such as its Markdown); the record now, if
        it was. The other entries reaching that file at that version (links)
        take its Markdown: that is the file's, not the entry's."""
        now = self.backed_by(path)
        key = version.numbers[: versions.KEY.size]
        if now is None or not now.version.same_as(key):
            return None
        rendered = version.rendered
        for other in self.backing(path):
            if other is not now and rendered is not None and other.version.same_as(key):
                self._swap(other, SessionFile(other.found, other.version.rendering(rendered),
                                              other.fp, other.belongs, other.name))
        revised = SessionFile(now.found, version, now.fp, now.belongs, now.name)
        self._swap(now, revised)
        return revised

    def drop(self, entry_path: str, *, shrink: bool = True) -> set[str]:
        """Forget the file listed at `entry_path`; the fingerprints changed.
        `shrink`: take it out of the fork tree (not when it comes right back
        as the same member)."""
        directory, name = os.path.split(entry_path)
        listed = self._dirs.get(directory, {})
        rec = listed.pop(name, None)
        if rec is None:
            return set()
        if not listed:
            del self._dirs[directory]
        if rec._link is not None:
            links = self._linked.get(rec._link[0], [])
            if entry_path in links:
                links.remove(entry_path)
            if not links:
                self._linked.pop(rec._link[0], None)
        space = self.spaces[rec.fp]
        self._touch(rec.fp, rec.name)
        if shrink:
            self._shrink_lineage(space, rec)
        _count_down(space.places, rec.directory)
        stem = rot_stem(rec.file_name)
        if stem is not None:
            _count_down(space.rots, (rec.directory, stem))
        current = space.files.get(rec.name)
        if current is rec:
            _unlist(space, current)
        group = self._group(space, rec.file_name)
        if group:
            self._drop_lineage(space)
            self._name_group(space, group)
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
            self._touch(fp)
            space = self.spaces.get(fp)
            if space is not None:
                space.version += 1
                if not space.grown:
                    self._drop_lineage(space)
                space.grown = False
        self.generation += 1

    def take_changes(self) -> dict[str, Touched]:
        """What changed in each workspace since the last call (`Touched`)."""
        changes, self._touched = self._touched, {}
        return changes

    def keep_lineage(self, fp: str, stamp: Stamp, built: lineage_tree.Lineage) -> None:
        """Keep a fork tree built from the members at `stamp`, if that is still the state."""
        space = self.spaces.get(fp)
        if space is not None and (space.born, space.version) == stamp:
            space.lineage = built

    def settle(self) -> None:
        """Sort what was placed in bulk now (a scan's end: before the daemon
        forks, so its memory is the scanning process's, not the daemon's)."""
        for space in self.spaces.values():
            space.order.items()

    # --- placing ------------------------------------------------------------------

    def _space(self, fp: str) -> Space:
        space = self.spaces.get(fp)
        if space is None:
            space = self.spaces[fp] = Space(fp, born=self.generation)
        return space

    def _swap(self, old: SessionFile, new: SessionFile) -> None:
        """Put `new` where `old` is (same entry path, name and place in the order)."""
        self._dirs[old.directory][old.file_name] = new
        space = self.spaces[old.fp]
        if space.files.get(old.name) is old:
            space.files[old.name] = new
            space.order.replace(old, new)

    def _group(self, space: Space, file_name: str) -> list[SessionFile]:
        """The files of `space` named `file_name` on disk, the winner first:
        by root precedence, fingerprint directories before flat files."""
        group = []
        for directory in space.places:
            rec = self._dirs.get(directory, {}).get(file_name)
            if rec is not None and rec.fp == space.fp:
                group.append(rec)
        if len(group) > 1:
            group.sort(key=lambda rec: (rec.root.precedence, rec.legacy, rec.entry_path))
        return group

    def _grow_lineage(self, space: Space, rec: SessionFile, rotated: bool) -> None:
        """Add a file just placed to the built lineage, if it only adds a leaf
        (lineage.grown): a new session or fork then costs no rebuild of a
        10,000-member tree, when placed and again when the kernel's held
        `forks/` nodes are checked. Otherwise the lineage is dropped."""
        if space.lineage is None or rotated or _has_rot_copy(space, rec):
            self._drop_lineage(space)
            return
        files = space.files
        grown = lineage_tree.grown(space.lineage, _member(rec), lambda name: files[name].sort_key)
        if grown is None:
            self._drop_lineage(space)
            return
        space.lineage, space.grown = grown, True
        self._touch_forks(space, grown, rec.name)

    def _shrink_lineage(self, space: Space, rec: SessionFile) -> None:
        """Take a file being dropped out of the built lineage, if that only
        takes a leaf away (lineage.shrunk): deleting a session or a fork
        costs no rebuild either. Otherwise the lineage is dropped."""
        tree = space.lineage
        if tree is None or (not rec.is_rot and _has_rot_copy(space, rec)):
            self._drop_lineage(space)  # its rotated copies come into the tree
            return
        files = space.files
        shrunk = lineage_tree.shrunk(
            tree, _member(rec), lambda name: name in files and files[name] is not rec
        )
        if shrunk is None:
            self._drop_lineage(space)
            return
        if shrunk is not tree:
            self._touch_forks(space, tree, rec.name)
        space.lineage, space.grown = shrunk, True

    def _tree_kept(self, old: SessionFile | None, new: SessionFile) -> lineage_tree.Lineage | None:
        """The built lineage of `new`'s workspace, when replacing `old` by it
        leaves the tree as it is (the same member: an append, a load)."""
        if old is None or old.fp != new.fp or old.name != new.file_name:
            return None
        space = self.spaces.get(old.fp)
        if space is None or space.lineage is None:
            return None
        return space.lineage if _member(old) == _member(new) else None

    # --- what changed -------------------------------------------------------------

    def _touch(self, fp: str, name: str | None = None) -> Touched:
        touched = self._touched.get(fp)
        if touched is None:
            touched = self._touched[fp] = Touched()
        if name is not None:
            touched.names.add(name)
        return touched

    def _touch_forks(self, space: Space, tree: lineage_tree.Lineage, name: str) -> None:
        """The node of `name` in `tree` came or goes, and its parent's children
        changed: both paths below `forks/` may be held by the kernel."""
        touched = self._touch(space.fp)
        if touched.forks is None:
            return
        path = tree.path(name)
        touched.forks.update((path, path[:-1]))

    def _drop_lineage(self, space: Space) -> None:
        """The fork tree is not kept up to date: it is built again when asked
        for, and whatever the kernel holds of it is checked."""
        space.lineage, space.grown = None, False
        self._touch(space.fp).forks = None

    def _name_group(self, space: Space, group: list[SessionFile]) -> None:
        """Give the files sharing a name on disk their entry names (SPEC §1).

        The first by root precedence keeps the name, the others get their
        root's `~<hex>` suffix (a further `~<n>` only if that is taken too).
        """
        for rec in group:
            if space.files.get(rec.name) is rec:
                _unlist(space, rec)
        for position, rec in enumerate(group):
            file_name = rec.file_name
            name = file_name if position == 0 else suffixed_name(file_name, rec.root)
            stem = session.file_stem(name)
            number = 2
            while name in space.files:
                name = f"{stem}~{number}{file_name[len(session.file_stem(file_name)):]}"
                number += 1
            named = rec.renamed(name)
            self._dirs[rec.directory][file_name] = named
            space.files[name] = named
            space.order.add(named)


def _unlist(space: Space, rec: SessionFile) -> None:
    del space.files[rec.name]
    space.order.remove(rec)


def _count_down(counts: dict[K, int], key: K) -> None:
    left = counts.get(key, 0) - 1
    if left > 0:
        counts[key] = left
    else:
        counts.pop(key, None)


def _has_rot_copy(space: Space, rec: SessionFile) -> bool:
    """Whether `rec` has rotated copies, which a live file takes out of the lineage."""
    return (rec.directory, session.file_stem(rec.file_name)) in space.rots


def _material(sf: SessionFile) -> tuple[object, ...]:
    """What decides where a file shows (order, membership, lineage, workspace)."""
    key = sf.key
    return (
        sf.path, key.dev, key.ino, key.size, key.mtime_ns, key.ctime_ns, sf.link_mtime_ns,
        sf.belongs, sf.fp, sf.place,
        sf.file_name, sf.session_id, sf.updated_at_ms, sf.parent_session_id, sf.workspace_root,
    )


def _member(rec: SessionFile) -> lineage_tree.Member:
    return lineage_tree.Member(
        name=rec.name,
        session_id=rec.session_id,
        parent_session_id=rec.parent_session_id,
        stem=session.file_stem(rec.file_name),
        precedence=rec.root.precedence,
    )

