"""Loading one session file exactly as claw does (claw-store-format §3)."""

from __future__ import annotations

import pytest

from clawfs.format import session
from clawfs.format.clawjson import JsonObject, render
from clawfs.format.session import Compaction, Fork, LoadError, PromptEntry, Session, load

MTIME = 1_700_000_000_123

META: JsonObject = {
    "created_at_ms": 1775000000000,
    "session_id": "session-1775000000001-0",
    "type": "session_meta",
    "updated_at_ms": 1775000000500,
    "version": 1,
}
USER: JsonObject = {"blocks": [{"text": "hi", "type": "text"}], "role": "user"}


def jsonl(*records: object) -> bytes:
    return "".join(render(record) + "\n" for record in records).encode()  # type: ignore[arg-type]


def message(body: object) -> dict[str, object]:
    return {"message": body, "type": "message"}


def load_ok(data: bytes, name: str = "session-1775000000001-0.jsonl") -> Session:
    return load(data, file_name=name, mtime_ms=MTIME)


def load_error(data: bytes, name: str = "x.jsonl") -> str:
    with pytest.raises(LoadError) as caught:
        load(data, file_name=name, mtime_ms=MTIME)
    return str(caught.value)


# -- JSONL basics -------------------------------------------------------------


def test_all_record_types() -> None:
    loaded = load_ok(
        jsonl(
            {**META, "model": "m", "workspace_root": "/w"},
            {"count": 2, "removed_message_count": 7, "summary": "s", "type": "compaction"},
            {"text": "p", "timestamp_ms": 5, "type": "prompt_history"},
            message(USER),
        )
    )
    assert loaded == Session(
        version=1,
        session_id="session-1775000000001-0",
        created_at_ms=1775000000000,
        updated_at_ms=1775000000500,
        messages=[USER],
        compaction=Compaction(2, 7, "s"),
        prompt_history=[PromptEntry(5, "p")],
        workspace_root="/w",
        model="m",
    )


def test_records_in_any_order_and_last_compaction_wins() -> None:
    loaded = load_ok(
        jsonl(
            message(USER),
            {"count": 1, "removed_message_count": 1, "summary": "a", "type": "compaction"},
            {"text": "p", "timestamp_ms": 5, "type": "prompt_history"},
            META,
            {"count": 2, "removed_message_count": 3, "summary": "b", "type": "compaction"},
        )
    )
    assert loaded.compaction == Compaction(2, 3, "b")
    assert loaded.session_id == META["session_id"]
    assert len(loaded.messages) == 1


def test_fork_metadata() -> None:
    fork = {"branch_name": "incident", "parent_session_id": "session-1-0"}
    loaded = load_ok(jsonl({**META, "fork": fork}))
    assert loaded.fork == Fork("session-1-0", "incident")
    odd_fork: JsonObject = {"parent_session_id": "p", "branch_name": 3}
    no_branch = load_ok(jsonl({**META, "fork": odd_fork}))
    assert no_branch.fork == Fork("p", None)


@pytest.mark.parametrize(
    ("fork", "error"),
    [
        (None, "fork metadata must be an object"),
        ("p", "fork metadata must be an object"),
        ({"branch_name": "b"}, "missing parent_session_id"),
        ({"parent_session_id": 1}, "missing parent_session_id"),
    ],
)
def test_bad_fork_fails_the_file(fork: object, error: str) -> None:
    assert load_error(jsonl({**META, "fork": fork})) == error


def test_several_meta_lines_last_wins_entirely() -> None:
    first = {
        **META,
        "fork": {"parent_session_id": "p"},
        "model": "m",
        "workspace_root": "/w",
    }
    second = {
        "session_id": "session-9-9",
        "type": "session_meta",
        "updated_at_ms": 10,
        "version": 2,
    }
    loaded = load_ok(jsonl(first, message(USER), second))
    assert loaded.session_id == "session-9-9"
    assert loaded.version == 2
    assert loaded.updated_at_ms == 10
    assert loaded.created_at_ms == 9  # from the id: the first meta's value is gone
    assert loaded.fork is None and loaded.model is None and loaded.workspace_root is None


