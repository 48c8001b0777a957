"""index.tsv and the user.claw.* xattrs, rendered from the index without a mount."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from clawfs.format.summary import Summary
from clawfs.mount import render
from clawfs.mount.errors import RequestError
from clawfs.mount.view import Entry, EntryKind, View
from clawfs.store.index import StoreIndex
from clawfs.store.roots import RootKind, make_root

import storegen as sg

T0 = 1_760_000_000_000


def _at(view: View, *key: str) -> Entry:
    return view.resolve(key) or pytest.fail(f"nothing at {key}")


def test_xattrs(project: tuple[View, str, Path]) -> None:
    view, fp, d = project
    attrs = render.xattrs(view.index, _at(view, "sessions", fp, "session-2-0.jsonl"))
    assert attrs == {
        "user.claw.session_id": b"session-2-0",
        "user.claw.parent_session_id": b"session-1-0",
        "user.claw.branch_name": b"b",
        "user.claw.message_count": b"1",
        "user.claw.created_at_ms": b"1700000000000",
        "user.claw.updated_at_ms": str(T0 + 1).encode(),
        "user.claw.workspace_root": os.fsencode(os.path.realpath(d.parent.parent / "myproj")),
        "user.claw.path": os.fsencode(d / "session-2-0.jsonl"),
        "user.claw.title": b"message 0 of session-2-0",
    }
    md = _at(view, "sessions", fp, "session-2-0.md")
    assert render.xattrs(view.index, md) == attrs  # the path is still the backing JSONL
    assert render.cached_xattrs(view.index, md) == attrs
    first = render.xattrs(view.index, _at(view, "sessions", fp, "session-1-0.jsonl"))
    assert first["user.claw.model"] == b"m1" and "user.claw.parent_session_id" not in first
    broken = render.xattrs(view.index, _at(view, "sessions", fp, "broken.jsonl"))
    assert broken["user.claw.session_id"] == b"broken"
    assert broken["user.claw.message_count"] == b"0"
    for other in [("sessions", fp), ("sessions", fp, "fork"), ("sessions", fp, "latest")]:
        assert render.xattrs(view.index, _at(view, *other)) == {}
        assert render.cached_xattrs(view.index, _at(view, *other)) == {}


def test_xattrs_of_a_file_gone_since_are_estale(project: tuple[View, str, Path]) -> None:
    view, fp, d = project
    entry = _at(view, "sessions", fp, "session-1-0.jsonl")
    os.unlink(d / "session-1-0.jsonl")  # the index has not seen it yet
    with pytest.raises(RequestError) as failed:
        render.xattrs(view.index, entry)
    assert failed.value.errno == errno.ESTALE


def test_index_tsv(project: tuple[View, str, Path]) -> None:
    view, fp, d = project
    text = render.generate(view.index, _at(view, "sessions", fp, "index.tsv")).decode()
    lines = text.split("\n")
    assert lines[-1] == ""
    assert lines[0].split("\t") == list(render.INDEX_COLUMNS) == [
        "file", "session_id", "created_at_ms", "updated_at_ms", "message_count",
        "parent_session_id", "branch_name", "model", "workspace_root", "path", "status",
        "title",
    ]
    rows = [line.split("\t") for line in lines[1:-1]]
    assert [r[0] for r in rows] == [
        "session-4-0.jsonl", "session-3-0.jsonl", "session-2-0.jsonl", "session-1-0.jsonl",
        "broken.jsonl",
    ]
    assert all(len(r) == 12 for r in rows)
    assert rows[0][8] == "/x\\ty\\nz\\\\w" and rows[0][10] == "foreign"
    assert rows[2][1:7] == ["session-2-0", "1700000000000", str(T0 + 1), "1", "session-1-0", "b"]
    assert rows[2][7] == "" and rows[2][10] == "ok"
    assert rows[2][9] == str(d / "session-2-0.jsonl")
    assert rows[4][1:5] == ["broken", "0", "0", "0"] and rows[4][10].startswith("error: ")
    assert [r[11] for r in rows] == [
        "message 0 of session-4-0", "session-3-0", "message 0 of session-2-0",
        "message 0 of session-1-0", "broken",
    ]


def test_only_index_tsv_is_generated(project: tuple[View, str, Path]) -> None:
    view, fp, _ = project
    for key in [("sessions", fp, "fork"), ("sessions", fp, "session-1-0.jsonl")]:
        with pytest.raises(RequestError) as failed:
            render.generate(view.index, _at(view, *key))
        assert failed.value.errno == errno.EINVAL
    elsewhere = Entry(("index.tsv",), EntryKind.GENERATED, "index.tsv")
    with pytest.raises(RequestError):
        render.generate(view.index, elsewhere)


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        (None, ""),
        (0, "0"),
        ("plain", "plain"),
        ("a\tb", "a\\tb"),
        ("a\nb", "a\\nb"),
        ("a\\tb", "a\\\\tb"),  # a backslash is escaped first, so this stays two characters
        ("é\udcff", "é\udcff"),  # not UTF-8 on disk: kept, encoded back by surrogateescape
    ],
)
def test_cells_are_escaped(value: str | int | None, cell: str) -> None:
    assert render._escape(value) == cell


@pytest.mark.parametrize(
    "value",
    [
        "m" * 100_000,
        "é" * 10_000,  # two bytes each: never cut inside one
        "\\" * 10_000,  # escapes of two characters: never cut inside one
        "a\t" * 5000,
        "x" * 4000 + "\udcff" * 500,  # bytes that are not UTF-8, kept as such
    ],
)
def test_a_long_cell_is_cut_with_a_marker(value: str) -> None:
    cell = render._escape(value)
    data = cell.encode("utf-8", "surrogateescape")
    assert len(data) <= render.CELL_MAX and cell.endswith(render.CUT)
    kept = cell[: -len(render.CUT)]
    assert render._escape(value).startswith(kept)
    assert (len(kept) - len(kept.rstrip("\\"))) % 2 == 0  # no escape cut in half
    full = value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
    assert full.startswith(kept) and len(kept.encode("utf-8", "surrogateescape")) > 4000


def test_cells_that_fit_are_not_cut() -> None:
    fits = "é" * (render.CELL_MAX // 2)  # exactly CELL_MAX bytes
    assert render._escape(fits) == fits
    assert render.CUT not in render._escape("a\\" * 100)


def test_an_xattr_over_the_kernel_limit_is_left_out(tmp_path: Path) -> None:
    directory = sg.fp_dir(tmp_path / "root", "/srv/caps")
    for sid, model in (("fits", "m" * render.XATTR_MAX), ("over", "m" * (render.XATTR_MAX + 1))):
        sg.write_session(directory, sg.make_session(sid, messages=1, model=model))
    index = StoreIndex([make_root(str(tmp_path / "root"), RootKind.STORE, 0)])
    index.scan()
    fp = directory.name
    fits = render.xattrs(index, Entry(("sessions", fp, "fits.jsonl"), EntryKind.TRANSCRIPT,
                                      "fits.jsonl"))
    over = render.xattrs(index, Entry(("sessions", fp, "over.jsonl"), EntryKind.TRANSCRIPT,
                                      "over.jsonl"))
    assert len(fits["user.claw.model"]) == render.XATTR_MAX
    assert "user.claw.model" not in over and over["user.claw.session_id"] == b"over"


def test_status_column(project: tuple[View, str, Path]) -> None:
    view, fp, _ = project
    sf = view.index.file(fp, "session-1-0.jsonl") or pytest.fail()
    loaded = Summary("s", 1, 2, 3)
    assert render._row(sf, loaded, "t")[-2] == "ok"
    assert render._row(sf, Summary("s", 1, 2, 3, error="bad line"), "t")[-2] == "error: bad line"
    foreign = view.index.file(fp, "session-4-0.jsonl") or pytest.fail()
    assert not foreign.belongs and render._row(foreign, loaded, "t")[-2] == "foreign"
    assert len(render._row(sf, loaded, "t")) == len(render.INDEX_COLUMNS)


def test_path_xattr_needs_no_parse(
    project: tuple[View, str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index's cached full load is the witness: none before, then one, kept."""
    view, fp, d = project
    index = view.index
    entry = _at(view, "sessions", fp, "session-2-0.jsonl")
    sf = index.file(fp, "session-2-0.jsonl") or pytest.fail()
    path = str(d / "session-2-0.jsonl")
    assert render.xattr(index, entry, render.PATH_XATTR) == path.encode()
    assert index.cached_load(sf) is None  # nothing was loaded
    assert render.cached_xattrs(index, entry) is None  # not parsed yet: the caller must hop
    assert render.xattr(index, entry, "user.claw.message_count") == b"1"
    loaded = index.cached_load(sf)
    assert loaded is not None
    monkeypatch.setattr(index._loads, "load", lambda *_, **__: pytest.fail("loaded again"))
    cached = render.cached_xattrs(index, entry)
    assert cached is not None and cached == render.xattrs(index, entry)
    assert render.xattr(index, entry, "user.claw.nope") is None
    assert index.cached_load(sf) == loaded  # answered from that one load
    assert render.xattr(index, _at(view, "sessions", fp), render.PATH_XATTR) is None


def test_a_new_version_is_parsed_again(project: tuple[View, str, Path]) -> None:
    """cached_xattrs answers for the version the index knows, not an older parse."""
    view, fp, d = project
    entry = _at(view, "sessions", fp, "session-2-0.jsonl")
    assert render.xattrs(view.index, entry)["user.claw.message_count"] == b"1"
    sg.append_message(d / "session-2-0.jsonl", sg.text_message("more"))
    view.index.refresh_path(str(d / "session-2-0.jsonl"))
    assert render.cached_xattrs(view.index, entry) is None
    assert render.xattrs(view.index, entry)["user.claw.message_count"] == b"2"
