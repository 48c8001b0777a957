"""The Markdown view (format/markdown.py, SPEC §8): the corpus, and made-up files
for each rule (title, facts, blocks, fences, bad files, appends, sizes and ranges)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clawfs.format import clawjson, markdown, session, snapshot
from clawfs.format.clawjson import JsonObject
from clawfs.format.session import Compaction, Fork, LoadError, Message, PromptEntry, Session

import storegen as sg
import strategies
from storegen import CORPUS

CORPUS_FILES = sorted(
    p for p in CORPUS.rglob("*") if p.is_file() and p.suffix in (".jsonl", ".json")
)
TORSTAN = (
    CORPUS / "Torstan__claw-code/rust/.claw/sessions/433010833d26c6d3"
    / "session-1775996322136-0.jsonl"
)
PATH = "/store/fp/s.jsonl"
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})(.*)")


def md(data: bytes, path: str = PATH) -> str:
    return markdown.render_bytes(data, path).decode("utf-8")


def record(obj: JsonObject) -> bytes:
    return clawjson.render(obj).encode("utf-8") + b"\n"


def meta(session_id: str = "session-1776000000001-0", **fields: object) -> bytes:
    obj: JsonObject = {"type": "session_meta", "session_id": session_id,
                       "updated_at_ms": 1, "version": 1}
    obj.update(fields)  # type: ignore[arg-type]
    return record(obj)


def message(role: str, *blocks: JsonObject) -> Message:
    return {"blocks": list(blocks), "role": role}


def text(value: str) -> JsonObject:
    return {"type": "text", "text": value}


def tool_use(name: str, value: str, call: str = "call-1") -> JsonObject:
    return {"type": "tool_use", "id": call, "name": name, "input": value}


def tool_result(name: str, output: str, *, failed: bool = False) -> JsonObject:
    return {"type": "tool_result", "tool_use_id": "call-1", "tool_name": name,
            "output": output, "is_error": failed}


def line(msg: Message) -> bytes:
    return record(snapshot.message_record(msg, sanitized=False))


def jsonl(*messages: Message) -> bytes:
    return meta() + b"".join(line(m) for m in messages)


# -- what "every string appears" means ------------------------------------------


def json_strings(raw: str) -> list[str] | None:
    """The keys and string values of the JSON object or array `raw` holds."""
    try:
        value = json.loads(raw, strict=False)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict | list):
        return None
    found: list[str] = []
    stack: list[object] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found += item.keys()
            stack += item.values()
        elif isinstance(item, list):
            stack += item
        elif isinstance(item, str):
            found.append(item)
    return found


def session_strings(loaded: Session) -> Iterator[tuple[str, str]]:
    """(kind, string) for every text of a loaded session; tool inputs and
    outputs as themselves (`raw`)."""
    if loaded.compaction is not None:
        yield "summary", loaded.compaction.summary
    for entry in loaded.prompt_history:
        yield "prompt", entry.text
    for msg in loaded.messages:
        for block in msg["blocks"]:  # type: ignore[union-attr]
            assert isinstance(block, dict)
            for key in ("text", "thinking"):
                if key in block:
                    yield key, str(block[key])
            if block["type"] == "tool_use":
                yield "raw", str(block["input"])
            if block["type"] == "tool_result":
                yield "raw", str(block["output"])


def missing_strings(rendered: str, loaded: Session) -> list[str]:
    """What of `loaded` is not in `rendered`: a tool input or output may appear
    un-escaped, as every string of the JSON it holds."""
    missing = []
    for kind, value in session_strings(loaded):
        if value in rendered:
            continue
        parts = json_strings(value) if kind == "raw" else None
        if parts is None or any(part not in rendered for part in parts):
            missing.append(f"{kind}: {value[:120]!r}")
    return missing


def outside_fences(rendered: str) -> list[str]:
    """The lines of `rendered` not inside a fenced code block (CommonMark's rule)."""
    lines, fence = [], None
    for each in rendered.split("\n"):
        match = _FENCE.match(each)
        if fence is None:
            if match and not (match[1][0] == "`" and "`" in match[2]):
                fence = match[1]
                continue
            lines.append(each)
        elif match and match[1][0] == fence[0] and len(match[1]) >= len(fence):
            fence = fence if match[2].strip() else None
    return lines


def headings(rendered: str) -> list[str]:
    return [each for each in outside_fences(rendered) if each.startswith("#")]


# -- the corpus ---------------------------------------------------------------------


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: str(p.relative_to(CORPUS)))
def test_every_corpus_file_renders_every_string(path: Path) -> None:
    data = path.read_bytes()
    rendered = md(data, str(path))
    assert rendered.startswith("# ")
    loaded = session.load(data, file_name=path.name, mtime_ms=0)
    assert missing_strings(rendered, loaded) == []
    numbered = [h for h in headings(rendered) if re.match(r"## \d+ · ", h)]
    assert numbered == [f"## {n} · {m['role']}" for n, m in enumerate(loaded.messages, 1)]
    assert "claw cannot load" not in rendered


