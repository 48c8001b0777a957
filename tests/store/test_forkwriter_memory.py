"""The fork writer's one pass: the bytes of a full load, the memory of one record.

The writer never holds the parent's messages (forkwriter.py): it checks
the file and renders each message into its spool as it is checked, then
reads the parent's bytes again (not parsed) before the fork is named. These
tests hold it to the full-load rendering (`load` + `Session.forked` +
`render_snapshot`) on files that exercise claw's odd rules, bound its
traced peak memory, and check that a parent changed after it was read
fails the fork and leaves nothing behind.
"""

from __future__ import annotations

import errno
import os
import tracemalloc
from pathlib import Path

import pytest

from clawfs.format import clawjson, session, snapshot
from clawfs.store import files, forkwriter

import storegen as sg
from storegen import MIB, big_parent


def full_load_fork(parent: Path, new: Path, branch: str | None) -> bytes:
    """The bytes a fork must have: the parent loaded whole, forked, saved."""
    data = parent.read_bytes()
    loaded = session.load(
        data, file_name=parent.name, mtime_ms=parent.stat().st_mtime_ns // 1_000_000
    )
    new_id = new.name.removesuffix(".jsonl")
    now = session.created_at_from_id(new_id)
    assert now is not None
    return snapshot.render_snapshot(loaded.forked(new_id, now, branch))


def test_multi_megabyte_fork_is_the_full_load_rendering(tmp_path: Path) -> None:
    parent = big_parent(tmp_path / "d", 3 * MIB, largest=200_000)
    new = Path(forkwriter.write_fork(str(parent), str(parent.parent), " b ").path)
    data = new.read_bytes()
    assert data == full_load_fork(parent, new, " b ")
    assert data.count(b'"type":"message"') > 5000  # the messages are all there
    assert b"[redacted]]" in data and b"[truncated for session JSONL]" in data


@pytest.mark.parametrize(
    "content",
    [
        sg.legacy_json(5),
        b'{\n  "messages": [],\n  "version": 1\n}\n',
        b"",
        b"\n\n",
        b'{"type":"prompt_history","timestamp_ms":3,"text":"only"}',
        b'{"type":"message","message":{"role":"user","blocks":[]}}\n'
        b'{"type":"compaction","count":1,"removed_message_count":2,"summary":"x"}\n',
    ],
    ids=["legacy", "legacy-empty", "empty", "blank", "no-meta", "message-then-compaction"],
)
def test_small_and_legacy_parents_match_the_full_load(content: bytes, tmp_path: Path) -> None:
    d = tmp_path / "d"
    parent = sg.write_bytes(d, "session-1700000000000-3.jsonl", content, mtime_ms=1_700_000_000_000)
    new = Path(forkwriter.write_fork(str(parent), str(d), None).path)
    assert new.read_bytes() == full_load_fork(parent, new, None)


def test_peak_memory_is_bounded_by_the_largest_record(tmp_path: Path) -> None:
    """An 8 MiB parent (a full load holds ~30 MB of objects) forks in a few MB."""
    largest = 512 * 1024
    parent = big_parent(tmp_path / "d", 8 * MIB, largest=largest)
    tracemalloc.start()
    try:
        new = Path(forkwriter.write_fork(str(parent), str(parent.parent), None).path)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert new.stat().st_size > 6 * MIB  # smaller: claw drops unknown keys
    assert peak < 3 * largest + 6 * MIB, f"fork peaked at {peak / MIB:.1f} MiB"


def _change_once_read(monkeypatch: pytest.MonkeyPatch, change: str) -> None:
    """Change the parent in place right after it was read and checked."""
    check = forkwriter._check_parent

    def check_then_change(
        opened: files.BackingFile, path: str, file_name: str, spool: int
    ) -> forkwriter._Parent:
        checked = check(opened, path, file_name, spool)
        with open(path, "r+b") as f:
            if change == "truncate":
                f.truncate(checked.length // 2)
            elif change == "same-length":
                data = f.read()
                f.seek(0)
                f.write(data.replace(b"message 1 of", b"MESSAGE 1 of"))
            else:
                f.seek(0, os.SEEK_END)
                f.write(snapshot_line(sg.text_message("appended")))
        return checked

    monkeypatch.setattr(forkwriter, "_check_parent", check_then_change)


def snapshot_line(message: session.Message) -> bytes:
    return clawjson.render(snapshot.message_record(message)).encode("utf-8") + b"\n"


@pytest.mark.parametrize("change", ["truncate", "same-length"])
def test_parent_rewritten_once_read_fails_and_leaves_nothing(
    change: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = tmp_path / "d"
    parent = sg.write_session(d, sg.make_session("session-1-0", messages=50))
    _change_once_read(monkeypatch, change)
    with pytest.raises(OSError) as failed:
        forkwriter.write_fork(str(parent), str(d), None)
    assert failed.value.errno == errno.ENOENT
    assert os.listdir(d) == ["session-1-0.jsonl"]


def test_append_once_read_forks_what_was_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """claw appends while we fork: the fork is the file as it was read."""
    d = tmp_path / "d"
    parent = sg.write_session(d, sg.make_session("session-1-0", messages=50))
    before = tmp_path / "before.jsonl"
    before.write_bytes(parent.read_bytes())
    _change_once_read(monkeypatch, "append")
    new = Path(forkwriter.write_fork(str(parent), str(d), None).path)
    assert parent.read_bytes().endswith(snapshot_line(sg.text_message("appended")))
    assert new.read_bytes() == full_load_fork(before, new, None)
