"""The real claw files in ../shared/corpus load and re-render as claw's do.

The corpus README's table is the expectation: for each file its format,
record and message counts, and notes such as `dir == fp(workspace_root)`
or `file stem != session_id (...)`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from clawfs.format import clawjson, session
from clawfs.format.clawjson import JsonObject
from clawfs.format.fingerprint import fingerprint, fingerprint_candidates
from clawfs.format.head import read_head
from clawfs.format.session import Session
from clawfs.format.snapshot import (
    compaction_record,
    message_record,
    meta_record,
    prompt_record,
    render_snapshot,
)
from clawfs.format.summary import summarize

from storegen import CORPUS

MTIME = 1_700_000_000_000


@dataclass(frozen=True)
class Row:
    path: Path
    size: int
    legacy: bool
    records: dict[str, int]
    messages: int
    notes: str


def _rows() -> list[Row]:
    rows = []
    for line in (CORPUS / "README.md").read_text().splitlines():
        if not line.startswith("| `"):
            continue
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        counts = dict(re.findall(r"(\w+)=(\d+)", cells[5]))
        rows.append(
            Row(
                path=CORPUS / cells[0].strip("`"),
                size=int(cells[2]),
                legacy=cells[4] == "legacy-json",
                records={kind: int(count) for kind, count in counts.items()},
                messages=int(cells[6]),
                notes=cells[8],
            )
        )
    return rows


ROWS = _rows()
JSONL_ROWS = [row for row in ROWS if not row.legacy]


def _load(row: Row) -> Session:
    return session.load(row.path.read_bytes(), file_name=row.path.name, mtime_ms=MTIME)


def _ids(rows: list[Row]) -> list[str]:
    return [str(row.path.relative_to(CORPUS)) for row in rows]


def test_readme_lists_every_corpus_file() -> None:
    on_disk = {p for p in CORPUS.rglob("*") if p.is_file() and p.name != "README.md"}
    assert {row.path for row in ROWS} == on_disk
    assert len(ROWS) == 180
    assert len(JSONL_ROWS) == 140
    assert all(row.path.stat().st_size == row.size for row in ROWS)


@pytest.mark.parametrize("row", ROWS, ids=_ids(ROWS))
def test_file_loads_as_claw_loads_it(row: Row) -> None:
    loaded = _load(row)
    assert len(loaded.messages) == row.messages
    if row.legacy:
        # claw invents an id and "now" on every load; we use stem and mtime.
        assert loaded.session_id == session.file_stem(row.path.name)
        assert loaded.created_at_ms == loaded.updated_at_ms == MTIME
        return
    assert len(loaded.prompt_history) == row.records.get("ph", 0)
    assert (loaded.compaction is not None) == ("cmp" in row.records)
    inner = re.search(r"file stem != session_id \(([^)]+)\)", row.notes)
    if inner:
        assert loaded.session_id == inner.group(1) != session.file_stem(row.path.name)
    elif ".rot-" not in row.path.name:
        assert loaded.session_id == session.file_stem(row.path.name)
    if "id ms = created_at_ms+1" in row.notes:
        assert session.created_at_from_id(loaded.session_id) == loaded.created_at_ms + 1


def _lines(data: bytes) -> list[str]:
    return [line for line in data.decode("utf-8").split("\n") if line]


def test_every_record_rerenders_byte_identically() -> None:
    records = 0
    for row in ROWS:
        data = row.path.read_bytes()
        lines = [data.decode("utf-8")] if row.legacy else _lines(data)
        for line in lines:
            assert clawjson.render(clawjson.parse(line)) == line, row.path
            records += 1
    assert records == 2103


def _model_records(loaded: Session, data: bytes) -> list[tuple[str, JsonObject]]:
    """Each line of the file next to the record rendered from the loaded model."""
    messages = iter(loaded.messages)
    prompts = iter(loaded.prompt_history)
    pairs = []
    for line in _lines(data):
        kind = clawjson.parse(line)["type"]  # type: ignore[index, call-overload]
        if kind == "session_meta":
            record = meta_record(loaded)
        elif kind == "message":
            record = message_record(next(messages), sanitized=False)
        elif kind == "prompt_history":
            record = prompt_record(next(prompts), sanitized=False)
        else:
            assert loaded.compaction is not None
            record = compaction_record(loaded.compaction, sanitized=False)
        pairs.append((line, record))
    return pairs


def _without_tool_use_signatures(line: str) -> str:
    value = clawjson.parse(line)
    assert isinstance(value, dict)
    message = value.get("message")
    if isinstance(message, dict) and isinstance(message["blocks"], list):
        for block in message["blocks"]:
            if isinstance(block, dict) and block.get("type") == "tool_use":
                block.pop("signature", None)
    return clawjson.render(value)


@pytest.mark.parametrize("row", JSONL_ROWS, ids=_ids(JSONL_ROWS))
def test_records_rerender_from_the_parsed_model(row: Row) -> None:
    data = row.path.read_bytes()
    for line, record in _model_records(_load(row), data):
        rendered = clawjson.render(record)
        if rendered != line:
            # The only key claw drops: `signature` on tool_use blocks in the
            # atlastrinity/serena files (claw-store-format §3.7).
            assert "atlastrinity__claw-code/serena/" in str(row.path)
            assert rendered == _without_tool_use_signatures(line)


def test_claws_resave_changes_exactly_the_known_files() -> None:
    changed = []
    for row in JSONL_ROWS:
        if render_snapshot(_load(row)) != row.path.read_bytes():
            changed.append(row)
    # 23 files change by sanitizing or dropped keys, one more only by order.
    assert len(changed) == 24
    order_only = [
        row
        for row in changed
        if render_snapshot(_load(row), sanitized=False) != row.path.read_bytes()
        and sorted(_lines(render_snapshot(_load(row), sanitized=False)))
        == sorted(_lines(row.path.read_bytes()))
    ]
    assert {"records not in snapshot order" in row.notes for row in order_only} == {True}
    truncated = [row for row in JSONL_ROWS if "truncation marker" in row.notes]
    assert len(truncated) == 7


@pytest.mark.parametrize(
    "row", [r for r in ROWS if "fp(" in r.notes], ids=_ids([r for r in ROWS if "fp(" in r.notes])
)
def test_fingerprint_dirs_match_the_readme(row: Row) -> None:
    root = _load(row).workspace_root
    assert root is not None
    directory = row.path.parent.name
    if 'dir == fp("\\\\?\\"+workspace_root)' in row.notes:
        assert fingerprint("\\\\?\\" + root) == directory  # post-#151 Windows
        assert directory in fingerprint_candidates(root)
    elif "dir == fp(workspace_root)" in row.notes:
        assert fingerprint(root) == directory  # raw path: POSIX, or pre-#151
        assert directory in fingerprint_candidates(root)
    else:
        assert "dir != fp(workspace_root)" in row.notes
        assert directory not in fingerprint_candidates(root)


def test_readme_fingerprint_claims_cover_73_files() -> None:
    assert sum("dir == fp" in row.notes for row in ROWS) == 73


@pytest.mark.parametrize("row", ROWS, ids=_ids(ROWS))
def test_head_agrees_with_the_full_load(row: Row) -> None:
    fd = os.open(row.path, os.O_RDONLY)
    try:
        head = read_head(fd)
    finally:
        os.close(fd)
    if row.legacy:
        assert not head.meta_found
        return
    loaded = _load(row)
    assert head.meta_found
    assert (head.session_id, head.created_at_ms, head.updated_at_ms) == (
        loaded.session_id,
        loaded.created_at_ms,
        loaded.updated_at_ms,
    )
    assert (head.model, head.workspace_root) == (loaded.model, loaded.workspace_root)
    assert head.has_messages == (row.messages > 0)


def test_summaries() -> None:
    for row in ROWS:
        summary = summarize(row.path.read_bytes(), file_name=row.path.name, mtime_ms=MTIME)
        assert summary.loaded
        assert summary.message_count == row.messages
        assert summary.parent_session_id is None  # no fork in the corpus
