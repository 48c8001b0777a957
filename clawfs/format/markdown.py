"""A session rendered for people: the Markdown view (SPEC §8).

JSONL is what claw writes, not what people read: a tool result is JSON
inside JSON, and a line of a diff is stored as `\\\\n+use crate::...`. This
module turns claw's records into Markdown: a title, a table of facts, then
every record in file order. It knows claw's records (session.py), not files
or FUSE; callers hand it bytes or records and get text back.

What is shown, and how:

* Title: `# ` + the first non-blank line of the first user text, cut at
  `TITLE_CHARS` characters; the session id when there is none.
* Facts: id, parent and branch, model, workspace root, created time (ISO
  8601 UTC), the backing path (an input: the format layer knows no files).
  Absent facts are left out. The created time is the meta's, else the one
  claw reads from the id; else "not recorded" (claw would take the time of
  the load, which changes on every read).
* Then every record where it is in the file: a compaction summary (claw
  writes it right after the meta), each prompt_history entry (a snapshot
  lists them before the messages, an append puts each before its turn),
  each message as `## <n> · <role>` with its blocks: text as it is,
  thinking folded in `<details>`, a tool call's input and a tool result's
  output un-escaped (mdblocks.py). Nothing of a text, thinking, input or
  output is dropped or shortened. Text that leaves a code fence open gets
  it closed, so the next heading is still a heading.
* A file claw cannot load renders as far as its JSONL is good, then one
  line with claw's error (what `JsonlReader.finish` raises). An empty file
  renders as its title and facts. Legacy whole-file JSON renders from the
  loaded session. Rendering never raises.

Appends render as appends. The rendering is made message by message and
what is written once is never changed by a later line (`MarkdownReader.feed`
returns only such *stable* text; `tail` is what the end of the file adds
for now: held records, the unfinished last line, claw's error). The header
holds only what claw's appends do not change:

* Facts come from the last meta line before the first rendered record.
  claw writes the meta first and its appends never add one; a meta line
  further down (another tool's) is rendered where it is, as claw takes it.
* The title needs the first user text, which can come after the header's
  place (a compacted session starts with a system message). Records are
  held, not rendered, until a user text decides the title or
  `TITLE_MESSAGES` messages (or `TITLE_RECORDS` records, `TITLE_BYTES`
  bytes) went by without one; then the title is the id. This is the one change an append can make
  to earlier text: a session whose first user text is not in the file yet
  (claw's REPL saves a meta-only file at start and appends the first
  prompt later) renders with its id as title, and is retitled when the
  text arrives. Its held records are in `tail`, so `emitted` bytes stay
  valid; a reader of the old rendering sees a rewritten file, once.
* prompt_history entries appended after messages render where they are.

For a mount (part 2 of issue 14): the exact size of a file version is
`reader.emitted + len(reader.tail())` after feeding the whole file, with
memory bounded by the held records and one line (and what claw's reader
keeps while the file may still be legacy JSON). When the file only grew,
the kept reader is fed the new bytes (as store/loads.py extends loads):
the first `emitted` bytes of the old rendering are unchanged, what was its
tail may be. `render_range` returns a slice of a rendering, holding only
the slice and one chunk's rendering.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

from clawfs.format import jsonl, session
from clawfs.format.clawjson import JsonObject
from clawfs.format.mdblocks import code_span, open_fence, tool_input, tool_output
from clawfs.format.session import Compaction, Message, Meta, PromptEntry, Record, Session

TITLE_CHARS = 80
TITLE_MESSAGES = 16
"""Messages looked at for the first user text (a compacted session's is
its 2nd to 7th message in the corpus)."""
TITLE_RECORDS = 4096
"""Records held at most while the title is open (a snapshot lists every
prompt before the first message)."""
TITLE_BYTES = 4 << 20
"""File bytes held at most while the title is open: with `TITLE_RECORDS`,
what bounds the memory a hostile file costs."""

_NO_NOW = -1
"""The "now" passed to claw's loader: a created time it falls back to is not recorded."""

# -- records to Markdown ------------------------------------------------------


