"""The fork writer's two passes: the bytes of a full load, the memory of one record.

The writer never holds the parent's messages (forkwriter.py): pass 1 checks
the file, pass 2 re-reads and renders it one message at a time. These tests
hold it to the full-load rendering (`load` + `Session.forked` +
`render_snapshot`) on files that exercise claw's odd rules, bound its
traced peak memory, and check that a parent changed between the passes
fails the fork and leaves nothing behind.
"""

from __future__ import annotations

import errno
import os
import random
import tracemalloc
from pathlib import Path

import pytest

from clawfs.format import clawjson, session, snapshot
from clawfs.format.clawjson import JsonObject
from clawfs.store import files, forkwriter

import storegen as sg

MIB = 1 << 20


def _message_line(rnd: random.Random, n: int, text_size: int) -> str:
    """A message record with keys claw drops and values its save rewrites."""
    blocks: list[clawjson.JsonValue] = [
        {"type": "text", "text": "w " * text_size + f"ANTHROPIC_API_KEY=[redacted] {n}", "x": 1},
        {
            "type": "tool_use", "id": f"t{n}", "name": "bash", "input": '{"cmd":"ls"}',
            "signature": "s",
        },
        {
            "type": "tool_result", "tool_use_id": f"t{n}", "tool_name": "bash",
            "output": "line\n" * rnd.randint(1, 30), "is_error": n % 7 == 0,
        },
    ]
    if n % 11 == 0:
        blocks.append({"type": "thinking", "thinking": "hmm sk-ant-xyz", "signature": "sig"})
    message: JsonObject = {"role": ("user", "assistant", "tool")[n % 3], "blocks": blocks}
    if n % 2:
        message["usage"] = {
            "input_tokens": n, "output_tokens": 2, "cache_creation_input_tokens": 3,
            "cache_read_input_tokens": 4, "extra": 5,
        }
    return clawjson.render({"type": "message", "message": message, "unknown": [1, 2]})


def big_parent(directory: Path, size: int, *, largest: int = 0) -> Path:
    """A JSONL session of about `size` bytes, records in no snapshot order.

    Two metas (the last wins), compactions and prompt_history between and
    after messages, blank and padded lines, CRLF, and no final newline.
    `largest` > 0 adds one message record of about that many bytes.
    """
    rnd = random.Random(7)
    lines = [
        clawjson.render({"type": "session_meta", "version": 1, "session_id": "old",
                         "updated_at_ms": 1}),
        "",
        clawjson.render({"type": "session_meta", "version": 1, "session_id": "session-5-0",
                         "created_at_ms": 5, "updated_at_ms": 9, "workspace_root": "/w",
                         "model": "m", "fork": {"parent_session_id": "root"}}),
    ]
    total = sum(len(line) for line in lines)
    n = 0
    while total < size:
        n += 1
        line = _message_line(rnd, n, rnd.randint(2, 60))
        if n % 40 == 0:
            line = f"  {line}\t\r"
        if n % 97 == 0:
            line += "\n" + clawjson.render(
                {"type": "prompt_history", "timestamp_ms": n, "text": f"p {n} Bearer sk-1"})
        if n % 501 == 0:
            line += "\n" + clawjson.render(
                {"type": "compaction", "count": n, "removed_message_count": n, "summary": "s"})
        if n == 123 and largest:
            line += "\n" + _message_line(rnd, n, largest // 2)
        lines.append(line)
        total += len(line) + 1
    lines.append(clawjson.render({"type": "prompt_history", "timestamp_ms": -1, "text": "bad"}))
    path = directory / "session-5-0.jsonl"
    directory.mkdir(parents=True, exist_ok=True)
    path.write_bytes("\n".join(lines).encode("utf-8"))
    return path


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
    new = Path(forkwriter.write_fork(str(parent), str(parent.parent), " b "))
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
    new = Path(forkwriter.write_fork(str(parent), str(d), None))
    assert new.read_bytes() == full_load_fork(parent, new, None)


def test_peak_memory_is_bounded_by_the_largest_record(tmp_path: Path) -> None:
    """An 8 MiB parent (a full load holds ~30 MB of objects) forks in a few MB."""
    largest = 512 * 1024
    parent = big_parent(tmp_path / "d", 8 * MIB, largest=largest)
    tracemalloc.start()
    try:
        new = Path(forkwriter.write_fork(str(parent), str(parent.parent), None))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert new.stat().st_size > 6 * MIB  # smaller: claw drops unknown keys
    assert peak < 3 * largest + 6 * MIB, f"fork peaked at {peak / MIB:.1f} MiB"


def _rewrite_between_passes(monkeypatch: pytest.MonkeyPatch, change: str) -> None:
    """Change the parent in place right after pass 1 checked it."""
    check = forkwriter._check_parent

    def check_then_change(
        opened: files.BackingFile, path: str, file_name: str
    ) -> forkwriter._Parent:
        checked = check(opened, path, file_name)
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
def test_parent_rewritten_between_passes_fails_and_leaves_nothing(
    change: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = tmp_path / "d"
    parent = sg.write_session(d, sg.make_session("session-1-0", messages=50))
    _rewrite_between_passes(monkeypatch, change)
    with pytest.raises(OSError) as failed:
        forkwriter.write_fork(str(parent), str(d), None)
    assert failed.value.errno == errno.ENOENT
    assert os.listdir(d) == ["session-1-0.jsonl"]


def test_append_between_passes_forks_what_was_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """claw appends while we read: the fork is the file as pass 1 saw it."""
    d = tmp_path / "d"
    parent = sg.write_session(d, sg.make_session("session-1-0", messages=50))
    before = tmp_path / "before.jsonl"
    before.write_bytes(parent.read_bytes())
    _rewrite_between_passes(monkeypatch, "append")
    new = Path(forkwriter.write_fork(str(parent), str(d), None))
    assert parent.read_bytes().endswith(snapshot_line(sg.text_message("appended")))
    assert new.read_bytes() == full_load_fork(before, new, None)
