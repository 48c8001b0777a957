"""The pure view tree, without a mount: resolve, lookup and list."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clawfs.format import fingerprint
from clawfs.mount import control
from clawfs.mount.view import (
    Entry,
    EntryKind,
    View,
    derived,
    markdown_name,
    markdown_source,
    workspace_of,
)
from clawfs.store.index import StoreIndex
from clawfs.store.lineage import MAX_DEPTH

import storegen as sg

T0 = 1_760_000_000_000

ViewOf = Callable[..., View]


def _follow(view: View, link: Entry) -> Entry | None:
    """Resolve a symlink entry's relative target inside the view, as the kernel would."""
    assert link.kind is EntryKind.SYMLINK and link.target is not None
    parts = list(link.key[:-1])
    for part in link.target.split("/"):
        if part == "..":
            parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return view.resolve(tuple(parts))


def _names(entries: list[Entry]) -> list[str]:
    return [e.name for e in entries]


def test_root_and_workspaces(project: tuple[View, str, Path]) -> None:
    view, fp, d = project
    root = view.root()
    assert root.kind is EntryKind.DIR and root.key == ()
    assert _names(view.entries(root)) == [
        "latest", "last", "recent", "latest.md", "last.md", "recent.md", "workspaces", "sessions"
    ]
    latest = view.lookup(root, "latest")
    assert latest is not None and latest.target == f"sessions/{fp}/session-2-0.jsonl"
    target = _follow(view, latest)
    assert target is not None and target.kind is EntryKind.TRANSCRIPT
    assert target.backing_path == str(d / "session-2-0.jsonl")
    workspaces = view.lookup(root, "workspaces")
    assert workspaces is not None
    links = view.entries(workspaces)
    assert _names(links) == ["myproj"] and links[0].target == f"../sessions/{fp}"
    followed = _follow(view, links[0])
    assert followed is not None and followed.key == ("sessions", fp)
    sessions = view.lookup(root, "sessions")
    assert sessions is not None and _names(view.entries(sessions)) == [fp]
    assert view.lookup(root, "nothing") is None
    assert view.lookup(root, "..") == root and view.lookup(root, ".") == root
    assert view.lookup(sessions, "..") == root and view.lookup(sessions, ".") == sessions
    for bad in ["", "a/b", "sessions/"]:
        assert view.lookup(root, bad) is None


def test_workspace_dir(project: tuple[View, str, Path]) -> None:
    view, fp, d = project
    ws = view.resolve(("sessions", fp))
    assert ws is not None
    entries = view.entries(ws)
    assert _names(entries) == [
        "latest", "last", "recent", "latest.md", "last.md", "recent.md",
        "fork", "index.tsv", "forks", "branches",
        "session-4-0.jsonl", "session-4-0.md", "session-3-0.jsonl", "session-3-0.md",
        "session-2-0.jsonl", "session-2-0.md", "session-1-0.jsonl", "session-1-0.md",
        "broken.jsonl", "broken.md",
    ]
    kinds = {n.name: n.kind for n in entries}
    assert kinds["fork"] is EntryKind.CONTROL and kinds["index.tsv"] is EntryKind.GENERATED
    for entry in entries:
        assert view.resolve(entry.key) == entry
        assert view.lookup(ws, entry.name) == entry
    # session-4-0 is foreign (its root is elsewhere); session-3-0 is empty.
    assert (view.lookup(ws, "latest") or pytest.fail()).target == "session-2-0.jsonl"
    transcript = view.lookup(ws, "session-1-0.jsonl")
    assert transcript is not None and transcript.file_key is not None
    assert transcript.file_key.ino == os.stat(d / "session-1-0.jsonl").st_ino
    assert view.entries(ws) is view.entries(ws)  # cached while nothing changes


def test_forks_tree(project: tuple[View, str, Path]) -> None:
    view, fp, d = project
    forks = view.resolve(("sessions", fp, "forks"))
    assert forks is not None
    assert _names(view.entries(forks)) == ["session-4-0", "session-1-0", "broken"]
    entry = view.resolve(("sessions", fp, "forks", "session-1-0", "session-2-0"))
    assert entry is not None and entry.kind is EntryKind.DIR
    assert _names(view.entries(entry)) == ["fork", "session.jsonl", "session.md", "session-3-0"]
    link = view.lookup(entry, "session.jsonl")
    assert link is not None and link.target == "../../../session-2-0.jsonl"
    top_link = view.resolve(("sessions", fp, "forks", "session-1-0", "session.jsonl"))
    assert top_link is not None and top_link.target == "../../session-1-0.jsonl"
    followed = _follow(view, link)
    assert followed is not None and followed.backing_path == str(d / "session-2-0.jsonl")
    assert view.resolve(("sessions", fp, "forks", "session-1-0", "nope")) is None
    assert view.resolve(("sessions", fp, "forks", "nope", "fork")) is None


