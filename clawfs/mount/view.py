"""The tree the mount serves, as plain values (SPEC §2, §4): resolve a path,
list a directory. No FUSE here. What a file says is render.py's (index.tsv,
xattrs); what writing a `fork` file does is control.py's.

An entry is named by its path from the mount root (`Entry.key`), so the
adapter can resolve any inode again from its key and learn that an entry
is gone (None -> ESTALE). Everything is computed from the index on demand;
listings are cached because the adapter snapshots a directory's listing on
every opendir: a workspace's listings per version of that workspace (an
append elsewhere rebuilds nothing here), the top directories per index
generation.

```
latest | last | recent -> sessions/<fp>/<file>
{latest,last,recent}.md -> sessions/<fp>/<stem>.md
workspaces/<label> -> ../sessions/<fp>
sessions/<fp>/{latest,last,recent} -> <file>
sessions/<fp>/{latest,last,recent}.md -> <stem>.md
sessions/<fp>/fork                 CONTROL: forks what `latest` names
sessions/<fp>/index.tsv            GENERATED
sessions/<fp>/<file>               TRANSCRIPT
sessions/<fp>/<stem>.md            MARKDOWN: the transcript rendered (SPEC §8)
sessions/<fp>/branches/<branch> -> ../<file>   the newest session of each branch
sessions/<fp>/forks/<a>/<b>/...    lineage; each node holds `fork`,
                                   `session.jsonl -> ../../<file>`,
                                   `session.md -> ../../<stem>.md` and its children
```
"""

from __future__ import annotations

import enum
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from clawfs.format import session
from clawfs.mount.privacy import Reported, Viewer, Viewers
from clawfs.store import labels
from clawfs.store import lineage as lineage_tree
from clawfs.store.access import Access, Mode
from clawfs.store.files import FileKey
from clawfs.store.index import SessionFile, StoreIndex
from clawfs.store.lineage import Lineage

ALIASES = ("latest", "last", "recent")
MD = ".md"
MD_ALIASES = tuple(alias + MD for alias in ALIASES)
WORKSPACES = "workspaces"
SESSIONS = "sessions"
FORKS = "forks"
BRANCHES = "branches"
FORK = "fork"
INDEX_TSV = "index.tsv"
SESSION_LINK = "session.jsonl"
SESSION_MD = "session.md"

Key = tuple[str, ...]
Entries = list["Entry"]


class EntryKind(enum.Enum):
    DIR = "dir"
    TRANSCRIPT = "transcript"
    MARKDOWN = "markdown"
    SYMLINK = "symlink"
    CONTROL = "control"
    GENERATED = "generated"

    # Members are singletons, so identity hashes them; Enum's own hash runs
    # Python code, and a listing of 20,000 entries hashes a kind per entry
    # (the inode table's slots): 0.35 us each.
    __hash__ = object.__hash__


SESSION_KINDS = (EntryKind.TRANSCRIPT, EntryKind.MARKDOWN)
"""Entries that show one session file: its mode and owner are theirs."""


class Backed(Protocol):
    """A session file as an entry shows it (the index's `SessionFile`)."""

    @property
    def path(self) -> str: ...

    @property
    def key(self) -> FileKey: ...


@dataclass(frozen=True, slots=True, eq=False)
class Entry:
    """One entry of the mount (a file, directory or symlink), as a plain value.

    `target` is a symlink's relative target. `file` is a transcript's
    session file as the index knows it (the adapter checks the backing
    file's identity itself on every use), held as it is, not copied (a
    listing of 50,000 entries is cached); a MARKDOWN entry has its
    transcript's, and `source` names that transcript in the workspace.
    Two entries are equal when they show the same: the same backing file
    at the same version, whichever record of it they hold.
    """

    key: Key
    kind: EntryKind
    name: str
    target: str | None = None
    file: Backed | None = None
    source: str | None = None

    @property
    def backing_path(self) -> str | None:
        """The real path of the backing file."""
        return None if self.file is None else self.file.path

    @property
    def file_key(self) -> FileKey | None:
        """The version of the backing file the index knows."""
        return None if self.file is None else self.file.key

    def _shown(self) -> tuple[object, ...]:
        return (self.key, self.kind, self.name, self.target, self.source, self.backing_path,
                self.file_key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Entry) and self._shown() == other._shown()

    def __hash__(self) -> int:
        return hash(self._shown())


