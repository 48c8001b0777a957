"""claw's write-time redaction and truncation (claw-store-format §3.7)."""

from __future__ import annotations

import pytest

from clawfs.format.sanitize import (
    MAX_FIELD_CHARS,
    TRUNCATION_MARKER,
    redact,
    sanitize,
    truncate,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ANTHROPIC_API_KEY=sk-123 rest", "ANTHROPIC_API_KEY=[redacted] rest"),
        ("ANTHROPIC_AUTH_TOKEN=abc", "ANTHROPIC_AUTH_TOKEN=[redacted]"),
        ("OPENAI_API_KEY=abc,x", "OPENAI_API_KEY=[redacted],x"),
        ("DASHSCOPE_API_KEY=abc}x", "DASHSCOPE_API_KEY=[redacted]}x"),
        ("XAI_API_KEY=abc]x", "XAI_API_KEY=[redacted]]x"),
        ("Authorization: Bearer tok'x", "Authorization: Bearer [redacted]'x"),
        ('authorization: Bearer tok"x', 'authorization: Bearer [redacted]"x'),
        ("key Bearer sk-abc\nnext", "key Bearer sk-[redacted]\nnext"),
        ("sk-ant-api03-xyz\tz", "sk-ant-[redacted]\tz"),
        ("no secrets here", "no secrets here"),
        ("XAI_API_KEY=", "XAI_API_KEY=[redacted]"),
        ("XAI_API_KEY= a", "XAI_API_KEY=[redacted] a"),
    ],
)
def test_each_marker(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_every_occurrence_is_redacted() -> None:
    assert redact("sk-ant-a sk-ant-b,sk-ant-c") == (
        "sk-ant-[redacted] sk-ant-[redacted],sk-ant-[redacted]"
    )


def test_markers_apply_in_claws_order() -> None:
    # "Authorization: Bearer " runs before "Bearer sk-" and "sk-ant-".
    assert redact("Authorization: Bearer sk-ant-xyz") == "Authorization: Bearer [redacted]"
    # The value after "=" starts with a quote: nothing is dropped there, then
    # the later "sk-ant-" pass redacts inside the quotes.
    assert redact('ANTHROPIC_API_KEY="sk-ant-abc"') == (
        'ANTHROPIC_API_KEY=[redacted]"sk-ant-[redacted]"'
    )


def test_redacted_marker_grows_on_every_save() -> None:
    once = redact("ANTHROPIC_API_KEY=secret")
    assert once == "ANTHROPIC_API_KEY=[redacted]"
    assert redact(once) == "ANTHROPIC_API_KEY=[redacted]]"
    assert redact(redact(once)) == "ANTHROPIC_API_KEY=[redacted]]]"
    assert redact("sk-ant-[redacted] |") == "sk-ant-[redacted]] |"


@pytest.mark.parametrize("space", ["\u3000", "\x85", "\u2028", "\xa0", "\x0b", "\r"])
def test_secret_ends_at_unicode_white_space(space: str) -> None:
    assert redact(f"sk-ant-abc{space}after") == f"sk-ant-[redacted]{space}after"


@pytest.mark.parametrize("not_space", ["\x1c", "\x1d", "\x1e", "\x1f", "\u200b", "\ufeff"])
def test_python_only_whitespace_does_not_end_a_secret(not_space: str) -> None:
    assert redact(f"sk-ant-abc{not_space}after x") == "sk-ant-[redacted] x"


def test_truncation_boundary() -> None:
    exact = "a" * MAX_FIELD_CHARS
    assert truncate(exact) == exact
    over = "b" * (MAX_FIELD_CHARS + 1)
    cut = truncate(over)
    assert len(TRUNCATION_MARKER) == 31
    assert cut == "b" * 16353 + TRUNCATION_MARKER
    assert len(cut) == MAX_FIELD_CHARS


def test_truncation_counts_scalar_values() -> None:
    emoji = "😀" * (MAX_FIELD_CHARS + 5)
    assert truncate(emoji) == "😀" * 16353 + TRUNCATION_MARKER
    assert truncate("😀" * MAX_FIELD_CHARS) == "😀" * MAX_FIELD_CHARS


def test_truncated_value_is_stable_but_redaction_comes_first() -> None:
    value = "x" * 20000
    assert sanitize(sanitize(value)) == sanitize(value)
    secret = "sk-ant-" + "s" * 20000 + " tail"
    assert sanitize(secret) == "sk-ant-[redacted] tail"
