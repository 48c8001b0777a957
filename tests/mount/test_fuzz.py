"""Issue 9, parser fuzzing beyond tests/test_session_fuzz.py: the pieces the
index really uses. tests/test_session_fuzz.py checks that random and mutated
corpus bytes only ever raise LoadError and re-render stably, and that a
two-piece `JsonlReader`, `summarize` and `parse_head` never raise. Here:

* the index's count-only reader (`keep_messages=False`), fed in many random
  pieces, agrees with `load` on whether a file loads and on its count, id
  and times, and `summarize` agrees with `summary_of(load(...))`;
* `parse_head` of any prefix (a head window cuts lines anywhere) never
  raises, and `read_head` on a file says what `parse_head` says;
* the whole store pipeline over damaged files (scan, latest, lineage,
  xattrs, index.tsv, the fork control file) never raises anything but the
  view's own errors, and never hides the good session beside them.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clawfs.format import summary
from clawfs.format.head import parse_head, read_head
from clawfs.format.session import JsonlReader, LoadError, Session, load
from clawfs.mount import control, render
from clawfs.mount.errors import RequestError
from clawfs.mount.view import EntryKind, View
from clawfs.store.index import StoreIndex
from clawfs.store.roots import RootKind, make_root

import storegen as sg
from strategies import MTIME, inputs

NAME = "session-1700000000000-1.jsonl"
WORKSPACE = "/srv/fuzzed"


def _load(data: bytes) -> Session | None:
    try:
        return load(data, file_name=NAME, mtime_ms=MTIME)
    except LoadError:
        return None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inputs, st.lists(st.integers(0, 400), max_size=8))
def test_count_only_reader_in_pieces_agrees_with_load(data: bytes, cuts: list[int]) -> None:
    reader = JsonlReader(keep_messages=False)
    at = 0
    for cut in sorted(c for c in cuts if c <= len(data)):
        reader.feed(data[at:cut])
        at = cut
    reader.feed(data[at:])
    try:
        counted: Session | None = reader.finish(NAME, MTIME)
    except LoadError:
        counted = None
    full = _load(data)
    assert (counted is None) == (full is None)
    if counted is not None and full is not None:
        assert len(counted.messages) == len(full.messages)
        assert (counted.session_id, counted.created_at_ms, counted.updated_at_ms) == (
            full.session_id, full.created_at_ms, full.updated_at_ms)
        assert counted.fork == full.fork
    listed = summary.summarize(data, file_name=NAME, mtime_ms=MTIME)
    if full is not None:
        assert listed == summary.summary_of(full)
    else:
        assert listed.message_count == 0 and listed.error is not None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inputs, st.data())
def test_head_of_any_prefix_never_raises(data: bytes, draw: st.DataObject) -> None:
    prefix = data[: draw.draw(st.integers(0, len(data)))]
    head = parse_head(prefix)
    if head.meta_found:
        assert head.session_id is not None and head.updated_at_ms is not None
    fd, path = tempfile.mkstemp()
    try:
        os.write(fd, prefix)
        assert read_head(fd) == head
    finally:
        os.close(fd)
        os.unlink(path)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(inputs, min_size=1, max_size=3))
def test_store_pipeline_over_damaged_files(tmp_path: Path, damaged: list[bytes]) -> None:
    root = Path(tempfile.mkdtemp(dir=tmp_path))
    directory = sg.fp_dir(root, WORKSPACE)
    good = sg.write_session(directory, sg.make_session("session-1-0", workspace_root=WORKSPACE),
                            mtime_ms=1)
    for n, data in enumerate(damaged):
        sg.write_bytes(directory, f"fuzz-{n}.jsonl", data, mtime_ms=MTIME)
    index = StoreIndex([make_root(str(root), RootKind.STORE, 0)])
    index.scan()
    index.sweep()
    view = View(index)
    ws = view.resolve(("sessions", directory.name))
    assert ws is not None
    names = [entry.name for entry in view.entries(ws)]
    assert good.name in names and all(f"fuzz-{n}.jsonl" in names for n in range(len(damaged)))
    assert index.latest(directory.name) is not None  # the good one, or a loadable fuzz file
    index.global_latest()
    for entry in view.entries(ws):
        if entry.kind is EntryKind.TRANSCRIPT:
            assert "user.claw.message_count" in render.xattrs(index, entry)
    tsv = render.generate(index, view.resolve(("sessions", directory.name, "index.tsv")) or ws)
    assert len(tsv.splitlines()) == 1 + 1 + len(damaged)
    forks_dir = view.resolve(("sessions", directory.name, "forks"))
    assert forks_dir is not None
    for top in view.entries(forks_dir):
        view.entries(top)
    fork_file = view.resolve(("sessions", directory.name, "fork"))
    assert fork_file is not None
    try:
        control.fork(index, fork_file, b"fuzz\n")
    except RequestError as e:
        assert e.errno == errno.ENOENT, e
