"""One claw session file, loaded exactly as claw loads it (runtime/session.rs).

`load` accepts and refuses what `Session::load_from_path` does, with claw's
error texts. Where claw is random (a file without meta gets a fresh id and
"now" timestamps on every load) we are deterministic instead (SPEC §2): the
file stem is the id, the file's mtime stands in for "now".

Messages are kept as claw's JSON shape, normalized to the keys claw knows,
so rendering them again gives what claw would save (snapshot.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from clawfs.format import clawjson, jsonl, rusttext
from clawfs.format.clawjson import JsonObject, JsonValue

UTF8_ERROR = "stream did not contain valid UTF-8"
"""Rust's `read_to_string` error: any invalid UTF-8 fails the whole file."""

SESSION_VERSION = 1
U32_MAX = 2**32 - 1
U64_MAX = 2**64 - 1
ROLES = frozenset({"system", "user", "assistant", "tool"})

Message = JsonObject
"""`{"role": ..., "blocks": [...], "usage"?: {...}}` with known keys only."""


class LoadError(Exception):
    """claw fails to load the file; str(e) is claw's error text."""


@dataclass(frozen=True, slots=True)
class Fork:
    parent_session_id: str
    branch_name: str | None = None


@dataclass(frozen=True, slots=True)
class Compaction:
    count: int
    removed_message_count: int
    summary: str


@dataclass(frozen=True, slots=True)
class PromptEntry:
    timestamp_ms: int
    text: str


@dataclass(frozen=True, slots=True)
class Session:
    """claw's in-memory `Session`, minus what claw never persists."""

    version: int
    session_id: str
    created_at_ms: int
    updated_at_ms: int
    messages: list[Message] = field(default_factory=list)
    compaction: Compaction | None = None
    prompt_history: list[PromptEntry] = field(default_factory=list)
    fork: Fork | None = None
    workspace_root: str | None = None
    model: str | None = None

    def forked(self, new_id: str, now_ms: int, branch_name: str | None) -> Session:
        """claw's `Session::fork`: a copy with a new id, fresh times, a parent link.

        The parent's own `fork` is not kept; the branch name is trimmed and
        dropped when empty, as claw's `normalize_optional_string` does.
        """
        return replace(
            self,
            session_id=new_id,
            created_at_ms=now_ms,
            updated_at_ms=now_ms,
            messages=list(self.messages),
            prompt_history=list(self.prompt_history),
            fork=Fork(self.session_id, normalize_branch_name(branch_name)),
        )


def normalize_branch_name(branch_name: str | None) -> str | None:
    if branch_name is None:
        return None
    return rusttext.trim(branch_name) or None


def new_session_id(now_ms: int, counter: int) -> str:
    """claw's id shape: `session-<ms>-<n>` (session.rs `generate_session_id`)."""
    return f"session-{now_ms}-{counter}"


def created_at_from_id(session_id: str) -> int | None:
    """claw's `parse_created_at_ms_from_session_id`.

    `session-<digits>-<non-empty>`; the digits must fit a u64. Rust's
    `u64::from_str` also takes a leading `+`.
    """
    if not session_id.startswith("session-"):
        return None
    timestamp, dash, suffix = session_id[len("session-") :].partition("-")
    if not dash or not suffix:
        return None
    return _parse_u64(timestamp)


def _parse_u64(text: str) -> int | None:
    digits = text[1:] if text.startswith("+") else text
    if not digits or not digits.isascii() or not digits.isdigit():
        return None
    value = int(digits)
    return value if value <= U64_MAX else None


def file_stem(file_name: str) -> str:
    """Name minus its last extension, like Rust's `Path::file_stem`."""
    dot = file_name.rfind(".")
    return file_name if dot <= 0 else file_name[:dot]


def load(data: bytes, *, file_name: str, mtime_ms: int) -> Session:
    """Load a whole file as claw does; raise `LoadError` where claw fails."""
    reader = JsonlReader()
    reader.feed(data)
    return reader.finish(file_name, mtime_ms)


# -- field helpers (session.rs `required_*`) --------------------------------


def _as_int(value: JsonValue) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def _as_str(value: JsonValue) -> str | None:
    return value if isinstance(value, str) else None


