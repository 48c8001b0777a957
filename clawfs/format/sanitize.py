"""claw's write-time sanitizing of JSONL fields (session.rs, since 89d1052f).

Every save passes certain string fields through `sanitize`: secrets after
known markers are redacted, then over-long values are truncated. It is not
idempotent: a saved `ANTHROPIC_API_KEY=[redacted]` reads back, the secret
scan stops at the `]`, and the next save writes `[redacted]]`. A compatible
fork writer must grow it the same way, so this is a faithful port, not a fix.
"""

from __future__ import annotations

import re

from clawfs.format import rusttext

MAX_FIELD_CHARS = 16 * 1024
TRUNCATION_MARKER = "… [truncated for session JSONL]"
REDACTION_MARKER = "[redacted]"

SECRET_MARKERS = (
    "ANTHROPIC_API_KEY=",
    "ANTHROPIC_AUTH_TOKEN=",
    "OPENAI_API_KEY=",
    "DASHSCOPE_API_KEY=",
    "XAI_API_KEY=",
    "Authorization: Bearer ",
    "authorization: Bearer ",
    "Bearer sk-",
    "sk-ant-",
)
"""In claw's order; each pass sees the output of the previous one."""

# A secret ends at Rust whitespace (Unicode White_Space, not Python's \s)
# or at one of these characters.
_SECRET_END = re.compile("[" + re.escape(rusttext.WHITESPACE + "'\",}]") + "]")


def sanitize(value: str) -> str:
    """claw's `sanitize_jsonl_field`: redact, then truncate."""
    return truncate(redact(value))


def redact(value: str) -> str:
    """claw's `redact_jsonl_secrets`."""
    for marker in SECRET_MARKERS:
        if marker in value:
            value = _redact_after(value, marker)
    return value


def _redact_after(value: str, marker: str) -> str:
    """Keep each `marker`, insert `[redacted]`, drop the secret that follows."""
    parts: list[str] = []
    rest = 0
    while True:
        found = value.find(marker, rest)
        if found < 0:
            break
        parts.append(value[rest:found])
        parts.append(marker)
        parts.append(REDACTION_MARKER)
        secret_start = found + len(marker)
        end = _SECRET_END.search(value, secret_start)
        rest = len(value) if end is None else end.start()
    parts.append(value[rest:])
    return "".join(parts)


def truncate(value: str) -> str:
    """claw's `truncate_jsonl_field`; lengths in Unicode scalar values (Rust chars)."""
    if len(value) <= MAX_FIELD_CHARS:
        return value
    keep = MAX_FIELD_CHARS - len(TRUNCATION_MARKER)
    return value[:keep] + TRUNCATION_MARKER
