"""claw's snapshot save, rendered to bytes (session.rs `render_jsonl_snapshot`).

Order: meta, compaction, every prompt_history entry, every message; lines
joined with `\\n` plus a final `\\n`. This is also exactly what a claw fork
writes. Sanitizing (sanitize.py) applies to the fields claw names, never to
roles, tool names or meta. The record functions take `sanitized=False` to
re-render what a file holds without changing it (tests, comparisons).
"""

from __future__ import annotations

from collections.abc import Iterator

from clawfs.format.clawjson import JsonObject, JsonValue, render
from clawfs.format.sanitize import sanitize
from clawfs.format.session import Compaction, Message, PromptEntry, Session

# Block fields claw passes through `sanitize_jsonl_field` (persisted_block_json).
_SANITIZED_BLOCK_FIELDS = frozenset(
    {"text", "thinking", "signature", "id", "input", "tool_use_id", "output"}
)


def render_snapshot(session: Session, *, sanitized: bool = True) -> bytes:
    """The bytes claw's `save_to_path` writes for `session`.

    `sanitized=False` renders the model as it is, which is what a file
    written by claw re-reads to (tests use it to check round trips).
    """
    return ("\n".join(snapshot_lines(session, sanitized=sanitized)) + "\n").encode("utf-8")


def snapshot_lines(session: Session, *, sanitized: bool = True) -> Iterator[str]:
    """The lines of `render_snapshot`, one record at a time, without newlines.

    A writer that streams them holds one line, not the whole text, at a
    time (a fork of a 10 MB session would otherwise peak ~100 MB higher).
    """
    yield render(meta_record(session))
    if session.compaction is not None:
        yield render(compaction_record(session.compaction, sanitized=sanitized))
    for entry in session.prompt_history:
        yield render(prompt_record(entry, sanitized=sanitized))
    for message in session.messages:
        yield render(message_record(message, sanitized=sanitized))


def meta_record(session: Session) -> JsonObject:
    """The `session_meta` line; absent options are omitted, as claw does."""
    record: JsonObject = {
        "created_at_ms": session.created_at_ms,
        "session_id": session.session_id,
        "type": "session_meta",
        "updated_at_ms": session.updated_at_ms,
        "version": session.version,
    }
    if session.fork is not None:
        fork: JsonObject = {"parent_session_id": session.fork.parent_session_id}
        if session.fork.branch_name is not None:
            fork["branch_name"] = session.fork.branch_name
        record["fork"] = fork
    if session.workspace_root is not None:
        record["workspace_root"] = session.workspace_root
    if session.model is not None:
        record["model"] = session.model
    return record


def compaction_record(compaction: Compaction, *, sanitized: bool = True) -> JsonObject:
    summary = compaction.summary
    return {
        "count": compaction.count,
        "removed_message_count": compaction.removed_message_count,
        "summary": sanitize(summary) if sanitized else summary,
        "type": "compaction",
    }


def prompt_record(entry: PromptEntry, *, sanitized: bool = True) -> JsonObject:
    return {
        "text": sanitize(entry.text) if sanitized else entry.text,
        "timestamp_ms": entry.timestamp_ms,
        "type": "prompt_history",
    }


def message_record(message: Message, *, sanitized: bool = True) -> JsonObject:
    body = _sanitized_message(message) if sanitized else message
    return {"message": body, "type": "message"}


def _sanitized_message(message: Message) -> Message:
    result = dict(message)
    blocks = message["blocks"]
    assert isinstance(blocks, list)  # normalized by session.load
    result["blocks"] = [_sanitized_block(block) for block in blocks]
    return result


def _sanitized_block(block: JsonValue) -> JsonValue:
    assert isinstance(block, dict)
    return {
        key: sanitize(value) if key in _SANITIZED_BLOCK_FIELDS and isinstance(value, str) else value
        for key, value in block.items()
    }
