"""The fork tree of one workspace, from the parent ids inside the files (SPEC §2).

Entry names come from file names, parent links from the ids in the files,
so the two have to be joined: an id is owned by its *primary* file (one
whose stem is the id, the first by root precedence), else by the first file
carrying it in claw's order. A session whose parent id has no owner in the
workspace is a root of `forks/`. Parent ids are data and may form cycles:
their members are put at the root. Nesting stops at `MAX_DEPTH`: a node
there shows its children as symlinks to *continuation* nodes at the top of
`forks/`, so no path outgrows PATH_MAX.

Everything here is iterative and linear in the number of sessions: a
1,000-deep chain or a session with 1,000 forks costs no recursion and no
quadratic scan. Rotated copies whose live file exists are not nodes; the
index leaves them out before calling `build`.
"""

from __future__ import annotations

import itertools
import weakref
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from clawfs.format import session
from clawfs.store.order import SortKey

MAX_DEPTH = 64
"""Levels of `forks/<a>/<b>/...` before continuation nodes take over."""

RESERVED = frozenset({"fork", "session.jsonl", "session.md", "", ".", ".."})
"""Names a node directory holds besides its children, and non-names."""


@dataclass(frozen=True, slots=True)
class Member:
    """One session as the lineage sees it.

    `name` is the entry name in the workspace (unique there); `stem` is the
    stem of the name the file has on disk, used to find the primary file of
    an id; `precedence` is its root's.
    """

    name: str
    session_id: str
    parent_session_id: str | None
    stem: str
    precedence: int


@dataclass(slots=True)
class ForkNode:
    """One directory in `forks/`.

    `children` maps the child directory names of this node to entry names,
    in claw's order. For a node at `MAX_DEPTH`, the children are
    continuation nodes and `links` says so: they are shown as symlinks to
    their directory at the top of `forks/`.
    """

    name: str
    dir_name: str
    parent: str | None
    depth: int
    children: dict[str, str] = field(default_factory=dict)
    links: bool = False
    continued_from: str | None = None
    """For a continuation node: the entry name of its real parent."""


@dataclass(slots=True, weakref_slot=True)
class Lineage:
    top: dict[str, str] = field(default_factory=dict)
    """Directory names at the top of `forks/` -> entry names, in order."""
    nodes: dict[str, ForkNode] = field(default_factory=dict)
    """Entry name -> node."""
    cycles: list[list[str]] = field(default_factory=list)
    """Parent cycles found and broken (entry names), for logs and tests."""
    owner: dict[str, str] = field(default_factory=dict)
    """Session id -> entry name of its owner (`owners`), for `grown`."""
    orphans: frozenset[str] = frozenset()
    """Parent ids no member owns, for `grown`: a new owner of one moves its children.
    (`shrunk` may leave one that no member names any more: `grown` then
    rebuilds where it need not, never the other way round.)"""
    shared: frozenset[str] = frozenset()
    """Session ids more than one member carries, for `shrunk`: removing the
    owner of one gives it another."""
    origin: tuple[weakref.ref[Lineage], str] | None = None
    """The tree this one was made from by `grown` or `shrunk` (while it is
    alive) and the entry name that step added or took away: what a reader
    keeping something per node needs to look at again (`moved`)."""

    def find(self, dir_names: Sequence[str]) -> ForkNode | None:
        """The node at `forks/<dir_names...>`; None if there is none.

        Never follows a link: a continuation node is reached from the top.
        """
        if not dir_names:
            return None
        entry = self.top.get(dir_names[0])
        node = None if entry is None else self.nodes[entry]
        for name in dir_names[1:]:
            if node is None or node.links:
                return None
            entry = node.children.get(name)
            node = None if entry is None else self.nodes[entry]
        return node

    def path(self, name: str) -> tuple[str, ...]:
        """Directory names from `forks/` down to the node of entry `name`."""
        parts: list[str] = []
        node: ForkNode | None = self.nodes[name]
        while node is not None:
            parts.append(node.dir_name)
            node = None if node.parent is None else self.nodes[node.parent]
        parts.reverse()
        return tuple(parts)

    def parent_of(self, name: str) -> str | None:
        """The entry name of the session `name` was forked from, if in this tree."""
        node = self.nodes[name]
        return node.continued_from if node.parent is None else node.parent


