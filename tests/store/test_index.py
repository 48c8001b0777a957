"""The store index on synthetic stores written in claw's exact format (storegen)."""

from __future__ import annotations

import dataclasses
import gc
import os
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from clawfs.format import fingerprint, markdown, session
from clawfs.store.commits import Commits
from clawfs.store.index import SessionFile, StoreIndex
from clawfs.store.latest import Verdict
from clawfs.store.roots import Root, RootKind, make_root

import storegen as sg

T0 = 1_760_000_000_000


def _project(tmp_path: Path, name: str = "proj") -> str:
    path = tmp_path / name
    path.mkdir(exist_ok=True)
    return os.path.realpath(path)


def _index(*roots: Path) -> StoreIndex:
    index = StoreIndex([make_root(str(r), RootKind.STORE, n) for n, r in enumerate(roots)])
    index.scan()
    return index


def _latest_name(index: StoreIndex, fp: str) -> str | None:
    got = index.latest(fp)
    return None if got is None else got.name


@pytest.fixture
def store(tmp_path: Path) -> tuple[Path, str, Path]:
    """A root, a workspace path, and its fingerprint dir."""
    root = tmp_path / "root"
    workspace = _project(tmp_path)
    return root, workspace, sg.fp_dir(root, workspace)


def test_newest_meta_wins_over_mtime(store: tuple[Path, str, Path]) -> None:
    """A stale meta (not refreshed by appends) still orders by what it says."""
    root, ws, d = store
    sg.write_session(d, sg.make_session("session-1-0", updated_at_ms=T0 + 5, messages=3,
                                        workspace_root=ws), mtime_ms=T0)
    stale = sg.write_session(d, sg.make_session("session-2-0", updated_at_ms=T0, messages=1,
                                                workspace_root=ws), mtime_ms=T0 + 100)
    sg.append_message(stale, sg.text_message("appended later"))
    sg.set_mtime(stale, T0 + 200)
    index = _index(root)
    assert _latest_name(index, d.name) == "session-1-0.jsonl"


def test_last_meta_line_wins_after_sweep(store: tuple[Path, str, Path]) -> None:
    """A head that understates is corrected by the sweep, and `latest` re-points."""
    root, ws, d = store
    sg.write_session(d, sg.make_session("session-b", updated_at_ms=T0 + 200, workspace_root=ws))
    liar = sg.render(sg.make_session("session-a", updated_at_ms=T0 + 100, workspace_root=ws))
    later_meta = sg.render(sg.make_session("session-a", updated_at_ms=T0 + 300,
                                           workspace_root=ws, messages=0))
    sg.write_bytes(d, "session-a.jsonl", liar + later_meta)
    index = _index(root)
    generation = index.generation
    assert index.sweep() >= 1
    assert index.generation > generation
    assert _latest_name(index, d.name) == "session-a.jsonl"
    liar_file = index.file(d.name, "session-a.jsonl")
    assert liar_file is not None
    assert index.load(liar_file).updated_at_ms == T0 + 300


def test_head_that_overstates_is_fixed_by_latest_itself(store: tuple[Path, str, Path]) -> None:
    root, ws, d = store
    sg.write_session(d, sg.make_session("session-b", updated_at_ms=T0 + 200, workspace_root=ws))
    first = sg.render(sg.make_session("session-a", updated_at_ms=T0 + 900, workspace_root=ws))
    last = sg.render(sg.make_session("session-a", updated_at_ms=T0 + 100, workspace_root=ws,
                                     messages=0))
    sg.write_bytes(d, "session-a.jsonl", first + last)
    index = _index(root)
    assert _latest_name(index, d.name) == "session-b.jsonl"
    ws_now = index.workspace(d.name)
    assert ws_now is not None
    assert [sf.name for sf in ws_now.ordered] == ["session-b.jsonl", "session-a.jsonl"]


def test_corrupt_newest_file_is_skipped(store: tuple[Path, str, Path]) -> None:
    """claw drops a file with any bad line: it lists with updated 0 and 0 messages."""
    root, ws, d = store
    sg.write_session(d, sg.make_session("session-old", updated_at_ms=T0, workspace_root=ws))
    good = sg.render(sg.make_session("session-new", updated_at_ms=T0 + 10, workspace_root=ws))
    sg.write_bytes(d, "session-new.jsonl", good + b'{"type":"message","message":{"role":"x"}}\n')
    index = _index(root)
    assert _latest_name(index, d.name) == "session-old.jsonl"
    rows = {sf.name: s for sf, s in index.loaded(d.name)}
    assert rows["session-new.jsonl"].error is not None
    assert rows["session-new.jsonl"].updated_at_ms == 0
    assert [sf.name for sf, _ in index.loaded(d.name)][-1] == "session-new.jsonl"


def test_empty_newest_file_is_skipped(store: tuple[Path, str, Path]) -> None:
    root, ws, d = store
    sg.write_session(d, sg.make_session("session-1-0", updated_at_ms=T0, workspace_root=ws))
    sg.write_bytes(d, "session-9999999999999-0.jsonl", b"", mtime_ms=T0 + 10_000)
    index = _index(root)
    ws_now = index.workspace(d.name)
    assert ws_now is not None
    # An empty file loads (0 messages, id = stem, created from the id): it sorts first.
    assert ws_now.ordered[0].name == "session-9999999999999-0.jsonl"
    assert _latest_name(index, d.name) == "session-1-0.jsonl"


