"""Property tests: arbitrary and damaged input never breaks the loader.

Whatever the bytes, `load` either returns a session or raises LoadError,
and an accepted session re-renders stably.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clawfs.head import parse_head
from clawfs.session import JsonlReader, LoadError, Session, load
from clawfs.snapshot import render_snapshot
from clawfs.summary import summarize

CORPUS = Path(__file__).parents[1].parent / "shared" / "corpus"
MTIME = 1_700_000_000_000


def _corpus_lines() -> list[bytes]:
    lines: list[bytes] = []
    for path in sorted(CORPUS.rglob("*.jsonl")):
        lines.extend(line for line in path.read_bytes().split(b"\n") if 0 < len(line) < 4000)
    return lines


LINES = _corpus_lines()


@st.composite
def damaged_files(draw: st.DrawFn) -> bytes:
    picked = draw(st.lists(st.sampled_from(LINES), min_size=0, max_size=6))
    data = bytearray(b"\n".join(picked) + draw(st.sampled_from([b"", b"\n", b"\r\n"])))
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["insert", "delete", "replace", "truncate"]))
        if action == "truncate":
            del data[at:]
            continue
        noise = draw(
            st.sampled_from(
                [b'"', b"\\", b"{", b"}", b"]", b",", b"0", b"1.5", b"\\ud83d", b"\xff", b"\n"]
            )
            | st.binary(max_size=3)
        )
        if action == "insert":
            data[at:at] = noise
        elif action == "delete":
            del data[at : at + len(noise)]
        else:
            data[at : at + len(noise)] = noise
    return bytes(data)


inputs = st.one_of(st.binary(max_size=300), damaged_files())


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
