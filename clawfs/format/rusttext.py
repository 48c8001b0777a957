"""Rust's idea of whitespace, which claw's `trim()` and secret scan use.

Rust's `char::is_whitespace` is the Unicode White_Space property. Python's
`str.isspace()` (and so `str.strip()`, `str.split()`, regex `\\s`) also counts
U+001C-U+001F, which Rust does not: never use those where claw trims.
"""

from __future__ import annotations

WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
"""The 25 characters with the Unicode White_Space property."""


def trim(text: str) -> str:
    """Rust's `str::trim`."""
    return text.strip(WHITESPACE)