def workspace_of(key: Key) -> str | None:
    """The workspace (fingerprint) an entry below `sessions/<fp>/` belongs to;
    None for the top levels (the root aliases, the labels in `workspaces/`,
    the `sessions/<fp>` directories), which depend on every workspace."""
    return key[1] if len(key) > 2 and key[0] == SESSIONS else None


def session_file(index: StoreIndex, entry: Entry) -> SessionFile | None:
    """The file behind a transcript or a `.md` entry, as the index knows it now."""
    if len(entry.key) != 3 or entry.key[0] != SESSIONS:
        return None
    if entry.kind is EntryKind.TRANSCRIPT:
        return index.file(entry.key[1], entry.key[2])
    if entry.kind is EntryKind.MARKDOWN and entry.source is not None:
        return index.file(entry.key[1], entry.source)
    return None


Derived = tuple[str, str | None]
"""One piece of what the index derives once per state: (what, its workspace)."""


def derived(key: Key, listing: bool = False) -> Derived | None:
    """What the index derives once per state (`View.stamp`) that resolving
    `key` (with `listing`, listing it) may compute, or None when that is a
    lookup in the index:

    - ("latest", fp): a workspace's alias target, whose candidates may need
      a full load (`StoreIndex.latest`);
    - ("lineage", fp): its fork tree, for what lies in `forks/`;
    - ("branches", fp): its `branches/` (the fork tree, and the branch of
      each session changed since it was last asked: view.Branches);
    - ("listing", fp): its listing (a snapshot of every file, and `latest`);
    - ("aliases", None): the root's aliases, over all workspaces;
    - ("labels", None): the labels in `workspaces/` (every workspace's home).
    """
    if len(key) >= 2 and key[0] == SESSIONS:
        fp = key[1]
        if len(key) == 2:
            return ("listing", fp) if listing else None
        if len(key) == 3 and (key[2] in ALIASES or key[2] in MD_ALIASES):
            return ("latest", fp)
        if key[2] == FORKS and (listing or len(key) > 3):
            return ("lineage", fp)
        if key[2] == BRANCHES and (listing or len(key) > 3):
            return ("branches", fp)
        return None
    if not key:
        return ("aliases", None) if listing else None
    if len(key) == 1 and (key[0] in ALIASES or key[0] in MD_ALIASES):
        return ("aliases", None)
    if key[0] == WORKSPACES and (listing or len(key) == 2):
        return ("labels", None)
    return None


def _dir(key: Key) -> Entry:
    return Entry(key, EntryKind.DIR, key[-1] if key else "")


def _link(key: Key, target: str) -> Entry:
    return Entry(key, EntryKind.SYMLINK, key[-1], target=target)


def _transcript(key: Key, sf: SessionFile) -> Entry:
    return Entry(key, EntryKind.TRANSCRIPT, key[-1], file=sf)


def _markdown(key: Key, sf: SessionFile) -> Entry:
    return Entry(key, EntryKind.MARKDOWN, key[-1], file=sf, source=sf.name)


def markdown_name(name: str, exists: Callable[[str], bool]) -> str:
    """The Markdown sibling of transcript `name` (SPEC §8): `<stem>.md`, or
    `<name>.md` where `<stem>.md` would name something else too: the sibling
    of `x.json` and `x.jsonl` alike, of a transcript whose stem is another
    transcript's name (`x.jsonl.jsonl` beside `x.jsonl`), or an alias
    (`latest.jsonl`). Transcripts end in `.jsonl` or `.json`, so only those
    two can share a stem, and the full-name forms never meet a stem form.
    `exists` says whether a transcript of that name is in the workspace."""
    stem = session.file_stem(name)
    other = stem + (".json" if name.endswith(".jsonl") else ".jsonl")
    if exists(other) or exists(stem) or stem + MD in MD_ALIASES:
        return name + MD
    return stem + MD


def markdown_source(name: str, exists: Callable[[str], bool]) -> str | None:
    """The transcript whose Markdown sibling is `name`, if any (`markdown_name`'s inverse)."""
    if not name.endswith(MD):
        return None
    base = name[: -len(MD)]
    for candidate in (base, base + ".jsonl", base + ".json"):
        if exists(candidate) and markdown_name(candidate, exists) == name:
            return candidate
    return None