def test_no_latest_means_no_alias(view_of: ViewOf, tmp_path: Path) -> None:
    ws = os.path.realpath(tmp_path)
    root = tmp_path / "root"
    d = sg.fp_dir(root, ws)
    sg.write_session(d, sg.make_session("session-1-0", messages=0, workspace_root=ws))
    view = view_of(root)
    assert _names(view.entries(view.root())) == ["workspaces", "sessions"]
    assert view.resolve(("latest",)) is None
    assert view.resolve(("sessions", d.name, "latest")) is None


def test_gone_file_resolves_to_none(project: tuple[View, str, Path]) -> None:
    view, fp, d = project
    key = ("sessions", fp, "session-1-0.jsonl")
    assert view.resolve(key) is not None
    os.unlink(d / "session-1-0.jsonl")
    view.index.refresh_path(str(d / "session-1-0.jsonl"))
    assert view.resolve(key) is None
    assert view.resolve(("sessions", "0000000000000000")) is None


def test_deep_chain_continuation(view_of: ViewOf, tmp_path: Path) -> None:
    """1,000 forks deep: continuation links at depth 64 lead to nodes at the top of forks/."""
    ws = os.path.realpath(tmp_path)
    root = tmp_path / "root"
    d = sg.fp_dir(root, ws)
    for n in range(1000):
        parent = None if n == 0 else f"s{n - 1:04d}"
        sg.write_session(d, sg.make_session(f"s{n:04d}", parent=parent, workspace_root=ws,
                                            updated_at_ms=T0 + n))
    view = view_of(root)
    fp = fingerprint.fingerprint(ws)
    forks = ("sessions", fp, "forks")
    top = _names(view.entries(view.resolve(forks) or pytest.fail()))
    assert top == [f"s{n:04d}" for n in range(0, 1000, MAX_DEPTH)]
    key = (*forks, *[f"s{n:04d}" for n in range(MAX_DEPTH)])
    deepest = view.resolve(key)
    assert deepest is not None and deepest.kind is EntryKind.DIR
    entries = view.entries(deepest)
    assert _names(entries) == ["fork", "session.jsonl", "session.md", f"s{MAX_DEPTH:04d}"]
    link = entries[3]
    assert link.kind is EntryKind.SYMLINK and link.target == "../" * MAX_DEPTH + f"s{MAX_DEPTH:04d}"
    followed = _follow(view, link)
    assert followed is not None and followed.key == (*forks, f"s{MAX_DEPTH:04d}")
    session_link = _follow(view, entries[1])
    assert session_link is not None
    assert session_link.backing_path == str(d / f"s{MAX_DEPTH - 1:04d}.jsonl")
    longest = "/".join(key) + "/session.jsonl"
    assert len(longest.encode()) < 4096
    # Continuation nodes are ordinary nodes: fork from one.
    fork_file = view.resolve((*forks, f"s{MAX_DEPTH:04d}", "fork"))
    assert fork_file is not None
    made = control.fork(view.index, fork_file, b"deep")
    assert made.branch_name == "deep"


def test_parent_cycle_and_orphan_in_a_store(view_of: ViewOf, tmp_path: Path) -> None:
    """Parent ids that loop, or name nothing here, put sessions at the top of forks/."""
    ws = os.path.realpath(tmp_path)
    root = tmp_path / "root"
    d = sg.fp_dir(root, ws)
    for sid, parent in [("s-a", "s-c"), ("s-b", "s-a"), ("s-c", "s-b"), ("s-d", "s-b"),
                        ("s-orphan", "s-gone")]:
        sg.write_session(d, sg.make_session(sid, parent=parent, workspace_root=ws))
    view = view_of(root)
    forks = view.resolve(("sessions", d.name, "forks"))
    assert forks is not None
    assert sorted(_names(view.entries(forks))) == ["s-a", "s-b", "s-c", "s-orphan"]
    child = view.resolve(("sessions", d.name, "forks", "s-b", "s-d"))
    assert child is not None and child.kind is EntryKind.DIR