def test_non_string_optional_meta_fields_are_ignored() -> None:
    loaded = load_ok(jsonl({**META, "model": 1, "workspace_root": None}))
    assert loaded.model is None and loaded.workspace_root is None


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"version": None}, "missing version"),
        ({"version": -1}, "version out of range"),
        ({"version": 2**32}, "version out of range"),
        ({"session_id": 5}, "missing session_id"),
        ({"created_at_ms": "1"}, "missing created_at_ms"),
        ({"created_at_ms": None}, "missing created_at_ms"),
        ({"created_at_ms": -1}, "created_at_ms out of range"),
        ({"updated_at_ms": -5}, "updated_at_ms out of range"),
        ({"updated_at_ms": True}, "missing updated_at_ms"),
    ],
)
def test_bad_meta_fails_the_file(change: dict[str, object], error: str) -> None:
    assert load_error(jsonl({**META, **change})) == error


def test_missing_meta_fields_fail_in_claws_order() -> None:
    assert load_error(jsonl({"type": "session_meta"})) == "missing version"
    assert load_error(jsonl({"type": "session_meta", "version": 1})) == "missing session_id"
    assert (
        load_error(jsonl({"type": "session_meta", "version": 1, "session_id": "s"}))
        == "missing updated_at_ms"
    )


# -- bad lines ----------------------------------------------------------------


def test_corrupt_line_fails_the_whole_file() -> None:
    data = jsonl(META) + b"{not json}\n" + jsonl(message(USER))
    assert load_error(data) == "invalid JSONL record at line 2: expected '\"', found 'n'"


def test_partly_written_last_line() -> None:
    data = jsonl(META) + b'{"message":{"blocks":[{"text":"hal'
    assert load_error(data) == "invalid JSONL record at line 2: unterminated string"


def test_unknown_and_missing_type() -> None:
    assert load_error(jsonl(META, {"type": "future"})) == (
        "unsupported JSONL record type at line 2: future"
    )
    assert load_error(jsonl(META, {"kind": "x"})) == "JSONL record at line 2 missing type"
    assert load_error(jsonl(META, {"type": 3})) == "JSONL record at line 2 missing type"
    assert load_error(jsonl(META, [1])) == "JSONL record at line 2 must be an object"
    assert load_error(jsonl({"type": "message"})) == "JSONL record at line 1 missing message"


def test_line_numbers_count_blank_lines() -> None:
    data = jsonl(META) + b"\n  \n\r\n" + b"[]\n"
    assert load_error(data) == "JSONL record at line 5 must be an object"


def test_first_error_wins() -> None:
    data = jsonl(META, {"type": "nope"}) + b"garbage\n"
    assert load_error(data) == "unsupported JSONL record type at line 2: nope"


def test_bom_breaks_line_one() -> None:
    assert load_error(b"\xef\xbb\xbf" + jsonl(META)) == (
        "invalid JSONL record at line 1: unexpected character: \ufeff"
    )


def test_crlf_lines_load() -> None:
    data = jsonl(META, message(USER)).replace(b"\n", b"\r\n")
    assert len(load_ok(data).messages) == 1


def test_lines_are_trimmed_of_unicode_whitespace_only() -> None:
    # U+3000 and U+0085 are White_Space: trimmed. U+001C is not (Python's
    # isspace() says it is): the line then fails as claw's does.
    padded = "\u3000\x85".encode() + jsonl(META).rstrip(b"\n") + "\u2003\n".encode()
    assert load_ok(padded).session_id == META["session_id"]
    assert load_error(b"\x1c" + jsonl(META)) == (
        "invalid JSONL record at line 1: unexpected character: \x1c"
    )


def test_invalid_utf8_anywhere_fails_with_rusts_error() -> None:
    assert load_error(jsonl(META) + b"\xff\n") == "stream did not contain valid UTF-8"
    # Even when an earlier line is already bad: the whole read fails first.
    assert load_error(b"garbage\n\xc3") == "stream did not contain valid UTF-8"


def test_control_character_escapes_round_trip() -> None:
    text = "a\x00b\x1fc\x7fd\x9fe\u2028f"
    data = jsonl(META, message({"blocks": [{"text": text, "type": "text"}], "role": "user"}))
    assert b"\\u0000" in data and b"\\u007f" in data and b"\\u009f" in data
    assert load_ok(data).messages[0]["blocks"] == [{"text": text, "type": "text"}]


