"""Issue 13, "claw's answer in every corner": five kinds of store where clawfs
and claw's own session code disagreed. claw's code is the reference in each.

The expectations below are what claw's own code answered for these very
stores (`claw-oracle list <fp_dir> --cwd <workspace>`, the oracle built from
ultraworkers/claw-code 08106b0c), written down because CI has no oracle;
claw's lines are cited from `rust/crates/runtime/src/session_control.rs`
(claw-store-format.md §5-6):

- list = every entry whose extension is `jsonl`/`json` (`is_managed_session_file`,
  664-671), its mtime from `DirEntry::metadata` (398: an lstat, links are not
  followed), loaded with `Session::load_from_path` (408); a file that fails
  to load is still listed with the fallback id (the name minus its
  extension), 0 messages, updated 0 (430-439);
- validation (360-380): a recorded root must canonicalize to the store's
  workspace root (`workspace_roots_match`, 807-813: canonicalized against
  the process's working directory, which for the CLI is the workspace,
  `from_cwd` 33-48); without one, the file's canonical path must lie under
  the workspace (`path_is_within_workspace`, 815-817), else the session is
  dropped ("legacy session is missing workspace binding");
- order (553-561): updated_at_ms, then that mtime, then id, all descending;
  `latest` = the first with messages (179-214).

The stores are built the way a mount gets them: `--workspace W`, that is
the root `W/.claw/sessions`.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pytest

from clawfs.cli.tree_cmd import run_tree
from clawfs.cli.workspaces_cmd import run_workspaces
from clawfs.format import fingerprint, markdown
from clawfs.store import files, references
from clawfs.store.index import StoreIndex
from clawfs.store.mdcache import MarkdownCache
from clawfs.store.roots import RootKind, make_root

import storegen as sg

T0 = 1_780_000_000_000


def _workspace(tmp_path: Path) -> str:
    path = tmp_path / "proj"
    path.mkdir()
    return os.path.realpath(path)


def _root_of(workspace: str) -> Path:
    return Path(workspace) / ".claw" / "sessions"


def _index(workspace: str) -> StoreIndex:
    """The index a mount (`--workspace W --no-discover`) builds."""
    index = StoreIndex([make_root(str(_root_of(workspace)), RootKind.WORKSPACE, 0)])
    index.scan()
    return index


def _args(workspace: str, **more: object) -> argparse.Namespace:
    return argparse.Namespace(stores=[], workspaces=[workspace], data_dirs=[],
                              discover_dirs=[], discover_depth=None, no_discover=True, **more)


def _names(index: StoreIndex, fp: str) -> list[str]:
    ws = index.workspace(fp)
    assert ws is not None, f"no workspace {fp}"
    return [sf.name for sf in ws.ordered]


def _latest(index: StoreIndex, fp: str) -> str | None:
    found = index.latest(fp)
    return None if found is None else found.name


# --- 1. a relative workspace_root "." --------------------------------------------------


def _relative_root_store(tmp_path: Path) -> tuple[str, str]:
    workspace = _workspace(tmp_path)
    root = _root_of(workspace)
    directory = sg.fp_dir(root, workspace)
    sg.write_session(directory, sg.make_session("rel", messages=2, workspace_root=".",
                                                updated_at_ms=T0 + 10), mtime_ms=T0 + 10)
    sg.write_session(directory, sg.make_session("abs", messages=1, workspace_root=workspace,
                                                updated_at_ms=T0), mtime_ms=T0)
    sg.write_session(root, sg.make_session("flatrel", messages=3, workspace_root=".",
                                           updated_at_ms=T0 + 20), mtime_ms=T0 + 20)
    return workspace, directory.name


def test_relative_workspace_root_belongs_to_its_workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """claw canonicalizes "." against its working directory, the workspace
    (807-813, 33-48). The oracle lists all three, flatrel first, and resumes
    flatrel.jsonl (source: workspace). A daemon runs in `/`: resolving "."
    against the process's directory puts the flat file in the workspace of
    `/` and marks rel.jsonl foreign."""
    workspace, fp = _relative_root_store(tmp_path)
    assert fp == fingerprint.fingerprint(workspace)  # the directory claw named
    monkeypatch.chdir("/")
    index = _index(workspace)
    assert index.fingerprints() == [fp]
    assert _names(index, fp) == ["flatrel.jsonl", "rel.jsonl", "abs.jsonl"]
    ws = index.workspace(fp)
    assert ws is not None
    assert all(sf.belongs for sf in ws.ordered)
    assert _latest(index, fp) == "flatrel.jsonl"


# --- 2. .claw/sessions a symlink out of the workspace --------------------------------


def test_sessions_linked_out_of_the_workspace_drop_unbound_sessions(tmp_path: Path) -> None:
    """`W/.claw/sessions -> elsewhere/sessions`. claw requires a session with
    no recorded root to lie, canonically, under the workspace (360-372,
    815-817): the oracle drops noroot.jsonl ("legacy session is missing
    workspace binding: .../noroot.jsonl") and lists and resumes withroot.jsonl
    only. clawfs lists it (as a file that does not belong), never as `latest`."""
    workspace = _workspace(tmp_path)
    elsewhere = tmp_path / "elsewhere" / "sessions"
    elsewhere.mkdir(parents=True)
    (Path(workspace) / ".claw").mkdir()
    os.symlink(elsewhere, _root_of(workspace))
    directory = sg.fp_dir(elsewhere, workspace)
    sg.write_session(directory, sg.make_session("noroot", messages=2, updated_at_ms=T0 + 10),
                     mtime_ms=T0 + 10)
    sg.write_session(directory, sg.make_session("withroot", messages=1,
                                                workspace_root=workspace, updated_at_ms=T0),
                     mtime_ms=T0)
    index = _index(workspace)
    fp = directory.name
    assert _latest(index, fp) == "withroot.jsonl"
    ws = index.workspace(fp)
    assert ws is not None
    assert not ws.files["noroot.jsonl"].belongs
    assert ws.files["withroot.jsonl"].belongs


# --- 3. a last meta line newer than the first: commands that answer once ----------------


def _two_meta_store(tmp_path: Path) -> tuple[str, str]:
    workspace = _workspace(tmp_path)
    directory = sg.fp_dir(_root_of(workspace), workspace)
    sg.write_session(directory, sg.make_session("plain", messages=1, workspace_root=workspace,
                                                updated_at_ms=T0 + 50), mtime_ms=T0 + 50)
    first = sg.render(sg.make_session("twometa", messages=2, workspace_root=workspace,
                                      updated_at_ms=T0))
    later = sg.render(sg.make_session("twometa", messages=0, workspace_root=workspace,
                                      updated_at_ms=T0 + 100))
    sg.write_bytes(directory, "twometa.jsonl", first + later, mtime_ms=T0)
    return workspace, directory.name


def test_workspaces_answers_claws_pick_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """claw lets the last meta line win (claw-store-format §3.2): twometa is
    updated T0+100, plain T0+50. The oracle lists twometa first and resumes
    twometa.jsonl. Its head (first meta line) says T0, so the heads put plain
    first; a mount corrects that ~2 s later, a command that answers once must
    answer right."""
    workspace, fp = _two_meta_store(tmp_path)
    assert run_workspaces(_args(workspace, json=True)) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["fingerprint"], r["latest"]) for r in rows] == [(fp, "twometa.jsonl")]


def test_tree_answers_claws_pick_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Passes on main: `clawfs tree` fully loads every file for its counts
    (`verified`) before it asks for `latest`, so the later meta line is seen."""
    workspace, fp = _two_meta_store(tmp_path)
    assert run_tree(_args(workspace)) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"proj  {fp}  2 sessions  latest: twometa.jsonl",
        "  twometa  2 msgs  <- latest",
        "  plain  1 msg",
    ]


