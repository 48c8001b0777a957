"""Where clawfs logs go.

A foreground mount logs to stderr, where the user is looking. A daemon has no
terminal, so it logs to a file (SPEC §1: `--log-file`, default under
`$XDG_STATE_HOME/clawfs/` or `~/.local/state/clawfs/`). `--debug` lowers the
level so every FUSE request is logged.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from clawfs.host import dirs

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
STDERR_FORMAT = "clawfs: %(message)s"


def default_log_file() -> Path:
    """The daemon's log file when `--log-file` is not given."""
    return dirs.state_dir() / "clawfs.log"


def level(debug: bool) -> int:
    return logging.DEBUG if debug else logging.INFO


def to_stderr(debug: bool, quiet: bool = False) -> logging.Handler:
    """Log to stderr (foreground mounts, and a daemon until it detaches).

    `quiet` keeps only warnings and errors (a daemon's terminal: even under
    --debug, the requests go to its log).
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(STDERR_FORMAT))
    _install(handler, debug)
    if quiet:
        handler.setLevel(logging.WARNING)
    return handler


def to_file(path: Path, debug: bool) -> logging.Handler:
    """Append to `path`, creating its directory (raises OSError if impossible)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8", delay=False)
    handler.setFormatter(logging.Formatter(FORMAT))
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
