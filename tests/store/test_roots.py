"""Roots, scanning rules, claw's order key and workspace labels."""

from __future__ import annotations

import argparse
import hashlib
import os
from pathlib import Path

from clawfs.store import labels, order, scan
from clawfs.store.roots import (
    RootKind,
    build_roots,
    global_root_path,
    make_root,
    roots_from_args,
    suffixed_name,
)


def test_roots_precedence_and_dedup(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    os.symlink(tmp_path / "a", tmp_path / "alias")
    roots = build_roots(
        stores=[str(tmp_path / "a"), str(tmp_path / "alias")],
        workspaces=[str(tmp_path / "w")],
        data_dirs=[str(tmp_path / "d")],
        cwd=str(tmp_path / "cwd"),
        env={"CLAW_CONFIG_HOME": str(tmp_path / "cfg")},
    )
    assert [(r.kind, r.precedence) for r in roots] == [
        (RootKind.STORE, 0),
        (RootKind.WORKSPACE, 1),
        (RootKind.DATA_DIR, 2),
        (RootKind.LOCAL, 3),
        (RootKind.GLOBAL, 4),
    ]
    assert roots[1].path == str(tmp_path / "w" / ".claw" / "sessions")
    assert roots[2].path == str(tmp_path / "d" / "sessions")
    assert roots[3].path == str(tmp_path / "cwd" / ".claw" / "sessions")
    assert roots[4].path == str(tmp_path / "cfg" / "sessions")


def test_global_root() -> None:
    assert global_root_path({"CLAW_CONFIG_HOME": "/c"}) == "/c/sessions"
    assert global_root_path({"HOME": "/h"}) == "/h/.claw/sessions"


def test_roots_from_args(tmp_path: Path) -> None:
    args = argparse.Namespace(stores=[str(tmp_path)], workspaces=None, data_dirs=[],
                              no_discover=True)
    assert [r.kind for r in roots_from_args(args)] == [RootKind.STORE]
    args = argparse.Namespace(stores=[], workspaces=[], data_dirs=[], no_discover=True)
    assert [r.kind for r in roots_from_args(args, cwd=str(tmp_path))] == [
        RootKind.LOCAL, RootKind.GLOBAL
    ]


def test_suffix_is_sha256_of_the_real_path(tmp_path: Path) -> None:
    root = make_root(str(tmp_path), RootKind.STORE, 1)
    digest = hashlib.sha256(os.fsencode(os.path.realpath(tmp_path))).hexdigest()[:8]
    assert suffixed_name("session-1-0.jsonl", root) == f"session-1-0~{digest}.jsonl"
    assert suffixed_name("a.rot-5.jsonl", root) == f"a.rot-5~{digest}.jsonl"


def test_session_names() -> None:
    assert scan.is_session_name("a.jsonl") and scan.is_session_name("a.json")
    assert scan.is_session_name("..jsonl")
    for name in [".jsonl", "a.jsonl.tmp-1-2", "a.jsonl.before-clear-1.bak", "a.JSONL", "jsonl"]:
        assert not scan.is_session_name(name)
    assert scan.rot_stem("session-1-0.rot-17.jsonl") == "session-1-0"
    assert scan.rot_stem("session-1-0.jsonl") is None


def test_session_names_of_a_listing_are_those_by_the_extension_rule(tmp_path: Path) -> None:
    names = [".jsonl", ".json", "..jsonl", "a.jsonl", "a.json", "a.json.jsonl", "a.jsonl.json",
             "a.jsonl.tmp-1-2", "a.JSONL", "jsonl", "a.xjsonl", "a.jsonlx", "x.rot-5.jsonl"]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    expected = {n for n in names if scan.session_extension(n) in ("jsonl", "json")}
    assert {n for n in names if scan.is_session_name(n)} == expected
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert scan.session_names(fd) == expected
    finally:
        os.close(fd)


def test_locate() -> None:
    root = make_root("/r", RootKind.STORE, 0)
    fp = "0123456789abcdef"
    assert scan.locate(root, "/r") == (None, "")
    assert scan.locate(root, f"/r/{fp}") == (fp, "")
    assert scan.locate(root, f"/r/{fp}/x.jsonl") == (fp, "x.jsonl")
    assert scan.locate(root, "/r/x.jsonl") == (None, "x.jsonl")
    assert scan.locate(root, "/r/other/x.jsonl") is None
    assert scan.locate(root, "/elsewhere") is None


def test_descending_id_is_bytewise() -> None:
    ids = ["session-10", "session-9", "session-b", "a", "", "ab", "é", "z", "\x00"]
    by_key = sorted(ids, key=order.descending)
    assert by_key == sorted(ids, key=lambda s: s.encode(), reverse=True)


def test_sort_key_order() -> None:
    keys = [
        order.sort_key(1, 5, "a", 0, "x"),
        order.sort_key(2, 0, "a", 0, "y"),
        order.sort_key(1, 6, "a", 0, "z"),
        order.sort_key(1, 5, "b", 1, "w"),
        order.sort_key(1, 5, "b", 0, "v"),
    ]
    assert [k[-1] for k in sorted(keys)] == ["y", "z", "v", "w", "x"]


def test_labels() -> None:
    assert labels.label_of("/home/u/proj/") == "proj"
    assert labels.label_of("C:\\temp\\claw-code") == "claw-code"
    assert labels.label_of("E:\\360Downloads\\claw-code-main\\") == "claw-code-main"
    assert labels.label_of("\\\\?\\D:\\AI\\claw-code") == "claw-code"
    assert labels.label_of("\\\\server\\share\\") == "share"
    assert labels.label_of("C:\\") == "C:"
    assert labels.label_of("/") == "_"
    assert labels.label_of("/x/..") == "__"
    assert labels.label_of("C:\\a/b") == "b"
    # Store text: no control or format character makes a name look like another.
    assert labels.label_of("/srv/evil\u202egnp.exe") == "evil_gnp.exe"
    assert labels.label_of("/srv/a\nb\x00c\u200b") == "a_b_c_"
    resolved = labels.resolve_collisions(
        {"aaaaaaaaaaaaaaaa": "p", "bbbbbbbbbbbbbbbb": "p", "cccccccccccccccc": "q"}
    )
    assert resolved == {
        "aaaaaaaaaaaaaaaa": "p-aaaaaaaa", "bbbbbbbbbbbbbbbb": "p-bbbbbbbb",
        "cccccccccccccccc": "q",
    }
