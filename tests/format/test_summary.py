"""claw's list entry for a file (summary.py): one path for whole bytes and the index."""

from __future__ import annotations

from pathlib import Path

from clawfs.format import summary
from clawfs.format.session import LoadError
from clawfs.store.index import StoreIndex
from clawfs.store.roots import RootKind, make_root

NAME = "session-1700000000000-1.jsonl"
BAD = b'{"type":"message","message":{"role":"x"}}\n'


def test_summarize_and_the_index_share_the_failed_entry(tmp_path: Path) -> None:
    listed = summary.summarize(BAD, file_name=NAME, mtime_ms=5)
    assert listed.error is not None
    assert listed == summary.failed(NAME, LoadError(listed.error))
    assert listed.created_at_ms == 1_700_000_000_000 and listed.message_count == 0
    directory = tmp_path / "root" / ("0" * 16)
    directory.mkdir(parents=True)
    (directory / NAME).write_bytes(BAD)
    index = StoreIndex([make_root(str(tmp_path / "root"), RootKind.STORE, 0)])
    index.scan()
    sf = index.file("0" * 16, NAME)
    assert sf is not None and index.load(sf) == listed


def test_failed_names_fall_back_as_claw_does() -> None:
    assert summary.failed("notes.txt", LoadError("x")).session_id == "unknown"
    assert summary.failed("a.json", LoadError("x")).session_id == "a"