def test_raw_control_characters_are_accepted() -> None:
    line = (
        '{"message":{"blocks":[{"text":"a\x01\tb","type":"text"}],"role":"user"},"type":"message"}'
    )
    loaded = load_ok(jsonl(META) + line.encode() + b"\n")
    assert loaded.messages[0]["blocks"] == [{"text": "a\x01\tb", "type": "text"}]


def test_floats_and_huge_integers_fail() -> None:
    float_usage = jsonl(META).decode() + (
        '{"message":{"blocks":[],"role":"user","usage":{"input_tokens":1.5}},"type":"message"}\n'
    )
    assert (
        load_error(float_usage.encode())
        == "invalid JSONL record at line 2: expected ',', found '.'"
    )
    huge = jsonl(META).replace(b"1775000000500", b"9223372036854775808")
    assert load_error(huge) == "invalid JSONL record at line 1: number out of range"
    exponent = jsonl(META).replace(b"1775000000500", b"1e3")
    assert load_error(exponent) == "invalid JSONL record at line 1: expected ',', found 'e'"


def test_surrogate_escapes_fail() -> None:
    data = (
        jsonl(META)
        + b'{"message":{"blocks":[{"text":"\\ud83d\\ude00","type":"text"}],'
        + b'"role":"user"},"type":"message"}\n'
    )
    assert load_error(data) == "invalid JSONL record at line 2: invalid unicode scalar value"


def test_leading_zeros_and_trailing_commas_load() -> None:
    data = b'{"session_id":"s","type":"session_meta","updated_at_ms":007,"version":1,}\n'
    loaded = load_ok(data)
    assert loaded.updated_at_ms == 7


# -- messages -------------------------------------------------------------------


def _message_error(body: object) -> str:
    return load_error(jsonl(META, message(body)))


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ([], "message must be an object"),
        ({"blocks": []}, "missing role"),
        ({"role": "robot", "blocks": []}, "unsupported message role: robot"),
        ({"role": "user"}, "missing blocks"),
        ({"role": "user", "blocks": {}}, "missing blocks"),
        ({"role": "user", "blocks": ["x"]}, "block must be an object"),
        ({"role": "user", "blocks": [{"text": "t"}]}, "missing block type"),
        ({"role": "user", "blocks": [{"type": "image"}]}, "unsupported block type: image"),
        ({"role": "user", "blocks": [{"type": "text"}]}, "missing text"),
        ({"role": "user", "blocks": [{"type": "thinking"}]}, "missing thinking"),
        (
            {"role": "user", "blocks": [{"type": "tool_use", "id": "i", "name": "n"}]},
            "missing input",
        ),
        (
            {
                "role": "tool",
                "blocks": [{"type": "tool_result", "tool_use_id": "i", "output": "o"}],
            },
            "missing tool_name",
        ),
        (
            {
                "role": "tool",
                "blocks": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "i",
                        "tool_name": "n",
                        "output": "o",
                        "is_error": 0,
                    }
                ],
            },
            "missing is_error",
        ),
        ({"role": "user", "blocks": [], "usage": None}, "usage must be an object"),
        ({"role": "user", "blocks": [], "usage": {}}, "missing input_tokens"),
        (
            {
                "role": "user",
                "blocks": [],
                "usage": {
                    "input_tokens": 2**32,
                    "output_tokens": 1,
                    "cache_creation_input_tokens": 1,
                    "cache_read_input_tokens": 1,
                },
            },
            "input_tokens out of range",
        ),
    ],
)
def test_message_validation(body: object, error: str) -> None:
    assert _message_error(body) == error


