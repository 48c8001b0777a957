"""Property tests: arbitrary and damaged input never breaks the loader.

Whatever the bytes, `load` either returns a session or raises LoadError,
and an accepted session re-renders stably.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clawfs.format.head import parse_head
from clawfs.format.session import JsonlReader, LoadError, Session, load
from clawfs.format.snapshot import render_snapshot
from clawfs.format.summary import summarize

from strategies import MTIME, inputs


def _load(data: bytes) -> Session | None:
    try:
        return load(data, file_name="session-1700000000000-1.jsonl", mtime_ms=MTIME)
    except LoadError:
        return None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inputs)
def test_only_load_error_and_stable_rendering(data: bytes) -> None:
    loaded = _load(data)
    if loaded is None:
        return
    once = render_snapshot(loaded, sanitized=False)
    again = _load(once)
    assert again == loaded
    assert render_snapshot(again, sanitized=False) == once
    assert _load(render_snapshot(loaded)) is not None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inputs, st.data())
def test_pieces_head_and_summary_never_raise(data: bytes, draw: st.DataObject) -> None:
    cut = draw.draw(st.integers(0, len(data)))
    reader = JsonlReader()
    reader.feed(data[:cut])
    reader.feed(data[cut:])
    try:
        pieces: Session | None = reader.finish("session-1700000000000-1.jsonl", MTIME)
    except LoadError:
        pieces = None
    assert pieces == _load(data)
    summary = summarize(data, file_name="session-1700000000000-1.jsonl", mtime_ms=MTIME)
    assert summary.loaded == (pieces is not None)
    head = parse_head(data)
    if head.meta_found:
        assert head.session_id is not None
