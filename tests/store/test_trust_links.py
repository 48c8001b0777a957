"""Issue 13, links to sessions as entries of their own (class 4), attacked
in the index alone: bounded work (SPEC §6) when many links reach one file.

Every link is an entry of its own and is loaded as itself (records.py), but
the bytes it reaches are one file: N links to one big session must not
make the index parse it N times, neither at the scan and sweep nor when the
file changes (no event names the links; refresh.py re-reads them all).
Counted at the parser (`JsonlReader.feed`), with the kept readers of
growing files (loads.py) out of play as they are for a file over
`KEPT_READER_BYTES`. On 4ad3359 the sweep fed 101 times the file for 100
links, a headless file's scan 101 times, a change to a large file as much.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from clawfs.format import session, summary
from clawfs.store import files, loads, order
from clawfs.store.index import SessionFile, StoreIndex
from clawfs.store.roots import RootKind, make_root

import storegen as sg

T0 = 1_780_000_000_000
LINKS = 100
KINDS = ["meta", "headless", "legacy"]
PARSES = 4
"""Times a file's bytes go through the parser for all its entries: one load,
one rendering of its Markdown (which feeds them twice, mdcache.py), slack."""


@pytest.fixture
def fed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Bytes fed to claw's reader (every full load goes through it)."""
    count = [0]
    feed = session.JsonlReader.feed

    def counting(self: session.JsonlReader, data: bytes) -> None:
        count[0] += len(data)
        feed(self, data)

    monkeypatch.setattr(session.JsonlReader, "feed", counting)
    monkeypatch.setattr(loads, "KEPT_READER_BYTES", 0)  # as for a file over 32 MiB
    yield count


def _target(kind: str, workspace: str) -> bytes:
    """A session of `kind`: with a meta line, without one (its id is its
    entry's name), or a legacy JSON value without an id (the same)."""
    if kind == "legacy":
        return sg.legacy_json(messages=200)
    data = sg.render(sg.make_session("target", messages=200, workspace_root=workspace,
                                     updated_at_ms=T0))
    if kind == "headless":
        data = b"\n".join(line for line in data.split(b"\n") if b'"session_meta"' not in line)
    return data


def _linked_store(tmp_path: Path, kind: str) -> tuple[StoreIndex, Path, int]:
    workspace = os.path.realpath(tmp_path / "proj")
    os.makedirs(workspace)
    root = Path(workspace) / ".claw" / "sessions"
    directory = sg.fp_dir(root, workspace)
    name = "target.json" if kind == "legacy" else "target.jsonl"
    size = len(sg.write_bytes(directory, name, _target(kind, workspace), mtime_ms=T0)
               .read_bytes())
    for n in range(LINKS):
        link = directory / f"link-{n:03}.jsonl"
        os.symlink(name, link)
        os.utime(link, ns=((T0 + n) * 1_000_000,) * 2, follow_symlinks=False)
    return StoreIndex([make_root(str(root), RootKind.WORKSPACE, 0)]), directory, size


def _ordered(index: StoreIndex, fp: str) -> list[SessionFile]:
    ws = index.workspace(fp)
    assert ws is not None
    return list(ws.ordered)


def _rows(index: StoreIndex, fp: str) -> list[tuple[str, str, int, int, int]]:
    return [(sf.name, s.session_id, s.created_at_ms, s.updated_at_ms, s.message_count)
            for sf, s in index.loaded(fp)]