# --- 4. a symlink to another session file in the same directory -------------------------


def _touch_link(link: Path, mtime_ms: int) -> None:
    """`touch -h`: the link's own times, not its target's."""
    os.utime(link, ns=(mtime_ms * 1_000_000,) * 2, follow_symlinks=False)


def _sibling_link_store(tmp_path: Path) -> tuple[str, Path]:
    workspace = _workspace(tmp_path)
    directory = sg.fp_dir(_root_of(workspace), workspace)
    sg.write_session(directory, sg.make_session("target", messages=2, workspace_root=workspace,
                                                updated_at_ms=T0), mtime_ms=T0)
    sg.write_session(directory, sg.make_session("middle", messages=1, workspace_root=workspace,
                                                updated_at_ms=T0), mtime_ms=T0 + 5)
    link = directory / "alias.jsonl"
    os.symlink("target.jsonl", link)
    _touch_link(link, T0 + 10)
    return workspace, directory


def test_link_to_a_sibling_session_is_listed_by_its_own_mtime(tmp_path: Path) -> None:
    """`alias.jsonl -> target.jsonl`, the link's own mtime newest. claw lists
    every entry and takes its mtime with an lstat (398): the oracle lists
    alias (id target, mtime T0+10), middle (T0+5), target (T0), all updated
    T0, and resumes alias.jsonl."""
    workspace, directory = _sibling_link_store(tmp_path)
    index = _index(workspace)
    fp = directory.name
    assert _names(index, fp) == ["alias.jsonl", "middle.jsonl", "target.jsonl"]
    assert _latest(index, fp) == "alias.jsonl"
    rows = [(sf.name, s.session_id, s.message_count, sf.mtime_ms, sf.path)
            for sf, s in index.loaded(fp)]
    target = str(directory / "target.jsonl")
    assert rows == [("alias.jsonl", "target", 2, T0 + 10, target),
                    ("middle.jsonl", "middle", 1, T0 + 5, str(directory / "middle.jsonl")),
                    ("target.jsonl", "target", 2, T0, target)]


