"""claw's own JSON dialect (runtime/json.rs), read and written exactly.

claw does not use serde for sessions; it has a small hand-written parser
that differs from standard JSON in ways that decide whether a file loads:

* numbers are i64 only: a fraction, an exponent or an out-of-range integer
  is an error, but leading zeros (`007`) are accepted;
* a trailing comma is accepted (`[1,]`, `{"a":1,}`): after a comma the
  parser looks for the closing bracket before the next value;
* raw control characters inside strings are accepted;
* `\\uXXXX` must be a Unicode scalar, so surrogate escapes (even a valid
  pair such as `\\ud83d\\ude00`) are errors;
* duplicate keys: the last one wins; trailing content is an error.

`parse` first tries the C scanner of the stdlib `json` module, whose
language is wider than claw's only in ways that are caught (hooks for
floats, NaN/Infinity and big integers; a pre-check for surrogate escapes).
Anything it refuses goes to `_Parser`, a transcription of claw's parser,
which decides the rare cases (leading zeros, trailing commas) and produces
claw's exact error texts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from json.scanner import make_scanner
from typing import Any, NoReturn, TypeAlias

JsonValue: TypeAlias = None | bool | int | str | list["JsonValue"] | dict[str, "JsonValue"]
JsonObject: TypeAlias = dict[str, JsonValue]

I64_MIN = -(2**63)
I64_MAX = 2**63 - 1


class ClawJsonError(ValueError):
    """claw would refuse this text; str(e) is claw's message."""


class _Refused(Exception):
    """The fast path saw something only the exact parser may judge."""


def _refuse(_text: str) -> NoReturn:
    raise _Refused


def _checked_int(text: str) -> int:
    value = int(text)
    if not I64_MIN <= value <= I64_MAX:
        raise _Refused
    return value


_DECODER = json.JSONDecoder(
    parse_float=_refuse,
    parse_constant=_refuse,
    parse_int=_checked_int,
    strict=False,
)
_SCAN: Callable[[str, int], tuple[Any, int]] = make_scanner(_DECODER)  # type: ignore[arg-type]
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_JSON_WS = " \t\n\r"


def parse(text: str) -> JsonValue:
    """Parse `text` as claw does, or raise `ClawJsonError` with claw's text."""
    try:
        return _fast_parse(text)
    except Exception:  # noqa: BLE001 - anything odd is judged by the exact parser
        pass
    return _Parser(text).parse_document()


def parse_prefix(text: str, start: int = 0) -> tuple[JsonValue, int]:
    """Parse one value at `start` (after claw's whitespace); return it and its end.

    Used to tell legacy whole-file JSON from JSONL without paying for a
    full parse of a big JSONL file: claw's whole-text parse fails as soon as
    anything but whitespace follows the first value.
    """
    try:
        if _SURROGATE_ESCAPE.search(text, start) is None:
            index = _skip_ws(text, start)
            value, end = _SCAN(text, index)
            # A top-level number may stop early in Python (`01`): only
            # inside a container is the next character checked.
            if not isinstance(value, int) or isinstance(value, bool):
                return value, end
    except Exception:  # noqa: BLE001 - the exact parser decides
        pass
    parser = _Parser(text, start)
    return parser.parse_value(), parser.index


def only_whitespace_after(text: str, index: int) -> bool:
    """True if nothing but claw's JSON whitespace follows `index`."""
    return _skip_ws(text, index) == len(text)


def _skip_ws(text: str, index: int) -> int:
    length = len(text)
    while index < length and text[index] in _JSON_WS:
        index += 1
    return index


def _fast_parse(text: str) -> JsonValue:
    if _SURROGATE_ESCAPE.search(text) is not None:
        raise _Refused
    index = _skip_ws(text, 0)
    value, end = _SCAN(text, index)
    if _skip_ws(text, end) != len(text):
        raise _Refused
    result: JsonValue = value
    return result


# -- the exact parser ------------------------------------------------------

_STRING_RUN = re.compile(r'[^"\\]*')
_DIGITS = re.compile(r"[0-9]*")
_HEX = frozenset("0123456789abcdefABCDEF")
_ESCAPES = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}


class _ObjectFrame:
    """An object being parsed and the key whose value comes next."""

    __slots__ = ("entries", "key")

    def __init__(self, entries: JsonObject, key: str) -> None:
        self.entries = entries
        self.key = key