class View:
    """The mount's tree over a `StoreIndex`.

    Every method that answers about entries takes `who`: the caller's
    `Viewer` when another user asks an --allow-other mount (the answers are
    then what that user may know: mount/privacy.py), None for the mounting
    user and root, who see everything (and whose answers are cached).
    """

    def __init__(self, index: StoreIndex, rules: Access | None = None) -> None:
        """`rules`: the mount lets other users in (--allow-other)."""
        self.index = index
        self.viewers = Viewers(index, rules)
        self.reported = None if rules is None else Reported(index, rules)
        self._lists: dict[Key, tuple[object, Entries]] = {}
        """Listings by directory key, with the stamp they were built at."""
        self._branches: dict[str, tuple[object, Branches]] = {}
        """`branches` by workspace, with the stamp they were brought up to date at."""
        self._branches_lock = threading.Lock()

    # --- resolving ------------------------------------------------------------

    def root(self) -> Entry:
        return _dir(())

    def lookup(self, parent: Entry, name: str, who: Viewer | None = None) -> Entry | None:
        """The entry `name` in directory `parent`, or None; `.` and `..` as on
        any disk (the root is its own parent)."""
        if parent.kind is not EntryKind.DIR or not name or "/" in name:
            return None
        if name == ".":
            return parent
        if name == "..":
            return self.resolve(parent.key[:-1], who) if parent.key else parent
        return self.resolve((*parent.key, name), who)

    def resolve(self, key: Key, who: Viewer | None = None) -> Entry | None:
        """The entry at `key` now, or None if there is none (any more)."""
        if not key:
            return self.root()
        first = key[0]
        if first in ALIASES or first in MD_ALIASES:
            return self._root_alias(key, who) if len(key) == 1 else None
        if first == WORKSPACES:
            return self._workspaces(key, who)
        if first == SESSIONS:
            return self._sessions(key, who)
        return None

    def _root_alias(self, key: Key, who: Viewer | None) -> Entry | None:
        target = self.index.global_latest() if who is None else who.global_latest()
        if target is None:
            return None
        name = self._md_name(target) if key[0] in MD_ALIASES else target.name
        return _link(key, f"{SESSIONS}/{target.fp}/{name}")

    def _exists(self, fp: str) -> Callable[[str], bool]:
        """Whether a transcript of a name is in workspace `fp` (for the md names)."""
        return lambda name: self.index.file(fp, name) is not None

    def _md_name(self, sf: SessionFile) -> str:
        return markdown_name(sf.name, self._exists(sf.fp))

    def _workspaces(self, key: Key, who: Viewer | None) -> Entry | None:
        if len(key) == 1:
            return _dir(key)
        if len(key) != 2:
            return None
        fp = self.index.label_owner(key[1]) if who is None else who.label_owner(key[1])
        return None if fp is None else _link(key, f"../{SESSIONS}/{fp}")

    def _sessions(self, key: Key, who: Viewer | None) -> Entry | None:
        if len(key) == 1:
            return _dir(key)
        fp = key[1]
        if not self.index.has_workspace(fp):
            return None
        if who is not None and not who.sees_workspace(fp):
            return None
        if len(key) == 2:
            return _dir(key)
        name = key[2]
        if len(key) > 3:
            if name == FORKS:
                return self._fork_tree(fp, key, who)
            return self._branch(fp, key, who) if name == BRANCHES else None
        if name in ALIASES or name in MD_ALIASES:
            target = self.index.latest(fp) if who is None else who.latest(fp)
            if target is None:
                return None
            return _link(key, self._md_name(target) if name in MD_ALIASES else target.name)
        if name == FORK:
            return Entry(key, EntryKind.CONTROL, name)
        if name == INDEX_TSV:
            return Entry(key, EntryKind.GENERATED, name)
        if name in (FORKS, BRANCHES):
            return _dir(key)
        sf = self.index.file(fp, name)
        if sf is not None:
            if sf.not_a_file or (who is not None and not who.reaches(sf)):
                return None
            return _transcript(key, sf)
        source = markdown_source(name, self._exists(fp))
        sf = None if source is None else self.index.file(fp, source)
        if sf is None or sf.not_a_file or (who is not None and not who.reaches(sf)):
            return None
        return _markdown(key, sf)

    def _branch(self, fp: str, key: Key, who: Viewer | None) -> Entry | None:
        if len(key) != 4:
            return None
        source = self.branches(fp, who).get(key[3])
        return None if source is None else _link(key, f"../{source}")

    def branches(self, fp: str, who: Viewer | None = None) -> Mapping[str, str]:
        """`branches/` of a workspace: each branch name, made safe as labels
        are, -> the newest session carrying it (claw's order), among the
        sessions of the fork tree (a rotated copy of a live file is none).
        The name is the last meta's, as claw loads it, where the file was
        loaded, else its head's. Kept per version of the workspace and
        brought up to date from the last one (`Branches`): a change looks
        again at what it changed only. For another user (`who`), among the
        sessions it knows (not kept)."""
        stamp = self.index.version(fp)  # first: what is read next is at least as new
        with self._branches_lock:
            cached = self._branches.get(fp)
            if who is None and cached is not None and cached[0] == stamp:
                return cached[1].found
        ws = self.index.workspace(fp)
        if ws is None:
            return {}
        lineage = self.index.lineage(fp)
        if who is not None:
            mine = Branches(self.index)
            mine.update({sf.name: sf for sf in ws.ordered if who.knows(sf)}, lineage)
            return mine.found
        with self._branches_lock:  # worker threads resolve at once: one update at a time
            cached = self._branches.get(fp)
            kept = Branches(self.index) if cached is None else cached[1]
            kept.update(ws.files, lineage)
            if len(self._branches) > 4096:
                self._branches.clear()
            self._branches[fp] = (stamp, kept)
            return kept.found

    def _fork_tree(self, fp: str, key: Key, who: Viewer | None) -> Entry | None:
        """An entry below `sessions/<fp>/forks/`: a lineage node's directory or one of
        its entries. Another user reaches only nodes of sessions it knows (a
        node says whose fork its session is, which only the file says)."""
        parts = key[3:]
        lineage = self.index.lineage(fp)
        if not self._path_ok(fp, lineage, parts, who):
            return None
        if lineage.find(parts) is not None:
            return _dir(key)
        parent = lineage.find(parts[:-1])
        if parent is None:
            return None
        depth = len(parts) - 1
        last = parts[-1]
        if last == FORK:
            return Entry(key, EntryKind.CONTROL, last)
        if last == SESSION_LINK:
            return _link(key, "../" * (depth + 1) + parent.name)
        if last == SESSION_MD:
            return _link(key, "../" * (depth + 1) + markdown_name(parent.name, self._exists(fp)))
        if parent.links and last in parent.children:
            return _link(key, "../" * depth + lineage.nodes[parent.children[last]].dir_name)
        return None

    def _path_ok(self, fp: str, lineage: Lineage, parts: Key, who: Viewer | None) -> bool:
        """Whether the session of every node on `forks/<parts>` (a link to a
        continuation node included) is a file, and one `who` knows (None:
        the mounting user); parts that are no node (`fork`, `session.jsonl`,
        nothing) are left to the usual lookup."""
        node = None
        for n, name in enumerate(parts):
            children = lineage.top if n == 0 else ({} if node is None else node.children)
            entry = children.get(name)
            if entry is None:
                return True
            if not self._shown_node(fp, entry, who):
                return False
            node = lineage.nodes[entry]
        return True

    def _shown_node(self, fp: str, name: str, who: Viewer | None) -> bool:
        """A node of `forks/` is shown for a session that is a file (a
        directory named like one is no node to fork or read) and, to another
        user, that it knows."""
        sf = self.index.file(fp, name)
        return sf is not None and not sf.not_a_file and (who is None or who.knows(sf))

    # --- what entries report to every caller (--allow-other only) ----------------

    def shown(self, entry: Entry, st: os.stat_result | None = None) -> Mode | None:
        """The owner and mode `entry` reports where the backing store decides
        them (mount/privacy.py); None for the mount's own entries (the
        mounting user's, with fixed modes) and when other users cannot enter
        the mount. `st`: a fresh lstat of a transcript's backing file."""
        reported = self.reported
        if reported is None:
            return None
        key = entry.key
        if entry.kind in SESSION_KINDS and entry.backing_path is not None:
            return reported.file(entry.backing_path, st)
        if entry.kind is not EntryKind.DIR or len(key) < 2 or key[0] != SESSIONS:
            return None
        if len(key) <= 3:  # sessions/<fp>, its forks/ and branches/
            return reported.workspace(key[1])
        node = self.index.lineage(key[1]).find(key[3:])
        sf = None if node is None else self.index.file(key[1], node.name)
        return None if sf is None else reported.node(sf)

    def shared(self, entry: Entry) -> bool:
        """Whether everyone the kernel lets into `entry`'s directory may know
        `entry` (then the kernel may keep it; else it asks again on every use,
        so that each caller gets its own answer). Always true where other
        users cannot enter the mount."""
        reported = self.reported
        if reported is None:
            return True
        key = entry.key
        if not key or key in ((WORKSPACES,), (SESSIONS,)):
            return True
        if key[0] in ALIASES or key[0] in MD_ALIASES or key[0] == WORKSPACES:
            return False  # a target, a label: each caller's own
        if len(key) == 2:
            return reported.public_workspace(key[1])
        name = key[2]
        if len(key) == 3:
            if name in ALIASES or name in MD_ALIASES:
                return False
            if entry.kind in SESSION_KINDS:  # its directory's mode is the workspace's
                sf = self.index.file(key[1], entry.source or name)
                if sf is not None and sf.is_link:
                    return False  # who may follow it is each caller's own (Viewer.reaches)
                return reported.workspace(key[1]) is not None
            return True  # fork, index.tsv, forks/, branches/
        if name == FORKS and key[-1] in (FORK, SESSION_LINK, SESSION_MD):
            return True  # inside a node: its mode guards them
        return False  # nodes, links to them, branches: each caller knows its own

    # --- listing ----------------------------------------------------------------

    def entries(self, parent: Entry, who: Viewer | None = None) -> Entries:
        """The entries of a directory, in listing order (cached for the
        mounting user, see the module; built for each other user's open)."""
        if parent.kind is not EntryKind.DIR:
            return []
        key = parent.key
        if who is not None:
            return self._build(key, who)
        stamp = self.stamp(key)
        cached = self._lists.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        entries = self._build(key, None)
        if len(self._lists) > 4096:
            self._lists.clear()
        self._lists[key] = (stamp, entries)
        return entries

    def stamp(self, key: Key) -> object:
        """The state of the index that the entry at `key` and its listing are
        computed from: it changes whenever they may. Below `sessions/<fp>/`,
        that workspace's version; elsewhere (the aliases of the root, the
        labels, the lists of workspaces) the whole index's generation."""
        if len(key) >= 2 and key[0] == SESSIONS:
            return self.index.version(key[1])
        return self.index.generation

    def _build(self, key: Key, who: Viewer | None) -> Entries:
        if not key:
            alias = [self._root_alias((name,), who) for name in (*ALIASES, *MD_ALIASES)]
            return [n for n in alias if n is not None] + [_dir((WORKSPACES,)), _dir((SESSIONS,))]
        if key == (WORKSPACES,):
            labelled = self.index.labels() if who is None else who.labels()
            return [
                _link((WORKSPACES, label), f"../{SESSIONS}/{fp}")
                for fp, label in sorted(labelled.items(), key=lambda item: item[1])
            ]
        if key == (SESSIONS,):
            fps = self.index.fingerprints()
            return [
                _dir((SESSIONS, fp)) for fp in fps if who is None or who.sees_workspace(fp)
            ]
        if len(key) >= 2 and key[0] == SESSIONS and who is not None:
            if not who.sees_workspace(key[1]):
                return []
        if len(key) == 2 and key[0] == SESSIONS:
            return self._list_workspace(key, who)
        if len(key) >= 3 and key[0] == SESSIONS and key[2] == FORKS:
            return self._list_forks(key, who)
        if len(key) == 3 and key[0] == SESSIONS and key[2] == BRANCHES:
            return [_link((*key, name), f"../{source}")
                    for name, source in sorted(self.branches(key[1], who).items())]
        return []

    def _list_workspace(self, key: Key, who: Viewer | None) -> Entries:
        ws = self.index.workspace(key[1])
        if ws is None:
            return []
        files = ws.files

        def exists(name: str) -> bool:
            return name in files

        target = self.index.latest(ws.fp) if who is None else who.latest(ws.fp)
        entries = []
        if target is not None:
            md = markdown_name(target.name, exists)
            entries += [_link((*key, a), target.name) for a in ALIASES]
            entries += [_link((*key, a), md) for a in MD_ALIASES]
        entries += [
            Entry((*key, FORK), EntryKind.CONTROL, FORK),
            Entry((*key, INDEX_TSV), EntryKind.GENERATED, INDEX_TSV),
            _dir((*key, FORKS)),
            _dir((*key, BRANCHES)),
        ]
        for sf in ws.ordered:  # each transcript, then its Markdown
            if sf.not_a_file or (who is not None and not who.sees(sf)):
                continue  # a merged directory's other names; a link it may not follow
            entries.append(_transcript((*key, sf.name), sf))
            entries.append(_markdown((*key, markdown_name(sf.name, exists)), sf))
        return entries

    def _list_forks(self, key: Key, who: Viewer | None) -> Entries:
        fp = key[1]
        lineage = self.index.lineage(fp)
        if not self._path_ok(fp, lineage, key[3:], who):
            return []

        def known(name: str) -> bool:
            return self._shown_node(fp, name, who)

        if len(key) == 3:
            return [_dir((*key, name)) for name, entry in lineage.top.items() if known(entry)]
        node = lineage.find(key[3:])
        if node is None:
            return []
        depth = len(key) - 3
        up = "../" * (depth + 1)
        entries = [
            Entry((*key, FORK), EntryKind.CONTROL, FORK),
            _link((*key, SESSION_LINK), up + node.name),
            _link((*key, SESSION_MD), up + markdown_name(node.name, self._exists(key[1]))),
        ]
        for name, child in node.children.items():
            if not known(child):
                continue
            if node.links:
                entries.append(_link((*key, name), "../" * depth + lineage.nodes[child].dir_name))
            else:
                entries.append(_dir((*key, name)))
        return entries


