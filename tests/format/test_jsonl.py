"""claw's JSONL lines (format/jsonl.py): the one splitter of session bytes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clawfs.format import jsonl, rusttext
from clawfs.format.jsonl import Line, NotUtf8, Splitter

BOM = "\ufeff".encode()


def claws_lines(data: bytes) -> list[tuple[int, str]] | None:
    """What claw does (session.rs): `read_to_string`, then `str::lines`,
    `trim`, skip blank lines. None where `read_to_string` fails."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    pieces = text.split("\n")
    if pieces[-1] == "":
        pieces.pop()  # `lines` yields no empty line after a final "\n"
    found = []
    for number, piece in enumerate(pieces, start=1):
        piece = piece[:-1] if piece.endswith("\r") else piece
        if rusttext.trim(piece):
            found.append((number, rusttext.trim(piece)))
    return found


def fed(data: bytes, cuts: list[int]) -> list[Line] | None:
    """The lines a splitter gives for `data` fed in pieces cut at `cuts`."""
    splitter = Splitter()
    found: list[Line] = []
    start = 0
    try:
        for cut in [*sorted(cuts), len(data)]:
            found += splitter.feed(data[start:cut])
            start = cut
        found += splitter.pending()
    except NotUtf8:
        return None
    return found


def numbered(found: list[Line] | None) -> list[tuple[int, str]] | None:
    return None if found is None else [(line.number, line.text) for line in found]


def test_lines_end_at_newline_and_the_last_needs_none() -> None:
    assert list(jsonl.lines(b'{"a":1}\n{"b":2}')) == [
        Line(1, '{"a":1}', 8),
        Line(2, '{"b":2}', 15),
    ]


def test_crlf_is_dropped_with_the_rest_of_the_whitespace() -> None:
    assert numbered(fed(b"one\r\n two \r\n\r\n", [])) == [(1, "one"), (2, "two")]


def test_blank_lines_are_skipped_but_counted() -> None:
    data = b"\n   \n\t\r\n\xe3\x80\x80\nfour\n\n"  # U+3000 is whitespace to Rust
    assert numbered(fed(data, [])) == [(5, "four")]


def test_only_rusts_whitespace_is_trimmed() -> None:
    # U+001C..U+001F are whitespace to Python's str.strip, not to Rust.
    assert numbered(fed(b"\x1cx\x1f\n", [])) == [(1, "\x1cx\x1f")]


def test_a_bom_is_not_whitespace() -> None:
    assert numbered(fed(BOM + b'{"a":1}\n', [])) == [(1, '\ufeff{"a":1}')]
    assert numbered(fed(BOM + b"\n", [])) == [(1, "\ufeff")]


def test_a_line_split_across_pieces_is_one_line() -> None:
    data = 'é{"text":"h\u00e9llo"}\n'.encode() + b"tail"
    expected = claws_lines(data)
    for cut in range(len(data) + 1):  # also inside the two-byte é
        assert numbered(fed(data, [cut])) == expected, cut
    assert numbered(fed(data, list(range(len(data))))) == expected


def test_the_unfinished_tail_waits_for_more() -> None:
    splitter = Splitter()
    assert splitter.feed(b'{"a":') == []
    assert splitter.offset == 0
    assert splitter.pending() == [Line(1, '{"a":', 5)]
    assert splitter.pending() == [Line(1, '{"a":', 5)]  # pending changes nothing
    assert splitter.feed(b'1}\n{"b"') == [Line(1, '{"a":1}', 8)]
    assert splitter.offset == 8
    assert splitter.feed(b":2}\n") == [Line(2, '{"b":2}', 16)]
    assert splitter.pending() == []


def test_offsets_count_bytes_not_characters() -> None:
    data = "\u00e9\u00e9\n\n\u4e2d\n".encode()
    assert list(jsonl.lines(data)) == [Line(1, "\u00e9\u00e9", 5), Line(3, "\u4e2d", 10)]
    assert data[5:] == "\n\u4e2d\n".encode()


def test_a_grown_file_is_fed_from_its_old_end() -> None:
    first = b"one\ntwo\npart"
    grown = first + b"ial\nthree\n"
    splitter = Splitter()
    old = splitter.feed(first)
    new = splitter.feed(grown[len(first) :])
    assert numbered(old + new) == claws_lines(grown)


def test_invalid_utf8_fails_the_stream_wherever_it_is() -> None:
    assert fed(b"ok\n\xff\n", []) is None
    assert fed(b"ok\nbad \xc3\n", []) is None
    assert fed(b"ok\nunfinished \xe4\xb8", []) is None  # in the pending last line
    splitter = Splitter()
    with pytest.raises(NotUtf8):
        splitter.feed(b"\xff\n")
    with pytest.raises(NotUtf8):
        splitter.feed(b"fine\n")  # once not UTF-8, the stream stays so
    with pytest.raises(NotUtf8):
        splitter.pending()


def test_lines_yields_what_comes_before_a_bad_line_and_stops_there() -> None:
    found = jsonl.lines(b"\nfirst\n\xff\n")
    assert next(found) == Line(2, "first", 7)
    with pytest.raises(NotUtf8):
        next(found)


def test_a_piece_with_a_bad_line_carries_the_good_lines_before_it() -> None:
    splitter = Splitter()
    with pytest.raises(NotUtf8) as raised:
        splitter.feed(b"one\n\ntwo\n\xff\nthree\n")
    assert raised.value.lines == [Line(1, "one", 4), Line(3, "two", 9)]


def test_a_line_longer_than_any_piece() -> None:
    record = b"x" * 100_000
    pieces = [record[i : i + 1000] for i in range(0, len(record), 1000)]
    splitter = Splitter()
    assert all(splitter.feed(piece) == [] for piece in pieces)
    assert splitter.feed(b"\n") == [Line(1, "x" * 100_000, 100_001)]


ALPHABET = [b"a", b"{", b"\n", b"\r", b" ", b"\t", "\u3000".encode(), BOM, b"\xc3\xa9",
            b"\xe4", b"\xff", b"\x1c"]


@given(
    st.lists(st.sampled_from(ALPHABET), max_size=40).map(b"".join),
    st.lists(st.integers(min_value=0, max_value=120), max_size=5),
)
def test_pieces_give_claws_lines(data: bytes, cuts: list[int]) -> None:
    expected = claws_lines(data)
    assert numbered(fed(data, [min(cut, len(data)) for cut in cuts])) == expected
    try:
        whole = numbered(list(jsonl.lines(data)))
    except NotUtf8:
        whole = None
    assert whole == expected