def _required_str(obj: JsonObject, key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise LoadError(f"missing {key}")
    return value


def _required_int(obj: JsonObject, key: str, maximum: int) -> int:
    value = _as_int(obj.get(key))
    if value is None:
        raise LoadError(f"missing {key}")
    return _in_range(value, key, maximum)


def _u64_value(value: JsonValue, key: str) -> int:
    number = _as_int(value)
    if number is None:
        raise LoadError(f"missing {key}")
    return _in_range(number, key, U64_MAX)


def _in_range(value: int, key: str, maximum: int) -> int:
    if not 0 <= value <= maximum:
        raise LoadError(f"{key} out of range")
    return value


def _required_u64(obj: JsonObject, key: str) -> int:
    if key not in obj:
        raise LoadError(f"missing {key}")
    return _u64_value(obj[key], key)


def _optional_u64(obj: JsonObject, key: str) -> int | None:
    return _u64_value(obj[key], key) if key in obj else None


# -- messages ---------------------------------------------------------------


def normalize_message(value: JsonValue) -> Message:
    """claw's `ConversationMessage::from_json`, as the JSON claw would write back."""
    if not isinstance(value, dict):
        raise LoadError("message must be an object")
    role = value.get("role")
    if not isinstance(role, str):
        raise LoadError("missing role")
    if role not in ROLES:
        raise LoadError(f"unsupported message role: {role}")
    blocks = value.get("blocks")
    if not isinstance(blocks, list):
        raise LoadError("missing blocks")
    message: Message = {"blocks": [_normalize_block(block) for block in blocks], "role": role}
    if "usage" in value:
        message["usage"] = _normalize_usage(value["usage"])
    return message


def _normalize_block(value: JsonValue) -> JsonObject:
    if not isinstance(value, dict):
        raise LoadError("block must be an object")
    kind = value.get("type")
    if not isinstance(kind, str):
        raise LoadError("missing block type")
    if kind == "text":
        return {"text": _required_str(value, "text"), "type": kind}
    if kind == "thinking":
        block: JsonObject = {"thinking": _required_str(value, "thinking"), "type": kind}
        signature = value.get("signature")
        if isinstance(signature, str):
            block["signature"] = signature
        return block
    if kind == "tool_use":
        return {
            "id": _required_str(value, "id"),
            "name": _required_str(value, "name"),
            "input": _required_str(value, "input"),
            "type": kind,
        }
    if kind == "tool_result":
        block = {
            "tool_use_id": _required_str(value, "tool_use_id"),
            "tool_name": _required_str(value, "tool_name"),
            "output": _required_str(value, "output"),
        }
        is_error = value.get("is_error")
        if not isinstance(is_error, bool):
            raise LoadError("missing is_error")
        block["is_error"] = is_error
        block["type"] = kind
        return block
    raise LoadError(f"unsupported block type: {kind}")


_USAGE_KEYS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)


def _normalize_usage(value: JsonValue) -> JsonObject:
    if not isinstance(value, dict):
        raise LoadError("usage must be an object")
    return {key: _required_int(value, key, U32_MAX) for key in _USAGE_KEYS}


def _compaction(value: JsonValue) -> Compaction:
    if not isinstance(value, dict):
        raise LoadError("compaction must be an object")
    return Compaction(
        count=_required_int(value, "count", U32_MAX),
        removed_message_count=_required_int(value, "removed_message_count", U64_MAX),
        summary=_required_str(value, "summary"),
    )


def _fork(value: JsonValue) -> Fork:
    if not isinstance(value, dict):
        raise LoadError("fork metadata must be an object")
    return Fork(
        parent_session_id=_required_str(value, "parent_session_id"),
        branch_name=_as_str(value.get("branch_name")),
    )


def _prompt_entry(obj: JsonObject) -> PromptEntry | None:
    """claw's `from_json_opt`: an invalid entry is skipped, not an error."""
    timestamp = _as_int(obj.get("timestamp_ms"))
    text = obj.get("text")
    if timestamp is None or timestamp < 0 or not isinstance(text, str):
        return None
    return PromptEntry(timestamp, text)


# -- JSONL ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Meta:
    """One `session_meta` record (also what a file's head says, head.py)."""

    version: int
    session_id: str
    created_at_ms: int | None
    updated_at_ms: int
    fork: Fork | None
    workspace_root: str | None
    model: str | None