def owners(members: Sequence[Member]) -> dict[str, str]:
    """Session id -> entry name of the file that stands for it."""
    primary: dict[str, Member] = {}
    first: dict[str, str] = {}
    for member in members:
        sid = member.session_id
        first.setdefault(sid, member.name)
        if member.stem == sid:
            known = primary.get(sid)
            if known is None or member.precedence < known.precedence:
                primary[sid] = member
    return {sid: primary[sid].name if sid in primary else name for sid, name in first.items()}


def build(members: Sequence[Member]) -> Lineage:
    """The tree of `members`, given in claw's list order."""
    owner = owners(members)
    parent: dict[str, str | None] = {}
    for member in members:
        pid = member.parent_session_id
        parent[member.name] = None if pid is None else owner.get(pid)
    orphans = frozenset(
        pid for m in members if (pid := m.parent_session_id) is not None and pid not in owner
    )
    carried = Counter(member.session_id for member in members)
    shared = frozenset(sid for sid, count in carried.items() if count > 1)
    lineage = Lineage(owner=owner, orphans=orphans, shared=shared)
    lineage.cycles = _break_cycles(parent)
    children: dict[str, list[str]] = {member.name: [] for member in members}
    roots: list[str] = []
    for member in members:
        up = parent[member.name]
        if up is None:
            roots.append(member.name)
        else:
            children[up].append(member.name)
    _place(lineage, roots, children)
    return lineage


def grown(lineage: Lineage, member: Member, rank: Callable[[str], SortKey]) -> Lineage | None:
    """`lineage` with one more member, when that only adds a leaf; else None.

    A new session is almost always a leaf: its id is new, nothing names it
    as parent, and its directory takes its stem. Then `build` would give
    the same tree plus one node under its parent (or at the top), so it is
    added here in O(siblings) instead of rebuilding a 10,000-member tree on
    every new session or fork. `rank` orders entry names as the members
    passed to `build` were (claw's order). Anything else (an id seen
    before, a parent id waiting for its owner, a name clash, cycles, the
    nesting limit) gives None: rebuild. `lineage` is not changed (readers
    may hold it); the result shares its unchanged nodes.
    """
    sid, pid, name = member.session_id, member.parent_session_id, member.name
    stem = session.file_stem(name)
    if (
        name in lineage.nodes
        or sid in lineage.owner
        or sid in lineage.orphans
        or pid == sid  # its own parent: a cycle
        or stem in RESERVED
        or lineage.cycles
    ):
        return None
    up = None if pid is None else lineage.owner.get(pid)
    orphans = lineage.orphans if pid is None or up is not None else lineage.orphans | {pid}
    out = Lineage(lineage.top, dict(lineage.nodes), [], {**lineage.owner, sid: name},
                  orphans, lineage.shared,  # `top` is shared until a new one is made
                  (weakref.ref(lineage), name))
    key = rank(name)
    if up is None:
        if stem in lineage.top:
            return None
        nodes = lineage.nodes
        out.top = _inserted(
            lineage.top, stem, name,
            lambda entry: nodes[entry].continued_from is not None or rank(entry) > key,
        )
        out.nodes[name] = ForkNode(name, stem, None, 1)
        return out
    parent = lineage.nodes[up]
    if parent.depth >= MAX_DEPTH or stem in parent.children:
        return None
    children = _inserted(parent.children, stem, name, lambda entry: rank(entry) > key)
    out.nodes[up] = replace(parent, children=children)
    out.nodes[name] = ForkNode(name, stem, up, parent.depth + 1)
    return out


