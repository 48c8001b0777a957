"""claw's JSON dialect (claw-store-format §3.5, runtime/json.rs)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clawfs.format import clawjson
from clawfs.format.clawjson import ClawJsonError, JsonValue, parse, parse_prefix, render


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("007", 7),
        ("-007", -7),
        ("-0", 0),
        ("[01,2]", [1, 2]),
        ("[1,]", [1]),
        ('{"a":1,}', {"a": 1}),
        ("[1 ,\t]", [1]),
        ('{"a":1,"a":2}', {"a": 2}),
        ('"\\/"', "/"),
        ('"a\x00\x01\x1f\x7fb"', "a\x00\x01\x1f\x7fb"),
        ('"\\u00e9\\u00E9"', "\u00e9\u00e9"),
        ('"😀"', "😀"),
        (" \t\r\n[ ] \n", []),
        ("-9223372036854775808", -(2**63)),
        ("9223372036854775807", 2**63 - 1),
        ("0000000000000000000000000000001", 1),
        ("true", True),
        ("null", None),
    ],
)
def test_accepts_what_claw_accepts(text: str, value: JsonValue) -> None:
    assert render(parse(text)) == render(value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "unexpected end of input"),
        ("1.5", "unexpected trailing content"),
        ("1e5", "unexpected trailing content"),
        ("[1.5]", "expected ',', found '.'"),
        ('{"a":1e5}', "expected ',', found 'e'"),
        ("NaN", "unexpected character: N"),
        ("-Infinity", "invalid number"),
        ("9223372036854775808", "number out of range"),
        ("-9223372036854775809", "number out of range"),
        ("1" * 5000, "number out of range"),
        ('"\\ud83d\\ude00"', "invalid unicode scalar value"),
        ('"\\ud83d"', "invalid unicode scalar value"),
        ('"\\uDFFF"', "invalid unicode scalar value"),
        ('"\\u12"', "invalid unicode escape"),
        ('"\\u\uff11234"', "invalid unicode escape"),
        ('"\\x"', "invalid escape sequence: x"),
        ('"abc', "unterminated string"),
        ('"\\', "unexpected end of input in escape sequence"),
        ('"\\u00', "unexpected end of input in unicode escape"),
        ("\ufeff{}", "unexpected character: \ufeff"),
        ("\x0c{}", "unexpected character: \x0c"),
        ("[,]", "unexpected character: ,"),
        ("{,}", "expected '\"', found ','"),
        ('{"a" 1}', "expected ':', found '1'"),
        ('{"a":1', "expected ',', found end of input"),
        ("[1 2]", "expected ',', found '2'"),
        ("tru", "invalid literal: expected true"),
        ("nullx", "unexpected trailing content"),
        ("{} {}", "unexpected trailing content"),
        ("-", "invalid number"),
        ("'a'", "unexpected character: '"),
    ],
)
def test_refuses_with_claws_message(text: str, message: str) -> None:
    with pytest.raises(ClawJsonError) as caught:
        parse(text)
    assert str(caught.value) == message


def test_escaped_backslash_before_u_is_not_a_surrogate_escape() -> None:
    assert parse('"\\\\ud800"') == "\\ud800"


def test_deep_nesting_does_not_crash() -> None:
    depth = 50_000
    value = parse("[" * depth + "]" * depth)
    for _ in range(depth - 1):
        assert isinstance(value, list)
        value = value[0]
    assert value == []


def test_parse_prefix_stops_after_the_first_value() -> None:
    assert parse_prefix('{"a":1}\n{"b":2}') == ({"a": 1}, 7)
    assert parse_prefix("  007 x") == (7, 5)
    assert parse_prefix("[1,]x") == ([1], 4)
    with pytest.raises(ClawJsonError):
        parse_prefix('{"a":1.5}')


def test_render_is_claws_writer() -> None:
    value: JsonValue = {
        "b": '"\\\n\r\t\b\f\x00\x1f\x7f\x80\x9f\xa0/\u2028😀é',
        "a": [1, -2, True, False, None, {}],
        "\u00e9": 0,
        "B": "",
    }
    assert render(value) == (
        '{"B":"","a":[1,-2,true,false,null,{}],'
        '"b":"\\"\\\\\\n\\r\\t\\b\\f\\u0000\\u001f\\u007f\\u0080\\u009f\xa0/\u2028😀é",'
        '"\u00e9":0}'
    )


def test_keys_sort_by_code_point_like_utf8_bytes() -> None:
    keys = ["\uffff", "😀", "z", "\u00e9", "Z"]
    rendered = render(dict.fromkeys(keys, 1))
    order = sorted(keys, key=lambda key: key.encode("utf-8"))
    assert rendered == "{" + ",".join(f'"{key}":1' for key in order) + "}"


# -- the fast path never accepts what claw's parser refuses -----------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.text(max_size=8),
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)
_noise = st.sampled_from(
    list('{}[],:"\\ \t\n\r0123456789-.eEu+') + ["\\ud83d", "\\ude00", "\\u00e9", "NaN", "1.0", "00"]
)


@st.composite
def _json_like_text(draw: st.DrawFn) -> str:
    text = json.dumps(draw(_values), ensure_ascii=draw(st.booleans()))
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 2))
        text = text[:at] + draw(_noise) + text[at + cut :]
    return text


def _exact(text: str) -> str:
    try:
        return render(clawjson._Parser(text).parse_document())
    except ClawJsonError as error:
        return f"error: {error}"


def _public(text: str) -> str:
    try:
        return render(parse(text))
    except ClawJsonError as error:
        return f"error: {error}"


@settings(max_examples=400, deadline=None)
@given(_json_like_text())
def test_fast_path_agrees_with_claws_parser(text: str) -> None:
    assert _public(text) == _exact(text)


@settings(max_examples=200, deadline=None)
@given(_json_like_text())
def test_accepted_text_renders_stably(text: str) -> None:
    try:
        value = parse(text)
    except ClawJsonError:
        return
    once = render(value)
    assert render(parse(once)) == once