def test_a_link_and_its_target_share_an_id_and_the_target_keeps_its_forks(
    tmp_path: Path
) -> None:
    """Two entries with one session id: a fork of `target` is the child of
    the file whose stem is that id (SPEC §2, lineage.py), the link is a node
    of its own at the top of `forks/`; removing the link leaves the tree so."""
    workspace, directory = _sibling_link_store(tmp_path)
    sg.write_session(directory, sg.make_session("kid", messages=1, workspace_root=workspace,
                                                parent="target", updated_at_ms=T0 - 5),
                     mtime_ms=T0 - 5)
    index = _index(workspace)
    fp = directory.name
    tree = index.lineage(fp)
    assert tree.path("kid.jsonl") == ("target", "kid")
    assert tree.path("alias.jsonl") == ("alias",)
    (directory / "alias.jsonl").unlink()
    index.refresh_path(str(directory / "alias.jsonl"))
    tree = index.lineage(fp)
    assert tree.path("kid.jsonl") == ("target", "kid")
    assert tree.find(["alias"]) is None


def test_a_flat_link_to_a_session_is_listed_from_the_legacy_root(tmp_path: Path) -> None:
    """`W/.claw/sessions/flat.jsonl -> <fp>/middle.jsonl`: claw lists the
    legacy root beside the store directory (list_sessions 160-168), every
    entry: the oracle lists alias (T0+10), flat (id middle, T0+7), middle
    (T0+5), target (T0)."""
    workspace, directory = _sibling_link_store(tmp_path)
    flat = _root_of(workspace) / "flat.jsonl"
    os.symlink(f"{directory.name}/middle.jsonl", flat)
    _touch_link(flat, T0 + 7)
    index = _index(workspace)
    fp = directory.name
    assert _names(index, fp) == ["alias.jsonl", "flat.jsonl", "middle.jsonl", "target.jsonl"]
    ws = index.workspace(fp)
    assert ws is not None
    assert ws.files["flat.jsonl"].path == str(directory / "middle.jsonl")
    assert ws.files["flat.jsonl"].session_id == "middle" and ws.files["flat.jsonl"].belongs


