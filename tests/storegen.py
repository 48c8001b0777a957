"""Build synthetic claw stores in claw's exact on-disk format, for tests.

Files are rendered by the format layer (`snapshot.render_snapshot`, the
same bytes claw's save writes), put where claw puts them
(`<root>/<fingerprint of the workspace>/<id>.jsonl`), and given the mtimes
a test asks for, since claw's order depends on them.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

from clawfs.cli.samplestore import set_mtime as set_mtime
from clawfs.cli.samplestore import write_file
from clawfs.format import clawjson, fingerprint, snapshot
from clawfs.format.clawjson import JsonObject, JsonValue
from clawfs.format.session import Fork, Message, Session
from clawfs.store import forkwriter

REPO = Path(__file__).resolve().parents[1]
"""The repository's top directory."""
CORPUS = REPO.parent / "shared" / "corpus"
"""Real session files written by claw, read in place (never copied)."""
MIB = 1 << 20


class FrozenClock(forkwriter.IdClock):
    """Every instance hands out the same ids, to force collisions."""

    def __init__(self, start_ms: int) -> None:
        super().__init__()
        self._last_ms = start_ms

    def now_ms(self) -> int:
        with self._lock:
            self._last_ms += 1
            return self._last_ms


def text_message(text: str, role: str = "user") -> Message:
    return {"blocks": [{"text": text, "type": "text"}], "role": role}


def make_session(
    session_id: str,
    *,
    messages: int | Sequence[Message] = 1,
    created_at_ms: int | None = None,
    updated_at_ms: int | None = None,
    workspace_root: str | None = None,
    parent: str | None = None,
    branch: str | None = None,
    model: str | None = None,
) -> Session:
    """A session as claw holds it in memory; `messages` may be a count."""
    if isinstance(messages, int):
        body = [text_message(f"message {n} of {session_id}") for n in range(messages)]
    else:
        body = list(messages)
    created = 1_700_000_000_000 if created_at_ms is None else created_at_ms
    return Session(
        version=1,
        session_id=session_id,
        created_at_ms=created,
        updated_at_ms=created if updated_at_ms is None else updated_at_ms,
        messages=body,
        fork=None if parent is None else Fork(parent, branch),
        workspace_root=workspace_root,
        model=model,
    )


def render(session: Session) -> bytes:
    """The bytes claw's snapshot save writes for `session`."""
    return snapshot.render_snapshot(session)


def fp_dir(root: Path, workspace: str) -> Path:
    """`<root>/<fingerprint(workspace)>`, created."""
    directory = root / fingerprint.fingerprint(workspace)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def write_bytes(directory: Path, name: str, data: bytes, mtime_ms: int | None = None) -> Path:
    return write_file(directory / name, data, mtime_ms)


def write_session(
    directory: Path,
    session: Session,
    *,
    name: str | None = None,
    mtime_ms: int | None = None,
) -> Path:
    """Save `session` as claw does into `directory` (file `<id>.jsonl` by default)."""
    file_name = name if name is not None else session.session_id + ".jsonl"
    return write_bytes(directory, file_name, render(session), mtime_ms)


def workspace_store(
    root: Path, workspace: str, sessions: Sequence[tuple[Session, int]]
) -> Path:
    """A fingerprint dir for `workspace` holding `(session, mtime_ms)` pairs."""
    directory = fp_dir(root, workspace)
    for session, mtime in sessions:
        write_session(directory, session, mtime_ms=mtime)
    return directory


def append_message(path: Path, message: Message) -> None:
    """What claw's `push_message` does to a non-empty file: one more line."""
    line = clawjson.render(snapshot.message_record(message)).encode("utf-8")
    with open(path, "ab") as f:
        f.write(line + b"\n")


def legacy_json(messages: int = 2) -> bytes:
    """A March-2026 whole-file JSON session (`{"messages":[...],"version":1}`, no newline)."""
    body: list[JsonValue] = [text_message(f"legacy {n}") for n in range(messages)]
    return clawjson.render({"messages": body, "version": 1}).encode("utf-8")


def message_line(rnd: random.Random, n: int, text_size: int) -> str:
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
        line = message_line(rnd, n, rnd.randint(2, 60))
        if n % 40 == 0:
            line = f"  {line}\t\r"
        if n % 97 == 0:
            line += "\n" + clawjson.render(
                {"type": "prompt_history", "timestamp_ms": n, "text": f"p {n} Bearer sk-1"})
        if n % 501 == 0:
            line += "\n" + clawjson.render(
                {"type": "compaction", "count": n, "removed_message_count": n, "summary": "s"})
        if n == 123 and largest:
            line += "\n" + message_line(rnd, n, largest // 2)
        lines.append(line)
        total += len(line) + 1
    lines.append(clawjson.render({"type": "prompt_history", "timestamp_ms": -1, "text": "bad"}))
    path = directory / "session-5-0.jsonl"
    directory.mkdir(parents=True, exist_ok=True)
    path.write_bytes("\n".join(lines).encode("utf-8"))
    return path