def meta_from_record(obj: JsonObject) -> Meta:
    """A `session_meta` record; checks run in claw's order (first error wins)."""
    version = _required_int(obj, "version", U32_MAX)
    session_id = _required_str(obj, "session_id")
    created = _optional_u64(obj, "created_at_ms")
    updated = _required_u64(obj, "updated_at_ms")
    fork = _fork(obj["fork"]) if "fork" in obj else None
    return Meta(
        version=version,
        session_id=session_id,
        created_at_ms=created,
        updated_at_ms=updated,
        fork=fork,
        workspace_root=_as_str(obj.get("workspace_root")),
        model=_as_str(obj.get("model")),
    )


Record = Meta | Compaction | PromptEntry | Message
"""One JSONL record as claw takes it (a message in claw's JSON shape)."""

Taken = Callable[[jsonl.Line, JsonObject, "Record | None"], None]
"""Told of every line a `JsonlReader` takes: the line, its object, and the
record claw made of it (None: a prompt entry claw skips)."""

_PLACEHOLDER: Message = {}
"""Stands for a checked JSONL message a count-only reader did not keep."""


@dataclass(slots=True)
class _Records:
    """What the JSONL lines said so far. The last meta wins entirely."""

    meta: Meta | None = None
    messages: list[Message] = field(default_factory=list)
    compaction: Compaction | None = None
    prompt_history: list[PromptEntry] = field(default_factory=list)
    keep_messages: bool = True
    """False: messages are checked but stored as one shared empty placeholder
    (counts stay exact, memory stays flat: the index only needs counts)."""

    def copy(self) -> _Records:
        return _Records(
            self.meta,
            list(self.messages),
            self.compaction,
            list(self.prompt_history),
            self.keep_messages,
        )

    def take(self, obj: JsonObject, line_number: int) -> Record | None:
        """Take one record; what it made of it (None: a prompt entry claw skips)."""
        kind = obj.get("type")
        if not isinstance(kind, str):
            raise LoadError(f"JSONL record at line {line_number} missing type")
        if kind == "session_meta":
            self.meta = meta_from_record(obj)
            return self.meta
        if kind == "message":
            if "message" not in obj:
                raise LoadError(f"JSONL record at line {line_number} missing message")
            message = normalize_message(obj["message"])
            self.messages.append(message if self.keep_messages else _PLACEHOLDER)
            return message
        if kind == "compaction":
            self.compaction = _compaction(obj)
            return self.compaction
        if kind == "prompt_history":
            entry = _prompt_entry(obj)
            if entry is not None:
                self.prompt_history.append(entry)
            return entry
        raise LoadError(f"unsupported JSONL record type at line {line_number}: {kind}")

    def session(self, file_name: str, mtime_ms: int) -> Session:
        meta = self.meta
        if meta is None:
            session_id = file_stem(file_name)
            created = _created_fallback(session_id, mtime_ms)
            return Session(
                version=SESSION_VERSION,
                session_id=session_id,
                created_at_ms=created,
                updated_at_ms=created,
                messages=self.messages,
                compaction=self.compaction,
                prompt_history=self.prompt_history,
            )
        recorded = meta.created_at_ms
        return Session(
            version=meta.version,
            session_id=meta.session_id,
            created_at_ms=(
                _created_fallback(meta.session_id, mtime_ms) if recorded is None else recorded
            ),
            updated_at_ms=meta.updated_at_ms,
            messages=self.messages,
            compaction=self.compaction,
            prompt_history=self.prompt_history,
            fork=meta.fork,
            workspace_root=meta.workspace_root,
            model=meta.model,
        )


def _created_fallback(session_id: str, mtime_ms: int) -> int:
    """claw: from the id, else "now"; our "now" is the file's mtime."""
    created = created_at_from_id(session_id)
    return mtime_ms if created is None else created


@dataclass(frozen=True, slots=True)
class Naming:
    """What of a loaded session claw took from its file's name rather than
    its bytes: the id (no meta line, or a legacy value without one), and
    then the creation time where it falls back on that id and the update
    time where it is the creation time. The same bytes loaded under another
    name (a link to the file) differ in exactly these (`renamed`)."""

    id: bool = False
    created: bool = False
    updated: bool = False

    def renamed(
        self, ids: tuple[str, int, int], file_name: str, mtime_ms: int
    ) -> tuple[str, int, int]:
        """`(session_id, created_at_ms, updated_at_ms)` of a load as they are
        when the same bytes are loaded from `file_name` instead."""
        if not self.id:
            return ids
        session_id, created, updated = file_stem(file_name), ids[1], ids[2]
        if self.created:
            created = _created_fallback(session_id, mtime_ms)
        if self.updated:
            updated = created
        return session_id, created, updated


