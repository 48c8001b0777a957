"""Store text made safe to show a person: in a log, on a terminal, as a name.

Everything a store holds is untrusted (file names, ids, branch names,
models, recorded paths), and some of it reaches a person: the daemon's log,
stderr, the output of `clawfs tree` and `clawfs workspaces`, entry names in
the mount. Raw, a newline forges a log line, an ESC drives the terminal,
and a format character (Unicode Cf: U+202E right-to-left override, U+200B
zero-width space) makes one name look like another (SPEC §6). This module
is the one rule for all of them:

- `shown` escapes what must not reach a log or a terminal raw, so the text
  stays readable and nothing is lost (`\\x1b`, `\\u202e`, `\\n`).
- `for_name` replaces it, for names the mount makes from store text (labels,
  where an escape would be a confusing name of its own).

It lives in format/, the bottom layer, because every layer has store text
to show (the store logs bad files, the live layer paths, the mount
requests, the CLI prints) and imports only go down (tests/test_layers.py).
"""

from __future__ import annotations

import unicodedata

NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}

UNSAFE_IN_NAMES = frozenset({"Cc", "Cf", "Zl", "Zp"})
"""Controls (C0, C1, DEL), format characters, line and paragraph separators."""


def shown(value: object) -> str:
    """`value` as text for a log line or a terminal: every character that is
    not printable (Python's `str.isprintable`: controls, format characters,
    line separators, unassigned and private-use code points, spaces other
    than ' ') is escaped as Python writes it (`\\x1b`, `\\u202e`); a byte
    that is not UTF-8 (a lone surrogate from `os.fsdecode`) shows as `\\xNN`.

    A backslash is left as it is: the point is that nothing forges a line or
    drives a terminal, and a Windows path stays readable (so a literal
    `\\x1b` in a name and an escaped ESC look alike, which is harmless).
    """
    text = str(value)
    if text.isprintable():
        return text  # the common case: no copy
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in text)


def for_name(text: str, replacement: str = "_") -> str:
    """`text` with every control, format character and line separator
    replaced: a name a listing can show as it is, that cannot pass for
    another name (a right-to-left override reverses what follows it)."""
    return "".join(
        replacement if unicodedata.category(ch) in UNSAFE_IN_NAMES else ch for ch in text
    )


def _escape(ch: str) -> str:
    code = ord(ch)
    if ch in NAMED_ESCAPES:
        return NAMED_ESCAPES[ch]
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the byte that was not UTF-8
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"
