"""JsonlReader: loading a file in pieces gives what loading it whole gives."""

from __future__ import annotations

import pytest

from clawfs.format.clawjson import JsonObject, render
from clawfs.format.session import JsonlReader, LoadError, Meta, Session, load

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


def taken_by(data: bytes, cuts: list[int]) -> list[tuple[int, object]]:
    """(line number, record) of every line a reader fed in pieces hands out."""
    told: list[tuple[int, object]] = []
    reader = JsonlReader(
        keep_messages=False, taken=lambda ln, _obj, rec: told.append((ln.number, rec))
    )
    start = 0
    for cut in [*cuts, len(data)]:
        reader.feed(data[start:cut])
        start = cut
    return told


@pytest.mark.parametrize("data", SAMPLES)
def test_what_is_handed_out_does_not_depend_on_the_pieces(data: bytes) -> None:
    expected = taken_by(data, [])
    for cut in range(len(data) + 1):
        assert taken_by(data, [cut]) == expected, cut


def test_taken_hands_out_every_record_claw_takes_in_order_and_nothing_after_a_bad_line() -> None:
    data = line(META) + message("one") + b"garbage\n" + message("two")
    told = taken_by(data, [])
    assert [number for number, _ in told] == [1, 2]
    meta, first = told[0][1], told[1][1]
    assert isinstance(meta, Meta) and meta.session_id == "session-2-0"
    assert first == {"blocks": [{"text": "one", "type": "text"}], "role": "user"}


def test_taken_hands_out_the_lines_before_a_bad_utf8_line_in_the_same_piece() -> None:
    data = line(META) + message("one") + b"\xff\n" + message("two")
    assert [n for n, _ in taken_by(data, [])] == [1, 2]
    reader = JsonlReader(taken=lambda *_: None)
    reader.feed(data)
    with pytest.raises(LoadError, match="valid UTF-8"):
        reader.finish("f.jsonl", MTIME)


def test_a_skipped_prompt_entry_is_taken_without_a_record() -> None:
    data = line(META) + line({"type": "prompt_history", "text": "x", "timestamp_ms": -1})
    assert taken_by(data, []) == [(1, taken_by(data, [])[0][1]), (2, None)]


@pytest.mark.parametrize("data", SAMPLES)
def test_outcome_is_finish_as_a_value(data: bytes) -> None:
    reader = JsonlReader()
    reader.feed(data)
    result = reader.outcome("f.jsonl", MTIME)
    expected = whole(data)
    if isinstance(expected, str):
        assert result.session is None and f"error: {result.error}" == expected
    else:
        assert result.error is None and result.session == expected
    assert result.legacy == (data in LEGACY)


LEGACY = [b'{"messages":[],"version":1}', b'{\n "messages": [],\n "version": 1\n}\n']
"""The samples that are one legacy JSON value."""


def test_outcome_tells_taken_of_the_unfinished_last_line_without_changing_the_reader() -> None:
    reader = JsonlReader()
    reader.feed(line(META) + message("one").rstrip(b"\n"))
    told: list[int] = []
    reader.outcome("f.jsonl", MTIME, lambda ln, _obj, _rec: told.append(ln.number))
    assert told == [2]
    assert reader.outcome("f.jsonl", MTIME).session is not None
    assert reader.offset == len(line(META))