FROM_BYTES = Naming()
FROM_NAME = Naming(True, True, True)
"""A JSONL file without a meta line: id and times all come from the name."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What loading everything fed so far gives: the session or claw's
    error, whether the bytes are one legacy JSON value (then nothing
    was taken as JSONL records; the session, if any, is the legacy one),
    and what of the session came from the file's name (`Naming`)."""

    session: Session | None
    error: LoadError | None
    legacy: bool
    naming: Naming = FROM_BYTES


class JsonlReader:
    """Loads a file from its bytes in pieces, so a grown file is read from its old end.

    `feed` consumes complete lines only and keeps the unfinished tail
    (jsonl.py splits them); `offset` is how many bytes were consumed.
    `error` is the JSONL error of the first bad line (or the UTF-8 error);
    `finish` is authoritative, as a file that fails as JSONL can still be
    legacy JSON. `finish` does not change the reader, so feeding may go on
    after it.

    `taken`, if given, is told of every line taken, with the record made of
    it, in file order and only while no line failed: a reader of records
    (the Markdown view) then parses nothing twice. A chunk whose later line
    is not UTF-8 still hands out the lines before it, so what is told never
    depends on how the bytes were cut.

    Legacy detection needs the whole text, but only while the file can
    still be one JSON value: before any non-blank line, when the first
    non-blank line is not JSON on its own, or when it is the only line and
    an object with `messages`. Only then are the bytes kept.
    """

    def __init__(self, *, keep_messages: bool = True, taken: Taken | None = None) -> None:
        self.error: LoadError | None = None
        self._records = _Records(keep_messages=keep_messages)
        self._taken = taken
        self._lines = jsonl.Splitter()
        self._nonblank = 0
        self._utf8_bad = False
        self._kept: bytearray | None = bytearray()
        self._kept_for_single_line = False

    @property
    def offset(self) -> int:
        """Bytes of complete lines consumed (a grown file is fed from here)."""
        return self._lines.offset

    def feed(self, data: bytes) -> None:
        try:
            lines = self._lines.feed(data)
        except jsonl.NotUtf8 as e:
            self._take_lines(e.lines)  # the file fails as a whole all the same
            self._fail_utf8()
            return
        self._take_lines(lines)
        if self._kept is not None:
            self._kept += data

    def finish(self, file_name: str, mtime_ms: int) -> Session:
        """The session claw would load from everything fed so far (tail included)."""
        outcome = self.outcome(file_name, mtime_ms)
        if outcome.error is not None:
            raise outcome.error
        assert outcome.session is not None
        return outcome.session

    def outcome(self, file_name: str, mtime_ms: int, taken: Taken | None = None) -> Outcome:
        """`finish` as a value, never raising. `taken` is told of the
        unfinished last line if claw takes it. Changes nothing."""
        reader = self._copy(taken)
        if not reader._utf8_bad:
            try:
                reader._take_lines(self._lines.pending())
            except jsonl.NotUtf8:
                reader._fail_utf8()
        if reader._utf8_bad:
            return Outcome(None, LoadError(UTF8_ERROR), False)
        if reader._kept is not None:
            legacy = _legacy_value(bytes(reader._kept).decode("utf-8"))
            if legacy is not None:
                try:
                    loaded = _from_legacy(legacy, file_name, mtime_ms)
                    return Outcome(loaded, None, True, _legacy_naming(legacy))
                except LoadError as error:
                    return Outcome(None, error, True)
        if reader.error is not None:
            return Outcome(None, LoadError(str(reader.error)), False)
        naming = FROM_NAME if reader._records.meta is None else FROM_BYTES
        return Outcome(reader._records.session(file_name, mtime_ms), None, False, naming)

    def _copy(self, taken: Taken | None) -> JsonlReader:
        """A copy for `outcome` to take the last line into. It shares the
        splitter, which `outcome` only asks for its pending line."""
        clone = JsonlReader(taken=taken)
        clone.error = self.error
        clone._records = self._records.copy()
        clone._lines = self._lines
        clone._nonblank = self._nonblank
        clone._utf8_bad = self._utf8_bad
        clone._kept = None if self._kept is None else bytearray(self._kept)
        clone._kept_for_single_line = self._kept_for_single_line
        return clone

    def _fail_utf8(self) -> None:
        """Any invalid UTF-8 fails the file, and no legacy JSON can be read."""
        self._utf8_bad = True
        self.error = LoadError(UTF8_ERROR)
        self._kept = None

    def _take_lines(self, lines: list[jsonl.Line]) -> None:
        for line in lines:
            if self.error is None or self._kept is not None:
                self._take_line(line)

    def _take_line(self, line: jsonl.Line) -> None:
        self._nonblank += 1
        if self._nonblank > 1:
            if self._kept_for_single_line:
                self._kept = None
            if self.error is not None:
                return
            value = self._parse_line(line)
        else:
            value = self._parse_line(line)
            self._judge_first_line(value)
        if value is None or self.error is not None:
            return
        try:
            if not isinstance(value, dict):
                raise LoadError(f"JSONL record at line {line.number} must be an object")
            record = self._records.take(value, line.number)
        except LoadError as error:
            self.error = error
            return
        if self._taken is not None:
            self._taken(line, value, record)

    def _parse_line(self, line: jsonl.Line) -> JsonValue | None:
        """The line's value; on failure records claw's error and returns None."""
        try:
            return clawjson.parse(line.text)
        except clawjson.ClawJsonError as error:
            if self.error is None:
                self.error = LoadError(f"invalid JSONL record at line {line.number}: {error}")
            return None

    def _judge_first_line(self, value: JsonValue | None) -> None:
        if value is None:
            return  # not JSON alone: may be the start of a multi-line value
        if isinstance(value, dict) and "messages" in value:
            self._kept_for_single_line = True
            return
        self._kept = None


