"""Lineage from parent ids: roots, children, orphans, duplicates, cycles, depth."""

from __future__ import annotations

import contextlib
import inspect
import random
import sys
from collections.abc import Iterator

import pytest

from clawfs.store import lineage
from clawfs.store.lineage import MAX_DEPTH, Member


def m(name: str, sid: str, parent: str | None = None, precedence: int = 0) -> Member:
    stem = name.rsplit(".", 1)[0]
    return Member(name=name, session_id=sid, parent_session_id=parent, stem=stem,
                  precedence=precedence)


def test_children_and_orphans() -> None:
    tree = lineage.build([
        m("c.jsonl", "c", "a"),
        m("a.jsonl", "a"),
        m("b.jsonl", "b", "a"),
        m("orphan.jsonl", "orphan", "missing"),
    ])
    assert list(tree.top) == ["a", "orphan"]
    assert list(tree.nodes["a.jsonl"].children) == ["c", "b"]  # claw's order
    assert tree.path("b.jsonl") == ("a", "b")
    assert tree.parent_of("b.jsonl") == "a.jsonl"
    assert tree.find(("a", "c")) is tree.nodes["c.jsonl"]
    assert tree.find(("a", "zz")) is None


def test_duplicate_ids_prefer_the_primary_file() -> None:
    members = [
        m("copy.jsonl", "s1"),  # first in order, but not named after the id
        m("s1.rot-5.jsonl", "s1"),
        m("s1.jsonl", "s1"),
        m("child.jsonl", "child", "s1"),
    ]
    tree = lineage.build(members)
    assert tree.parent_of("child.jsonl") == "s1.jsonl"
    # Two primaries (two roots): the root of higher precedence.
    tree = lineage.build([
        m("s1~abcd.jsonl", "s1", precedence=1),
        Member("s1.jsonl", "s1", None, "s1", 0),
        m("child.jsonl", "child", "s1"),
    ])
    assert tree.parent_of("child.jsonl") == "s1.jsonl"
    # No primary: the first carrying the id in claw's order.
    tree = lineage.build([m("x.jsonl", "s1"), m("y.jsonl", "s1"), m("c.jsonl", "c", "s1")])
    assert tree.parent_of("c.jsonl") == "x.jsonl"


def test_cycles_are_broken_with_members_at_the_root() -> None:
    tree = lineage.build([
        m("a.jsonl", "a", "c"),
        m("b.jsonl", "b", "a"),
        m("c.jsonl", "c", "b"),
        m("d.jsonl", "d", "b"),
        m("self.jsonl", "self", "self"),
    ])
    assert set(tree.top) == {"a", "b", "c", "self"}
    assert tree.parent_of("d.jsonl") == "b.jsonl"
    assert sorted(len(c) for c in tree.cycles) == [1, 3]


def test_dir_names_avoid_clashes_and_reserved_names() -> None:
    tree = lineage.build([
        m("a.jsonl", "a"),
        m("a.json", "a2"),
        m("fork.jsonl", "f"),
        m("session.jsonl.jsonl", "s"),
    ])
    assert list(tree.top) == ["a", "a.json", "fork.jsonl", "session.jsonl.jsonl"]


def test_depth_limit_makes_continuation_nodes() -> None:
    chain = [m("s0.jsonl", "s0")] + [
        m(f"s{n}.jsonl", f"s{n}", f"s{n - 1}") for n in range(1, 150)
    ]
    tree = lineage.build(chain)
    deepest = tree.nodes[f"s{MAX_DEPTH - 1}.jsonl"]
    assert deepest.depth == MAX_DEPTH and deepest.links
    assert list(deepest.children) == [f"s{MAX_DEPTH}"]
    cont = tree.nodes[f"s{MAX_DEPTH}.jsonl"]
    assert cont.parent is None and cont.continued_from == deepest.name and cont.depth == 1
    assert list(tree.top) == ["s0", f"s{MAX_DEPTH}", f"s{2 * MAX_DEPTH}"]
    assert len(tree.path(f"s{MAX_DEPTH * 2 - 1}.jsonl")) == MAX_DEPTH
    assert tree.parent_of(f"s{MAX_DEPTH}.jsonl") == deepest.name
    # find never follows a continuation link.
    path = tree.path(deepest.name)
    assert tree.find((*path, f"s{MAX_DEPTH}")) is None