def test_mtime_then_id_break_ties(store: tuple[Path, str, Path]) -> None:
    root, ws, d = store
    for sid, mtime in [("session-a", T0), ("session-b", T0 + 1), ("session-9", T0 + 1),
                       ("session-10", T0 + 1)]:
        sg.write_session(d, sg.make_session(sid, updated_at_ms=T0, workspace_root=ws),
                         mtime_ms=mtime)
    index = _index(root)
    ws_now = index.workspace(d.name)
    assert ws_now is not None
    # mtime desc; then id desc byte-wise: "session-b" > "session-9" > "session-10".
    assert [sf.name for sf in ws_now.ordered] == [
        "session-b.jsonl", "session-9.jsonl", "session-10.jsonl", "session-a.jsonl"
    ]
    assert _latest_name(index, d.name) == "session-b.jsonl"


def test_complete_ties_go_by_root_precedence_then_name(tmp_path: Path) -> None:
    ws = _project(tmp_path)
    roots = [tmp_path / "r1", tmp_path / "r2"]
    for root in reversed(roots):
        d = sg.fp_dir(root, ws)
        sg.write_session(d, sg.make_session("session-x", updated_at_ms=T0, workspace_root=ws),
                         name="b.jsonl", mtime_ms=T0)
        sg.write_session(d, sg.make_session("session-x", updated_at_ms=T0, workspace_root=ws),
                         name="a.jsonl", mtime_ms=T0)
    index = _index(*roots)
    fp = fingerprint.fingerprint(ws)
    ws_now = index.workspace(fp)
    assert ws_now is not None
    suffix = index.roots[1].suffix
    assert [sf.name for sf in ws_now.ordered] == [
        "a.jsonl", "b.jsonl", f"a{suffix}.jsonl", f"b{suffix}.jsonl"
    ]
    assert _latest_name(index, fp) == "a.jsonl"


def test_same_file_name_in_two_roots(tmp_path: Path) -> None:
    ws = _project(tmp_path)
    first, second = tmp_path / "first", tmp_path / "second"
    sg.write_session(sg.fp_dir(second, ws),
                     sg.make_session("session-1-0", updated_at_ms=T0 + 5, workspace_root=ws))
    sg.write_session(sg.fp_dir(first, ws),
                     sg.make_session("session-1-0", updated_at_ms=T0, workspace_root=ws))
    index = _index(first, second)
    fp = fingerprint.fingerprint(ws)
    ws_now = index.workspace(fp)
    assert ws_now is not None
    plain = ws_now.files["session-1-0.jsonl"]
    assert plain.root.realpath == os.path.realpath(first)
    other = [sf for sf in ws_now.files.values() if sf is not plain]
    assert len(other) == 1
    assert other[0].name == f"session-1-0{index.roots[1].suffix}.jsonl"
    assert len(index.roots[1].suffix) == 9
    # The second root's copy is newer, so it is `latest` under its suffixed name.
    assert _latest_name(index, fp) == other[0].name
    # Removing the first root's file gives the plain name back.
    os.unlink(plain.path)
    index.refresh_path(plain.path)
    ws_now = index.workspace(fp)
    assert ws_now is not None
    assert list(ws_now.files) == ["session-1-0.jsonl"]


def test_rot_copies_are_listed_and_can_be_latest(store: tuple[Path, str, Path]) -> None:
    root, ws, d = store
    live = sg.make_session("session-1-0", updated_at_ms=T0 + 10, workspace_root=ws)
    sg.write_session(d, live)
    sg.write_session(d, sg.make_session("session-1-0", updated_at_ms=T0, messages=50,
                                        workspace_root=ws), name="session-1-0.rot-5.jsonl")
    index = _index(root)
    ws_now = index.workspace(d.name)
    assert ws_now is not None
    assert [sf.name for sf in ws_now.ordered] == ["session-1-0.jsonl", "session-1-0.rot-5.jsonl"]
    assert ws_now.files["session-1-0.rot-5.jsonl"].is_rot
    assert list(index.lineage(d.name).top) == ["session-1-0"]
    # The live file turns corrupt: claw then resumes the rot copy.
    with open(d / "session-1-0.jsonl", "ab") as f:
        f.write(b"not json\n")
    index.refresh_path(str(d / "session-1-0.jsonl"))
    assert _latest_name(index, d.name) == "session-1-0.rot-5.jsonl"


def test_orphan_rot_file_is_a_lineage_node(store: tuple[Path, str, Path]) -> None:
    root, ws, d = store
    sg.write_session(d, sg.make_session("session-1-0", workspace_root=ws),
                     name="session-1-0.rot-5.jsonl")
    index = _index(root)
    assert list(index.lineage(d.name).top) == ["session-1-0.rot-5"]


def test_stem_differs_from_id(store: tuple[Path, str, Path]) -> None:
    """Names come from files, links from the ids inside them."""
    root, ws, d = store
    sg.write_session(d, sg.make_session("session-inner", workspace_root=ws), name="outer.jsonl")
    sg.write_session(d, sg.make_session("session-c1", parent="session-inner", workspace_root=ws))
    sg.write_session(d, sg.make_session("session-c2", parent="outer", workspace_root=ws))
    index = _index(root)
    lineage = index.lineage(d.name)
    assert set(lineage.top) == {"outer", "session-c2"}
    assert list(lineage.nodes["outer.jsonl"].children) == ["session-c1"]
    assert index.file(d.name, "outer.jsonl") is not None
    assert index.file(d.name, "session-inner.jsonl") is None