def test_a_diff_line_inside_a_tool_result_is_a_line_of_its_own() -> None:
    data = TORSTAN.read_bytes()
    wanted = "+use crate::agent_debug::agent_debug_log;"
    assert wanted.encode() in data  # the jsonl holds it, escaped inside a line ...
    assert wanted.encode() not in data.split(b"\n")  # ... never as a line (grep -x finds nothing)
    assert wanted in md(data).split("\n")  # the Markdown has it as a line (grep -xF finds it)


# -- header: title and facts --------------------------------------------------------


def test_an_empty_file_renders_its_title_and_facts() -> None:
    assert md(b"", "/store/fp/session-1776000000005-2.jsonl") == (
        "# session-1776000000005-2\n\n"
        "| id | `session-1776000000005-2` |\n"
        "|---|---|\n"
        "| created | 2026-04-12T13:20:00.005Z |\n"
        "| file | `/store/fp/session-1776000000005-2.jsonl` |\n\n"
    )


def test_facts_of_a_fork() -> None:
    data = meta("s-child", created_at_ms=1776000000000, model="opus", workspace_root="/w/p",
                fork={"parent_session_id": "s-parent", "branch_name": "bug fix"})
    assert md(data) == (
        "# s-child\n\n"
        "| id | `s-child` |\n"
        "|---|---|\n"
        "| parent | `s-parent` |\n"
        "| branch | `bug fix` |\n"
        "| model | `opus` |\n"
        "| workspace | `/w/p` |\n"
        "| created | 2026-04-12T13:20:00.000Z |\n"
        f"| file | `{PATH}` |\n\n"
    )


def test_facts_that_would_break_the_table_or_the_encoding() -> None:
    data = meta("a|b`c", workspace_root="x\ny", created_at_ms=2**63 - 1)
    rendered = md(data, "/store/caf\udce9.jsonl")
    assert "| id | ``a\\|b`c`` |" in rendered
    assert '| workspace | `"x\\ny"` |' in rendered  # a line break: shown as claw writes it
    assert f"| created | {2**63 - 1} ms after the epoch |" in rendered
    assert "| file | `/store/caf\ufffd.jsonl` |" in rendered
    assert md(b"", "/store/caf\udce9.jsonl").startswith("# caf\ufffd\n")


def test_title_is_the_first_line_of_the_first_user_text_cut_at_80() -> None:
    long = "x" * 100
    data = jsonl(
        message("system", text("continued from a summary")),
        message("assistant", text("hello")),
        message("user", tool_result("bash", "out"), text("\n  \n  " + long + "  \nsecond line")),
    )
    rendered = md(data)
    assert rendered.startswith("# " + "x" * 80 + "…\n\n| id |")
    assert long in rendered


def test_title_is_the_id_without_a_user_text_in_the_first_messages() -> None:
    late = [message("assistant", text(f"a{n}")) for n in range(markdown.TITLE_MESSAGES)]
    data = jsonl(*late, message("user", text("too late")))
    assert md(data).startswith("# session-1776000000001-0\n")
    alone = jsonl(message("assistant", text("only me")))
    assert md(alone).startswith("# session-1776000000001-0\n")


def test_held_bytes_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    data = jsonl(message("system", text("x" * 200)), message("user", text("late")))
    assert md(data).startswith("# late\n")
    monkeypatch.setattr(markdown, "TITLE_BYTES", 100)
    reader = markdown.MarkdownReader(PATH)
    assert reader.feed(data).startswith(b"# session-1776000000001-0\n")
    assert reader.tail() == b""
    bytewise = [data[at : at + 1] for at in range(len(data))]
    assert b"".join(markdown.render_file(bytewise, PATH)) == markdown.render_bytes(data, PATH)