def test_messages_keep_only_keys_claw_knows() -> None:
    body = {
        "role": "assistant",
        "extra": 1,
        "blocks": [
            {"type": "tool_use", "id": "i", "name": "n", "input": "{}", "signature": "x"},
            {"type": "thinking", "thinking": "t", "signature": 5},
            {"type": "thinking", "thinking": "", "signature": "sig"},
            {"type": "text", "text": "x", "cache": True},
        ],
        "usage": {
            "input_tokens": 1,
            "output_tokens": 2,
            "cache_creation_input_tokens": 3,
            "cache_read_input_tokens": 4,
            "total": 10,
        },
    }
    loaded = load_ok(jsonl(META, message(body)))
    assert loaded.messages == [
        {
            "role": "assistant",
            "blocks": [
                {"type": "tool_use", "id": "i", "name": "n", "input": "{}"},
                {"type": "thinking", "thinking": "t"},
                {"type": "thinking", "thinking": "", "signature": "sig"},
                {"type": "text", "text": "x"},
            ],
            "usage": {
                "input_tokens": 1,
                "output_tokens": 2,
                "cache_creation_input_tokens": 3,
                "cache_read_input_tokens": 4,
            },
        }
    ]


def test_invalid_prompt_entries_are_skipped() -> None:
    loaded = load_ok(
        jsonl(
            META,
            {"type": "prompt_history", "text": "ok", "timestamp_ms": 1},
            {"type": "prompt_history", "text": "neg", "timestamp_ms": -1},
            {"type": "prompt_history", "timestamp_ms": 1},
            {"type": "prompt_history", "text": 1, "timestamp_ms": 1},
            {"type": "prompt_history"},
        )
    )
    assert loaded.prompt_history == [PromptEntry(1, "ok")]


@pytest.mark.parametrize(
    ("record", "error"),
    [
        ({"count": -1, "removed_message_count": 0, "summary": "s"}, "count out of range"),
        ({"count": 1, "summary": "s"}, "missing removed_message_count"),
        ({"count": 1, "removed_message_count": 0}, "missing summary"),
    ],
)
def test_bad_compaction_fails(record: dict[str, object], error: str) -> None:
    assert load_error(jsonl(META, {**record, "type": "compaction"})) == error


# -- ids, times and claw's random fallbacks ---------------------------------------


def test_empty_file_is_a_meta_less_session() -> None:
    for data in (b"", b"\n\n", b"  \r\n\t\n"):
        loaded = load(data, file_name="session-1775000000001-3.jsonl", mtime_ms=MTIME)
        assert loaded.session_id == "session-1775000000001-3"
        assert loaded.created_at_ms == loaded.updated_at_ms == 1775000000001
        assert loaded.messages == [] and loaded.version == 1


def test_meta_less_file_without_a_parseable_stem_uses_mtime() -> None:
    loaded = load(jsonl(message(USER)), file_name="notes.v2.jsonl", mtime_ms=MTIME)
    assert loaded.session_id == "notes.v2"
    assert loaded.created_at_ms == loaded.updated_at_ms == MTIME
    assert len(loaded.messages) == 1


def test_stem_differs_from_inner_id() -> None:
    loaded = load(jsonl(META), file_name="session-1776049626710-17.jsonl", mtime_ms=MTIME)
    assert loaded.session_id == "session-1775000000001-0"


def test_created_at_falls_back_to_the_id() -> None:
    meta = {key: value for key, value in META.items() if key != "created_at_ms"}
    assert load_ok(jsonl(meta)).created_at_ms == 1775000000001
    odd = {**meta, "session_id": "session-123-"}
    assert load_ok(jsonl(odd)).created_at_ms == MTIME


@pytest.mark.parametrize(
    ("session_id", "created"),
    [
        ("session-1775-0", 1775),
        ("session-1775-a-b", 1775),
        ("session-+17-0", 17),
        ("session-1775-", None),
        ("session-1775", None),
        ("session--0", None),
        ("session-18446744073709551616-0", None),
        ("session-18446744073709551615-0", 2**64 - 1),
        ("sess-1-0", None),
        ("session-١٢-0", None),
    ],
)
def test_created_at_from_id(session_id: str, created: int | None) -> None:
    assert session.created_at_from_id(session_id) == created


def test_new_session_id() -> None:
    assert session.new_session_id(1776000000000, 27) == "session-1776000000000-27"


# -- legacy whole-file JSON -------------------------------------------------------