def test_changes_to_a_link_or_its_target_keep_both_entries_right(tmp_path: Path) -> None:
    """Whatever changes, each entry is what a fresh scan makes of it (and what
    claw would list): an append to the target shows on the link too (no
    event names the link), `touch -h` moves only the link, removing the link
    leaves the target."""
    workspace, directory = _sibling_link_store(tmp_path)
    index = _index(workspace)
    fp = directory.name

    def rows(of: StoreIndex) -> list[tuple[str, str, int, int, object]]:
        return [(sf.name, s.session_id, s.message_count, sf.mtime_ms, sf.key)
                for sf, s in of.loaded(fp)]

    target, link = directory / "target.jsonl", directory / "alias.jsonl"
    assert [r[2] for r in rows(index)] == [2, 1, 2]  # all loaded
    assert index.refresh_path(str(target)) == set()  # nothing changed: nothing to do
    sg.append_message(target, sg.text_message("one more"))
    os.utime(target, ns=((T0 + 1) * 1_000_000,) * 2)
    assert index.refresh_path(str(target)) == {fp}
    assert rows(index) == rows(_index(workspace))
    assert [r[2] for r in rows(index)] == [3, 1, 3]
    assert _latest(index, fp) == "alias.jsonl"

    _touch_link(link, T0 - 1)
    assert index.refresh_path(str(link)) == {fp}
    assert _names(index, fp) == ["middle.jsonl", "target.jsonl", "alias.jsonl"]
    assert _latest(index, fp) == "middle.jsonl"
    assert rows(index) == rows(_index(workspace))

    _touch_link(link, T0 + 20)  # a rescan sees it too
    assert index.scan() == {fp}
    assert _latest(index, fp) == "alias.jsonl"
    assert rows(index) == rows(_index(workspace))

    link.unlink()
    assert index.refresh_path(str(link)) == {fp}
    assert _names(index, fp) == ["middle.jsonl", "target.jsonl"]
    assert index.cached_load(index.file(fp, "target.jsonl")) is not None  # type: ignore[arg-type]
    assert _latest(index, fp) == "middle.jsonl"


def test_removing_the_target_leaves_a_link_claw_cannot_load(tmp_path: Path) -> None:
    """The link's event is the target's (no event names the link): removing
    target.jsonl leaves alias leading to nothing, which claw lists as a
    session that fails to load (the oracle: id alias, created 0, updated 0,
    0 messages, "No such file or directory (os error 2)", at the link's
    mtime), and which is no file of the mount; the target coming back
    brings the link back with it."""
    workspace, directory = _sibling_link_store(tmp_path)
    index = _index(workspace)
    fp = directory.name
    target = directory / "target.jsonl"
    kept = target.read_bytes()
    target.unlink()
    assert index.refresh_path(str(target)) == {fp}
    assert _names(index, fp) == ["middle.jsonl", "alias.jsonl"]  # updated T0, then 0
    rows = [(sf.name, s.session_id, s.created_at_ms, s.updated_at_ms, s.message_count, s.error)
            for sf, s in index.loaded(fp)]
    assert rows[1] == ("alias.jsonl", "alias", 0, 0, 0, "No such file or directory (os error 2)")
    alias = index.file(fp, "alias.jsonl")
    assert alias is not None and alias.not_a_file and alias.mtime_ms == T0 + 10
    assert _latest(index, fp) == "middle.jsonl"
    assert _names(index, fp) == _names(_index(workspace), fp)  # as a fresh scan has it

    sg.write_bytes(directory, "target.jsonl", kept, mtime_ms=T0)
    assert index.refresh_path(str(target)) == {fp}
    assert _names(index, fp) == ["alias.jsonl", "middle.jsonl", "target.jsonl"]
    assert _latest(index, fp) == "alias.jsonl"
    alias = index.file(fp, "alias.jsonl")
    assert alias is not None and not alias.not_a_file


