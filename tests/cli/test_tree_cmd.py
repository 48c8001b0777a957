"""`clawfs tree` output on a corpus store and on a synthetic store with forks."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from clawfs.cli.tree_cmd import render_tree, run_tree
from clawfs.format import fingerprint
from clawfs.store.index import StoreIndex
from clawfs.store.roots import RootKind, make_root

import storegen as sg
from storegen import CORPUS


def _args(*stores: Path) -> argparse.Namespace:
    return argparse.Namespace(
        stores=[str(s) for s in stores], workspaces=[], data_dirs=[], no_discover=True
    )


def test_tree_of_a_corpus_store(capsys: pytest.CaptureFixture[str]) -> None:
    store = CORPUS / "heinricitorgau__claw-code/rust/.claw/sessions"
    assert run_tree(_args(store)) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "rust  d658df61bc02e37b  6 sessions  latest: session-1775640055557-0.jsonl"
    assert out[1:] == [
        "  session-1775640663323-0  0 msgs",
        "  session-1775640604703-0  0 msgs",
        "  session-1775640206581-0  0 msgs",
        "  session-1775640055557-0  1 msg  <- latest",
        "  session-1775639807454-0  1 msg",
        "  session-1775639721187-0  0 msgs",
    ]


def test_tree_of_a_synthetic_store(tmp_path: Path) -> None:
    ws = os.path.realpath(tmp_path / "shop")
    os.mkdir(ws)
    root = tmp_path / "root"
    d = sg.fp_dir(root, ws)
    sessions = [
        sg.make_session("s-root", messages=2, workspace_root=ws, updated_at_ms=10),
        sg.make_session("s-a", messages=3, workspace_root=ws, parent="s-root", branch="alpha",
                        updated_at_ms=30),
        sg.make_session("s-b", messages=1, workspace_root=ws, parent="s-root", updated_at_ms=20),
        sg.make_session("s-a1", messages=4, workspace_root=ws, parent="s-a", updated_at_ms=5),
        sg.make_session("s-alien", messages=1, workspace_root="/elsewhere", updated_at_ms=1),
    ]
    for s in sessions:
        sg.write_session(d, s)
    sg.write_bytes(d, "broken.jsonl", b"nope\n")
    for n in range(70):  # a chain deeper than the nesting limit
        parent = "s-b" if n == 0 else f"c{n - 1:02d}"
        sg.write_session(d, sg.make_session(f"c{n:02d}", messages=1, parent=parent,
                                            workspace_root=ws, updated_at_ms=0))
    index = StoreIndex([make_root(str(root), RootKind.STORE, 0)])
    index.scan()
    lines = render_tree(index).splitlines()
    fp = fingerprint.fingerprint(ws)
    assert lines[0] == f"shop  {fp}  76 sessions  latest: s-a.jsonl"
    assert lines[1:6] == [
        "  s-root  2 msgs",
        "    s-a  [alpha]  3 msgs  <- latest",
        "      s-a1  4 msgs",
        "    s-b  1 msg",
        "      c00  1 msg",
    ]
    assert "  s-alien  1 msg  (foreign)" in lines
    assert "  broken  0 msgs  (does not load)" in lines
    # c61 sits at depth 64; its child continues at the top of forks/.
    assert " " * 2 * 65 + "c62 -> (continued at top)" in lines
    assert "  c62  1 msg  (continued from c61.jsonl)" in lines