def test_a_file_without_meta_is_titled_by_its_name() -> None:
    rendered = md(line(message("assistant", text("hi"))), "/s/abc.jsonl")
    assert rendered.startswith("# abc\n\n| id | `abc` |\n|---|---|\n| created | not recorded |")


# -- records and blocks ---------------------------------------------------------------


def test_blocks_render_as_the_spec_says() -> None:
    output = json.dumps({"stdout": "line 1\nline 2\n", "stderr": "", "code": 0,
                         "file": {"content": "a\nb", "path": "/p"}})
    data = jsonl(
        message("user", text("do it")),
        message("assistant", {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                text("ok"), tool_use("bash", json.dumps({"command": 'echo "hi"\nls'}))),
        message("tool", tool_result("bash", output), tool_result("bash", "plain", failed=True)),
    )
    assert md(data).split("\n| file |")[1].split("\n", 1)[1] == (
        "\n## 1 · user\n\ndo it\n\n"
        "## 2 · assistant\n\n"
        "<details>\n<summary>thinking</summary>\n\nhmm\n\n</details>\n\n"
        "ok\n\n"
        "**tool call** · `bash` · `call-1`\n\n"
        '```\n{\n  "command": "echo "hi"\nls"\n}\n```\n\n'
        "## 3 · tool\n\n"
        "**tool result** · `bash` · ok · `call-1`\n\n"
        "`stdout`\n\n```\nline 1\nline 2\n```\n\n"
        "`file.content`\n\n```\na\nb\n```\n\n"
        '```\n{\n  "stderr": "",\n  "code": 0,\n  "file": {\n    "path": "/p"\n  }\n}\n```\n\n'
        "**tool result** · `bash` · failed · `call-1`\n\n"
        "```\nplain\n```\n\n"
    )


def test_tool_json_keeps_numbers_duplicates_and_falls_back_to_raw() -> None:
    data = jsonl(
        message("assistant",
                tool_use("a", '{"x": 1.50e3, "x": 007, "n": NaN}'),
                tool_use("b", '{"cut": "claw truncated th… [truncated for session JSONL]'),
                tool_use("c", ""),
                tool_use("d", '["\\udc00"]'),
                tool_use("e", "[" * 100_000 + "]" * 100_000)),
    )
    rendered = md(data)
    assert '"x": 1.50e3' in rendered and '"n": NaN' in rendered  # 007: not JSON, shown raw
    assert "claw truncated th… [truncated for session JSONL]" in rendered
    assert "*(no input)*" in rendered
    assert '["\\udc00"]' in rendered  # a lone surrogate is not decoded
    assert "[" * 100_000 in rendered  # too deep to lay out: shown as it is


def test_compaction_prompts_and_a_later_meta_render_where_they_are() -> None:
    data = (
        meta()
        + record({"type": "compaction", "count": 2, "removed_message_count": 40,
                  "summary": "what went before"})
        + record({"type": "prompt_history", "timestamp_ms": 1776000000000, "text": "fix it"})
        + line(message("user", text("fix it")))
        + record({"type": "prompt_history", "timestamp_ms": -1, "text": "claw skips me"})
        + record({"type": "prompt_history", "timestamp_ms": 1776000060000, "text": "and this"})
        + meta("session-1776000000001-0", model="later")
    )
    body = md(data).split("\n| file |", 1)[1].split("\n", 1)[1]
    assert body == (
        "\n## Compaction summary\n\n"
        "*40 earlier messages were summarized (compaction 2).*\n\nwhat went before\n\n"
        "**prompt** · 2026-04-12T13:20:00.000Z\n\nfix it\n\n"
        "## 1 · user\n\nfix it\n\n"
        "**prompt** · 2026-04-12T13:21:00.000Z\n\nand this\n\n"
        "**session_meta record:** claw takes the last one, so these are the facts now\n\n"
        "| id | `session-1776000000001-0` |\n|---|---|\n| model | `later` |\n"
        "| created | 2026-04-12T13:20:00.001Z |\n"
        f"| file | `{PATH}` |\n\n"
    )


# -- fences -------------------------------------------------------------------------


BACKTICKY = [
    "```",
    "````python\nprint(1)\n````",
    "~~~\nnot closed",
    "``` still open\ncode ## 9 · user",
    "`" * 12 + "\n## 7 · assistant\n" + "`" * 7,
    "text with `code` and ``more`` and a ``` in the middle",
]


@pytest.mark.parametrize("content", BACKTICKY)
def test_fences_survive_content_full_of_backticks(content: str) -> None:
    output = json.dumps({"stdout": content + "\n" + content, "stderr": content})
    data = jsonl(
        message("user", text(content)),
        message("assistant", {"type": "thinking", "thinking": content},
                tool_use(content, json.dumps({"command": content}), call=content)),
        message("tool", tool_result(content, output), tool_result("x", content)),
        message("user", text("after")),
    )
    rendered = md(data)
    assert [h for h in headings(rendered) if h.startswith("## ")] == [
        "## 1 · user", "## 2 · assistant", "## 3 · tool", "## 4 · user"
    ]
    assert rendered.endswith("## 4 · user\n\nafter\n\n")
    assert missing_strings(rendered, session.load(data, file_name="s.jsonl", mtime_ms=0)) == []


# -- files claw cannot load ------------------------------------------------------------


def claw_error(data: bytes) -> str:
    with pytest.raises(LoadError) as caught:
        session.load(data, file_name="s.jsonl", mtime_ms=0)
    return str(caught.value)


BAD_TAILS = [
    b'{"type":"message","message":{"role":"user","blocks":[{"type":"text"\n',
    b'{"type":"mystery"}\n',
    b'{"type":"message","message":{"role":"robot","blocks":[]}}\n',
    b"\xff\xfe\n",
    b'{"type":"message","message":{"role":"user","bl',  # a crash mid-append
]


@pytest.mark.parametrize("bad", BAD_TAILS)
def test_a_bad_file_renders_what_parses_then_claws_error(bad: bytes) -> None:
    good = jsonl(message("user", text("first")), message("assistant", text("second")))
    data = good + bad + line(message("user", text("never shown")))
    rendered = md(data)
    assert rendered == md(good) + f"**claw cannot load this file:** {claw_error(data)}\n"


def test_invalid_utf8_anywhere_is_claws_error_after_what_came_before() -> None:
    data = jsonl(message("user", text("first"))) + b'{"type":"mystery"}\n' + b"\xff\n"
    assert claw_error(data) == session.UTF8_ERROR
    assert md(data).endswith("first\n\n**claw cannot load this file:** "
                             "stream did not contain valid UTF-8\n")


def test_a_last_line_without_newline_is_a_line() -> None:
    data = jsonl(message("user", text("first")), message("assistant", text("last")))
    assert md(data[:-1]) == md(data)


def test_legacy_json_renders_from_the_loaded_session() -> None:
    rendered = md(sg.legacy_json(3), "/store/session-1775007490104.json")
    assert rendered.startswith("# legacy 0\n\n| id | `session-1775007490104` |\n|---|---|\n"
                               "| created | not recorded |")
    assert [h for h in headings(rendered) if h.startswith("## ")] == [
        "## 1 · user", "## 2 · user", "## 3 · user"
    ]
    pretty = json.dumps(json.loads(sg.legacy_json(2)), indent=2).encode()
    assert md(pretty).count("\n## ") == 2


def test_legacy_json_that_fails_renders_its_header_and_the_error() -> None:
    for data in (b'{"messages":[]}', b'{\n"messages": [], "version": 1.5\n}\n',
                 b'{"type":"session_meta","session_id":"s","updated_at_ms":1,"version":1,'
                 b'"messages":3}\n'):
        error = claw_error(data)
        assert md(data, "/s/x.jsonl") == (
            "# x\n\n| id | `x` |\n|---|---|\n| created | not recorded |\n"
            "| file | `/s/x.jsonl` |\n\n"
            f"**claw cannot load this file:** {error}\n"
        )


def test_a_one_line_meta_with_messages_is_legacy_for_claw() -> None:
    data = meta("s", messages=[message("user", text("as legacy"))])
    assert session.load(data, file_name="s.jsonl", mtime_ms=0).messages
    assert "## 1 · user\n\nas legacy\n" in md(data)
    two_lines = data + line(message("user", text("now jsonl")))
    assert "## 1 · user\n\nnow jsonl\n" in md(two_lines)


# -- appends, pieces, sizes and ranges ---------------------------------------------------


def test_an_append_renders_as_an_append() -> None:
    path = "/s/session-1776000000001-0.jsonl"
    first = sg.render(sg.make_session("s", messages=[sg.text_message("go")]))
    grown = first + line(message("assistant", text("done"))) + record(
        {"type": "prompt_history", "timestamp_ms": 5, "text": "next"})
    reader = markdown.MarkdownReader(path)
    stable = reader.feed(first)
    before = stable + reader.tail()
    assert before == markdown.render_bytes(first, path)
    after = stable + reader.feed(grown[len(first):]) + reader.tail()
    assert after == markdown.render_bytes(grown, path)
    assert after.startswith(before)


def test_the_first_user_text_arriving_later_retitles_but_keeps_emitted_bytes() -> None:
    path = "/s/x.jsonl"
    first = meta("session-1776000000001-0")  # what claw's REPL saves at start
    grown = first + record({"type": "prompt_history", "timestamp_ms": 5, "text": "hi"}) + line(
        message("user", text("hi")))
    reader = markdown.MarkdownReader(path)
    reader.feed(first)
    assert reader.emitted == 0  # everything is in the tail while the title is open
    old = markdown.render_bytes(first, path)
    new = markdown.render_bytes(grown, path)
    assert old.startswith(b"# session-1776000000001-0\n") and new.startswith(b"# hi\n")


def title_line(rendered: bytes) -> str:
    return rendered.split(b"\n", 1)[0].decode("utf-8").removeprefix("# ")


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: str(p.relative_to(CORPUS)))
def test_title_is_the_pages_first_line_and_final_once_titled(path: Path) -> None:
    data = path.read_bytes()
    whole = markdown.render_bytes(data, str(path))
    reader = markdown.MarkdownReader(str(path))
    seen_titled = None
    for at in range(0, len(data), 4096):
        reader.feed(data[at : at + 4096])
        if reader.titled and seen_titled is None:
            seen_titled = reader.title()
    assert reader.title() == title_line(whole)
    assert seen_titled in (None, title_line(whole))


