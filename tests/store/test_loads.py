"""The load cache: per-version loads, extended when a file only grew."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from clawfs.store import files
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
    cache.store(first.path, first.key, first.summary)
    opens: list[str] = []
    real_open = os.open

    def counting(file: str, flags: int, *args: int) -> int:
        opens.append(file)
        return real_open(file, flags, *args)

    monkeypatch.setattr(os, "open", counting)
    sg.append_message(path, sg.text_message("more"))
    grown = cache.load(str(path), path.name)
    assert grown is not None and grown.summary.message_count == 3
    assert len(opens) == 1  # the check bytes come from the fd the load has
    cache.store(grown.path, grown.key, grown.summary)
    sg.append_message(path, sg.text_message("again"))
    again = cache.load(str(path), path.name)
    assert again is not None and again.summary.message_count == 4
    assert again.head is None  # extended from the old end, not read from the start


def test_cached_is_per_version(tmp_path: Path) -> None:
    path = sg.write_session(tmp_path, sg.make_session("session-1-0", messages=1))
    cache = _cache()
    loaded = cache.load(str(path), path.name)
    assert loaded is not None and cache.cached(str(path), loaded.key) is None
    cache.store(loaded.path, loaded.key, loaded.summary)
    assert cache.cached(str(path), loaded.key) == loaded.summary
    sg.append_message(path, sg.text_message("more"))
    assert cache.load(str(path), path.name) is not None
    assert cache.cached(str(path), files.file_key(os.stat(path))) is None


def test_a_file_claw_cannot_load_is_reported(tmp_path: Path) -> None:
    problems: list[str] = []
    path = sg.write_bytes(tmp_path, "session-1-0.jsonl", b"{not json\n")
    loaded = _cache(problems).load(str(path), path.name)
    assert loaded is not None and loaded.summary.error is not None
    assert len(problems) == 1 and problems[0].startswith("claw cannot load it")
    assert _cache().load(str(tmp_path / "gone.jsonl"), "gone.jsonl") is None
