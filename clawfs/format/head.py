"""A file's head: what its first meta line says, from one small read.

This runs for every session file at mount (20,000 of them in the bench),
so it reads a few KiB and never parses the body. The head can be wrong:
claw lets the *last* meta line win and a later line can be corrupt; the
index checks candidates with a full load (session.py).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from clawfs.format import clawjson, jsonl, session


@dataclass(frozen=True, slots=True)
class Head:
    """What a file's first meta line says, plus whether a message follows.

    `meta_found` is False when the first non-blank line is not a parseable
    `session_meta` record (legacy JSON, corrupt, empty file ...): the index
    then has to fully load the file to know anything.
    """

    meta_found: bool
    session_id: str | None = None
    created_at_ms: int | None = None
    updated_at_ms: int | None = None
    parent_session_id: str | None = None
    branch_name: str | None = None
    model: str | None = None
    workspace_root: str | None = None
    has_messages: bool = False
    """A `message` record was seen within the bytes read."""
    scanned: int = field(default=0, compare=False)
    """How many bytes from the start were read: `has_messages` = False is
    definitive for a file no longer than this. Not part of what the head says."""


HEAD_BYTES = 16 * 1024
"""First read: enough for the meta line and the start of the body."""

SCAN_BYTES = 256 * 1024
"""How far to look for a first message record when the first read saw none
(a compaction summary can take ~50 KiB). `has_messages` = False is
definitive only for files no longer than what was read."""

MAX_META_LINE = 1024 * 1024
"""A longer first line is not a meta line claw writes; give up on it."""

_MESSAGE_RECORD = re.compile(
    rb'(?:^|\n)[ \t\r]*\{[ \t\r]*"message"[ \t\r]*:|"type"[ \t\r]*:[ \t\r]*"message"'
)
"""The start of a `message` record: claw writes keys sorted (`{"message":`);
`"type":"message"` anywhere covers other key orders. JSON whitespace is
allowed around the punctuation (a record written by another tool)."""


def read_head(fd: int) -> Head:
    """Read and parse the head of an open file, with pread (the offset is untouched).

    One 16 KiB read for nearly every file; more only for a first line that
    does not fit, or a body that does not show a message record early.
    """
    data = os.pread(fd, HEAD_BYTES, 0)
    if len(data) == HEAD_BYTES and b"\n" not in data:
        data = _read_more(fd, data, MAX_META_LINE, lambda chunk: b"\n" in chunk)
    head = parse_head(data)
    if head.meta_found and not head.has_messages and len(data) >= HEAD_BYTES:
        data = _read_more(fd, data, len(data) + SCAN_BYTES, lambda _chunk: False)
        head = parse_head(data)
    return head


def _read_more(fd: int, data: bytes, limit: int, enough: Callable[[bytes], bool]) -> bytes:
    """Extend `data` with further reads until `enough(chunk)`, EOF or `limit` bytes."""
    chunks = [data]
    size = len(data)
    while size < limit:
        more = os.pread(fd, min(HEAD_BYTES * 4, limit - size), size)
        if not more:
            break
        chunks.append(more)
        size += len(more)
        if enough(more) or _has_message_record(more):
            break
    return b"".join(chunks)


def parse_head(data: bytes) -> Head:
    """The head of a file whose first bytes are `data` (may end mid-line)."""
    first, rest = _first_line(data)
    meta = None if first is None else _meta_of(first)
    if meta is None:
        return Head(meta_found=False, scanned=len(data))
    return Head(
        meta_found=True,
        session_id=meta.session_id,
        created_at_ms=(
            session.created_at_from_id(meta.session_id)
            if meta.created_at_ms is None
            else meta.created_at_ms
        ),
        updated_at_ms=meta.updated_at_ms,
        parent_session_id=None if meta.fork is None else meta.fork.parent_session_id,
        branch_name=None if meta.fork is None else meta.fork.branch_name,
        model=meta.model,
        workspace_root=meta.workspace_root,
        has_messages=_has_message_record(rest),
        scanned=len(data),
    )


def _first_line(data: bytes) -> tuple[str | None, bytes]:
    """The first non-blank line (trimmed, as claw trims) and the bytes after it.

    None when there is none or it is not UTF-8 (then claw cannot load the
    file at all, and the index will find that out with a full load).
    """
    try:
        first = next(jsonl.lines(data), None)
    except jsonl.NotUtf8:
        return None, b""
    if first is None:
        return None, b""
    return first.text, data[first.end :]


def _meta_of(line: str) -> session.Meta | None:
    try:
        value = clawjson.parse(line)
    except clawjson.ClawJsonError:
        return None
    if not isinstance(value, dict) or value.get("type") != "session_meta":
        return None
    if "messages" in value:
        return None  # as a one-line file, claw would read it as legacy JSON
    try:
        return session.meta_from_record(value)
    except session.LoadError:
        return None


def _has_message_record(rest: bytes) -> bool:
    """Whether a `message` record starts in `rest` (a hint: see `_MESSAGE_RECORD`).

    A miss is possible (say, an escaped key); the index re-points `latest`
    when a full load finds messages a head did not show.
    """
    return _MESSAGE_RECORD.search(rest) is not None
