"""What one check of a file may cost (store/budget.py, SPEC §6), and what
each reader of whole files does beyond it: the loads, the Markdown view,
the fork writer. The caps are made small here (monkeypatched), so the
files stay small; the real 300 MB cases are tests/store/test_trust_bounded.py
and tests/e2e/test_trust_bounded.py.
"""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import pytest

from clawfs.store import budget, forkwriter, mdcache
from clawfs.store.budget import Budget
from clawfs.store.loads import LoadCache

import storegen as sg


@pytest.fixture
def small_caps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(budget, "FILE_BYTES", 64 << 10)
    monkeypatch.setattr(budget, "LINE_BYTES", 8 << 10)
    monkeypatch.setattr(budget, "LINES", 1000)


def test_the_budget_counts_lines_and_the_longest_one(small_caps: None) -> None:
    cost = Budget(1000)
    assert cost.take(b"x" * 4000 + b"\n" + b"y" * 3000) is None
    assert cost.take(b"y" * 5000) is None and cost.run == 8000
    assert cost.take(b"y" * 200) == "a line longer than 8 KiB"
    inside = Budget()  # a long line within one chunk, between two newlines
    assert inside.take(b"\n" + b"x" * (9 << 10) + b"\n") == "a line longer than 8 KiB"
    crossing = Budget()
    assert crossing.take(b"x" * (5 << 10)) is None
    assert crossing.take(b"x" * (4 << 10) + b"\nshort\n") == "a line longer than 8 KiB"
    lines = Budget()
    assert lines.take(b"\n" * 1000) is None
    assert lines.take(b"\n") is not None and "lines" in (lines.reason or "")
    assert Budget(65 << 10).reason is not None  # over the file cap: nothing to read


def test_what_is_small_is_never_scanned(small_caps: None, tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"\n" * 999)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert budget.affordable(fd, 999) is None
        assert budget.affordable(fd, 100 << 10) is not None  # the size alone says no
    finally:
        os.close(fd)


def _loads() -> tuple[LoadCache, list[tuple[str, str]]]:
    reported: list[tuple[str, str]] = []
    return LoadCache(threading.RLock(), lambda p, m: reported.append((p, m))), reported


@pytest.mark.parametrize("kind", ["long line", "many lines", "big file"])
def test_a_load_beyond_the_caps_says_clawfs_cannot_tell(
    small_caps: None, tmp_path: Path, kind: str
) -> None:
    good = sg.render(sg.make_session("z", messages=2))
    bad = {
        "long line": good + b"x" * (16 << 10) + b"\n",
        "many lines": good + b"\n" * 2000,
        "big file": good + (b"{}\n" * (30 << 10)),
    }[kind]
    path = sg.write_bytes(tmp_path, "z.jsonl", bad)
    loads, reported = _loads()
    loaded = loads.load(str(path), "z.jsonl")
    assert loaded is not None
    assert loaded.summary.message_count == 0 and loaded.summary.session_id == "z"
    assert (loaded.summary.error or "").startswith("clawfs cannot tell what claw makes of it")
    assert reported and reported[0][0] == str(path)
    fine = sg.write_bytes(tmp_path, "fine.jsonl", good)
    again = loads.load(str(fine), "fine.jsonl")
    assert again is not None and again.summary.error is None and again.summary.message_count == 2


def test_a_growing_file_keeps_counting_where_it_was(small_caps: None, tmp_path: Path) -> None:
    """A kept reader goes on from the old end: its line count goes on too."""
    path = sg.write_bytes(tmp_path, "g.jsonl", sg.render(sg.make_session("g", messages=1)))
    loads, _ = _loads()
    first = loads.load(str(path), "g.jsonl")
    assert first is not None and first.summary.error is None
    with open(path, "ab") as f:
        f.write(b"\n" * 600)
    second = loads.load(str(path), "g.jsonl", first.key)
    assert second is not None and second.summary.error is None
    with open(path, "ab") as f:
        f.write(b"\n" * 600)
    third = loads.load(str(path), "g.jsonl", second.key)
    assert third is not None and "lines" in (third.summary.error or "")


def test_the_markdown_of_what_cannot_be_afforded_is_a_note(
    small_caps: None, tmp_path: Path
) -> None:
    path = sg.write_bytes(tmp_path, "z.jsonl", sg.render(sg.make_session("z", messages=2))
                          + b"x" * (16 << 10))
    cache = mdcache.MarkdownCache()
    measured = cache.measure(str(path))
    assert measured is not None
    key, rendered = measured
    note = mdcache.unrendered(str(path), "a line longer than 8 KiB")
    assert rendered.size == len(note) and rendered.title == ""
    assert b"clawfs does not render this session" in note
    fd = os.open(path, os.O_RDONLY)
    try:
        assert cache.read(fd, key, str(path), 0, 1 << 20) == note
        assert cache.read(fd, key, str(path), 5, 10) == note[5:15]
    finally:
        os.close(fd)
    assert cache.read_cached(key, str(path), 0, 1 << 20) == note
    assert cache.title(str(path)) == ""


def test_a_fork_of_what_cannot_be_afforded_is_efbig_and_writes_nothing(
    small_caps: None, tmp_path: Path
) -> None:
    d = tmp_path / "d"
    parent = sg.write_bytes(d, "p.jsonl", sg.render(sg.make_session("p", messages=1))
                            + b"\n" * 2000)
    with pytest.raises(OSError) as refused:
        forkwriter.write_fork(str(parent), str(d), "b")
    assert refused.value.errno == errno.EFBIG
    assert os.listdir(d) == ["p.jsonl"]
