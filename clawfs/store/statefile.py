"""The project stores discovery found, remembered between mounts.

A walk of a home directory takes a while; remembering its answer lets the
next mount show known workspaces at once and walk only to refresh (SPEC
§1). The answer is kept per start directory, so a mount walking `~` does
not pick up what an earlier `--discover /data` found, and a finished walk
of a start replaces that start's list (a project moved into a skipped
tree is forgotten) while a walk cut short only adds to it.

The file is a cache: a missing or corrupt one costs a walk, never a mount,
and a failed save is logged, not raised.

    {"version": 1, "starts": {"/home/me": ["/home/me/app/.claw/sessions"]}}
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from clawfs.host import dirs

log = logging.getLogger(__name__)

FILE_NAME = "discovered.json"
VERSION = 1


def default_path() -> Path:
    """`$XDG_STATE_HOME/clawfs/discovered.json` (host/dirs.py)."""
    return dirs.state_dir() / FILE_NAME


@dataclass
class Remembered:
    """Real path of each start walked -> real paths of the stores found below it."""

    starts: dict[str, list[str]] = field(default_factory=dict)

    def walked(self, starts: Iterable[str]) -> bool:
        """True when every start was walked before (even if it held no store).

        The mount waits for a first walk only when this is False.
        """
        return all(os.path.realpath(s) in self.starts for s in starts)

    def roots_for(self, starts: Iterable[str]) -> list[str]:
        """The remembered stores below these starts, each once, in order."""
        roots: dict[str, None] = {}
        for start in starts:
            roots.update(dict.fromkeys(self.starts.get(os.path.realpath(start), [])))
        return list(roots)

    def update(self, found_under: Mapping[str, list[str]], finished: Iterable[str]) -> None:
        """Take in a walk's result (`DiscoveryResult.found_under` and `.finished`)."""
        done = set(finished)
        for start, roots in found_under.items():
            if start in done:
                self.starts[start] = list(dict.fromkeys(roots))
            else:
                old = self.starts.get(start, [])
                self.starts[start] = list(dict.fromkeys([*old, *roots]))


def load(path: Path | None = None) -> Remembered:
    """Read the remembered stores, dropping those that no longer exist."""
    path = path or default_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        log.info("discovery: nothing remembered yet (%s)", path)
        return Remembered()
    except (OSError, UnicodeDecodeError) as e:
        log.warning("discovery: cannot read %s, ignoring it: %s", path, e)
        return Remembered()
    starts = _parse(text)
    if starts is None:
        log.warning("discovery: %s is corrupt, ignoring it", path)
        return Remembered()
    for start, roots in starts.items():
        kept = [r for r in roots if os.path.isdir(r)]
        for gone in set(roots) - set(kept):
            log.info("discovery: forgetting %s (gone)", gone)
        starts[start] = kept
    return Remembered(starts)


def _parse(text: str) -> dict[str, list[str]] | None:
    """The `starts` mapping of a state file, or None when it is not one."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("version") != VERSION:
        return None
    starts = data.get("starts")
    if not isinstance(starts, dict):
        return None
    parsed: dict[str, list[str]] = {}
    for start, roots in starts.items():
        if not isinstance(roots, list) or not all(isinstance(r, str) for r in roots):
            return None
        parsed[start] = [r for r in roots if os.path.isabs(r)]
    return parsed


def save(remembered: Remembered, path: Path | None = None) -> bool:
    """Write the state atomically (temp file + rename); False, logged, on failure.

    Paths that are not valid UTF-8 survive: JSON escapes the lone
    surrogates Python decodes them to, and reading them back restores them.
    """
    path = path or default_path()
    text = json.dumps({"version": VERSION, "starts": remembered.starts}, indent=1) + "\n"
    tmp: str | None = None
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{FILE_NAME}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return True
    except OSError as e:
        log.warning("discovery: cannot save %s: %s", path, e)
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        return False