def test_foreign_sessions_are_listed_but_never_latest(store: tuple[Path, str, Path]) -> None:
    root, ws, d = store
    sg.write_session(d, sg.make_session("session-mine", updated_at_ms=T0, workspace_root=ws))
    sg.write_session(d, sg.make_session("session-alien", updated_at_ms=T0 + 99,
                                        workspace_root="/somewhere/else"))
    sg.write_session(d, sg.make_session("session-unbound", updated_at_ms=T0 + 50))
    index = _index(root)
    ws_now = index.workspace(d.name)
    assert ws_now is not None
    assert not ws_now.files["session-alien.jsonl"].belongs
    assert ws_now.files["session-unbound.jsonl"].belongs
    assert _latest_name(index, d.name) == "session-unbound.jsonl"
    top = index.global_latest()
    assert top is not None and top.name == "session-unbound.jsonl"


def test_windows_roots_belong_by_raw_and_verbatim_fingerprint(tmp_path: Path) -> None:
    root = tmp_path / "root"
    for recorded, form in [("C:\\temp\\claw-code", "C:\\temp\\claw-code"),
                           ("D:\\proj", "\\\\?\\D:\\proj")]:
        d = sg.fp_dir(root, form)
        sg.write_session(d, sg.make_session("session-1-0", workspace_root=recorded))
    index = _index(root)
    for ws in index.workspaces():
        assert all(sf.belongs for sf in ws.files.values())
    assert sorted(index.labels().values()) == ["claw-code", "proj"]


def test_legacy_files_join_workspaces(tmp_path: Path) -> None:
    project = _project(tmp_path, "project")
    other = _project(tmp_path, "other")
    root = Path(project) / ".claw" / "sessions"
    sg.write_session(root, sg.make_session("session-bound", workspace_root=other))
    sg.write_session(root, sg.make_session("session-free"))
    sg.write_bytes(root, "session-1775010237519.json", sg.legacy_json())
    plain = tmp_path / "plain-root"
    sg.write_session(plain, sg.make_session("session-nowhere"))
    index = _index(root, plain)
    own = index.workspace(fingerprint.fingerprint(project))
    elsewhere = index.workspace(fingerprint.fingerprint(other))
    by_root = index.workspace(fingerprint.fingerprint(os.path.realpath(plain)))
    assert own is not None and elsewhere is not None and by_root is not None
    assert set(own.files) == {"session-free.jsonl", "session-1775010237519.json"}
    assert set(elsewhere.files) == {"session-bound.jsonl"}
    assert set(by_root.files) == {"session-nowhere.jsonl"}
    assert own.label == "project" and elsewhere.label == "other"
    assert own.path == project and elsewhere.path == other and by_root.path is None
    # Forks of a flat file go to <root>/<fp>/.
    made = index.fork(own.files["session-free.jsonl"], None)
    assert os.path.dirname(made.path) == os.path.join(os.path.realpath(root), own.fp)
    assert made.fp == own.fp and not made.legacy


def test_ignored_entries(store: tuple[Path, str, Path]) -> None:
    root, ws, d = store
    sg.write_session(d, sg.make_session("session-1-0", workspace_root=ws))
    for name in ["session-1-0.jsonl.tmp-5-1", "session-1-0.jsonl.before-clear-5.bak", ".jsonl",
                 "notes.txt", "x.JSONL"]:
        sg.write_bytes(d, name, b"{}")
    (d / "dir-session.jsonl").mkdir()
    (root / "not-a-fingerprint").mkdir()
    sg.write_session(root / "not-a-fingerprint", sg.make_session("session-hidden"))
    outside = tmp_path_file = d.parent.parent / "outside.jsonl"
    sg.write_session(tmp_path_file.parent, sg.make_session("session-outside"),
                     name="outside.jsonl")
    os.symlink(outside, d / "escape.jsonl")
    os.symlink(d / "session-1-0.jsonl", root / "inside.jsonl")
    index = _index(root)
    ws_now = index.workspace(d.name)
    assert ws_now is not None
    # The directory named like a session is claw's too: a session that fails
    # to load (tests/store/test_claw_corners.py, class 5); so is the flat link
    # to a session of the workspace, which claw lists from the legacy root
    # beside the file it reaches (class 4; claw-oracle: both listed).
    assert set(ws_now.files) == {"session-1-0.jsonl", "dir-session.jsonl", "inside.jsonl"}
    assert ws_now.files["inside.jsonl"].path == ws_now.files["session-1-0.jsonl"].path
    assert [w.fp for w in index.workspaces()] == [d.name]


