"""Where clawfs logs go.

A foreground mount logs to stderr, where the user is looking. A daemon has no
terminal, so it logs to a file (SPEC §1: `--log-file`, default under
`$XDG_STATE_HOME/clawfs/` or `~/.local/state/clawfs/`). `--debug` lowers the
level so every FUSE request is logged.

Every handler installed here formats through `StoreTextFormatter`, which
escapes the message (format/printable.py): log messages carry store text
(file names, ids, branch names, models, paths), and escaping it where the
line is written covers every log call, those added later too, instead of
trusting each call site to remember.

Commands that answer once (`tree`, `workspaces`) keep stderr for warnings:
their progress (what discovery walks) shows with `-v`, or by itself once
the command has been at work for `SLOW_SECONDS`, so a slow walk never
looks like a hang and a fast one prints nothing.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

from clawfs.format import printable
from clawfs.host import dirs

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
STDERR_FORMAT = "clawfs: %(message)s"
TRACE_INDENT = "  "
SLOW_SECONDS = 2.0
"""After this long at work, a quiet command shows its progress after all."""


class StoreTextFormatter(logging.Formatter):
    """A formatter under which store text can neither forge a line nor reach
    the terminal raw: the message is escaped (no newline, no ESC, no format
    character), and a traceback's lines, the only lines a record may add, are
    escaped and indented, so none of them starts like a log line (an
    exception's message may quote a file name)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        escaped = logging.makeLogRecord(
            {**record.__dict__, "message": printable.shown(record.message)}
        )
        return super().formatMessage(escaped)

    def formatException(self, ei: Any) -> str:
        return _indented(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return _indented(super().formatStack(stack_info))


def _indented(text: str) -> str:
    return "\n".join(TRACE_INDENT + printable.shown(line) for line in text.split("\n"))


def default_log_file() -> Path:
    """The daemon's log file when `--log-file` is not given."""
    return dirs.state_dir() / "clawfs.log"


def level(debug: bool) -> int:
    return logging.DEBUG if debug else logging.INFO


def to_stderr(
    debug: bool, quiet: bool = False, progress_after: float | None = None
) -> logging.Handler:
    """Log to stderr (foreground mounts, and a daemon until it detaches).

    `quiet` keeps only warnings and errors (a daemon's terminal: even under
    --debug, the requests go to its log). `progress_after` keeps info lines
    back for that many seconds from now (0: show them at once).
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(StoreTextFormatter(STDERR_FORMAT))
    _install(handler, debug)
    if quiet:
        handler.setLevel(logging.WARNING)
    if progress_after is not None:
        handler.addFilter(ProgressAfter(progress_after))
    return handler


class ProgressAfter(logging.Filter):
    """Warnings always; info and debug lines only from `seconds` from now on."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self._from = time.monotonic() + seconds

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or time.monotonic() >= self._from


def to_file(path: Path, debug: bool) -> logging.Handler:
    """Append to `path`, creating its directory (raises OSError if impossible)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8", delay=False)
    handler.setFormatter(StoreTextFormatter(FORMAT))
    return _install(handler, debug)


def remove(handler: logging.Handler) -> None:
    logging.getLogger().removeHandler(handler)
    handler.close()


def _install(handler: logging.Handler, debug: bool) -> logging.Handler:
    root = logging.getLogger()
    root.setLevel(level(debug))
    handler.setLevel(level(debug))
    root.addHandler(handler)
    return handler
