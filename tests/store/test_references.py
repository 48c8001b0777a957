"""store/references.py: claw's reading of a session reference (session_control.rs 102-159)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from clawfs.store import references
from clawfs.store.index import StoreIndex
from clawfs.store.roots import RootKind, make_root

import storegen as sg


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        # Rust's `Path::extension().is_some() || components().count() > 1`
        ("session-1-0", False), ("s.jsonl", True), ("x.", True), (".hidden", False),
        ("..", False), (".", False), ("./", False), ("x/", False), ("a/b", True),
        ("./x", True), ("a/./b", True), ("/x", True), ("a//b", True), ("", False),
    ],
)
def test_looks_like_path(reference: str, expected: bool) -> None:
    assert references.looks_like_path(reference) is expected


def test_aliases_are_ascii_case_insensitive() -> None:
    assert all(map(references.is_alias, ["latest", "LAST", "Recent"]))
    assert not any(map(references.is_alias, ["latest ", "newest", "la\u0307test", "ｌａｓｔ"]))


def test_a_path_wins_over_an_id_and_an_id_looks_in_every_workspace(tmp_path: Path) -> None:
    here = Path(os.path.realpath(tmp_path / "here"))
    here.mkdir()
    root = tmp_path / "root"
    mine = sg.fp_dir(root, str(here))
    other = sg.fp_dir(root, "/elsewhere")
    sg.write_session(mine, sg.make_session("s-mine", workspace_root=str(here)))
    sg.write_session(other, sg.make_session("s-other", workspace_root="/elsewhere"))
    sg.write_bytes(other, "s-mine.json", b"")
    index = StoreIndex([make_root(str(root), RootKind.STORE, 0)])
    index.scan()
    found = references.resolve(index, "s-mine", str(here))
    assert (found.path, found.elsewhere) == (str(mine / "s-mine.jsonl"), False)
    assert references.resolve(index, "s-other", str(here)).path == str(other / "s-other.jsonl")
    (here / "s-other").write_text("a file named like the id")
    assert references.resolve(index, "s-other", str(here)) == references.Resolved(
        str(here / "s-other"), None
    )
    with pytest.raises(references.ReferenceError, match="^session not found: s-none\nHint"):
        references.resolve(index, "s-none", str(here))