@dataclass(slots=True)
class Renderer:
    """Records in file order in, Markdown text out, one record at a time.

    `feed` returns the text that is final (possibly none while the title is
    open); `finish` returns the rest. `copy` before `finish` to go on later.
    """

    path: str
    """The backing file, shown in the facts."""
    file_name: str
    """Its name: the id of a file without meta (session.py's rule)."""
    _meta: Meta | None = None
    _held: list[Record] = field(default_factory=list)
    _held_messages: int = 0
    _title: str | None = None
    _open: bool = False
    """True once the header is written."""
    _number: int = 0

    def copy(self) -> Renderer:
        return replace(self, _held=list(self._held))

    def feed(self, record: Record) -> str:
        if self._open:
            return self._record(record)
        if isinstance(record, Meta):
            self._meta = record
            return ""
        self._held.append(record)
        if isinstance(record, dict):
            self._held_messages += 1
            self._title = first_user_line(record)
        if (
            self._title is not None
            or self._held_messages >= TITLE_MESSAGES
            or len(self._held) >= TITLE_RECORDS
        ):
            return self.start()
        return ""

    @property
    def started(self) -> bool:
        return self._open

    def finish(self, error: str | None = None) -> str:
        """The text after everything fed: held records, then claw's error if any."""
        text = "" if self._open else self.start()
        if error is not None:
            text += f"**claw cannot load this file:** {error}\n"
        return text

    def start(self) -> str:
        """Write the header now (the title is the id if still open), then what was held."""
        self._open = True
        parts = [self._header()]
        parts += [self._record(record) for record in self._held]
        self._held = []
        return "".join(parts)

    @property
    def title(self) -> str:
        """The page's title: the first user line, else the session id (final once started)."""
        return self._session_id() if self._title is None else self._title

    def _session_id(self) -> str:
        meta = self._meta
        return _lossy(session.file_stem(self.file_name)) if meta is None else meta.session_id

    def _header(self) -> str:
        return f"# {self.title}\n\n{facts_table(self._meta, self._session_id(), self.path)}\n"

    def _record(self, record: Record) -> str:
        if isinstance(record, dict):
            self._number += 1
            return render_message(self._number, record)
        if isinstance(record, Compaction):
            return render_compaction(record)
        if isinstance(record, PromptEntry):
            return render_prompt(record)
        return (
            "**session_meta record:** claw takes the last one, so these are the facts now\n\n"
            + facts_table(record, record.session_id, self.path)
            + "\n"
        )


def first_user_line(message: Message) -> str | None:
    """The title a message gives: its first non-blank line if it is a user's text."""
    if message.get("role") != "user":
        return None
    for block in _blocks(message):
        text = block.get("text")
        if block.get("type") != "text" or not isinstance(text, str):
            continue
        for line in text.splitlines():
            line = line.strip()
            if line:
                return line if len(line) <= TITLE_CHARS else line[:TITLE_CHARS] + "…"
    return None


def facts_table(meta: Meta | None, session_id: str, path: str) -> str:
    rows = [("id", code_span(session_id))]
    fork = None if meta is None else meta.fork
    if fork is not None:
        rows.append(("parent", code_span(fork.parent_session_id)))
        if fork.branch_name is not None:
            rows.append(("branch", code_span(fork.branch_name)))
    if meta is not None and meta.model is not None:
        rows.append(("model", code_span(meta.model)))
    if meta is not None and meta.workspace_root is not None:
        rows.append(("workspace", code_span(meta.workspace_root)))
    created = None if meta is None else meta.created_at_ms
    if created is None:
        created = session.created_at_from_id(session_id)
    rows.append(("created", "not recorded" if created is None else iso_time(created)))
    rows.append(("file", code_span(_lossy(path))))
    lines = [f"| {name} | {_cell(value)} |" for name, value in rows]
    lines.insert(1, "|---|---|")
    return "\n".join(lines) + "\n"


def _cell(value: str) -> str:
    """A table cell: GFM splits cells at `|`, even inside code spans."""
    return value.replace("|", "\\|")