def test_the_title_of_what_was_fed_so_far() -> None:
    reader = markdown.MarkdownReader("/s/x.jsonl")
    reader.feed(meta("session-1776000000001-0"))
    assert not reader.titled and reader.title() == "session-1776000000001-0"
    reader.feed(line(message("user", text("hello\nworld"))))
    assert reader.titled and reader.title() == "hello"
    legacy = markdown.MarkdownReader("/s/old.json")
    legacy.feed(b'{"messages": [{"role": "user", "blocks": [{"type": "text", "text": "hi"}]}],'
                b' "version": 1}')
    assert legacy.title() == "hi" and not legacy.titled


@pytest.mark.parametrize("step", [1, 7, 100, 4096])
def test_pieces_of_any_size_render_the_same(step: int) -> None:
    data = TORSTAN.read_bytes()
    pieces = [data[at : at + step] for at in range(0, len(data), step)]
    assert b"".join(markdown.render_file(pieces, PATH)) == markdown.render_bytes(data, PATH)


def test_sizes_and_ranges() -> None:
    data = TORSTAN.read_bytes()
    whole = markdown.render_bytes(data, PATH)
    chunks = [data[at : at + 5000] for at in range(0, len(data), 5000)]
    assert markdown.rendered_size(chunks, PATH) == len(whole)
    for start, size in [(0, 10), (100, 70_000), (len(whole) - 5, 100), (len(whole), 10)]:
        assert markdown.render_range(chunks, PATH, start, size) == whole[start : start + size]