def _two_workspaces(view_of: ViewOf, tmp_path: Path) -> tuple[View, Path, Path]:
    root = tmp_path / "root"
    dirs = []
    for name in ("alpha", "beta"):
        ws = os.path.realpath(tmp_path / name)
        os.mkdir(ws)
        d = sg.fp_dir(root, ws)
        sg.write_session(d, sg.make_session(f"session-1-{name}", updated_at_ms=T0,
                                            workspace_root=ws))
        sg.write_session(d, sg.make_session(f"session-2-{name}", updated_at_ms=T0 + 1,
                                            workspace_root=ws, parent=f"session-1-{name}"))
        dirs.append(d)
    return view_of(root), dirs[0], dirs[1]


def test_a_change_in_one_workspace_keeps_the_others_cached(
    view_of: ViewOf, tmp_path: Path
) -> None:
    """An append in `beta` must not rebuild `alpha`'s listings (per-workspace versions)."""
    view, alpha, beta = _two_workspaces(view_of, tmp_path)
    ws_entry = view.resolve(("sessions", alpha.name))
    forks = view.resolve(("sessions", alpha.name, "forks"))
    assert ws_entry is not None and forks is not None
    listed, forked = view.entries(ws_entry), view.entries(forks)
    lineage = view.index.lineage(alpha.name)
    path = beta / "session-2-beta.jsonl"
    sg.append_message(path, sg.text_message("more"))
    assert view.index.refresh_path(str(path)) == {beta.name}
    assert view.entries(ws_entry) is listed
    assert view.entries(forks) is forked
    assert view.index.lineage(alpha.name) is lineage
    beta_entry = view.resolve(("sessions", beta.name))
    assert beta_entry is not None
    assert "session-2-beta.jsonl" in _names(view.entries(beta_entry))


