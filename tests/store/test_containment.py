"""Nothing leads the index out of its roots (SPEC §6): a fingerprint
directory swapped for a link out of the root is gone, whichever way the
index hears of it (an event for the directory, one for a file in it, a
rescan), and its old files are never read through the link. A link that
stays inside the root is a fingerprint directory like any other, forks
into it included. Through a real mount: tests/e2e/test_trust_containment.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from clawfs.format.fingerprint import fingerprint
from clawfs.store import files
from clawfs.store.index import StoreIndex
from clawfs.store.roots import RootKind, make_root

import storegen as sg

T0 = 1_780_000_000_000
WORKSPACE = "/srv/contained"
FP = fingerprint(WORKSPACE)
MARKER = "OUTSIDE-THE-STORE"


def _session(directory: Path, sid: str, text: str, mtime: int) -> Path:
    return sg.write_session(
        directory,
        sg.make_session(sid, messages=[sg.text_message(text)], workspace_root=WORKSPACE,
                        updated_at_ms=mtime),
        mtime_ms=mtime,
    )


@pytest.fixture
def swapped(tmp_path: Path) -> tuple[StoreIndex, Path, Path]:
    """An indexed store whose fingerprint directory is then swapped for a
    link to a directory outside, holding a session of the same name and one
    the store never had."""
    root, outside = tmp_path / "store", tmp_path / "outside"
    _session(sg.fp_dir(root, WORKSPACE), "s1", "inside", T0)
    outside.mkdir()
    _session(outside, "s1", MARKER, T0 + 1)
    _session(outside, "never", MARKER, T0 + 2)
    index = StoreIndex([make_root(str(root), RootKind.STORE, 0)])
    index.scan()
    assert index.file(FP, "s1.jsonl") is not None
    (root / FP).rename(root / "old")
    (root / FP).symlink_to(outside)
    return index, root, outside


def _nothing_from_outside(index: StoreIndex, outside: Path) -> None:
    assert not index.has_workspace(FP)
    for ws in index.workspaces():
        for sf in ws.ordered:
            assert not sf.path.startswith(str(outside)), sf


@pytest.mark.parametrize("event", ["the directory", "a file in it", "a rescan"])
def test_a_fingerprint_directory_linked_out_is_gone(
    swapped: tuple[StoreIndex, Path, Path], event: str
) -> None:
    index, root, outside = swapped
    if event == "the directory":
        changed = index.refresh_dir(str(root / FP))
    elif event == "a file in it":
        changed = index.refresh_path(str(root / FP / "s1.jsonl"))
    else:
        changed = index.scan()
    assert FP in changed
    _nothing_from_outside(index, outside)
    index.scan()  # and it stays gone
    _nothing_from_outside(index, outside)


def test_a_file_known_before_the_swap_is_not_read_through_the_link(
    swapped: tuple[StoreIndex, Path, Path],
) -> None:
    """Before any event is applied, the index still lists s1.jsonl at its old
    real path, which now leads out: loading it reads nothing out there."""
    index, _root, _outside = swapped
    sf = index.file(FP, "s1.jsonl")
    assert sf is not None
    with pytest.raises(files.Moved):
        files.open_backing(sf.path)
    with pytest.raises(OSError):
        index.load(sf)
    with pytest.raises(OSError):
        index.fork(sf, "escape")


def test_a_link_inside_the_root_is_a_fingerprint_directory_forks_included(
    tmp_path: Path,
) -> None:
    """`<root>/<fp> -> <root>/kept`: listed, and a fork of a session in it
    lands in `kept` and is indexed at once (a fork there failed after writing)."""
    root = tmp_path / "store"
    kept = root / "kept"
    kept.mkdir(parents=True)
    _session(kept, "s1", "inside", T0)
    (root / FP).symlink_to(kept)
    index = StoreIndex([make_root(str(root), RootKind.STORE, 0)])
    index.scan()
    sf = index.file(FP, "s1.jsonl")
    assert sf is not None and sf.directory == os.path.realpath(kept)
    made = index.fork(sf, "topic")
    assert os.path.dirname(made.path) == os.path.realpath(kept)
    assert index.file(FP, made.name) == made
    assert index.refresh_path(made.path) == set()  # an event for it changes nothing more
