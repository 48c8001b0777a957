"""Golden renderings: whole Markdown pages checked in as expected output.

Three inputs, chosen to show the page a person reads:

* `tools-thinking`: a real session with thinking, tool calls, failed tool
  results, a JSON result with a multi-line field (corpus kl137754356).
* `compacted`: a real session after a compaction: the summary, a system
  message first, so the title is the id (corpus fuyb999).
* `crash-mid-append`: a real session cut in the middle of its last line,
  as a crash during an append leaves it: what parses, then claw's error.

The backing path shown is the corpus-relative one, so the pages do not
depend on where the repository lies. When the rendering changes on purpose,
regenerate the pages and review the diff:

    CLAWFS_REGOLD=1 .venv/bin/pytest -q tests/format/test_markdown_golden.py
    git diff tests/format/golden/
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from clawfs.format import markdown

from storegen import CORPUS

GOLDEN = Path(__file__).parent / "golden"
TOOLS = "kl137754356__Frontier/claw-web-chat/backend/.claw/sessions/c689a366f52ab4ed/session-1780021502540-0.jsonl"  # noqa: E501
COMPACTED = "fuyb999__claw-code/.clawd-dev/sessions/d8fde7ee22c7a4a7/session-1777080014065-12.jsonl"
CUT = "atlastrinity__claw-code/serena/.claw/sessions/3d0302890f9fdfe0/session-1782478625171-0.jsonl"


def _whole(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def _cut_in_last_line(name: str) -> bytes:
    data = _whole(name)
    last = data.rindex(b"\n", 0, len(data) - 1) + 1
    return data[: last + (len(data) - last) // 2]


CASES: dict[str, tuple[str, Callable[[str], bytes]]] = {
    "tools-thinking": (TOOLS, _whole),
    "compacted": (COMPACTED, _whole),
    "crash-mid-append": (CUT, _cut_in_last_line),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_rendering(case: str) -> None:
    name, make = CASES[case]
    rendered = markdown.render_bytes(make(name), "corpus/" + name)
    expected = GOLDEN / f"{case}.md"
    if os.environ.get("CLAWFS_REGOLD"):
        expected.write_bytes(rendered)
    assert rendered == expected.read_bytes()
