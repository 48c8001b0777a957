"""Shared trees for the pure mount tests: a view over a store built on disk."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from clawfs.mount.view import View
from clawfs.store.index import StoreIndex
from clawfs.store.roots import RootKind, make_root

import storegen as sg

T0 = 1_760_000_000_000

ViewOf = Callable[..., View]


def _view_of(*roots: Path) -> View:
    index = StoreIndex([make_root(str(r), RootKind.STORE, n) for n, r in enumerate(roots)])
    index.scan()
    return View(index)


@pytest.fixture
def view_of() -> ViewOf:
    """A view over the store roots given, scanned."""
    return _view_of


@pytest.fixture
def project(tmp_path: Path) -> tuple[View, str, Path]:
    """One workspace: a chain 1 <- 2 <- 3 (3 is empty), a foreign 4 whose
    workspace root needs escaping, and a file claw cannot load.
    Returns the view, the fingerprint and the fingerprint directory."""
    ws = os.path.realpath(tmp_path / "myproj")
    os.mkdir(ws)
    root = tmp_path / "root"
    d = sg.fp_dir(root, ws)
    sg.write_session(d, sg.make_session("session-1-0", updated_at_ms=T0, messages=2,
                                        workspace_root=ws, model="m1"))
    sg.write_session(d, sg.make_session("session-2-0", updated_at_ms=T0 + 1, messages=1,
                                        workspace_root=ws, parent="session-1-0", branch="b"))
    sg.write_session(d, sg.make_session("session-3-0", updated_at_ms=T0 + 2, messages=0,
                                        workspace_root=ws, parent="session-2-0"))
    sg.write_session(d, sg.make_session("session-4-0", updated_at_ms=T0 + 3, messages=1,
                                        workspace_root="/x\ty\nz\\w"))
    sg.write_bytes(d, "broken.jsonl", b"{not json\n")
    return _view_of(root), d.name, d