def test_sessions_listing_does_not_snapshot_workspaces(
    view_of: ViewOf, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    view, alpha, beta = _two_workspaces(view_of, tmp_path)
    snapshots = 0
    snapshot = StoreIndex._snapshot

    def counting(self: StoreIndex, *args: object) -> object:
        nonlocal snapshots
        snapshots += 1
        return snapshot(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(StoreIndex, "_snapshot", counting)
    assert _names(view.entries(Entry(("sessions",), EntryKind.DIR, "sessions"))) == sorted(
        [alpha.name, beta.name]
    )
    assert view.index.fingerprints() == sorted([alpha.name, beta.name])
    assert snapshots == 0


def test_labels_are_not_recomputed_for_an_append(
    view_of: ViewOf, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from clawfs.store import labels

    view, alpha, beta = _two_workspaces(view_of, tmp_path)
    link = view.resolve(("workspaces", "alpha"))
    assert link is not None and link.target == f"../sessions/{alpha.name}"
    calls = 0
    label_of = labels.label_of

    def counting(path: str) -> str:
        nonlocal calls
        calls += 1
        return label_of(path)

    monkeypatch.setattr(labels, "label_of", counting)
    path = beta / "session-2-beta.jsonl"
    sg.append_message(path, sg.text_message("more"))
    view.index.refresh_path(str(path))
    assert view.resolve(("workspaces", "beta")) is not None
    assert view.resolve(("workspaces", "alpha")) is not None
    assert view.resolve(("workspaces", "gamma")) is None
    assert calls == 0


def test_workspace_of_names_the_workspace_below_sessions_fp_only() -> None:
    fp = "a" * 16
    assert workspace_of(("sessions", fp, "a.jsonl")) == fp
    assert workspace_of(("sessions", fp, "forks", "x", "fork")) == fp
    assert workspace_of(("sessions", fp)) is None and workspace_of(("latest",)) is None
    assert workspace_of(("workspaces", "proj")) is None and workspace_of(()) is None


# --- the Markdown view (SPEC §8) ------------------------------------------------------


def test_every_transcript_has_a_markdown_sibling(project: tuple[View, str, Path]) -> None:
    view, fp, d = project
    ws = view.resolve(("sessions", fp)) or pytest.fail()
    for entry in view.entries(ws):
        if entry.kind is not EntryKind.TRANSCRIPT:
            continue
        md = view.lookup(ws, entry.name.removesuffix(".jsonl") + ".md")
        assert md is not None and md.kind is EntryKind.MARKDOWN
        assert md.source == entry.name
        assert (md.backing_path, md.file_key) == (entry.backing_path, entry.file_key)
        assert view.resolve(md.key) == md
    assert view.lookup(ws, "nothing.md") is None
    assert view.lookup(ws, "session-1-0.jsonl.md") is None  # only where names clash


def test_markdown_aliases_follow_the_transcript_aliases(project: tuple[View, str, Path]) -> None:
    view, fp, d = project
    root_md = view.resolve(("latest.md",))
    assert root_md is not None and root_md.target == f"sessions/{fp}/session-2-0.md"
    followed = _follow(view, root_md)
    assert followed is not None and followed.kind is EntryKind.MARKDOWN
    assert followed.backing_path == str(d / "session-2-0.jsonl")
    for alias in ("latest.md", "last.md", "recent.md"):
        link = view.resolve(("sessions", fp, alias))
        assert link is not None and link.target == "session-2-0.md"
    node = ("sessions", fp, "forks", "session-1-0", "session-2-0")
    link = view.resolve((*node, "session.md"))
    assert link is not None and link.target == "../../../session-2-0.md"
    target = _follow(view, link)
    assert target is not None and target.kind is EntryKind.MARKDOWN
    assert target.source == "session-2-0.jsonl"


NAMES = ["x.jsonl", "x.json", "y.jsonl", "latest.jsonl", "last.json", "z.jsonl.jsonl", "z.jsonl",
         "s.rot-17.jsonl", "s.jsonl", "w.json", "a~1a2b3c4d.jsonl"]


def test_markdown_names_follow_the_spec() -> None:
    names = set(NAMES)
    md = {name: markdown_name(name, names.__contains__) for name in NAMES}
    assert md == {
        "x.jsonl": "x.jsonl.md", "x.json": "x.json.md",  # x.json and x.jsonl clash
        "y.jsonl": "y.md", "w.json": "w.md",
        "latest.jsonl": "latest.jsonl.md", "last.json": "last.json.md",  # the aliases
        "z.jsonl.jsonl": "z.jsonl.jsonl.md", "z.jsonl": "z.md",  # a stem that is a name
        "s.rot-17.jsonl": "s.rot-17.md", "s.jsonl": "s.md",  # rot files get one too
        "a~1a2b3c4d.jsonl": "a~1a2b3c4d.md",
    }
    for name, sibling in md.items():
        assert markdown_source(sibling, names.__contains__) == name
    for other in ["x.md", "latest.md", "z.jsonl.md", "y.jsonl.md", "y", "q.md"]:
        assert markdown_source(other, names.__contains__) is None


@given(st.sets(st.builds(
    lambda stem, ext: stem + ext,
    st.sampled_from(["a", "a.jsonl", "a.json", "latest", "recent", "b.md", "a.jsonl.jsonl"]),
    st.sampled_from([".jsonl", ".json"]),
)))
def test_markdown_names_never_clash(names: set[str]) -> None:
    md = [markdown_name(name, names.__contains__) for name in names]
    assert len(set(md)) == len(md)
    assert not set(md) & {"latest.md", "last.md", "recent.md"}
    assert all(markdown_source(m, names.__contains__) == n for m, n in zip(md, names, strict=True))


def test_clashing_names_in_a_store(view_of: ViewOf, tmp_path: Path) -> None:
    ws = os.path.realpath(tmp_path)
    root = tmp_path / "root"
    d = sg.fp_dir(root, ws)
    sg.write_session(d, sg.make_session("x", workspace_root=ws), name="x.jsonl")
    sg.write_bytes(d, "x.json", sg.legacy_json())
    sg.write_session(d, sg.make_session("latest", workspace_root=ws), name="latest.jsonl")
    sg.write_session(d, sg.make_session("session.md", workspace_root=ws),
                     name="session.md.jsonl")
    view = view_of(root)
    names = _names(view.entries(view.resolve(("sessions", d.name)) or pytest.fail()))
    assert {"x.jsonl.md", "x.json.md", "latest.jsonl.md", "session.md.md"} <= set(names)
    assert names.count("latest.md") == 1  # the alias, not the session named latest
    md = view.resolve(("sessions", d.name, "x.json.md"))
    assert md is not None and md.source == "x.json"
    forks = view.resolve(("sessions", d.name, "forks")) or pytest.fail()
    assert "session.md" not in _names(view.entries(forks))  # a node never hides the link


def test_branches_list_the_newest_session_of_each_branch(
    view_of: ViewOf, tmp_path: Path
) -> None:
    ws = os.path.realpath(tmp_path)
    root = tmp_path / "root"
    d = sg.fp_dir(root, ws)
    sg.write_session(d, sg.make_session("s-root", workspace_root=ws, updated_at_ms=T0))
    for n, branch in enumerate(["bugfix", "bugfix", "feat/x", "..", "  "]):
        sg.write_session(d, sg.make_session(f"s-{n}", workspace_root=ws, parent="s-root",
                                            branch=branch, updated_at_ms=T0 + 1 + n))
    sg.write_bytes(d, "s-1.rot-5.jsonl", (d / "s-1.jsonl").read_bytes())  # not a node
    view = view_of(root)
    branches = view.resolve(("sessions", d.name, "branches"))
    assert branches is not None and branches.kind is EntryKind.DIR
    links = view.entries(branches)
    assert {link.name: link.target for link in links} == {
        "bugfix": "../s-1.jsonl", "feat_x": "../s-2.jsonl", "__": "../s-3.jsonl",
        "  ": "../s-4.jsonl",  # claw keeps what the file says (its own forks trim)
    }
    by_name = {link.name: link for link in links}
    followed = _follow(view, by_name["bugfix"])
    assert followed is not None and followed.kind is EntryKind.TRANSCRIPT
    assert followed.backing_path == str(d / "s-1.jsonl")
    assert view.resolve(("sessions", d.name, "branches", "feat_x")) == by_name["feat_x"]
    assert view.resolve(("sessions", d.name, "branches", "nope")) is None
    assert view.resolve(("sessions", d.name, "branches", "bugfix", "x")) is None
    # A new fork of a branch is the newest: the link follows it.
    made = view.index.fork(view.index.file(d.name, "s-root.jsonl") or pytest.fail(), "bugfix")
    link = view.resolve(("sessions", d.name, "branches", "bugfix"))
    assert link is not None and link.target == f"../{made.name}"


def test_derived_names_what_the_index_computes_once_per_state() -> None:
    """What the adapter computes in a worker thread the first time per state."""
    fp = "a" * 16
    resolved = {
        (): None, ("latest",): ("aliases", None), ("workspaces",): None,
        ("workspaces", "proj"): ("labels", None), ("sessions",): None, ("sessions", fp): None,
        ("sessions", fp, "last"): ("latest", fp), ("sessions", fp, "a.jsonl"): None,
        ("sessions", fp, "fork"): None, ("sessions", fp, "index.tsv"): None,
        ("sessions", fp, "forks"): None, ("sessions", fp, "forks", "x"): ("lineage", fp),
        ("sessions", fp, "forks", "x", "fork"): ("lineage", fp),
        ("latest.md",): ("aliases", None), ("sessions", fp, "recent.md"): ("latest", fp),
        ("sessions", fp, "a.md"): None, ("sessions", fp, "branches"): None,
        ("sessions", fp, "branches", "b"): ("branches", fp),
    }
    listed = {
        (): ("aliases", None), ("workspaces",): ("labels", None), ("sessions",): None,
        ("sessions", fp): ("listing", fp), ("sessions", fp, "forks"): ("lineage", fp),
        ("sessions", fp, "forks", "x"): ("lineage", fp),
        ("sessions", fp, "branches"): ("branches", fp),
    }
    assert {key: derived(key) for key in resolved} == resolved
    assert {key: derived(key, listing=True) for key in listed} == listed


def test_a_stamp_changes_with_what_it_covers_only(view_of: ViewOf, tmp_path: Path) -> None:
    view, alpha, beta = _two_workspaces(view_of, tmp_path)
    keys = [("latest",), ("sessions", alpha.name, "latest"), ("sessions", beta.name, "forks")]
    before = [view.stamp(key) for key in keys]
    path = beta / "session-2-beta.jsonl"
    sg.append_message(path, sg.text_message("more"))
    assert view.index.refresh_path(str(path)) == {beta.name}
    after = [view.stamp(key) for key in keys]
    assert [b == a for b, a in zip(before, after, strict=True)] == [False, True, False]


def test_branches_kept_up_to_date_match_branches_built_anew(
    view_of: ViewOf, tmp_path: Path
) -> None:
    """`branches/` brought up to date change by change (view.Branches) is what
    a view that never saw the workspace builds: new sessions and forks,
    deletions (of a branch's newest carrier too), a session moving to
    another branch or down the order, a rotated copy entering the tree."""
    ws = os.path.realpath(tmp_path)
    root = tmp_path / "root"
    d = sg.fp_dir(root, ws)
    rng = random.Random(16)
    view = view_of(root)
    fp = d.name
    alive: list[str] = []
    checked = 0
    for step in range(120):
        roll = rng.random()
        if roll < 0.5 or len(alive) < 3:
            sid = f"s-{step}"
            parent = rng.choice(alive) if alive and rng.random() < 0.7 else None
            branch = rng.choice(["main", "fix", "feat/x", None])
            path = sg.write_session(d, sg.make_session(
                sid, workspace_root=ws, parent=parent, branch=branch,
                updated_at_ms=T0 + rng.randrange(200)))
            alive.append(sid)
        elif roll < 0.6:  # deleted: a rotated copy of it, if any, enters the tree
            sid = alive.pop(rng.randrange(len(alive)))
            path = d / f"{sid}.jsonl"
            path.unlink()
        elif roll < 0.7:  # a rotated copy beside its live file: no node
            sid = rng.choice(alive)
            path = sg.write_bytes(d, f"{sid}.rot-{step}.jsonl", (d / f"{sid}.jsonl").read_bytes())
        else:
            sid = rng.choice(alive)
            parent = rng.choice([None, *alive[:3]])
            path = sg.write_session(d, sg.make_session(
                sid, workspace_root=ws, parent=None if parent == sid else parent,
                branch=rng.choice(["main", "fix", None]), updated_at_ms=T0 + rng.randrange(200)))
        view.index.refresh_path(str(path))
        kept = dict(view.branches(fp))
        fresh = View(view.index).branches(fp)
        assert kept == fresh, step
        checked += bool(kept)
    assert checked > 60


@pytest.mark.parametrize("seed", range(12))
def test_branches_kept_over_several_changes_at_once_match_branches_built_anew(
    view_of: ViewOf, tmp_path: Path, seed: int
) -> None:
    """Several changes between two lookups of `branches/`, renames (`mv`, also
    over another session) among them: a branch's newest carrier that left
    is never compared with (it raised KeyError and left `branches/` stale
    for good, whichever change came first in the set's order)."""
    ws = os.path.realpath(tmp_path)
    root = tmp_path / "root"
    d = sg.fp_dir(root, ws)
    rng = random.Random(seed)
    view = view_of(root)
    fp = d.name
    names: dict[str, str] = {}  # file name -> session id
    checked = 0
    for step in range(50):
        for n in range(rng.randint(1, 4)):
            roll = rng.random()
            if roll < 0.45 or len(names) < 2:
                sid = f"s{step}-{n}"
                parent = rng.choice(list(names.values())) if names and rng.random() < 0.8 else None
                sg.write_session(d, sg.make_session(
                    sid, workspace_root=ws, parent=parent, branch=rng.choice(["main", "fix", None]),
                    updated_at_ms=T0 + rng.randrange(50)))
                names[f"{sid}.jsonl"] = sid
            elif roll < 0.6:
                name = rng.choice(sorted(names))
                (d / name).unlink()
                del names[name]
            elif roll < 0.8:  # mv a b, over another session half the time
                a = rng.choice(sorted(names))
                b = rng.choice(sorted(names)) if rng.random() < 0.5 else f"r{step}-{a}"
                if a != b:
                    os.rename(d / a, d / b)
                    names[b] = names.pop(a)
            else:  # rewritten: another branch, order or parent
                name = rng.choice(sorted(names))
                sid = names[name]
                parent = rng.choice([None, *names.values()])
                sg.write_session(d, sg.make_session(
                    sid, workspace_root=ws, parent=None if parent == sid else parent,
                    branch=rng.choice(["main", "fix", None]),
                    updated_at_ms=T0 + rng.randrange(50)), name=name)
        view.index.refresh_dir(str(d))
        if view.index.has_workspace(fp):
            kept = dict(view.branches(fp))
            assert kept == View(view.index).branches(fp), step
            checked += bool(kept)
    assert checked > 10