# -- legacy whole-file JSON -------------------------------------------------


def _legacy_value(text: str) -> JsonObject | None:
    """The whole text as one JSON object with `messages`, else None (= JSONL)."""
    try:
        value, end = clawjson.parse_prefix(text)
    except clawjson.ClawJsonError:
        return None
    if not clawjson.only_whitespace_after(text, end):
        return None
    if isinstance(value, dict) and "messages" in value:
        return value
    return None


def _legacy_naming(obj: JsonObject) -> Naming:
    """What `_from_legacy` takes from the file name for `obj` (it loaded)."""
    if _as_str(obj.get("session_id")) is not None:
        return FROM_BYTES
    created = _optional_u64(obj, "created_at_ms") is None
    return Naming(True, created, _optional_u64(obj, "updated_at_ms") is None)


def _from_legacy(obj: JsonObject, file_name: str, mtime_ms: int) -> Session:
    """claw's `Session::from_json`; checks run in claw's order."""
    version = _as_int(obj.get("version"))
    if version is None:
        raise LoadError("missing version")
    if not 0 <= version <= U32_MAX:
        raise LoadError("version out of range")
    raw_messages = obj.get("messages")
    if not isinstance(raw_messages, list):
        raise LoadError("missing messages")
    messages = [normalize_message(message) for message in raw_messages]
    session_id = _as_str(obj.get("session_id"))
    if session_id is None:
        session_id = file_stem(file_name)
    created = _optional_u64(obj, "created_at_ms")
    if created is None:
        created = _created_fallback(session_id, mtime_ms)
    updated = _optional_u64(obj, "updated_at_ms")
    compaction = _compaction(obj["compaction"]) if "compaction" in obj else None
    fork = _fork(obj["fork"]) if "fork" in obj else None
    history = obj.get("prompt_history")
    prompt_history: list[PromptEntry] = []
    if isinstance(history, list):
        for entry in history:
            parsed = _prompt_entry(entry) if isinstance(entry, dict) else None
            if parsed is not None:
                prompt_history.append(parsed)
    return Session(
        version=version,
        session_id=session_id,
        created_at_ms=created,
        updated_at_ms=created if updated is None else updated,
        messages=messages,
        compaction=compaction,
        prompt_history=prompt_history,
        fork=fork,
        workspace_root=_as_str(obj.get("workspace_root")),
        model=_as_str(obj.get("model")),
    )