def _lossy(text: str) -> str:
    """A path as UTF-8 text: undecodable bytes (surrogate escapes) become U+FFFD."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


def iso_time(ms: int) -> str:
    """`2026-04-12T12:18:42.136Z`; a time past year 9999 as its number."""
    try:
        moment = datetime.datetime.fromtimestamp(ms // 1000, datetime.UTC)
    except (OverflowError, ValueError, OSError):
        return f"{ms} ms after the epoch"
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"


def render_message(number: int, message: Message) -> str:
    parts = [f"## {number} · {message.get('role')}\n\n"]
    parts += [_block(block) for block in _blocks(message)]
    return "".join(parts)


def _blocks(message: Message) -> list[JsonObject]:
    blocks = message.get("blocks")
    if not isinstance(blocks, list):
        return []
    return [block for block in blocks if isinstance(block, dict)]


def _block(block: JsonObject) -> str:
    kind = block.get("type")
    if kind == "text":
        return prose(_str(block.get("text")))
    if kind == "thinking":
        body = prose(_str(block.get("thinking")))
        return f"<details>\n<summary>thinking</summary>\n\n{body}</details>\n\n"
    if kind == "tool_use":
        head = f"**tool call** · {code_span(_str(block.get('name')))}"
        return f"{head} · {code_span(_str(block.get('id')))}\n\n" + tool_input(
            _str(block.get("input"))
        )
    failed = "failed" if block.get("is_error") is True else "ok"
    head = f"**tool result** · {code_span(_str(block.get('tool_name')))} · {failed}"
    return f"{head} · {code_span(_str(block.get('tool_use_id')))}\n\n" + tool_output(
        _str(block.get("output"))
    )


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def prose(text: str) -> str:
    """Text as it is, closing a code fence it leaves open, then a blank line."""
    if text and not text.endswith("\n"):
        text += "\n"
    still_open = open_fence(text)
    if still_open is not None:
        text += still_open + "\n"
    return text + "\n"


def render_compaction(compaction: Compaction) -> str:
    note = (
        f"*{compaction.removed_message_count} earlier messages were summarized"
        f" (compaction {compaction.count}).*\n\n"
    )
    return "## Compaction summary\n\n" + note + prose(compaction.summary)


def render_prompt(entry: PromptEntry) -> str:
    return f"**prompt** · {iso_time(entry.timestamp_ms)}\n\n" + prose(entry.text)


# -- file bytes to Markdown -----------------------------------------------------


class MarkdownReader:
    """A file's bytes in pieces in, its Markdown (UTF-8) out: `JsonlReader`'s twin.

    `feed` consumes complete lines and returns the stable text they add;
    `tail()` is the text the rendering of everything fed so far ends with.
    It does not change the reader, so feeding may go on after it (a file
    that grew). claw's reader (session.py) is the judge: it hands out each
    record it takes (`JsonlReader`'s `taken`), in file order, and only those
    are rendered, so no line is parsed twice; its verdict names the error.
    """

    def __init__(self, path: str, file_name: str | None = None) -> None:
        name = file_name if file_name is not None else os.path.basename(path)
        self.emitted = 0
        """Bytes `feed` returned so far: the rendering's stable part."""
        self.offset = 0
        """Bytes fed so far."""
        self._file_name = name
        self._renderer = Renderer(path, name)
        self._claw = session.JsonlReader(keep_messages=False, taken=self._take)
        self._parts: list[str] = []
        """What the lines taken during one `feed` rendered."""
        self._taken = 0
        """Lines claw took."""
        self._single: Record | None = None
        """The first record, held while it is the only line and has a
        `messages` key: the file may still be legacy JSON (session.py)."""
        self._held_bytes = 0
        """Bytes of the lines the renderer holds while the title is open."""
        self._line_end = 0
        """Where the last line taken ended."""

    def feed(self, data: bytes) -> bytes:
        self._claw.feed(data)  # renders each line it takes, through `_take`
        self.offset += len(data)
        text = "".join(self._parts).encode("utf-8", "replace")
        self._parts = []
        self.emitted += len(text)
        return text

    @property
    def titled(self) -> bool:
        """Whether the header is written: the title can no longer change."""
        return self._renderer.started

    def title(self) -> str:
        """The title the rendering of everything fed so far has (no change to the reader)."""
        if self._renderer.started:
            return self._renderer.title
        return self._end()[0].title

    def _take(self, line: jsonl.Line, obj: JsonObject, record: Record | None) -> None:
        """Render one line claw's reader took."""
        size, self._line_end = line.end - self._line_end, line.end
        self._taken += 1
        if self._taken == 1 and "messages" in obj:
            self._single = record
            return
        text = self._release(self._renderer)
        if record is not None:
            text += self._renderer.feed(record)
        if not self._renderer.started:
            self._held_bytes += size
            if self._held_bytes > TITLE_BYTES:
                text += self._renderer.start()
        self._parts.append(text)

    def _release(self, renderer: Renderer) -> str:
        single, self._single = self._single, None
        return "" if single is None else renderer.feed(single)

    def tail(self) -> bytes:
        """What the rendering of everything fed so far ends with (no change to the reader)."""
        return self._end()[1].encode("utf-8", "replace")

    def _end(self) -> tuple[Renderer, str]:
        """The renderer that ends the rendering of everything fed so far, and
        the text it ends with: held records, the unfinished last line if
        claw takes it, claw's error. Legacy JSON renders from the session."""
        last: list[Record] = []

        def taken(_line: jsonl.Line, _obj: JsonObject, record: Record | None) -> None:
            if record is not None:
                last.append(record)

        outcome = self._claw.outcome(self._file_name, _NO_NOW, taken)
        error = None if outcome.error is None else str(outcome.error)
        if outcome.legacy:
            # Nothing was emitted (no line was taken as a record on its own).
            fresh = Renderer(self._renderer.path, self._file_name)
            if outcome.session is None:
                return fresh, fresh.finish(error)
            return fresh, render_session(outcome.session, fresh)
        renderer = self._renderer.copy()
        parts = [] if self._single is None else [renderer.feed(self._single)]
        parts += [renderer.feed(record) for record in last]
        parts.append(renderer.finish(error))
        return renderer, "".join(parts)


def render_session(loaded: Session, renderer: Renderer) -> str:
    """A loaded session, in claw's save order, through `renderer` (legacy JSON)."""
    created = None if loaded.created_at_ms == _NO_NOW else loaded.created_at_ms
    meta = Meta(
        version=loaded.version,
        session_id=loaded.session_id,
        created_at_ms=created,
        updated_at_ms=loaded.updated_at_ms,
        fork=loaded.fork,
        workspace_root=loaded.workspace_root,
        model=loaded.model,
    )
    records: list[Record] = [meta]
    if loaded.compaction is not None:
        records.append(loaded.compaction)
    records += loaded.prompt_history
    records += loaded.messages
    return "".join(renderer.feed(record) for record in records) + renderer.finish()


def render_file(
    chunks: Iterable[bytes], path: str, file_name: str | None = None
) -> Iterator[bytes]:
    """The Markdown of a file read in `chunks`, piece by piece (for a pipe)."""
    reader = MarkdownReader(path, file_name)
    for chunk in chunks:
        text = reader.feed(chunk)
        if text:
            yield text
    yield reader.tail()


def render_bytes(data: bytes, path: str, file_name: str | None = None) -> bytes:
    """The whole Markdown of a file's bytes."""
    return b"".join(render_file([data], path, file_name))


def rendered_size(chunks: Iterable[bytes], path: str, file_name: str | None = None) -> int:
    """The exact size of a file's Markdown, holding one chunk's rendering at a time."""
    return sum(len(text) for text in render_file(chunks, path, file_name))


def render_range(
    chunks: Iterable[bytes], path: str, start: int, size: int, file_name: str | None = None
) -> bytes:
    """Bytes `start` to `start + size` of a file's Markdown (a read at an offset)."""
    wanted: list[bytes] = []
    at = 0
    end = start + size
    for text in render_file(chunks, path, file_name):
        if at + len(text) > start and at < end:
            wanted.append(text[max(start - at, 0) : end - at])
        at += len(text)
        if at >= end:
            break
    return b"".join(wanted)
