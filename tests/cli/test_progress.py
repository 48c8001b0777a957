"""The first index's progress (cli/progress.py): on a terminal, sessions
indexed of how many once it has been slow, a line when ready; the log gets
the figures; a quick mount says nothing."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest

from clawfs.cli import progress
from clawfs.cli.progress import Progress, counted
from clawfs.store.index import StoreIndex, Tally
from clawfs.store.roots import Root, RootKind, make_root

import storegen as sg


def test_counts_read_as_english() -> None:
    assert counted(1, "session") == "1 session"
    assert counted(0, "workspace") == "0 workspaces"
    assert counted(100262, "session") == "100,262 sessions"


def store(tmp_path: Path, sessions: int = 12) -> list[Root]:
    d = sg.fp_dir(tmp_path / "store", str(tmp_path))
    for n in range(sessions):
        sg.write_session(d, sg.make_session(f"s{n}"))
    (d / "notes.txt").write_text("not a session")
    return [make_root(str(tmp_path / "store"), RootKind.STORE, 0)]


def test_a_slow_index_shows_how_far_it_got_and_when_it_is_ready(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    roots = store(tmp_path)
    terminal = io.StringIO()
    shown = Progress(roots, terminal)
    assert shown.total == 12  # counted first, on a terminal
    monkeypatch.setattr(progress, "SHOW_AFTER", 0.0)
    monkeypatch.setattr(progress, "LOG_EVERY", 0.0)
    shown.update(Tally(listed=5, read=5))
    with caplog.at_level(logging.INFO, logger="clawfs"):
        shown._tick(0, None)
    assert terminal.getvalue() == "\rclawfs: indexing: 5 of 12 sessions\x1b[K"
    assert "still indexing: 5 of 12 sessions so far" in caplog.text
    index = StoreIndex(roots)
    with shown.ticking():
        index.scan(shown.update)
    assert shown.tally.listed == 12 and terminal.getvalue().endswith("\r\x1b[K")  # cleared
    assert shown.ready_line("/mnt", 1) == (
        f"clawfs: serving /mnt: 12 sessions in 1 workspace, indexed in {shown.seconds:.1f} s")


def test_a_quick_index_says_nothing_and_off_a_terminal_counts_nothing(tmp_path: Path) -> None:
    roots = store(tmp_path)
    quick = Progress(roots, io.StringIO())
    quick.update(Tally(listed=12))
    quick._tick(0, None)  # well within SHOW_AFTER
    assert quick.ready_line("/mnt", 1) is None
    assert Progress(roots, None).total is None
    assert progress.terminal_of(io.StringIO()) is None