@pytest.mark.parametrize("kind", KINDS)
def test_many_links_to_one_file_parse_it_once(
    tmp_path: Path, fed: list[int], kind: str
) -> None:
    index, directory, size = _linked_store(tmp_path, kind)
    index.scan()
    index.sweep()
    assert fed[0] <= PARSES * size, f"{fed[0] / size:.0f} times the file for {LINKS} links"
    fp = directory.name
    rows = _rows(index, fp)
    assert len(rows) == LINKS + 1
    named = kind != "meta"  # without an id in the file, each entry's is its own stem
    for name, session_id, _, _, count in rows:
        assert count == 200
        assert session_id == (session.file_stem(name) if named else "target")

    name = "target.json" if kind == "legacy" else "target.jsonl"
    target = directory / name
    if kind == "legacy":  # a legacy file is rewritten whole (one more message)
        sg.write_bytes(directory, name, sg.legacy_json(messages=201), mtime_ms=T0 + 500)
    else:
        sg.append_message(target, sg.text_message("one more"))
    fed[0] = 0
    index.refresh_path(str(target))
    index.sweep()
    grown = target.stat().st_size
    assert fed[0] <= PARSES * grown, f"{fed[0] / grown:.0f} times the file for {LINKS} links"
    assert {row[4] for row in _rows(index, fp)} == {201}


@pytest.mark.parametrize("kind", KINDS)
def test_entries_sharing_a_load_are_each_what_their_own_load_makes(
    tmp_path: Path, kind: str
) -> None:
    """The shared load gives each entry exactly what loading its bytes under
    its own name gives (its id, and the times that fall back on it)."""
    index, directory, _ = _linked_store(tmp_path, kind)
    index.scan()
    index.sweep()
    for sf, got in index.loaded(directory.name):
        data = Path(sf.path).read_bytes()
        alone = summary.summarize(data, file_name=sf.file_name,
                                  mtime_ms=order.mtime_ms(sf.key.mtime_ns))
        assert got == alone, sf.name


def test_a_link_changing_does_not_re_read_every_entry_reaching_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Link churn: a link touched (`touch -h`), made or removed changes no
    other entry (its file did not change; a change to the file has its own
    event, which re-reads them all). Each costs a few opens of the file,
    not one per entry reaching it: on 4ad3359, 101 each for 100 links."""
    index, directory, _ = _linked_store(tmp_path, "meta")
    index.scan()
    target = str(directory / "target.jsonl")
    opens = [0]
    open_backing = files.open_backing

    def counting(path: str) -> files.BackingFile:
        opens[0] += path == target
        return open_backing(path)

    monkeypatch.setattr(files, "open_backing", counting)
    fp = directory.name
    link = directory / "link-050.jsonl"
    os.utime(link, ns=((T0 - 1) * 1_000_000,) * 2, follow_symlinks=False)
    assert index.refresh_path(str(link)) == {fp}
    made = directory / "made.jsonl"
    os.symlink("target.jsonl", made)
    assert index.refresh_path(str(made)) == {fp}
    made.unlink()
    assert index.refresh_path(str(made)) == {fp}
    assert opens[0] <= 3 * 2, f"{opens[0]} opens of the file for three changes of links"
    fresh = StoreIndex(index.roots)
    fresh.scan()
    assert [(sf.name, sf.mtime_ms) for sf in _ordered(index, fp)] == [
        (sf.name, sf.mtime_ms) for sf in _ordered(fresh, fp)]

    opens[0] = 0
    sg.append_message(directory / "target.jsonl", sg.text_message("one more"))
    index.refresh_path(target)
    assert opens[0] >= LINKS  # the file changed: every entry reaching it is read again
    assert {sf.key for sf in _ordered(index, fp)} == {files.file_key(os.stat(target))}


def test_a_link_through_a_missing_directory_leads_to_nothing(tmp_path: Path) -> None:
    """`dots.jsonl -> missing/../target.jsonl`: the kernel fails at `missing`,
    so claw lists it as a session that fails to load (claw-oracle: id dots,
    0 messages, "No such file or directory (os error 2)"); realpath took
    `missing/..` for nothing and the index listed the target's session."""
    index, directory, _ = _linked_store(tmp_path, "meta")
    os.symlink("missing/../target.jsonl", directory / "dots.jsonl")
    index.scan()
    dots = index.file(directory.name, "dots.jsonl")
    assert dots is not None and dots.not_a_file
    summary_now = index.cached_load(dots)
    assert summary_now is not None
    assert (summary_now.session_id, summary_now.message_count, summary_now.error) == (
        "dots", 0, "No such file or directory (os error 2)")