@contextlib.contextmanager
def shallow_stack(frames: int = 50) -> Iterator[None]:
    """Allow only `frames` Python frames above the caller: code that recursed
    once per link of a long chain fails with RecursionError."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack(0)) + frames)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def test_thousand_deep_chain_and_thousand_forks_are_linear(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Counted, not timed: no recursion, and each node is named once (twice when
    it also gets a top-level continuation link)."""
    named: list[str] = []
    real_dir_name = lineage._dir_name

    def counting_dir_name(entry: str, taken: set[str]) -> str:
        named.append(entry)
        return real_dir_name(entry, taken)

    monkeypatch.setattr(lineage, "_dir_name", counting_dir_name)
    chain = [m("s0.jsonl", "s0")] + [m(f"s{n}.jsonl", f"s{n}", f"s{n - 1}") for n in range(1, 1000)]
    fan = [m("p.jsonl", "p")] + [m(f"f{n}.jsonl", f"f{n}", "p") for n in range(1000)]
    with shallow_stack():
        deep = lineage.build(chain)
    assert len(deep.nodes) == 1000 and len(deep.top) == 16  # ceil(1000 / 64)
    assert len(named) == 1000 + 15  # 15 links continue the chain at the top
    named.clear()
    with shallow_stack():
        wide = lineage.build(fan)
    assert len(wide.nodes["p.jsonl"].children) == 1000
    assert len(named) == 1001
    # A long cycle is broken without recursion too.
    ring = [m(f"r{n}.jsonl", f"r{n}", f"r{(n + 1) % 5000}") for n in range(5000)]
    with shallow_stack():
        assert len(lineage.build(ring).top) == 5000


def _same(a: lineage.Lineage, b: lineage.Lineage) -> None:
    assert list(a.top.items()) == list(b.top.items())
    assert a.nodes.keys() == b.nodes.keys()
    for name, node in a.nodes.items():
        other = b.nodes[name]
        assert (node.dir_name, node.parent, node.depth, node.links, node.continued_from) == (
            other.dir_name, other.parent, other.depth, other.links, other.continued_from)
        assert list(node.children.items()) == list(other.children.items())
    assert a.cycles == b.cycles
    assert a.owner == b.owner
    assert a.orphans == b.orphans


def _random_members(rng: random.Random, least: int, most: int) -> list[Member]:
    """Members of random ids, parents and names (clashing names redrawn away)."""
    members: list[Member] = []
    for n in range(rng.randrange(least, most)):
        sid = rng.choice(IDS)
        parent = rng.choice([None, "missing", *IDS])
        name = rng.choice([f"{sid}.jsonl", f"f{n}.jsonl", "fork", f"{sid}.json"])
        if name not in {x.name for x in members}:
            members.append(m(name, sid, parent))
    return members


IDS = [f"s{n}" for n in range(12)]
SEEDS = 1000
COMPARED_AT_LEAST = 250
"""Of SEEDS random cases, how many must be answered in place (not declined),
so that a `grown`/`shrunk` that always declines fails."""


def test_grown_equals_a_rebuild() -> None:
    """Adding a member incrementally gives exactly the tree `build` gives,
    or declines (None); clashes, known ids, waiting children and depth included."""
    compared = 0
    for seed in range(SEEDS):
        rng = random.Random(seed)
        members = _random_members(rng, 0, 10)
        new_sid = rng.choice([*IDS, "fresh"])
        new = m(rng.choice([f"{new_sid}.jsonl", "f1.jsonl", "new.jsonl", "s1.json"]), new_sid,
                rng.choice([None, "missing", *IDS]))
        if new.name in {x.name for x in members}:
            continue
        at = rng.randrange(len(members) + 1)
        after = [*members[:at], new, *members[at:]]
        rank = {x.name: (position, 0, b"", 0, x.name) for position, x in enumerate(after)}
        result = lineage.grown(lineage.build(members), new, rank.__getitem__)
        if result is not None:
            _same(result, lineage.build(after))
            compared += 1
    assert compared >= COMPARED_AT_LEAST, compared