def test_a_link_out_of_the_store_that_leads_to_nothing_is_not_listed(tmp_path: Path) -> None:
    """Containment first (SPEC §6): a link whose target would lie outside the
    root is never listed, whether its target is there or not."""
    workspace, directory = _sibling_link_store(tmp_path)
    os.symlink(tmp_path / "nowhere.jsonl", directory / "out.jsonl")
    os.symlink("../../../../outside.jsonl", directory / "up.jsonl")
    index = _index(workspace)
    assert _names(index, directory.name) == ["alias.jsonl", "middle.jsonl", "target.jsonl"]


def test_a_link_is_loaded_as_itself(tmp_path: Path) -> None:
    """Loads are per entry: a file without an id takes its entry's stem (the
    oracle: claw makes an id up on every load for both alias.json and
    old.json), a sweep loads and measures both, and each keeps its own."""
    workspace = _workspace(tmp_path)
    directory = sg.fp_dir(_root_of(workspace), workspace)
    sg.write_bytes(directory, "old.json", sg.legacy_json(2), mtime_ms=T0)
    os.symlink("old.json", directory / "alias.json")
    _touch_link(directory / "alias.json", T0 + 10)
    index = _index(workspace)
    fp = directory.name
    index.sweep()
    ws = index.workspace(fp)
    assert ws is not None
    assert [(sf.name, sf.session_id, sf.loaded) for sf in ws.ordered] == [
        ("alias.json", "alias", True), ("old.json", "old", True)]
    assert [index.load(sf).session_id for sf in ws.ordered] == ["alias", "old"]
    assert all(sf.rendered is not None and sf.rendered.size for sf in ws.ordered)


def test_the_markdown_of_a_linked_file_is_the_file_s_own(tmp_path: Path) -> None:
    """Both entries reaching one file serve one rendering, the file's own
    (its real path's stem is a meta-less file's id there), so an .md's size
    never depends on which entry's name rendered it first: was a size from
    one name and, once the renderer was let go, bytes from the other."""
    workspace = _workspace(tmp_path)
    directory = sg.fp_dir(_root_of(workspace), workspace)
    sg.write_bytes(directory, "old.json", sg.legacy_json(2), mtime_ms=T0)
    os.symlink("old.json", directory / "alias.json")
    _touch_link(directory / "alias.json", T0 + 10)
    index = _index(workspace)
    index.sweep()
    ws = index.workspace(directory.name)
    assert ws is not None
    own = markdown.render_bytes((directory / "old.json").read_bytes(), str(directory / "old.json"))
    assert [sf.name for sf in ws.ordered] == ["alias.json", "old.json"]
    for sf in ws.ordered:
        assert sf.rendered is not None and sf.rendered.size == len(own)
        fresh = MarkdownCache()  # no renderer kept from the sweep
        with files.open_backing(sf.path) as opened:
            assert fresh.read(opened.fd, opened.key, sf.path, 0, 1 << 20) == own


# --- 5. a directory named x.jsonl ---------------------------------------------------


def _directory_session_store(tmp_path: Path) -> tuple[str, str]:
    workspace = _workspace(tmp_path)
    directory = sg.fp_dir(_root_of(workspace), workspace)
    sg.write_session(directory, sg.make_session("real", messages=1, workspace_root=workspace,
                                                updated_at_ms=T0), mtime_ms=T0)
    (directory / "x.jsonl").mkdir()
    return workspace, directory.name