def shrunk(lineage: Lineage, member: Member, taken: Callable[[str], bool]) -> Lineage | None:
    """`lineage` without `member`, when that only takes a leaf away; else None.

    What `build` would give without it, in O(siblings) instead of a rebuild
    of a 10,000-member tree on every deletion (claw's rotation, a fork
    thrown away). A leaf whose id no other member carries, whose directory
    name is its stem and no sibling's next pick (`taken(name)`: whether a
    file of that entry name is in the workspace: `x.json` wants the stem
    of `x.jsonl`), not a continuation node, in a tree without cycles.
    Anything else gives None: rebuild. `lineage` is not changed (readers
    may hold it); the result shares its unchanged nodes.
    """
    name = member.name
    node = lineage.nodes.get(name)
    if node is None:
        return lineage  # not in the tree (a rotated copy of a live file)
    stem = session.file_stem(name)
    if (
        node.children
        or node.continued_from is not None
        or lineage.cycles
        or member.session_id in lineage.shared
        or node.dir_name != stem
        or any(other != name and taken(other) for other in (stem + ".jsonl", stem + ".json"))
    ):
        return None
    owner = dict(lineage.owner)
    if owner.get(member.session_id) == name:
        del owner[member.session_id]
    nodes = dict(lineage.nodes)
    del nodes[name]
    out = Lineage(dict(lineage.top), nodes, [], owner, lineage.orphans, lineage.shared,
                  (weakref.ref(lineage), name))
    if node.parent is None:
        del out.top[node.dir_name]
        return out
    parent = lineage.nodes[node.parent]
    children = {k: v for k, v in parent.children.items() if v != name}
    nodes[parent.name] = replace(parent, children=children)
    return out


def moved(new: Lineage, old: Lineage, steps: int = 64) -> set[str] | None:
    """The entry names that became or stopped being nodes from `old` to `new`,
    when `new` was made from `old` by at most `steps` calls of `grown` and
    `shrunk` (followed back through `origin`); None when it was not (built
    anew, or a step between is no longer alive): compare the nodes then."""
    names: set[str] = set()
    tree: Lineage | None = new
    for _ in range(steps):
        if tree is old:
            return names
        if tree is None or tree.origin is None:
            return None
        back, name = tree.origin
        names.add(name)
        tree = back()
    return names if tree is old else None


def _inserted(
    names: dict[str, str], dir_name: str, entry: str, after: Callable[[str], bool]
) -> dict[str, str]:
    """A copy of `names` with `dir_name` -> `entry` put before the first entry
    `after` it. Only the entries before it are looked at (a new session goes
    first among 50,000 at the top of `forks/`); the copy is made in C."""
    position = next((n for n, other in enumerate(names.values()) if after(other)), len(names))
    items = iter(names.items())
    result = dict(itertools.islice(items, position))
    result[dir_name] = entry
    result.update(items)
    return result


def _break_cycles(parent: dict[str, str | None]) -> list[list[str]]:
    """Cut every cycle of parent links; its members become roots.

    Each node has at most one parent, so following parents from any node
    ends at a root or runs into a cycle. Every node is walked once.
    """
    state: dict[str, int] = {}  # 1 = on the current walk, 2 = done
    cycles: list[list[str]] = []
    for start in parent:
        if start in state:
            continue
        walk: list[str] = []
        node: str | None = start
        while node is not None and node not in state:
            state[node] = 1
            walk.append(node)
            node = parent[node]
        if node is not None and state[node] == 1:
            cycle = walk[walk.index(node) :]
            cycles.append(cycle)
            for member in cycle:
                parent[member] = None
        for member in walk:
            state[member] = 2
    return cycles


def _place(lineage: Lineage, roots: list[str], children: dict[str, list[str]]) -> None:
    """Give every node its directory, depth first level by level (a queue)."""
    top_taken: set[str] = set()
    queue: deque[str] = deque()
    for name in roots:
        dir_name = _dir_name(name, top_taken)
        lineage.top[dir_name] = name
        lineage.nodes[name] = ForkNode(name, dir_name, None, 1)
        queue.append(name)
    while queue:
        node = lineage.nodes[queue.popleft()]
        kids = children[node.name]
        if not kids:
            continue
        node.links = node.depth >= MAX_DEPTH
        taken: set[str] = set()
        for kid in kids:
            local = _dir_name(kid, taken)
            node.children[local] = kid
            if node.links:
                top_name = _dir_name(kid, top_taken)
                lineage.top[top_name] = kid
                lineage.nodes[kid] = ForkNode(kid, top_name, None, 1, continued_from=node.name)
            else:
                lineage.nodes[kid] = ForkNode(kid, local, node.name, node.depth + 1)
            queue.append(kid)


def _dir_name(entry: str, taken: set[str]) -> str:
    """The file stem, else the whole name, else a numbered name; unique in `taken`."""
    stem = session.file_stem(entry)
    for candidate in (stem, entry):
        if candidate not in taken and candidate not in RESERVED:
            taken.add(candidate)
            return candidate
    number = 2
    while f"{entry}~{number}" in taken:
        number += 1
    taken.add(f"{entry}~{number}")
    return f"{entry}~{number}"
