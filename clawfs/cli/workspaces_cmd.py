"""`clawfs workspaces`: every workspace the store options and discovery find.

```
LABEL    PATH                  FINGERPRINT       SESSIONS  LATEST
backend  /home/me/src/backend  c689a366f52ab4ed        24  session-1780037086127-0.jsonl
shop     /home/me/shop         0b1d2e3f4a5b6c7d         3  s-a.jsonl
```

One row per workspace, sorted by label then fingerprint: what the mount
would show under `workspaces/` and `sessions/`, so a user can check what a
mount will serve without mounting. `--json` prints the same as a list of
objects for scripts. An absent value is `-` in the table and null in JSON. Labels,
paths and names are store text: the table escapes them (format/printable.py),
JSON escapes them by itself.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from clawfs.cli import storecheck
from clawfs.format import printable
from clawfs.live import rediscovery as discovery
from clawfs.store.index import StoreIndex
from clawfs.store.roots import roots_from_args

HEADERS = ("LABEL", "PATH", "FINGERPRINT", "SESSIONS", "LATEST")
GAP = "  "


@dataclass(frozen=True)
class Row:
    label: str | None
    path: str | None
    """The workspace root the label comes from (SPEC §2)."""
    fingerprint: str
    sessions: int
    latest: str | None
    """The file name `sessions/<fp>/latest` points to."""
    latest_path: str | None
    """That session's backing file (what `claw --resume` needs)."""


def rows(index: StoreIndex) -> list[Row]:
    found: list[Row] = []
    for ws in index.workspaces():
        latest = index.latest(ws.fp)
        found.append(
            Row(
                label=ws.label,
                path=ws.path,
                fingerprint=ws.fp,
                sessions=len(ws.files),
                latest=None if latest is None else latest.name,
                latest_path=None if latest is None else latest.path,
            )
        )
    return sorted(found, key=lambda r: (r.label is None, (r.label or "").lower(), r.fingerprint))


def render_table(found: Sequence[Row]) -> str:
    """An aligned table, numbers right-aligned; the last column is not padded."""
    cells = [list(HEADERS)] + [
        [printable.shown(cell) for cell in (r.label or "-", r.path or "-", r.fingerprint,
                                             str(r.sessions), r.latest or "-")]
        for r in found
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(HEADERS))]
    lines = []
    for n, row in enumerate(cells):
        padded = [
            cell.rjust(widths[i]) if i == 3 and n > 0 else cell.ljust(widths[i])
            for i, cell in enumerate(row[:-1])
        ]
        lines.append(GAP.join([*padded, row[-1]]))
    return "".join(line + "\n" for line in lines)


def render_json(found: Sequence[Row]) -> str:
    # ASCII escapes: a path that is not UTF-8 (a lone surrogate here) stays valid JSON,
    # and no control or format character reaches the terminal.
    return json.dumps([asdict(r) for r in found], indent=2) + "\n"


def run_workspaces(args: argparse.Namespace) -> int:
    """Entry for the `workspaces` subcommand (store options, `--json`)."""
    storecheck.warn_about_stores(args.stores)
    settings = discovery.settings_from_args(args)
    roots = discovery.discover_now(roots_from_args(args), settings)
    index = StoreIndex(roots)
    index.scan()
    storecheck.warn_if_empty(roots, len(index.workspaces()), discovering=False)
    # claw loads every file to decide `latest` (a later meta line wins over the
    # first one a head reads): a command that answers once must do the same.
    index.sweep()
    found = rows(index)
    text = render_json(found) if getattr(args, "json", False) else render_table(found)
    sys.stdout.flush()
    # UTF-8 whatever the locale; the text is escaped already.
    sys.stdout.buffer.write(text.encode("utf-8", "surrogateescape"))
    sys.stdout.buffer.flush()
    return 0