def test_refresh_path_and_dir_track_changes(store: tuple[Path, str, Path]) -> None:
    root, ws, d = store
    index = _index(root)
    assert _latest_name(index, d.name) is None
    path = sg.write_session(d, sg.make_session("session-1-0", updated_at_ms=T0,
                                               workspace_root=ws))
    assert index.refresh_path(str(path)) == {d.name}
    assert _latest_name(index, d.name) == "session-1-0.jsonl"
    assert index.refresh_path(str(path)) == set()  # unchanged: nothing to do
    sg.write_session(d, sg.make_session("session-2-0", updated_at_ms=T0 + 1, workspace_root=ws))
    os.unlink(path)
    assert index.refresh_dir(str(d)) == {d.name}
    assert _latest_name(index, d.name) == "session-2-0.jsonl"
    other_ws = _project(root.parent, "second")
    d2 = sg.fp_dir(root, other_ws)
    sg.write_session(d2, sg.make_session("session-3-0", workspace_root=other_ws))
    assert index.refresh_dir(str(root)) == {d2.name}
    assert {w.fp for w in index.workspaces()} == {d.name, d2.name}
    for entry in os.listdir(d2):
        os.unlink(d2 / entry)
    os.rmdir(d2)
    assert d2.name in index.refresh_dir(str(d2))
    assert {w.fp for w in index.workspaces()} == {d.name}