def test_grown_leaf_under_its_parent_and_at_the_top() -> None:
    members = [m("a.jsonl", "a"), m("b.jsonl", "b", "a")]
    rank = {"c.jsonl": (0, 0, b"", 0, "c"), "a.jsonl": (1, 0, b"", 0, "a"),
            "b.jsonl": (2, 0, b"", 0, "b"), "d.jsonl": (3, 0, b"", 0, "d")}
    before = lineage.build(members)
    child = lineage.grown(before, m("c.jsonl", "c", "a"), rank.__getitem__)
    assert child is not None
    assert list(child.nodes["a.jsonl"].children) == ["c", "b"]
    assert list(before.nodes["a.jsonl"].children) == ["b"]  # readers keep the old tree
    top = lineage.grown(child, m("d.jsonl", "d", "gone"), rank.__getitem__)
    assert top is not None and list(top.top) == ["a", "d"]
    # an id a session waits for as its parent re-parents it: rebuild
    assert lineage.grown(top, m("g.jsonl", "gone"), rank.__getitem__) is None


def test_moved_names_the_nodes_that_came_or_went_since_a_tree() -> None:
    """`moved` follows the steps of `grown` and `shrunk` back to an older
    tree; a tree built anew, or one whose steps between are gone, says None."""
    rank = {"c.jsonl": (0, 0, b"", 0, "c"), "a.jsonl": (1, 0, b"", 0, "a"),
            "b.jsonl": (2, 0, b"", 0, "b")}
    before = lineage.build([m("a.jsonl", "a"), m("b.jsonl", "b", "a")])
    child = lineage.grown(before, m("c.jsonl", "c", "a"), rank.__getitem__)
    assert child is not None
    gone = lineage.shrunk(child, m("b.jsonl", "b", "a"), lambda name: False)
    assert gone is not None
    assert lineage.moved(gone, before) == {"b.jsonl", "c.jsonl"}
    assert lineage.moved(child, child) == set()
    assert lineage.moved(before, gone) is None  # not made from it
    assert lineage.moved(lineage.build([m("a.jsonl", "a")]), before) is None
    del child  # a step between let go of: not followed
    assert lineage.moved(gone, before) is None


def test_shrunk_equals_a_rebuild() -> None:
    """Taking a member away in place gives exactly the tree `build` gives
    without it, or declines (None); shared ids, name picks and depth included."""
    compared = 0
    for seed in range(SEEDS):
        rng = random.Random(seed)
        members = _random_members(rng, 1, 12)
        gone = rng.choice(members)
        after = [x for x in members if x is not gone]
        names = {x.name for x in after}
        result = lineage.shrunk(lineage.build(members), gone, names.__contains__)
        if result is None:
            continue
        compared += 1
        rebuilt = lineage.build(after)
        assert list(result.top.items()) == list(rebuilt.top.items())
        assert {n: (v.dir_name, v.parent, v.depth, list(v.children.items()))
                for n, v in result.nodes.items()} == {
            n: (v.dir_name, v.parent, v.depth, list(v.children.items()))
            for n, v in rebuilt.nodes.items()}
        assert result.owner == rebuilt.owner
        assert result.orphans >= rebuilt.orphans  # may keep one nobody names any more
    assert compared >= COMPARED_AT_LEAST, compared


def test_shrunk_takes_a_leaf_away_and_declines_a_parent() -> None:
    members = [m("a.jsonl", "a"), m("b.jsonl", "b", "a"), m("c.jsonl", "c")]
    before = lineage.build(members)
    names = {"a.jsonl", "c.jsonl"}
    child = lineage.shrunk(before, members[1], names.__contains__)
    assert child is not None and not child.nodes["a.jsonl"].children
    assert list(before.nodes["a.jsonl"].children) == ["b"]  # readers keep the old tree
    top = lineage.shrunk(child, members[2], {"a.jsonl"}.__contains__)
    assert top is not None and list(top.top) == ["a"]
    assert lineage.shrunk(before, members[0], {"b.jsonl", "c.jsonl"}.__contains__) is None
    # a stem another file would take (x.json wants x.jsonl's): rebuild
    pair = [m("x.jsonl", "x"), m("x.json", "y")]
    assert lineage.shrunk(lineage.build(pair), pair[0], {"x.json"}.__contains__) is None
