"""`clawfs tree`: every workspace's fork lineage as indented text, no mount needed.

```
backend  c689a366f52ab4ed  24 sessions  latest: session-1780037086127-0.jsonl
  session-1780037086127-0  51 msgs  <- latest
  session-1780034962438-0  61 msgs
    session-1780040000000-1  [incident-review]  61 msgs
```

Each line is a node of `forks/` (file stem, branch name in brackets,
message count, markers); children are indented under their parent. The
walk is iterative, so a 1,000-deep chain prints without recursion. Every
line is store text (names, branch names, labels) and goes to a terminal, so
it is escaped (format/printable.py).
"""

from __future__ import annotations

import argparse
import sys

from clawfs.cli import storecheck
from clawfs.format import printable
from clawfs.format.summary import Summary
from clawfs.live import rediscovery as discovery
from clawfs.store.index import StoreIndex, Workspace
from clawfs.store.lineage import ForkNode, Lineage
from clawfs.store.roots import roots_from_args

INDENT = "  "


def render_tree(index: StoreIndex) -> str:
    """The whole store as text (full loads are done for exact counts)."""
    lines: list[str] = []
    for ws in index.workspaces():
        lines += _workspace_lines(index, ws)
    return "".join(printable.shown(line) + "\n" for line in lines)


def _workspace_lines(index: StoreIndex, ws: Workspace) -> list[str]:
    summaries = {sf.name: loaded for sf, loaded in index.loaded(ws.fp)}
    ws = index.workspace(ws.fp) or ws
    latest = index.latest(ws.fp)
    latest_name = latest.name if latest is not None else "none"
    header = (
        f"{ws.label or '(no label)'}  {ws.fp}  {_count(len(ws.files), 'session')}  "
        f"latest: {latest_name}"
    )
    lineage = index.lineage(ws.fp)
    lines = [header]
    lines += _tree_lines(lineage, ws, summaries, latest.name if latest is not None else None)
    return lines


def _tree_lines(
    lineage: Lineage, ws: Workspace, summaries: dict[str, Summary], latest: str | None
) -> list[str]:
    lines: list[str] = []
    stack = [(name, 1) for name in reversed(lineage.top.values())]
    while stack:
        name, depth = stack.pop()
        node = lineage.nodes[name]
        lines.append(INDENT * depth + _describe(node, ws, summaries, latest))
        if node.links:
            lines += [
                INDENT * (depth + 1) + f"{child_dir} -> (continued at top)"
                for child_dir in node.children
            ]
            continue
        stack += [(child, depth + 1) for child in reversed(node.children.values())]
    return lines


def _describe(
    node: ForkNode, ws: Workspace, summaries: dict[str, Summary], latest: str | None
) -> str:
    loaded = summaries.get(node.name)
    parts = [node.dir_name]
    if loaded is not None and loaded.branch_name:
        parts.append(f"[{loaded.branch_name}]")
    parts.append(_count(loaded.message_count, "msg") if loaded is not None else "? msgs")
    sf = ws.files.get(node.name)
    if loaded is not None and loaded.error is not None:
        parts.append("(does not load)")
    elif sf is not None and not sf.belongs:
        parts.append("(foreign)")
    if node.continued_from is not None:
        parts.append(f"(continued from {node.continued_from})")
    if node.name == latest:
        parts.append("<- latest")
    return "  ".join(parts)


def _count(n: int, word: str) -> str:
    """`1 session`, `2 sessions`: counts read as English."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def run_tree(args: argparse.Namespace) -> int:
    """Entry for the `tree` subcommand: store options in `stores`, `workspaces`, `data_dirs`."""
    storecheck.warn_about_stores(args.stores)
    settings = discovery.settings_from_args(args)
    roots = discovery.discover_now(roots_from_args(args), settings)
    index = StoreIndex(roots)
    index.scan()
    storecheck.warn_if_empty(roots, len(index.workspaces()), discovering=False)
    sys.stdout.write(render_tree(index))
    return 0