def test_renderer_fed_records() -> None:
    renderer = markdown.Renderer("/p", "p.jsonl")
    assert renderer.feed(session.Meta(1, "s", 1, 1, Fork("parent"), None, None)) == ""
    assert renderer.feed(Compaction(1, 2, "sum")) == ""
    assert renderer.feed(PromptEntry(0, "go")) == ""
    first = renderer.feed(message("user", text("go")))
    assert first.startswith("# go\n\n| id | `s` |\n|---|---|\n| parent | `parent` |")
    assert first.endswith("## 1 · user\n\ngo\n\n")
    assert renderer.copy().finish("boom") == "**claw cannot load this file:** boom\n"
    assert renderer.finish() == ""


# -- properties ---------------------------------------------------------------------

_chars = st.one_of(
    st.sampled_from(list("ab `~\n|#*<>\\\"{}[]:,.-+") + ["\t", "\r", "\x1b", "\u2028", "é", "😀"]),
    st.characters(exclude_categories=["Cs"]),
)
_texts = st.text(_chars, max_size=30)
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_texts, inner, max_size=3),
    max_leaves=8,
)


@st.composite
def _tool_text(draw: st.DrawFn) -> str:
    """What a tool's input or output holds: JSON (a bash result's shape too), or not."""
    kind = draw(st.sampled_from(["json", "bash", "text"]))
    if kind == "text":
        return draw(_texts)
    value = draw(_json_values) if kind == "json" else {
        "stdout": draw(_texts), "stderr": draw(_texts), "interrupted": draw(st.booleans())
    }
    indent = draw(st.sampled_from([None, 2]))
    return json.dumps(value, ensure_ascii=draw(st.booleans()), indent=indent)


