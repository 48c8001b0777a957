"""The log formatter (cli/logsetup.py): store text in a message or a
traceback can neither forge a log line nor reach the terminal raw (SPEC §6)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from clawfs.cli import logsetup

HOSTILE = "x\n2026-12-01 20:00:00,000 ERROR clawfs: FAKE \x1b[31mred\x1b[0m\u202e.jsonl"
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ ")


def record(message: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError(f"cannot read {HOSTILE}")
        except ValueError as e:
            exc_info = (type(e), e, e.__traceback__)
    return logging.LogRecord("clawfs.store.index", logging.WARNING, __file__, 1, message, args,
                             exc_info)


def test_a_message_with_store_text_is_one_line_without_controls() -> None:
    line = logsetup.StoreTextFormatter(logsetup.FORMAT).format(record("%s: %s", HOSTILE, "bad"))
    assert "\n" not in line and "\x1b" not in line and "\u202e" not in line
    assert line.endswith("WARNING clawfs.store.index: x\\n2026-12-01 20:00:00,000 ERROR clawfs: "
                         "FAKE \\x1b[31mred\\x1b[0m\\u202e.jsonl: bad")


def test_a_traceback_quoting_store_text_starts_no_log_line() -> None:
    text = logsetup.StoreTextFormatter(logsetup.FORMAT).format(record("failed", exc=True))
    first, *trace = text.split("\n")
    assert LOG_LINE.match(first)
    assert trace and all(line.startswith(logsetup.TRACE_INDENT) for line in trace)
    assert not any(LOG_LINE.match(line) for line in trace)
    assert f"{logsetup.TRACE_INDENT}2026-12-01 20:00:00,000 ERROR clawfs: FAKE" in trace[-1]
    assert "\x1b" not in text and "\u202e" not in text


def test_the_stderr_form_too() -> None:
    line = logsetup.StoreTextFormatter(logsetup.STDERR_FORMAT).format(record("%s", HOSTILE))
    assert line.startswith("clawfs: x\\n2026") and "\n" not in line


def test_every_handler_clawfs_installs_escapes(tmp_path: Path) -> None:
    root = logging.getLogger()
    level = root.level
    handlers = [logsetup.to_stderr(debug=False), logsetup.to_file(tmp_path / "log", debug=False)]
    try:
        for handler in handlers:
            assert isinstance(handler.formatter, logsetup.StoreTextFormatter)
    finally:
        for handler in handlers:
            logsetup.remove(handler)
        root.setLevel(level)
