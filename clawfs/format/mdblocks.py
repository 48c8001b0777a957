"""Markdown building blocks for the session view (SPEC §8): fences, code spans,
and tool inputs and outputs un-escaped.

A tool call's input and a tool result's output are strings that usually
hold JSON, so in the file they are JSON inside JSON: a file's lines or a
diff end up as `\\\\n`-separated escapes on one line. Here they are parsed
and pretty-printed with every string *raw* (no escapes, line breaks as
they are), so each line of an embedded file, diff or command output is a
line of the page and `grep` finds it. That is text for people, not JSON
any more. When a result is an object with multi-line string fields
(`stdout`, `stderr`, a file's `content` ...), each of those is a fenced
block of its own, labelled with its key path, and the other fields follow
in one block.

The parser is the stdlib's, not claw's (clawjson.py): this is the tools'
JSON, with floats and all. Numbers keep their source text, duplicate keys
are all kept, and anything that does not parse (claw cuts long values, so
an input can end mid-string) is shown as it is.

Fences are backtick runs longer than any inside the content, so nothing in
the content can close them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from clawfs.format import clawjson

_BACKTICKS = re.compile("`+")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
"""Python would decode a lone one to a string that cannot be written as UTF-8."""
_FENCE_LINE = re.compile(r" {0,3}(`{3,}|~{3,})(.*)")
"""A line that opens or closes a code fence (CommonMark, at the top level)."""


class _Pairs(list[tuple[str, object]]):
    """A JSON object as its key-value pairs, in order, duplicates kept."""


class _Raw(str):
    """A number (or NaN/Infinity) as its source text."""


def longest_backtick_run(text: str) -> int:
    if "`" not in text:
        return 0
    return max(len(run) for run in _BACKTICKS.findall(text))


def fenced(content: str) -> str:
    """`content` as a fenced code block, followed by a blank line."""
    ticks = "`" * max(3, longest_backtick_run(content) + 1) if "```" in content else "```"
    if not content.endswith("\n"):
        content += "\n"
    return f"{ticks}\n{content}{ticks}\n\n"


def code_span(value: str) -> str:
    """`value` as inline code on one line: with control characters (line
    breaks) it is shown as claw writes it, a JSON string."""
    if not value:
        return "*(empty)*"
    if _CONTROL.search(value) is not None:
        value = clawjson.render(value)
    ticks = "`" * (longest_backtick_run(value) + 1)
    spaced = value.startswith(" ") and value.endswith(" ") and value.strip(" ")
    pad = " " if value.startswith("`") or value.endswith("`") or spaced else ""
    return f"{ticks}{pad}{value}{pad}{ticks}"


def open_fence(text: str) -> str | None:
    """The fence `text` leaves open, if any (the line that would close it)."""
    if "```" not in text and "~~~" not in text:
        return None
    fence: str | None = None
    for line in text.split("\n"):
        match = _FENCE_LINE.match(line)
        if match is None:
            continue
        marks, rest = match.groups()
        if fence is None:
            if not (marks[0] == "`" and "`" in rest):  # backticks in the info string: no fence
                fence = marks
        elif marks[0] == fence[0] and len(marks) >= len(fence) and not rest.strip():
            fence = None
    return fence


def tool_input(text: str) -> str:
    """A tool call's input: pretty-printed un-escaped, in one fenced block."""
    return _unescaped(text, "*(no input)*\n\n", lambda value: fenced(pretty(value)))


def tool_output(text: str) -> str:
    """A tool result's output: multi-line string fields as blocks of their own."""
    return _unescaped(text, "*(no output)*\n\n", _output_blocks)


def _unescaped(text: str, empty: str, layout: Callable[[object], str]) -> str:
    """`text` laid out by `layout` if it holds JSON, else as it is."""
    if not text:
        return empty
    value = _parse(text)
    if value is None:
        return fenced(text)
    try:
        return layout(value)
    except RecursionError:  # nested deeper than the layout can recurse
        return fenced(text)


def _output_blocks(value: object) -> str:
    if isinstance(value, _Pairs):
        blocks, rest = _split(value, "")
        if blocks:
            parts = [f"{code_span(path)}\n\n{fenced(body)}" for path, body in blocks]
            if rest:
                parts.append(fenced(pretty(rest)))
            return "".join(parts)
    return fenced(pretty(value))


def _parse(text: str) -> object | None:
    """The JSON object or array `text` holds, else None."""
    if not text.lstrip(" \t\r\n").startswith(("{", "[")):
        return None
    if _SURROGATE_ESCAPE.search(text) is not None:
        return None
    try:
        value: object = json.loads(
            text,
            object_pairs_hook=_Pairs,
            parse_int=_Raw,
            parse_float=_Raw,
            parse_constant=_Raw,
            strict=False,
        )
    except (ValueError, RecursionError):
        return None
    return value


def pretty(value: object, indent: str = "") -> str:
    """JSON laid out with two-space indents, strings raw (not escaped)."""
    if isinstance(value, _Pairs):
        if not value:
            return "{}"
        inner = indent + "  "
        items = [f'{inner}"{key}": {pretty(item, inner)}' for key, item in value]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        inner = indent + "  "
        items = [inner + pretty(item, inner) for item in value]
        return "[\n" + ",\n".join(items) + "\n" + indent + "]"
    if isinstance(value, _Raw):
        return str(value)
    if isinstance(value, str):
        return f'"{value}"'
    if value is True:
        return "true"
    if value is False:
        return "false"
    return "null"


def _split(obj: _Pairs, prefix: str) -> tuple[list[tuple[str, str]], _Pairs]:
    """The multi-line strings of `obj` and its nested objects (with their key
    paths), and what is left of it without them."""
    blocks: list[tuple[str, str]] = []
    rest = _Pairs()
    for key, value in obj:
        path = prefix + key
        if isinstance(value, str) and not isinstance(value, _Raw) and "\n" in value:
            blocks.append((path, value))
        elif isinstance(value, _Pairs):
            inner_blocks, inner_rest = _split(value, path + ".")
            blocks += inner_blocks
            if inner_rest or not inner_blocks:
                rest.append((key, inner_rest))
        else:
            rest.append((key, value))
    return blocks, rest