_blocks = st.one_of(
    st.builds(text, _texts),
    st.builds(lambda t: {"type": "thinking", "thinking": t}, _texts),
    st.builds(tool_use, _texts, _tool_text(), _texts),
    st.builds(lambda n, o, f: tool_result(n, o, failed=f), _texts, _tool_text(), st.booleans()),
)
_messages = st.builds(
    message, st.sampled_from(sorted(session.ROLES)), *[_blocks] * 3
) | st.builds(message, st.just("user"), st.builds(text, _texts))


@st.composite
def _sessions(draw: st.DrawFn) -> Session:
    fork = draw(st.none() | st.builds(Fork, _texts, st.none() | _texts))
    return Session(
        version=1,
        session_id=draw(_texts),
        created_at_ms=draw(st.integers(0, 2**63 - 1)),
        updated_at_ms=draw(st.integers(0, 2**63 - 1)),
        messages=draw(st.lists(_messages, max_size=4)),
        compaction=draw(st.none() | st.builds(Compaction, st.integers(0, 9), st.integers(0, 9),
                                              _texts)),
        prompt_history=draw(st.lists(st.builds(PromptEntry, st.integers(0, 2**40), _texts),
                                     max_size=2)),
        fork=fork,
        workspace_root=draw(st.none() | _texts),
        model=draw(st.none() | _texts),
    )


def _pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    at = sorted({min(cut, len(data)) for cut in cuts})
    return [data[a:b] for a, b in zip([0, *at], [*at, len(data)], strict=True)]


@settings(max_examples=300, deadline=None)
@given(_sessions())
def test_every_string_of_a_generated_session_appears(generated: Session) -> None:
    data = snapshot.render_snapshot(generated, sanitized=False)
    loaded = session.load(data, file_name="s.jsonl", mtime_ms=0)
    rendered = md(data)
    assert missing_strings(rendered, loaded) == []
    numbered = [h for h in headings(rendered) if re.match(r"## \d+ · ", h)]
    assert len(numbered) == len(loaded.messages)


@settings(max_examples=200, deadline=None)
@given(_sessions(), st.lists(_messages, min_size=1, max_size=3), st.lists(st.integers(0, 5000)))
def test_appending_messages_renders_as_an_append(
    generated: Session, appended: list[Message], cuts: list[int]
) -> None:
    first = snapshot.render_snapshot(generated, sanitized=False)
    grown = first + b"".join(line(m) for m in appended)
    reader = markdown.MarkdownReader(PATH)
    stable = reader.feed(first)
    before, after = markdown.render_bytes(first, PATH), markdown.render_bytes(grown, PATH)
    assert after.startswith(stable)  # what was emitted never changes
    titled = any(markdown.first_user_line(m) for m in generated.messages)
    if titled or len(generated.messages) >= markdown.TITLE_MESSAGES:
        assert reader.tail() == b""
        assert after.startswith(before)
    assert stable + reader.feed(grown[len(first):]) + reader.tail() == after
    assert b"".join(markdown.render_file(_pieces(grown, cuts), PATH)) == after


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(strategies.inputs, st.lists(st.integers(0, 20_000), max_size=6))
def test_any_bytes_render_without_raising(data: bytes, cuts: list[int]) -> None:
    whole = markdown.render_bytes(data, PATH)
    rendered = whole.decode("utf-8")
    assert rendered.startswith("# ")
    assert b"".join(markdown.render_file(_pieces(data, cuts), PATH)) == whole
    try:
        loaded = session.load(data, file_name="s.jsonl", mtime_ms=0)
    except LoadError as error:
        assert rendered.endswith(f"\n**claw cannot load this file:** {error}\n")
        return
    assert "**claw cannot load this file:**" not in rendered
    assert missing_strings(rendered, loaded) == []