class Branches:
    """`branches/` of one workspace, kept from one state to the next (`View.branches`).

    What each session carries (`labels`: entry name -> branch name made
    safe, for the sessions of the fork tree that carry one) and the newest
    carrier of each (`found`). `update` takes the workspace's files and
    fork tree now and looks again only at the names whose file is another
    object than last time (the index's records are immutable: a new
    version is a new object; the two mappings are compared in C) or that
    came into or left the tree (`lineage.moved`: the names the tree's
    steps since added or took away); a branch's newest carrier is searched
    among its carriers only when the one it had left or moved down the
    order.
    """

    def __init__(self, index: StoreIndex) -> None:
        self._index = index
        self._files: Mapping[str, SessionFile] = {}
        self._lineage = Lineage()
        self.labels: dict[str, str] = {}
        self.carriers: dict[str, set[str]] = {}
        self.found: dict[str, str] = {}

    def update(self, files: Mapping[str, SessionFile], lineage: Lineage) -> None:
        """Bring `found` up to date with `files` and `lineage` (see the class).

        The labels now are computed first (the only step that calls out);
        then every changed name is taken out before any is put back, so a
        branch's newest carrier that left (deleted, renamed) is never
        compared with; the kept state is replaced last, so a failure leaves
        the last one whole and the next update sees the same changes again.
        """
        changed = self._changed(files, lineage)
        now = {name: self._label_now(name, files, lineage) for name in changed}
        found = dict(self.found)  # the last one may be in use: never changed
        recheck: set[str] = set()
        for name in now:
            old = self.labels.pop(name, None)
            if old is not None:
                self.carriers[old].discard(name)
                if found.get(old) == name:
                    recheck.add(old)
        for name, label in now.items():
            if label is None:
                continue
            self.labels[name] = label
            self.carriers.setdefault(label, set()).add(name)
            newest = found.get(label)
            if label in recheck:
                continue
            if newest is None or files[name].sort_key < files[newest].sort_key:
                found[label] = name
        for label in recheck:
            carriers = self.carriers.get(label)
            if carriers:
                found[label] = min(carriers, key=lambda name: files[name].sort_key)
            else:
                found.pop(label, None)
                self.carriers.pop(label, None)
        self._files, self._lineage, self.found = files, lineage, found

    def _changed(self, files: Mapping[str, SessionFile], lineage: Lineage) -> set[str]:
        """The names whose file is another object than last time, or that came
        into or left the fork tree."""
        changed = {name for name, _ in files.items() ^ self._files.items()}
        if lineage is not self._lineage:
            steps = lineage_tree.moved(lineage, self._lineage)
            changed |= lineage.nodes.keys() ^ self._lineage.nodes.keys() if steps is None else steps
        return changed

    def _label_now(
        self, name: str, files: Mapping[str, SessionFile], lineage: Lineage
    ) -> str | None:
        """The branch the session `name` carries now (None: none, not a
        session of the fork tree, or gone)."""
        sf = files.get(name)
        return None if sf is None or name not in lineage.nodes else self._label(sf)

    def _label(self, sf: SessionFile) -> str | None:
        """The branch `sf` carries, made safe (None: none)."""
        loaded = self._index.cached_load(sf)
        branch = sf.branch_name if loaded is None else loaded.branch_name
        return labels.as_name(branch) if branch else None
