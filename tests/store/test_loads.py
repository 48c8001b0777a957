"""The load cache: per-version loads, extended when a file only grew."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from clawfs.store.loads import LoadCache

import storegen as sg


def _cache(problems: list[str] | None = None) -> LoadCache:
    told = [] if problems is None else problems
    return LoadCache(threading.RLock(), lambda path, problem: told.append(problem))


def test_a_grown_file_is_extended_with_one_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = sg.write_session(tmp_path, sg.make_session("session-1-0", messages=2))
    cache = _cache()
    first = cache.load(str(path), path.name)
    assert first is not None and first.summary.message_count == 2
    opens: list[str] = []
    real_open = os.open

    def counting(file: str, flags: int, *args: int) -> int:
        opens.append(file)
        return real_open(file, flags, *args)

    monkeypatch.setattr(os, "open", counting)
    sg.append_message(path, sg.text_message("more"))
    grown = cache.load(str(path), path.name, loaded_before=first.key)
    assert grown is not None and grown.summary.message_count == 3
    assert len(opens) == 1  # the check bytes come from the fd the load has
    sg.append_message(path, sg.text_message("again"))
    again = cache.load(str(path), path.name, loaded_before=grown.key)
    assert again is not None and again.summary.message_count == 4
    assert again.head is None  # extended from the old end, not read from the start


def test_a_file_never_loaded_before_keeps_no_reader(tmp_path: Path) -> None:
    """Only a file loaded again is one that grows: the sweep's first load
    of every file keeps nothing."""
    path = sg.write_session(tmp_path, sg.make_session("session-1-0", messages=1))
    cache = _cache()
    first = cache.load(str(path), path.name)
    assert first is not None and first.head is not None
    sg.append_message(path, sg.text_message("more"))
    again = cache.load(str(path), path.name)
    assert again is not None and again.head is not None  # read from the start
    assert again.summary.message_count == 2


def test_a_file_claw_cannot_load_is_reported(tmp_path: Path) -> None:
    problems: list[str] = []
    path = sg.write_bytes(tmp_path, "session-1-0.jsonl", b"{not json\n")
    loaded = _cache(problems).load(str(path), path.name)
    assert loaded is not None and loaded.summary.error is not None
    assert len(problems) == 1 and problems[0].startswith("claw cannot load it")
    assert _cache().load(str(tmp_path / "gone.jsonl"), "gone.jsonl") is None