def test_legacy_json_without_timestamps() -> None:
    data = b'{"messages":[{"blocks":[{"text":"hi","type":"text"}],"role":"user"}],"version":1}'
    loaded = load(data, file_name="session-1774998936453.json", mtime_ms=MTIME)
    assert loaded.session_id == "session-1774998936453"
    assert loaded.created_at_ms == loaded.updated_at_ms == MTIME
    assert loaded.messages == [USER]


def test_legacy_json_with_everything() -> None:
    data = render(
        {
            "version": 3,
            "session_id": "session-5-5",
            "created_at_ms": 10,
            "updated_at_ms": 20,
            "messages": [USER],
            "compaction": {"count": 1, "removed_message_count": 2, "summary": "s", "x": 1},
            "fork": {"parent_session_id": "p", "branch_name": "b"},
            "workspace_root": "/w",
            "prompt_history": [{"timestamp_ms": 1, "text": "t"}, {"text": "skip"}, 5],
            "model": "m",
        }
    ).encode()
    assert load_ok(data) == Session(
        version=3,
        session_id="session-5-5",
        created_at_ms=10,
        updated_at_ms=20,
        messages=[USER],
        compaction=Compaction(1, 2, "s"),
        prompt_history=[PromptEntry(1, "t")],
        fork=Fork("p", "b"),
        workspace_root="/w",
        model="m",
    )


def test_legacy_json_pretty_printed_and_one_line_with_newline() -> None:
    pretty = b'{\n  "messages": [],\n  "version": 1,\n  "session_id": "session-7-1"\n}\n'
    assert load_ok(pretty).session_id == "session-7-1"
    assert load_ok(b'{"messages":[],"version":1}\n', "a.jsonl").session_id == "a"


def test_legacy_json_failure_does_not_retry_as_jsonl() -> None:
    assert load_error(b'{"messages":[{"role":"x"}]}') == "missing version"
    assert load_error(b'{"messages":[{"role":"x"}],"version":1}') == "unsupported message role: x"
    assert load_error(b'{"messages":5,"version":1}') == "missing messages"
    assert load_error(b'{"messages":[],"version":1,"created_at_ms":"x"}') == (
        "missing created_at_ms"
    )
    assert load_error(b'{"messages":[],"version":1,"compaction":1}') == (
        "compaction must be an object"
    )


def test_meta_line_with_messages_key_is_legacy_when_alone() -> None:
    alone = jsonl({**META, "messages": []})
    assert load_ok(alone).session_id == META["session_id"]  # legacy: version 1, no error
    with_more = jsonl({**META, "messages": "x"}, message(USER))
    assert len(load_ok(with_more).messages) == 1  # two values: JSONL


def test_object_without_messages_is_jsonl() -> None:
    assert load_error(b'{"version":1}') == "JSONL record at line 1 missing type"


# -- fork ---------------------------------------------------------------------------


def test_forked_copies_and_links() -> None:
    parent = load_ok(
        jsonl(
            {**META, "fork": {"parent_session_id": "grand"}, "model": "m", "workspace_root": "/w"},
            {"count": 1, "removed_message_count": 2, "summary": "s", "type": "compaction"},
            {"text": "p", "timestamp_ms": 5, "type": "prompt_history"},
            message(USER),
        )
    )
    child = parent.forked("session-9-1", 9, "  incident review \u3000")
    assert child.session_id == "session-9-1"
    assert child.created_at_ms == child.updated_at_ms == 9
    assert child.fork == Fork(META["session_id"], "incident review")  # type: ignore[arg-type]
    assert child.messages == parent.messages and child.messages is not parent.messages
    assert child.prompt_history == parent.prompt_history
    assert (child.compaction, child.model, child.workspace_root, child.version) == (
        parent.compaction,
        "m",
        "/w",
        1,
    )


@pytest.mark.parametrize("branch", [None, "", "   ", "\u3000\n"])
def test_forked_without_branch_name(branch: str | None) -> None:
    child = load_ok(jsonl(META)).forked("session-9-1", 9, branch)
    assert child.fork == Fork(META["session_id"], None)  # type: ignore[arg-type]


def test_branch_trim_is_rusts_not_pythons() -> None:
    child = load_ok(jsonl(META)).forked("session-9-1", 9, "\x1cx\x1c")
    assert child.fork is not None and child.fork.branch_name == "\x1cx\x1c"