def test_a_link_to_a_directory_is_listed_as_claw_lists_it(tmp_path: Path) -> None:
    """`dirlink.jsonl -> adir` (a directory inside the store): claw lists every
    entry and fails to load this one (claw-oracle: id dirlink, 0 messages,
    "Is a directory (os error 21)", at the link's own mtime), as a directory
    named like a session; it is no file of the mount. Made while mounted,
    it shows the same."""
    index, directory, _ = _linked_store(tmp_path, "meta")
    (directory / "adir").mkdir()
    os.symlink("adir", directory / "dirlink.jsonl")
    os.utime(directory / "dirlink.jsonl", ns=((T0 + 500) * 1_000_000,) * 2,
             follow_symlinks=False)
    index.scan()
    for _ in range(2):
        link = index.file(directory.name, "dirlink.jsonl")
        assert link is not None and link.not_a_file and link.mtime_ms == T0 + 500
        loaded = index.cached_load(link)
        assert loaded is not None
        assert (loaded.session_id, loaded.message_count, loaded.error) == (
            "dirlink", 0, "Is a directory (os error 21)")
        (directory / "dirlink.jsonl").unlink()
        assert index.refresh_path(str(directory / "dirlink.jsonl")) == {directory.name}
        assert index.file(directory.name, "dirlink.jsonl") is None
        os.symlink("adir", directory / "dirlink.jsonl")
        os.utime(directory / "dirlink.jsonl", ns=((T0 + 500) * 1_000_000,) * 2,
                 follow_symlinks=False)
        assert index.refresh_path(str(directory / "dirlink.jsonl")) == {directory.name}


def test_the_loads_kept_for_other_entries_are_bounded_by_their_text(
    tmp_path: Path, fed: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A load kept for the other entries reaching its file holds its text
    (a recorded root may be a line long, and a file removed leaves its load
    behind): past DONE_BYTES the oldest go, and are read again if asked."""
    monkeypatch.setattr(loads, "DONE_BYTES", 250_000)
    cache = loads.LoadCache(threading.RLock(), lambda path, problem: None)
    made = []
    for n in range(5):
        name = f"s{n}.jsonl"
        sg.write_session(tmp_path, sg.make_session(f"s{n}", workspace_root="/" + "r" * 100_000))
        made.append(str(tmp_path / name))
        assert cache.load(made[-1], name) is not None
    fed[0] = 0
    assert cache.load(made[-1], "alias.jsonl") is not None
    assert fed[0] == 0  # the newest: shared
    assert cache.load(made[0], "alias.jsonl") is not None
    assert fed[0] > 0  # the oldest was let go


def test_a_load_is_kept_for_other_entries_only_where_there_are_some(
    tmp_path: Path, fed: list[int]
) -> None:
    """A file one entry reaches keeps its load with that entry's record: a
    sweep leaves none in the load cache (at 100,000 files its last 4,096
    loads held ~4 MB there for nobody). A load not kept is read again if
    another entry asks, and gives what a kept one gives."""
    cache = loads.LoadCache(threading.RLock(), lambda path, problem: None)
    sg.write_session(tmp_path, sg.make_session("s1", workspace_root="/ws"))
    path = str(tmp_path / "s1.jsonl")
    alone = cache.load(path, "s1.jsonl", for_others=False)
    fed[0] = 0
    again = cache.load(path, "alias.jsonl")
    assert fed[0] > 0  # nothing was kept: read again
    assert alone is not None and again is not None
    fed[0] = 0
    shared = cache.load(path, "alias.jsonl")
    assert fed[0] == 0  # kept for others: not read again
    assert shared is not None and shared.summary == again.summary
    fresh = cache.load(path, "s1.jsonl", for_others=False)
    assert fresh is not None and fresh.summary == alone.summary
