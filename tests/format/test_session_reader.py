"""JsonlReader: loading a file in pieces gives what loading it whole gives."""

from __future__ import annotations

import pytest

from clawfs.format.clawjson import JsonObject, render
from clawfs.format.session import JsonlReader, LoadError, Session, load

MTIME = 1_700_000_000_000
META: JsonObject = {
    "created_at_ms": 1,
    "session_id": "session-2-0",
    "type": "session_meta",
    "updated_at_ms": 2,
    "version": 1,
}


def line(record: JsonObject) -> bytes:
    return render(record).encode() + b"\n"


def message(text: str) -> bytes:
    return line(
        {"message": {"blocks": [{"text": text, "type": "text"}], "role": "user"}, "type": "message"}
    )


def outcome(load_it: object) -> Session | str:
    try:
        return load_it()  # type: ignore[operator, no-any-return]
    except LoadError as error:
        return f"error: {error}"


def in_pieces(data: bytes, cuts: list[int]) -> Session | str:
    reader = JsonlReader()
    start = 0
    for cut in [*cuts, len(data)]:
        reader.feed(data[start:cut])
        start = cut
    return outcome(lambda: reader.finish("f.jsonl", MTIME))


def whole(data: bytes) -> Session | str:
    return outcome(lambda: load(data, file_name="f.jsonl", mtime_ms=MTIME))


SAMPLES = [
    line(META) + message("h\u00e9llo") + message("two"),
    line(META) + message("x") + b'{"message":{"blocks":[{"te',
    line(META) + b"garbage\n" + message("x"),
    b'{"messages":[],"version":1}',
    b'{\n "messages": [],\n "version": 1\n}\n',
    b'{"messages":[],"version":1}\n' + message("x"),
    b"\n\n" + line(META),
    line(META) + "\u00e9".encode() + b"\xff\n",
    b"",
]


@pytest.mark.parametrize("data", SAMPLES)
def test_every_split_point_gives_the_whole_file_result(data: bytes) -> None:
    expected = whole(data)
    for cut in range(len(data) + 1):
        assert in_pieces(data, [cut]) == expected, cut
    assert in_pieces(data, list(range(len(data)))) == expected


def test_offset_counts_complete_lines_only() -> None:
    reader = JsonlReader()
    head = line(META) + message("a")
    reader.feed(head + b'{"message":')
    assert reader.offset == len(head)
    assert reader.error is None


def test_finish_does_not_consume_the_tail_and_feeding_goes_on() -> None:
    reader = JsonlReader()
    reader.feed(line(META) + message("a") + b'{"message":{"blocks":[],"ro')
    with pytest.raises(LoadError, match="line 3: unterminated string"):
        reader.finish("f.jsonl", MTIME)
    reader.feed(b'le":"user"},"type":"message"}\n')
    assert len(reader.finish("f.jsonl", MTIME).messages) == 2
    reader.feed(message("b"))
    assert len(reader.finish("f.jsonl", MTIME).messages) == 3


def test_unterminated_last_line_counts_like_claws_lines() -> None:
    reader = JsonlReader()
    reader.feed(line(META) + message("a").rstrip(b"\n"))
    assert len(reader.finish("f.jsonl", MTIME).messages) == 1


def test_error_is_set_on_the_first_bad_line() -> None:
    reader = JsonlReader()
    reader.feed(line(META) + b'{"type":"mystery"}\n' + b"junk\n")
    assert str(reader.error) == "unsupported JSONL record type at line 2: mystery"


def test_utf8_error_overrides_a_line_error() -> None:
    reader = JsonlReader()
    reader.feed(b"junk\n")
    assert str(reader.error).startswith("invalid JSONL record at line 1")
    reader.feed(b"\xff\n")
    assert str(reader.error) == "stream did not contain valid UTF-8"


def test_extending_matches_a_full_load_after_growth() -> None:
    first = line(META) + message("a")
    grown = first + message("b") + line({"text": "p", "timestamp_ms": 3, "type": "prompt_history"})
    reader = JsonlReader()
    reader.feed(first)
    reader.feed(grown[reader.offset :])
    assert reader.finish("f.jsonl", MTIME) == load(grown, file_name="f.jsonl", mtime_ms=MTIME)