def test_grown_file_extends_its_count(store: tuple[Path, str, Path],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    root, ws, d = store
    path = sg.write_session(d, sg.make_session("session-1-0", messages=2, workspace_root=ws))
    index = _index(root)
    assert index.load(index.file(d.name, "session-1-0.jsonl")).message_count == 2  # type: ignore[arg-type]
    fed: list[int] = []
    real_reader = session.JsonlReader

    class Counting(real_reader):  # type: ignore[misc, valid-type]
        def feed(self, data: bytes) -> None:
            fed.append(len(data))
            super().feed(data)

    monkeypatch.setattr(session, "JsonlReader", Counting)
    for n in range(3):
        size = path.stat().st_size
        sg.append_message(path, sg.text_message(f"more {n}"))
        index.refresh_path(str(path))
        sf = index.file(d.name, "session-1-0.jsonl")
        assert sf is not None
        assert index.load(sf).message_count == 3 + n
    # The second and third loads fed only what was appended.
    assert fed[-1] < size
    # A rewrite in place of the old bytes (here: the last line broken) is a full
    # reload, not an extension: the file now fails to load, as claw would see it.
    data = path.read_bytes().replace(b'{"message":{"blocks":[{"text":"more 2',
                                     b'{"massage":{"blocks":[{"text":"more 2')
    with open(path, "r+b") as f:
        f.write(data)
        f.write(sg.render(sg.make_session("x", messages=1)).split(b"\n")[1] + b"\n")
    index.refresh_path(str(path))
    sf = index.file(d.name, "session-1-0.jsonl")
    assert sf is not None
    assert index.load(sf).message_count == 0
    assert index.load(sf).error is not None


def test_sweep_can_run_while_the_view_reads(store: tuple[Path, str, Path]) -> None:
    root, ws, d = store
    for n in range(200):
        sg.write_session(d, sg.make_session(f"session-{n}-0", updated_at_ms=T0 + n,
                                            workspace_root=ws, messages=n % 3))
    index = _index(root)
    stop = threading.Event()
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            while not stop.is_set():
                index.latest(d.name)
                index.lineage(d.name)
                index.workspaces()
        except BaseException as e:  # noqa: BLE001 - reported by the assert below
            errors.append(e)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        index.sweep()
    finally:
        stop.set()
        thread.join()
    assert not errors
    assert _latest_name(index, d.name) == "session-199-0.jsonl"
    assert index.sweep() == 0  # everything is loaded now


def _records_alive() -> int:
    gc.collect()
    return sum(isinstance(o, SessionFile) for o in gc.get_objects())


def test_sweep_lets_go_of_each_record_it_replaced(
    store: tuple[Path, str, Path], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each file swept gets a new record (its load): the old one must not
    live on until the sweep ends, or the first-ever sweep holds two of
    every record at its end (issue 16: the daemon's peak)."""
    root, ws, d = store
    for n in range(40):
        sg.write_session(d, sg.make_session(f"session-{n}-0", updated_at_ms=T0 + n,
                                            workspace_root=ws))
    index = _index(root)
    before = _records_alive()
    most: list[int] = []
    measure = index.markdown.measure

    def counting(path: str) -> object:
        most.append(_records_alive() - before)
        return measure(path)

    monkeypatch.setattr(index.markdown, "measure", counting)
    index.sweep()
    assert len(most) == 40
    assert max(most) <= 2  # the record being swept, and its replacement


def test_add_root_later(tmp_path: Path) -> None:
    ws = _project(tmp_path)
    first = tmp_path / "first"
    sg.fp_dir(first, ws)
    index = _index(first)
    later = tmp_path / "later"
    sg.write_session(sg.fp_dir(later, ws), sg.make_session("session-1-0", workspace_root=ws))
    fp = fingerprint.fingerprint(ws)
    assert index.add_root(str(later)) == {fp}
    assert index.roots[-1].kind is RootKind.DISCOVERED
    assert _latest_name(index, fp) == "session-1-0.jsonl"
    assert index.add_root(str(later)) == set()


def test_unreadable_file_is_skipped(store: tuple[Path, str, Path],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    root, ws, d = store
    sg.write_session(d, sg.make_session("session-1-0", workspace_root=ws))
    bad = sg.write_session(d, sg.make_session("session-2-0", workspace_root=ws))
    real_open = os.open

    def deny(path: str, flags: int, *args: int) -> int:
        if str(path) == str(bad):
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", deny)
    index = _index(root)
    ws_now = index.workspace(d.name)
    assert ws_now is not None
    assert set(ws_now.files) == {"session-1-0.jsonl"}


def test_roots_are_root_objects() -> None:
    root = make_root("/tmp/x/.claw/sessions", RootKind.STORE, 0)
    assert isinstance(root, Root)
    assert root.owner_dir() == os.path.realpath("/tmp/x")


def test_count_only_reader_keeps_exact_counts(store: tuple[Path, str, Path]) -> None:
    """The index loads with `keep_messages=False`: counts exact, messages not kept."""
    root, ws, d = store
    path = sg.write_session(d, sg.make_session("session-1-0", messages=50, workspace_root=ws))
    reader = session.JsonlReader(keep_messages=False)
    reader.feed(path.read_bytes())
    loaded = reader.finish(path.name, 0)
    assert len(loaded.messages) == 50 and all(m == {} for m in loaded.messages)
    index = _index(root)
    sf = index.file(d.name, path.name)
    assert sf is not None and index.load(sf).message_count == 50


def test_skipping_many_candidates_is_linear(store: tuple[Path, str, Path],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """3,000 foreign sessions above the one that belongs: each is judged a few times only."""
    root, ws, d = store
    sg.write_session(d, sg.make_session("session-mine", updated_at_ms=T0, workspace_root=ws))
    for n in range(3000):
        sg.write_session(d, sg.make_session(f"session-{n}", updated_at_ms=T0 + 1 + n,
                                            workspace_root="/not/here"))
    index = _index(root)
    calls = 0
    judge = index._decider.verdict

    def counting(sf: SessionFile) -> Verdict:
        nonlocal calls
        calls += 1
        return judge(sf)

    monkeypatch.setattr(index, "_decider", dataclasses.replace(index._decider, verdict=counting))
    assert _latest_name(index, d.name) == "session-mine.jsonl"
    assert calls < 3 * 3001


def test_apply_watcher_changes(store: tuple[Path, str, Path]) -> None:
    from clawfs.live.watcher import RESCAN, Change

    root, ws, d = store
    index = _index(root)
    path = sg.write_session(d, sg.make_session("session-1-0", workspace_root=ws))
    assert index.apply([Change("file", str(path))]) == {d.name}
    sg.write_session(d, sg.make_session("session-2-0", workspace_root=ws, updated_at_ms=T0))
    assert index.apply([Change("dir", str(d))]) == {d.name}
    os.unlink(path)
    assert index.apply([RESCAN]) == {d.name}
    assert _latest_name(index, d.name) == "session-2-0.jsonl"
    assert index.apply([RESCAN]) == set()


def test_sweep_finding_messages_the_head_missed_repoints_latest(
    store: tuple[Path, str, Path],
) -> None:
    """A small file whose head shows no message record is judged empty; when the
    sweep counts a message in it, `latest` (and the root alias) must re-point."""
    root, ws, d = store
    sg.write_session(d, sg.make_session("s-old", updated_at_ms=T0 + 100, workspace_root=ws))
    meta = sg.render(sg.make_session("s-new", updated_at_ms=T0 + 200, messages=0,
                                     workspace_root=ws))
    # Valid JSON claw counts as a message, but no cheap head check can see it.
    hidden = b'{"typ\\u0065": "message", "message": {"blocks": [], "role": "user"}}\n'
    sg.write_bytes(d, "s-new.jsonl", meta + hidden)
    index = _index(root)
    assert _latest_name(index, d.name) == "s-old.jsonl"
    assert (got := index.global_latest()) is not None and got.name == "s-old.jsonl"
    assert index.sweep() >= 1
    assert _latest_name(index, d.name) == "s-new.jsonl"
    assert (got := index.global_latest()) is not None and got.name == "s-new.jsonl"


def test_first_message_within_one_mtime_tick_repoints_latest(
    store: tuple[Path, str, Path],
) -> None:
    """Coarse timestamps: an empty session gets its first message and keeps its mtime."""
    root, ws, d = store
    sg.write_session(d, sg.make_session("s-old", updated_at_ms=T0 + 100, workspace_root=ws),
                     mtime_ms=T0)
    new = sg.write_session(d, sg.make_session("s-new", updated_at_ms=T0 + 200, messages=0,
                                              workspace_root=ws), mtime_ms=T0)
    index = _index(root)
    assert _latest_name(index, d.name) == "s-old.jsonl"
    sg.append_message(new, sg.text_message("first"))
    sg.set_mtime(new, T0)
    assert index.refresh_path(str(new)) == {d.name}
    assert _latest_name(index, d.name) == "s-new.jsonl"


def test_head_that_saw_a_whole_mid_size_file_spares_its_parse(
    store: tuple[Path, str, Path],
) -> None:
    """A message-less file larger than the first read but fully scanned is not parsed."""
    root, ws, d = store
    sg.write_session(d, sg.make_session("s-old", updated_at_ms=T0 + 100, workspace_root=ws))
    meta = sg.render(sg.make_session("s-new", updated_at_ms=T0 + 200, messages=0,
                                     workspace_root=ws))
    prompt = b'{"text":"' + b"p" * 1000 + b'","timestamp_ms":1,"type":"prompt_history"}\n'
    path = sg.write_bytes(d, "s-new.jsonl", meta + prompt * 100)
    assert path.stat().st_size > 16 * 1024
    index = _index(root)
    assert _latest_name(index, d.name) == "s-old.jsonl"
    sf = index.file(d.name, "s-new.jsonl")
    assert sf is not None and index.cached_load(sf) is None


def _count_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    loads: list[str] = []
    load = Commits.load

    def counting(self: Commits, path: str, file_name: str) -> object:
        loads.append(file_name)
        return load(self, path, file_name)

    monkeypatch.setattr(Commits, "load", counting)
    return loads


def test_root_alias_verifies_only_the_top_of_the_merged_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The root alias merges claw's order over all workspaces and checks from
    the top: it does not decide every workspace's own `latest` first."""
    root = tmp_path / "root"
    for n in range(40):
        ws = _project(tmp_path, f"proj{n}")
        d = sg.fp_dir(root, ws)
        for k in range(3):
            sg.write_session(d, sg.make_session(f"s-{n}-{k}", updated_at_ms=T0 + 10 * n + k,
                                                workspace_root=ws))
    # The newest of all is empty: skipped by its head, then one file is checked.
    top = _project(tmp_path, "proj39")
    sg.write_session(sg.fp_dir(root, top), sg.make_session(
        "s-empty", updated_at_ms=T0 + 10_000, messages=0, workspace_root=top))
    index = _index(root)
    loads = _count_loads(monkeypatch)
    got = index.global_latest()
    assert got is not None and got.name == "s-39-2.jsonl"
    assert len(loads) <= 2, loads
    assert index.global_latest() is got


def test_root_alias_after_a_change_checks_a_few_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = tmp_path / "root"
    paths = []
    for n in range(20):
        ws = _project(tmp_path, f"proj{n}")
        d = sg.fp_dir(root, ws)
        paths.append(sg.write_session(d, sg.make_session(f"s-{n}", updated_at_ms=T0 + n,
                                                         workspace_root=ws)))
    index = _index(root)
    assert (got := index.global_latest()) is not None and got.name == "s-19.jsonl"
    loads = _count_loads(monkeypatch)
    # An older session is resumed: its meta is rewritten as claw saves it.
    ws = _project(tmp_path, "proj3")
    sg.write_session(sg.fp_dir(root, ws), sg.make_session(
        "s-3", updated_at_ms=T0 + 500, messages=2, workspace_root=ws))
    index.refresh_path(str(paths[3]))
    assert (got := index.global_latest()) is not None and got.name == "s-3.jsonl"
    assert _latest_name(index, got.fp) == "s-3.jsonl"
    assert len(loads) <= 2, loads


def test_root_alias_skips_what_does_not_qualify_in_any_workspace(tmp_path: Path) -> None:
    """Foreign, corrupt and empty sessions at the top of several workspaces."""
    root = tmp_path / "root"
    ws_a, ws_b = _project(tmp_path, "a"), _project(tmp_path, "b")
    da, db = sg.fp_dir(root, ws_a), sg.fp_dir(root, ws_b)
    sg.write_session(da, sg.make_session("s-foreign", updated_at_ms=T0 + 50,
                                         workspace_root="/not/here"))
    good = sg.render(sg.make_session("s-corrupt", updated_at_ms=T0 + 40, workspace_root=ws_b))
    sg.write_bytes(db, "s-corrupt.jsonl", good + b'{"type":"message","message":{"role":"x"}}\n')
    sg.write_session(da, sg.make_session("s-empty", updated_at_ms=T0 + 30, messages=0,
                                         workspace_root=ws_a))
    sg.write_session(db, sg.make_session("s-b", updated_at_ms=T0 + 20, workspace_root=ws_b))
    sg.write_session(da, sg.make_session("s-a", updated_at_ms=T0 + 10, workspace_root=ws_a))
    index = _index(root)
    assert (got := index.global_latest()) is not None and got.name == "s-b.jsonl"
    assert _latest_name(index, da.name) == "s-a.jsonl"


def test_disk_lookups_happen_outside_the_index_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """realpath of recorded roots (membership) and of new roots runs unlocked."""
    from clawfs.format import fingerprint as fingerprint_module
    from clawfs.store import index as index_module
    from clawfs.store import membership
    from clawfs.store import roots as roots_module

    root = tmp_path / "root"
    ws = _project(tmp_path)
    d = sg.fp_dir(root, ws)
    sg.write_session(d, sg.make_session("session-1-0", workspace_root=ws))
    sg.write_bytes(root, "flat.jsonl", sg.render(sg.make_session(
        "flat", workspace_root=_project(tmp_path, "other"))))
    index = StoreIndex([make_root(str(root), RootKind.STORE, 0)])
    locked: list[str] = []
    candidates = fingerprint_module.fingerprint_candidates

    def watching(path: str) -> set[str]:
        if index._lock._is_owned():  # type: ignore[attr-defined]
            locked.append(path)
        return candidates(path)

    make = roots_module.make_root

    def watching_make(path: str, kind: RootKind, precedence: int) -> Root:
        if index._lock._is_owned():  # type: ignore[attr-defined]
            locked.append(path)
        return make(path, kind, precedence)

    preferred = membership.preferred_fingerprint

    def watching_preferred(path: str) -> str:
        if index._lock._is_owned():  # type: ignore[attr-defined]
            locked.append(path)
        return preferred(path)

    monkeypatch.setattr(fingerprint_module, "fingerprint_candidates", watching)
    monkeypatch.setattr(membership, "preferred_fingerprint", watching_preferred)
    monkeypatch.setattr(index_module, "make_root", watching_make)
    index.scan()
    later = tmp_path / "later"
    ws2 = _project(tmp_path, "p2")
    sg.write_session(sg.fp_dir(later, ws2), sg.make_session("session-2-0", workspace_root=ws2))
    assert index.add_root(str(later))
    assert _latest_name(index, d.name) == "session-1-0.jsonl"
    assert locked == []


def test_directory_checks_happen_outside_the_index_lock(
    store: tuple[Path, str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last file of a removed directory takes its workspace along; whether
    the directory is still there (isdir, or the lstat of finding it) is asked
    without the lock held."""
    root, ws, d = store
    path = sg.write_session(d, sg.make_session("session-1-0", workspace_root=ws))
    index = _index(root)
    checked: list[str] = []
    locked: list[str] = []
    isdir, lstat = os.path.isdir, os.lstat
    names = (str(d), os.path.realpath(d))

    def noted(directory: object) -> None:
        if os.fspath(directory) in names:  # type: ignore[call-overload]
            checked.append(str(directory))
            if index._lock._is_owned():  # type: ignore[attr-defined]
                locked.append(str(directory))

    def watching(directory: str) -> bool:
        noted(directory)
        return isdir(directory)

    def watching_lstat(path: str, *args: object, **kwargs: object) -> os.stat_result:
        noted(path)
        return lstat(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os.path, "isdir", watching)
    monkeypatch.setattr(os, "lstat", watching_lstat)
    shutil.rmtree(d)
    assert index.refresh_path(str(path)) == {d.name}
    assert index.workspaces() == []
    assert checked and locked == []


def test_an_event_for_a_gone_fingerprint_directory_makes_no_workspace(tmp_path: Path) -> None:
    """A fingerprint directory created and removed before its event is read
    must not leave an empty workspace behind (one no rescan would show)."""
    root = tmp_path / "root"
    root.mkdir()
    index = _index(root)
    assert index.refresh_dir(str(root / "0123456789abcdef")) == set()
    assert index.workspaces() == []


def test_a_new_fingerprint_directory_seen_through_a_file_is_a_change(tmp_path: Path) -> None:
    """An event for a file that is no session, in a new fingerprint directory:
    the (empty) workspace a rescan would show is reported, not added quietly."""
    root = tmp_path / "root"
    root.mkdir()
    index = _index(root)
    directory = root / "0123456789abcdef"
    directory.mkdir()
    notes = sg.write_bytes(directory, "notes.txt", b"not a session")
    generation = index.generation
    assert index.refresh_path(str(notes)) == {directory.name}
    assert index.generation > generation
    assert [w.fp for w in index.workspaces()] == [directory.name]
    assert [w.fp for w in _index(root).workspaces()] == [directory.name]


def test_problems_reported_are_bounded(store: tuple[Path, str, Path]) -> None:
    from clawfs.store.problems import REPORTED_LIMIT

    root, _, _ = store
    index = _index(root)
    for n in range(REPORTED_LIMIT + 10):
        index.problems.report(f"/nowhere/{n}", "test")
    assert len(index.problems) <= REPORTED_LIMIT


def test_fork_and_new_session_grow_the_lineage_without_a_rebuild(
    store: tuple[Path, str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fork (or a new session) in a large workspace adds one node to the
    built lineage; no rebuild, and the tree equals what a rebuild gives."""
    from clawfs.store import lineage as lineage_tree

    root, workspace, directory = store
    for n in range(300):
        parent = None if n % 3 or n == 0 else f"s{n // 2}"
        sg.write_session(directory, sg.make_session(
            f"s{n}", workspace_root=workspace, parent=parent,
            updated_at_ms=1_700_000_000_000 + n), mtime_ms=1_700_000_000_000 + n)
    index = _index(root)
    fp = directory.name
    index.lineage(fp)
    builds: list[int] = []
    real_build = lineage_tree.build
    def counting_build(members: Sequence[lineage_tree.Member]) -> lineage_tree.Lineage:
        builds.append(1)
        return real_build(members)

    monkeypatch.setattr(lineage_tree, "build", counting_build)
    source = index.file(fp, "s7.jsonl")
    assert source is not None
    made = index.fork(source, "b")
    index.refresh_path(made.path)  # the watcher's event of the same file
    new = sg.write_session(directory, sg.make_session(
        "fresh", workspace_root=workspace, updated_at_ms=1_700_000_000_150))
    index.refresh_path(str(new))
    grown = index.lineage(fp)
    assert builds == []
    assert grown.parent_of(made.name) == "s7.jsonl"
    assert "fresh.jsonl" in grown.nodes
    fresh = real_build(index._records.members(fp))
    assert list(fresh.top.items()) == list(grown.top.items())
    assert {n: list(v.children.items()) for n, v in fresh.nodes.items()} == {
        n: list(v.children.items()) for n, v in grown.nodes.items()}
    os.remove(new)  # a delete takes the leaf away, in place too
    index.refresh_path(str(new))
    shrunk = index.lineage(fp)
    assert "fresh.jsonl" not in shrunk.nodes
    assert builds == []
    fresh = real_build(index._records.members(fp))
    assert list(fresh.top.items()) == list(shrunk.top.items())
    assert {n: list(v.children.items()) for n, v in fresh.nodes.items()} == {
        n: list(v.children.items()) for n, v in shrunk.nodes.items()}
    os.remove(source.path)  # a parent: its forks move to the top, a rebuild
    index.refresh_path(source.path)
    assert index.lineage(fp).parent_of(made.name) is None and builds == [1]


def test_the_sweep_measures_every_markdown_version_once(
    store: tuple[Path, str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """SPEC §8: sizes are known without rendering on every `ls`: the sweep
    renders each file version once; a later sweep renders only what changed."""
    root, ws, d = store
    for n in range(5):
        sg.write_session(d, sg.make_session(f"session-{n}-0", updated_at_ms=T0 + n,
                                            workspace_root=ws, messages=n))
    sg.write_bytes(d, "broken.jsonl", b"{bad\n")
    index = _index(root)
    rendered: list[str] = []
    real = markdown.MarkdownReader.__init__

    def counting(self: markdown.MarkdownReader, path: str, file_name: str | None = None) -> None:
        rendered.append(os.path.basename(path))
        real(self, path, file_name)

    monkeypatch.setattr(markdown.MarkdownReader, "__init__", counting)
    index.sweep()
    files = {sf.name: sf for w in index.workspaces() for sf in w.ordered}
    assert sorted(rendered) == sorted(files)
    for sf in files.values():
        known = index.markdown.known(sf.path, sf.key)
        data = Path(sf.path).read_bytes()
        assert known is not None
        assert known.size == len(markdown.render_bytes(data, sf.path, sf.file_name))
    rendered.clear()
    index.sweep()
    assert rendered == []  # every version is known
    sg.append_message(d / "session-2-0.jsonl", sg.text_message("more"))
    index.refresh_path(str(d / "session-2-0.jsonl"))
    rendered.clear()
    index.sweep()
    assert rendered == ["session-2-0.jsonl"]


def test_a_load_keeps_the_markdown_measured_before_it(store: tuple[Path, str, Path]) -> None:
    """A version's Markdown measured before its load (a `stat` of the `.md`
    before the sweep got there) stays known once the load is committed: the
    load is of the same version, and nothing renders it again."""
    root, ws, d = store
    sg.write_session(d, sg.make_session("session-1-0", updated_at_ms=T0, workspace_root=ws,
                                        messages=3))
    index = _index(root)
    (sf,) = [sf for w in index.workspaces() for sf in w.ordered]
    assert not sf.loaded
    measured = index.markdown.measure(sf.path)
    assert measured is not None
    index.sweep()
    now = index.file(sf.fp, sf.name)
    assert now is not None and now.loaded and now.key == sf.key
    assert now.rendered == measured[1]


def _shown(index: StoreIndex, fp: str) -> list[tuple[str, str, tuple[int, ...], str]]:
    """What a workspace shows, in claw's order: entry name, backing path,
    version, session id."""
    space = index.workspace(fp)
    assert space is not None
    return [(rec.name, rec.path, tuple(rec.key), rec.session_id) for rec in space.ordered]


def test_a_rescan_of_a_held_directory_sees_every_kind_of_change(
    store: tuple[Path, str, Path],
) -> None:
    """A rescan takes an unchanged held file from its record for one stat
    (dirsync._held); every change the index keys on is still seen, as a
    first scan of the store as it is now sees it: an append, a rename over
    (a new inode), the same size with a new mtime, the same mtime with a
    new inode, a file replaced by a link to a sibling, a directory named
    like a session, a file gone and a file new."""
    root, workspace, directory = store
    paths = {}
    for n, sid in enumerate(["appended", "renamed", "touched", "swapped", "linked", "dir", "gone",
                             "kept"]):
        paths[sid] = sg.write_session(directory, sg.make_session(sid, workspace_root=workspace,
                                                                 updated_at_ms=T0 + n),
                                      mtime_ms=T0 + n)
    index = _index(root)
    fp = directory.name
    sg.append_message(paths["appended"], sg.text_message("one more"))
    sg.write_session(directory, sg.make_session("renamed", workspace_root=workspace,
                                                updated_at_ms=T0 + 100),
                     name="renamed.tmp", mtime_ms=T0 + 100)
    os.rename(directory / "renamed.tmp", paths["renamed"])
    os.utime(paths["touched"], ns=(0, (T0 + 200) * 1_000_000))
    same = paths["swapped"].stat()
    data = paths["swapped"].read_bytes()
    paths["swapped"].unlink()
    paths["swapped"].write_bytes(data)
    os.utime(paths["swapped"], ns=(same.st_atime_ns, same.st_mtime_ns))
    paths["linked"].unlink()
    paths["linked"].symlink_to("kept.jsonl")
    paths["dir"].unlink()
    paths["dir"].mkdir()
    paths["gone"].unlink()
    sg.write_session(directory, sg.make_session("new", workspace_root=workspace,
                                                updated_at_ms=T0 + 300), mtime_ms=T0 + 300)
    before = {name: key for name, _, key, _ in _shown(index, fp)}
    index.scan()
    assert _shown(index, fp) == _shown(_index(root), fp)
    now = {name: key for name, _, key, _ in _shown(index, fp)}
    assert now["kept.jsonl"] == before["kept.jsonl"]
    changed = ["appended", "renamed", "touched", "swapped", "linked", "dir"]
    assert all(now[f"{sid}.jsonl"] != before[f"{sid}.jsonl"] for sid in changed)
    assert "gone.jsonl" not in now and "new.jsonl" in now
