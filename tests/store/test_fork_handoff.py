"""A fork is indexed from what its writer knows (store/forkwriter.py `Written`):
the index and the aliases answer without reading the new file back, but
only while the file is the version written; one that changed since is read.
And the writer parses its parent once.

Opens are counted at `files.open_backing`, the one way clawfs opens a
session file (heads, loads and reads all go through it).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from clawfs.format import clawjson, jsonl, summary
from clawfs.store import files, forkwriter, probe
from clawfs.store.index import StoreIndex
from clawfs.store.roots import RootKind, make_root

import storegen as sg
from storegen import MIB, big_parent

T0 = 1_760_000_000_000


def _indexed(tmp_path: Path, messages: int = 3) -> tuple[StoreIndex, str, Path]:
    """An index of one workspace whose latest session (loaded) has `messages`."""
    ws = os.path.realpath(tmp_path)
    root = tmp_path / "root"
    d = sg.fp_dir(root, ws)
    sg.write_session(d, sg.make_session("session-1-0", workspace_root=ws, updated_at_ms=T0 - 9,
                                        messages=1), mtime_ms=T0 - 9)
    parent = sg.write_session(d, sg.make_session(
        "session-2-0", workspace_root=ws, updated_at_ms=T0, messages=messages), mtime_ms=T0)
    index = StoreIndex([make_root(str(root), RootKind.STORE, 0)])
    index.scan()
    assert (index.latest(d.name) or pytest.fail()).path == str(parent)  # loaded now
    assert index.global_latest() is not None
    return index, d.name, parent


def test_a_fork_is_indexed_and_named_latest_without_reading_it(
    tmp_path: Path, opens: list[str]
) -> None:
    index, fp, parent = _indexed(tmp_path)
    source = index.latest(fp) or pytest.fail()
    opens.clear()
    made = index.fork(source, "b")
    assert (index.latest(fp) or pytest.fail()).path == made.path
    assert (index.global_latest() or pytest.fail()).path == made.path
    loaded = index.load(made)
    assert opens == [str(parent)]  # the parent, read once by the writer; never the fork
    data = Path(made.path).read_bytes()
    st = os.stat(made.path)
    assert made.key == files.file_key(st)
    assert loaded == summary.summarize(data, file_name=made.file_name,
                                       mtime_ms=st.st_mtime_ns // 1_000_000)
    assert loaded.message_count == 3 and loaded.parent_session_id == "session-2-0"
    assert loaded.branch_name == "b"


def _append(path: Path) -> None:
    sg.append_message(path, sg.text_message("one more"))


def _touch(path: Path) -> None:
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


def _replace_with_an_empty_session(path: Path) -> None:
    other = path.with_suffix(".tmp")
    other.write_bytes(sg.render(sg.make_session(path.stem, messages=0)))
    os.replace(other, path)


@pytest.mark.parametrize(("change", "expected"),
                         [(_append, 4), (_touch, 3), (_replace_with_an_empty_session, 0)],
                         ids=["appended", "touched", "replaced"])
def test_a_fork_changed_after_the_handoff_is_read_again(
    change: Callable[[Path], None], expected: int, tmp_path: Path, opens: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The writer's summary is for the version it wrote: a file whose
    identity differs by the time the index takes it is read, and what the
    index says of it is what the file says now."""
    index, fp, parent = _indexed(tmp_path)
    write = forkwriter.write_fork

    def write_then_change(*args: object, **kwargs: object) -> forkwriter.Written:
        written = write(*args, **kwargs)  # type: ignore[arg-type]
        change(Path(written.path))
        return written

    monkeypatch.setattr(forkwriter, "write_fork", write_then_change)
    source = index.latest(fp) or pytest.fail()
    opens.clear()
    made = index.fork(source, None)
    latest = index.latest(fp)
    assert made.path in opens
    data = Path(made.path).read_bytes()
    st = os.stat(made.path)
    assert made.key == files.file_key(st)
    truth = summary.summarize(data, file_name=made.file_name,
                              mtime_ms=st.st_mtime_ns // 1_000_000)
    assert index.load(made) == truth
    assert truth.message_count == expected
    # An empty session is no target: `latest` goes back to the parent.
    assert (latest or pytest.fail()).path == (str(parent) if expected == 0 else made.path)


def test_a_fork_changed_as_it_was_named_is_handed_over_unknown(
    tmp_path: Path, opens: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written to between its link and the writer's fstat (another writer
    was quicker): the writer says it does not know the version named, and
    the index reads the file."""
    index, fp, _parent = _indexed(tmp_path)
    link = forkwriter._link_unnamed

    def link_then_append(fd: int, into: int, final: str) -> bool:
        linked = link(fd, into, final)
        other = os.open(final, os.O_WRONLY | os.O_APPEND, dir_fd=into)
        try:
            os.write(other, clawjson.render({"type": "prompt_history", "timestamp_ms": 1,
                                             "text": "late"}).encode() + b"\n")
        finally:
            os.close(other)
        return linked

    monkeypatch.setattr(forkwriter, "_link_unnamed", link_then_append)
    handed: list[forkwriter.Written] = []
    write = forkwriter.write_fork

    def recording(*args: object, **kwargs: object) -> forkwriter.Written:
        written = write(*args, **kwargs)  # type: ignore[arg-type]
        handed.append(written)
        return written

    monkeypatch.setattr(forkwriter, "write_fork", recording)
    source = index.latest(fp) or pytest.fail()
    opens.clear()
    made = index.fork(source, None)
    assert [w.key for w in handed] == [None]
    assert made.path in opens
    assert made.key == files.file_key(os.stat(made.path))


@pytest.mark.parametrize(
    "content",
    [
        sg.legacy_json(5),
        b"",
        b'{"type":"prompt_history","timestamp_ms":3,"text":"only"}',
        b'{"type":"message","message":{"role":"user","blocks":[]}}\n'
        b'{"type":"compaction","count":1,"removed_message_count":2,"summary":"x"}\n',
    ],
    ids=["legacy", "empty", "no-meta", "message-then-compaction"],
)
def test_the_summary_handed_over_is_the_load_of_the_fork(content: bytes, tmp_path: Path) -> None:
    d = tmp_path / "d"
    parent = sg.write_bytes(d, "session-1700000000000-3.jsonl", content, mtime_ms=1_700_000_000_000)
    _check_handed(forkwriter.write_fork(str(parent), str(d), " x "))


def test_the_summary_handed_over_for_a_big_parent(tmp_path: Path) -> None:
    parent = big_parent(tmp_path / "d", MIB)
    _check_handed(forkwriter.write_fork(str(parent), str(parent.parent), None))


def _check_handed(written: forkwriter.Written) -> None:
    path = Path(written.path)
    st = os.stat(path)
    assert written.key == files.file_key(st)
    assert written.summary == summary.summarize(
        path.read_bytes(), file_name=path.name, mtime_ms=st.st_mtime_ns // 1_000_000)


def test_the_parent_is_parsed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each line of the parent goes through claw's parser once, and nothing
    else is parsed: the messages are rendered as they are checked."""
    parent = big_parent(tmp_path / "d", MIB // 4)
    parsed: list[str] = []
    parse = clawjson.parse

    def counting(text: str) -> clawjson.JsonValue:
        parsed.append(text)
        return parse(text)

    monkeypatch.setattr(clawjson, "parse", counting)
    forkwriter.write_fork(str(parent), str(parent.parent), None)
    lines = [line.text for line in jsonl.lines(parent.read_bytes())]
    assert sorted(parsed) == sorted(lines)


def test_a_head_read_that_raced_a_load_keeps_the_load(tmp_path: Path, opens: list[str]) -> None:
    """The watcher's probe of a new fork may read its head before the fork's
    handoff (or any load) is committed, and commit after it: a head of the
    version already loaded must not undo that load (`latest` would then
    load the fork in full again)."""
    index, fp, _ = _indexed(tmp_path)
    made = index.fork(index.latest(fp) or pytest.fail(), "b")
    assert made.loaded
    commits = index._commits
    late = probe.read(made.found, None, commits.loads, commits.report)  # as if begun before
    assert late is not None and not late.version.loaded
    commits.update(lambda: commits.place(late))
    now = index.file(fp, made.name) or pytest.fail()
    assert now.loaded and now.key == made.key
    opens.clear()
    assert (index.latest(fp) or pytest.fail()).path == made.path
    assert opens == []