def test_directory_named_like_a_session_is_an_error_entry(tmp_path: Path) -> None:
    """claw lists `x.jsonl/` (its extension is jsonl, 664-671), fails to load
    it ("Is a directory (os error 21)") and lists it with the fallback values
    (430-439). The oracle: real.jsonl (rank 0, latest), then x.jsonl with id
    x, 0 messages, created 0, updated 0, load error. The index knows it in
    that order, with claw's fallback values and an error."""
    workspace, fp = _directory_session_store(tmp_path)
    index = _index(workspace)
    rows = [(sf.name, s.session_id, s.message_count, s.created_at_ms, s.updated_at_ms,
             s.error is not None) for sf, s in index.loaded(fp)]
    assert rows == [("real.jsonl", "real", 1, 1_700_000_000_000, T0, False),
                    ("x.jsonl", "x", 0, 0, 0, True)]
    assert _latest(index, fp) == "real.jsonl"


def test_tree_shows_a_directory_named_like_a_session_as_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace, fp = _directory_session_store(tmp_path)
    assert run_tree(_args(workspace)) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1:] == ["  real  1 msg  <- latest", "  x  0 msgs  (does not load)"]
    assert out[0].startswith(f"proj  {fp}  ")


def test_a_directory_named_like_a_session_shows_when_it_appears(tmp_path: Path) -> None:
    """Made in a live index: an event for it (a file event, or one for a
    directory) lists it as claw would, and its removal drops it."""
    workspace, fp = _directory_session_store(tmp_path)
    directory = _root_of(workspace) / fp
    (directory / "x.jsonl").rmdir()
    index = _index(workspace)
    assert _names(index, fp) == ["real.jsonl"]
    (directory / "x.jsonl").mkdir()
    assert index.refresh_dir(str(directory / "x.jsonl")) == {fp}
    assert _names(index, fp) == ["real.jsonl", "x.jsonl"]
    (directory / "x.jsonl").rmdir()
    assert index.refresh_path(str(directory / "x.jsonl")) == {fp}
    assert _names(index, fp) == ["real.jsonl"]
    (directory / "y.jsonl").mkdir()
    index.refresh_path(str(directory / "y.jsonl"))
    sf = index.file(fp, "y.jsonl")
    assert sf is not None and index.load(sf).error == "Is a directory (os error 21)"


def test_relative_and_missing_roots_in_a_bare_store(tmp_path: Path) -> None:
    """Where the workspace is not known (a bare `--store`), claw's `"."` is
    whichever workspace claw runs in: a session in `<fp>/` belongs (as one
    that records no root does), and a flat one joins the root's own
    workspace, as a flat file that records no root does."""
    store = tmp_path / "store"
    directory = sg.fp_dir(store, "/srv/somewhere")
    sg.write_session(directory, sg.make_session("dot", messages=1, workspace_root=".",
                                                updated_at_ms=T0), mtime_ms=T0)
    sg.write_session(directory, sg.make_session("none", messages=1, updated_at_ms=T0 - 1),
                     mtime_ms=T0 - 1)
    sg.write_session(store, sg.make_session("flatdot", messages=1, workspace_root=".",
                                            updated_at_ms=T0), mtime_ms=T0)
    index = StoreIndex([make_root(str(store), RootKind.STORE, 0)])
    index.scan()
    ws = index.workspace(directory.name)
    assert ws is not None and all(sf.belongs for sf in ws.ordered)
    assert _latest(index, directory.name) == "dot.jsonl"
    own = fingerprint.fingerprint(os.path.realpath(store))
    assert _names(index, own) == ["flatdot.jsonl"]


def test_show_answers_claws_pick_at_once(tmp_path: Path) -> None:
    """`clawfs show latest` answers once, as `workspaces` does: claw's pick."""
    workspace, _fp = _two_meta_store(tmp_path)
    index = _index(workspace)
    found = references.resolve(index, "latest", workspace)
    assert found.file is not None and found.file.name == "twometa.jsonl"

