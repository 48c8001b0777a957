"""Store text shown to a person (format/printable.py, SPEC §6): nothing
forges a line, drives a terminal or passes for another name."""

from __future__ import annotations

import os
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from clawfs.format import printable


def test_printable_text_is_kept_as_it_is() -> None:
    for text in ["session-1780037086127-0.jsonl", "/home/me/src/backend", "é ü 漢字 🙂",
                 "C:\\temp\\claw-code", "a b"]:
        assert printable.shown(text) == text


def test_controls_and_format_characters_are_escaped() -> None:
    assert printable.shown("x\n2026 ERROR") == "x\\n2026 ERROR"
    assert printable.shown("\x1b[31mred\x1b[0m") == "\\x1b[31mred\\x1b[0m"
    assert printable.shown("a\tb\rc\x00d\x7fe\x85f") == "a\\tb\\rc\\x00d\\x7fe\\x85f"
    assert printable.shown("fix\u202etxt.exe") == "fix\\u202etxt.exe"
    assert printable.shown("\u200b\u2066\u061c\ufeff") == "\\u200b\\u2066\\u061c\\ufeff"
    assert printable.shown("line\u2028sep") == "line\\u2028sep"
    assert printable.shown("tag\U000e0041") == "tag\\U000e0041"


def test_a_byte_that_is_not_utf8_shows_as_that_byte() -> None:
    assert printable.shown(os.fsdecode(b"/store/\xff.jsonl")) == "/store/\\xff.jsonl"


def test_anything_is_shown_as_its_text() -> None:
    assert printable.shown(42) == "42"
    assert printable.shown(None) == "None"


@given(st.text())
def test_nothing_unprintable_survives(text: str) -> None:
    out = printable.shown(text)
    assert out.isprintable()
    assert all(unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp") for ch in out)


def test_names_lose_controls_and_format_characters() -> None:
    assert printable.for_name("evil\u202egnp.exe") == "evil_gnp.exe"
    assert printable.for_name("a\nb\x1bc\x00d\u2029e") == "a_b_c_d_e"
    assert printable.for_name("é 漢字 C:") == "é 漢字 C:"
