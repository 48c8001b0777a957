"""A file's head from one small read (head.Head)."""

from __future__ import annotations

import os
from pathlib import Path

from clawfs.format.clawjson import JsonObject, render
from clawfs.format.head import HEAD_BYTES, Head, parse_head, read_head

META: JsonObject = {
    "created_at_ms": 10,
    "fork": {"branch_name": "b", "parent_session_id": "session-1-0"},
    "model": "m",
    "session_id": "session-11-0",
    "type": "session_meta",
    "updated_at_ms": 20,
    "version": 1,
    "workspace_root": "/w",
}
MESSAGE = b'{"message":{"blocks":[{"text":"hi","type":"text"}],"role":"user"},"type":"message"}\n'


def line(record: JsonObject) -> bytes:
    return render(record).encode() + b"\n"


def test_meta_fields() -> None:
    assert parse_head(line(META) + MESSAGE) == Head(
        meta_found=True,
        session_id="session-11-0",
        created_at_ms=10,
        updated_at_ms=20,
        parent_session_id="session-1-0",
        branch_name="b",
        model="m",
        workspace_root="/w",
        has_messages=True,
    )


def test_meta_only_file_has_no_messages() -> None:
    head = parse_head(line(META))
    assert head.meta_found and not head.has_messages


def test_prompt_history_is_not_a_message() -> None:
    prompt = line({"text": "message", "timestamp_ms": 1, "type": "prompt_history"})
    assert not parse_head(line(META) + prompt).has_messages


def test_message_with_keys_in_another_order_counts() -> None:
    reordered = b'{"type":"message","message":{"role":"user","blocks":[]}}\n'
    assert parse_head(line(META) + reordered).has_messages


def test_created_at_falls_back_to_the_id() -> None:
    meta = {key: value for key, value in META.items() if key != "created_at_ms"}
    assert parse_head(line(meta)).created_at_ms == 11
    assert parse_head(line({**meta, "session_id": "odd"})).created_at_ms is None


def test_leading_blank_lines_and_crlf() -> None:
    head = parse_head(b"\n \r\n" + line(META).replace(b"\n", b"\r\n"))
    assert head.session_id == "session-11-0"


def test_not_a_meta_head() -> None:
    for data in (
        b"",
        b"\n\n",
        b'{"messages":[],"version":1}',
        MESSAGE + line(META),
        b"\xef\xbb\xbf" + line(META),
        b"garbage\n" + line(META),
        line({**META, "updated_at_ms": -1}),
        line({**META, "messages": []}),
        line(META)[:40],
        b"\xff" + line(META),
    ):
        assert parse_head(data) == Head(meta_found=False), data


def test_meta_line_without_newline_is_still_a_head() -> None:
    assert parse_head(line(META).rstrip(b"\n")).meta_found


def _head_of(path: Path) -> Head:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.lseek(fd, 5, os.SEEK_SET)
        head = read_head(fd)
        assert os.lseek(fd, 0, os.SEEK_CUR) == 5  # pread only
        return head
    finally:
        os.close(fd)


def test_read_head_small_file(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_bytes(line(META) + MESSAGE)
    assert _head_of(path) == parse_head(line(META) + MESSAGE)


def test_read_head_long_meta_line(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_bytes(line({**META, "workspace_root": "/w" * 20000}) + MESSAGE)
    head = _head_of(path)
    assert head.meta_found and head.has_messages
    assert head.workspace_root == "/w" * 20000


def test_read_head_finds_messages_after_a_big_compaction(tmp_path: Path) -> None:
    compaction: JsonObject = {
        "count": 1,
        "removed_message_count": 9,
        "summary": "\u00e9" * 16384,
        "type": "compaction",
    }
    path = tmp_path / "s.jsonl"
    path.write_bytes(line(META) + line(compaction) + MESSAGE)
    assert path.stat().st_size > HEAD_BYTES
    assert _head_of(path).has_messages


def test_read_head_of_a_huge_body_stays_bounded(tmp_path: Path) -> None:
    prompt = line({"text": "p" * 1000, "timestamp_ms": 1, "type": "prompt_history"})
    path = tmp_path / "s.jsonl"
    path.write_bytes(line(META) + prompt * 2000 + MESSAGE)
    head = _head_of(path)
    assert head.meta_found and not head.has_messages  # beyond the scan: a hint only


def test_message_record_with_json_whitespace_counts() -> None:
    """Valid JSON claw counts as a message, written with spaces after the colons."""
    spaced = b'{"type": "message", "message": {"role": "user", "blocks": []}}\n'
    assert parse_head(line(META) + spaced).has_messages
    sorted_spaced = b'{ "message" : {"blocks": [], "role": "user"}, "type" : "message"}\n'
    assert parse_head(line(META) + sorted_spaced).has_messages


def test_a_message_word_in_text_is_not_a_record() -> None:
    prompt = line({"text": 'say "type": "message"', "timestamp_ms": 1, "type": "prompt_history"})
    assert not parse_head(line(META) + prompt).has_messages


def test_head_records_the_bytes_it_scanned(tmp_path: Path) -> None:
    assert parse_head(line(META)).scanned == len(line(META))
    prompt = line({"text": "p" * 1000, "timestamp_ms": 1, "type": "prompt_history"})
    path = tmp_path / "s.jsonl"
    path.write_bytes(line(META) + prompt * 100)
    size = path.stat().st_size
    assert HEAD_BYTES < size
    head = _head_of(path)
    assert not head.has_messages and head.scanned == size