class _Parser:
    """claw's recursive-descent parser, made iterative so depth cannot crash us.

    Same order of checks and same messages as json.rs, so errors read as
    claw's. Works on code points, as claw works on `char`s.
    """

    def __init__(self, text: str, index: int = 0) -> None:
        self.text = text
        self.index = index

    def parse_document(self) -> JsonValue:
        value = self.parse_value()
        self.index = _skip_ws(self.text, self.index)
        if self.index != len(self.text):
            raise ClawJsonError("unexpected trailing content")
        return value

    def parse_value(self) -> JsonValue:
        stack: list[list[JsonValue] | _ObjectFrame] = []
        while True:
            value, opened = self._value_start()
            if opened is not None:
                stack.append(opened)
                continue
            while stack:
                closed = self._attach(stack[-1], value)
                if closed is None:
                    break
                stack.pop()
                value = closed
            else:
                return value

    def _value_start(self) -> tuple[JsonValue, list[JsonValue] | _ObjectFrame | None]:
        """Parse a scalar or an empty container, or open a container.

        Returns (value, None) for a complete value, or (None, container) when
        a non-empty container was opened and its first value comes next.
        """
        self.index = _skip_ws(self.text, self.index)
        char = self._peek()
        if char == "[":
            self.index += 1
            self.index = _skip_ws(self.text, self.index)
            if self._try_consume("]"):
                return [], None
            return None, []
        if char == "{":
            self.index += 1
            self.index = _skip_ws(self.text, self.index)
            if self._try_consume("}"):
                return {}, None
            return None, _ObjectFrame({}, self._key())
        return self._scalar(char), None

    def _attach(self, top: list[JsonValue] | _ObjectFrame, value: JsonValue) -> JsonValue:
        """Store `value` in `top`, then read a separator.

        Returns the container when it closed, None when another value follows.
        """
        if isinstance(top, _ObjectFrame):
            top.entries[top.key] = value
            if self._close_or_comma("}"):
                return top.entries
            top.key = self._key()
            return None
        top.append(value)
        if self._close_or_comma("]"):
            return top
        return None

    def _close_or_comma(self, close: str) -> bool:
        self.index = _skip_ws(self.text, self.index)
        if self._try_consume(close):
            return True
        self._expect(",")
        # claw loops back to "skip whitespace, try the closing bracket":
        # this is why a trailing comma is accepted.
        self.index = _skip_ws(self.text, self.index)
        return self._try_consume(close)

    def _key(self) -> str:
        key = self._string()
        self.index = _skip_ws(self.text, self.index)
        self._expect(":")
        return key

    def _scalar(self, char: str | None) -> JsonValue:
        if char == "n":
            return self._literal("null", None)
        if char == "t":
            return self._literal("true", True)
        if char == "f":
            return self._literal("false", False)
        if char == '"':
            return self._string()
        if char is not None and (char == "-" or "0" <= char <= "9"):
            return self._number()
        if char is None:
            raise ClawJsonError("unexpected end of input")
        raise ClawJsonError(f"unexpected character: {char}")

    def _literal(self, expected: str, value: JsonValue) -> JsonValue:
        for expected_char in expected:
            if self._next() != expected_char:
                raise ClawJsonError(f"invalid literal: expected {expected}")
        return value

    def _string(self) -> str:
        self._expect('"')
        text = self.text
        parts: list[str] = []
        while True:
            match = _STRING_RUN.match(text, self.index)
            assert match is not None  # the pattern matches the empty string
            parts.append(match.group())
            self.index = match.end()
            char = self._next()
            if char is None:
                raise ClawJsonError("unterminated string")
            if char == '"':
                return "".join(parts)
            parts.append(self._escape())

    def _escape(self) -> str:
        char = self._next()
        if char is None:
            raise ClawJsonError("unexpected end of input in escape sequence")
        if char == "u":
            return self._unicode_escape()
        plain = _ESCAPES.get(char)
        if plain is None:
            raise ClawJsonError(f"invalid escape sequence: {char}")
        return plain

    def _unicode_escape(self) -> str:
        value = 0
        for _ in range(4):
            char = self._next()
            if char is None:
                raise ClawJsonError("unexpected end of input in unicode escape")
            if char not in _HEX:
                raise ClawJsonError("invalid unicode escape")
            value = (value << 4) | int(char, 16)
        if 0xD800 <= value <= 0xDFFF:
            raise ClawJsonError("invalid unicode scalar value")
        return chr(value)

    def _number(self) -> int:
        negative = self._try_consume("-")
        match = _DIGITS.match(self.text, self.index)
        assert match is not None
        digits = match.group()
        self.index = match.end()
        if not digits:
            raise ClawJsonError("invalid number")
        significant = digits.lstrip("0") or "0"
        if len(significant) > 19:
            raise ClawJsonError("number out of range")
        value = -int(significant) if negative else int(significant)
        if not I64_MIN <= value <= I64_MAX:
            raise ClawJsonError("number out of range")
        return value

    def _expect(self, expected: str) -> None:
        actual = self._next()
        if actual is None:
            raise ClawJsonError(f"expected '{expected}', found end of input")
        if actual != expected:
            raise ClawJsonError(f"expected '{expected}', found '{actual}'")

    def _try_consume(self, expected: str) -> bool:
        if self._peek() == expected:
            self.index += 1
            return True
        return False

    def _peek(self) -> str | None:
        if self.index < len(self.text):
            return self.text[self.index]
        return None

    def _next(self) -> str | None:
        char = self._peek()
        if char is not None:
            self.index += 1
        return char


# -- the writer ------------------------------------------------------------

_C1_AND_DEL = re.compile("[\x7f-\x9f]")


def render(value: JsonValue) -> str:
    """Render as claw's writer does (json.rs `render`), byte for byte.

    No whitespace, keys sorted by code point (= UTF-8 byte order, claw's
    BTreeMap), non-ASCII raw. The stdlib escapes U+0000-U+001F exactly as
    claw does (short forms for \\b \\f \\n \\r \\t, else lowercase \\u00xx);
    claw also escapes the other Unicode Cc characters, U+007F-U+009F.
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    if _C1_AND_DEL.search(text) is None:
        return text
    return _C1_AND_DEL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
