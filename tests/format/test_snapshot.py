"""claw's snapshot save, rendered (claw-store-format §4 and §3.7)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from clawfs.format.session import Compaction, Fork, PromptEntry, Session, load
from clawfs.format.snapshot import render_snapshot

SECRET = "sk-ant-s3cret"
HIDDEN = "sk-ant-[redacted]"


def _session(**changes: Any) -> Session:
    base = Session(
        version=1,
        session_id="session-1776000000001-0",
        created_at_ms=1776000000000,
        updated_at_ms=1776000000500,
    )
    return replace(base, **changes)


def test_meta_only_snapshot() -> None:
    assert render_snapshot(_session()) == (
        b'{"created_at_ms":1776000000000,"session_id":"session-1776000000001-0",'
        b'"type":"session_meta","updated_at_ms":1776000000500,"version":1}\n'
    )


def test_save_order_and_key_order() -> None:
    session = _session(
        fork=Fork("session-1-0", "b"),
        workspace_root="/w",
        model="m",
        compaction=Compaction(2, 3, "sum"),
        prompt_history=[PromptEntry(7, "p1"), PromptEntry(8, "p2")],
        messages=[
            {
                "role": "assistant",
                "blocks": [{"type": "text", "text": "t"}],
                "usage": {
                    "input_tokens": 1,
                    "output_tokens": 2,
                    "cache_creation_input_tokens": 3,
                    "cache_read_input_tokens": 4,
                },
            }
        ],
    )
    assert render_snapshot(session).decode().split("\n") == [
        '{"created_at_ms":1776000000000,"fork":{"branch_name":"b","parent_session_id":"session-1-0"},'
        '"model":"m","session_id":"session-1776000000001-0","type":"session_meta",'
        '"updated_at_ms":1776000000500,"version":1,"workspace_root":"/w"}',
        '{"count":2,"removed_message_count":3,"summary":"sum","type":"compaction"}',
        '{"text":"p1","timestamp_ms":7,"type":"prompt_history"}',
        '{"text":"p2","timestamp_ms":8,"type":"prompt_history"}',
        '{"message":{"blocks":[{"text":"t","type":"text"}],"role":"assistant",'
        '"usage":{"cache_creation_input_tokens":3,"cache_read_input_tokens":4,'
        '"input_tokens":1,"output_tokens":2}},"type":"message"}',
        "",
    ]


def test_sanitizing_applies_to_exactly_claws_fields() -> None:
    session = _session(
        session_id=SECRET,
        workspace_root=SECRET,
        model=SECRET,
        fork=Fork(SECRET, SECRET),
        compaction=Compaction(1, 1, SECRET),
        prompt_history=[PromptEntry(1, SECRET)],
        messages=[
            {
                "role": "assistant",
                "blocks": [
                    {"type": "text", "text": SECRET},
                    {"type": "thinking", "thinking": SECRET, "signature": SECRET},
                    {"type": "tool_use", "id": SECRET, "name": SECRET, "input": SECRET},
                ],
            },
            {
                "role": "tool",
                "blocks": [
                    {
                        "type": "tool_result",
                        "tool_use_id": SECRET,
                        "tool_name": SECRET,
                        "output": SECRET,
                        "is_error": False,
                    }
                ],
            },
        ],
    )
    saved = load(render_snapshot(session), file_name="x.jsonl", mtime_ms=0)
    # Not sanitized: meta (id, root, model, fork), tool names.
    assert (saved.session_id, saved.workspace_root, saved.model) == (SECRET, SECRET, SECRET)
    assert saved.fork == Fork(SECRET, SECRET)
    assert saved.compaction == Compaction(1, 1, HIDDEN)
    assert saved.prompt_history == [PromptEntry(1, HIDDEN)]
    assert saved.messages == [
        {
            "role": "assistant",
            "blocks": [
                {"type": "text", "text": HIDDEN},
                {"type": "thinking", "thinking": HIDDEN, "signature": HIDDEN},
                {"type": "tool_use", "id": HIDDEN, "name": SECRET, "input": HIDDEN},
            ],
        },
        {
            "role": "tool",
            "blocks": [
                {
                    "type": "tool_result",
                    "tool_use_id": HIDDEN,
                    "tool_name": SECRET,
                    "output": HIDDEN,
                    "is_error": False,
                }
            ],
        },
    ]
    # The model itself is untouched: claw sanitizes only what it writes.
    assert session.compaction == Compaction(1, 1, SECRET)


def test_each_save_grows_a_redaction_marker() -> None:
    session = _session(prompt_history=[PromptEntry(1, "ANTHROPIC_API_KEY=abc")])
    texts = []
    for _ in range(3):
        data = render_snapshot(session)
        session = load(data, file_name="x.jsonl", mtime_ms=0)
        texts.append(session.prompt_history[0].text)
    assert texts == [
        "ANTHROPIC_API_KEY=[redacted]",
        "ANTHROPIC_API_KEY=[redacted]]",
        "ANTHROPIC_API_KEY=[redacted]]]",
    ]


def test_fork_snapshot() -> None:
    parent = _session(
        fork=Fork("grandparent"),
        workspace_root="D:\\proj",
        model="m",
        messages=[{"role": "user", "blocks": [{"type": "text", "text": "hi"}]}],
    )
    child = parent.forked("session-1776000000100-3", 1776000000100, " review ")
    assert render_snapshot(child) == (
        b'{"created_at_ms":1776000000100,"fork":{"branch_name":"review",'
        b'"parent_session_id":"session-1776000000001-0"},"model":"m",'
        b'"session_id":"session-1776000000100-3","type":"session_meta",'
        b'"updated_at_ms":1776000000100,"version":1,"workspace_root":"D:\\\\proj"}\n'
        b'{"message":{"blocks":[{"text":"hi","type":"text"}],"role":"user"},"type":"message"}\n'
    )


def test_unsanitized_render_round_trips() -> None:
    session = _session(prompt_history=[PromptEntry(1, "x" * 20000 + " sk-ant-k")])
    data = render_snapshot(session, sanitized=False)
    assert load(data, file_name="x.jsonl", mtime_ms=0) == session
