"""Issue 13, claw's answer in every corner, class 5, through a real mount: a
directory named `x.jsonl` is a session to claw (its extension is jsonl,
session_control.rs 664-671) that fails to load ("Is a directory (os error
21)"), listed with the fallback values (430-439): id `x`, created 0,
updated 0, 0 messages. The oracle (`claw-oracle list <fp_dir> --cwd W`)
listed it second, after real.jsonl, and resumed real.jsonl. The mount shows
it where claw would, as an error row of index.tsv, without pretending it is
a file. The store-level expectations of all five classes are in
tests/store/test_claw_corners.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import storegen as sg
from mounting import mounted

T0 = 1_780_000_000_000


def test_a_directory_named_like_a_session_is_an_error_row(tmp_path: Path) -> None:
    workspace = tmp_path / "proj"
    workspace.mkdir()
    real = os.path.realpath(workspace)
    directory = sg.fp_dir(workspace / ".claw" / "sessions", real)
    sg.write_session(directory, sg.make_session("real", messages=1, workspace_root=real,
                                                updated_at_ms=T0), mtime_ms=T0)
    (directory / "x.jsonl").mkdir()
    with mounted(extra_args=["--workspace", workspace], tmp=tmp_path / "m") as m:
        shown = m.path / "sessions" / directory.name
        assert os.readlink(shown / "latest") == "real.jsonl"
        assert not (shown / "x.jsonl").is_file()
        lines = (shown / "index.tsv").read_text().splitlines()
        columns = lines[0].split("\t")
        rows = [dict(zip(columns, line.split("\t"), strict=True)) for line in lines[1:]]
        assert [r["file"] for r in rows] == ["real.jsonl", "x.jsonl"]
        x = rows[1]
        assert (x["session_id"], x["created_at_ms"], x["updated_at_ms"], x["message_count"]) == (
            "x", "0", "0", "0")
        assert x["status"].startswith("error: "), x
