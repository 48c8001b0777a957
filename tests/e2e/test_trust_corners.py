"""Issue 13, claw's answer in every corner, classes 4 and 5, through a real mount.

Class 4: a link to a sibling session is an entry of its own, as claw lists
every directory entry, ordered by the link's own mtime (an lstat,
session_control.rs 398); the oracle listed alias (T0+10), middle (T0+5),
target (T0) and resumed alias.jsonl. With the target removed, it listed the
link as a session that fails to load ("No such file or directory").

Class 5: a directory named `x.jsonl` is a session to claw (its extension is jsonl,
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
from mounting import mounted, wait_until

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


def _rows(shown: Path) -> list[dict[str, str]]:
    lines = (shown / "index.tsv").read_text().splitlines()
    columns = lines[0].split("\t")
    return [dict(zip(columns, line.split("\t"), strict=True)) for line in lines[1:]]


def test_a_link_to_a_sibling_session_is_listed_and_can_be_latest(tmp_path: Path) -> None:
    workspace = tmp_path / "proj"
    workspace.mkdir()
    real = os.path.realpath(workspace)
    directory = sg.fp_dir(workspace / ".claw" / "sessions", real)
    target = sg.write_session(directory, sg.make_session(
        "target", messages=2, workspace_root=real, updated_at_ms=T0), mtime_ms=T0)
    sg.write_session(directory, sg.make_session("middle", messages=1, workspace_root=real,
                                                updated_at_ms=T0), mtime_ms=T0 + 5)
    link = directory / "alias.jsonl"
    os.symlink("target.jsonl", link)
    os.utime(link, ns=((T0 + 10) * 1_000_000,) * 2, follow_symlinks=False)
    with mounted(extra_args=["--workspace", workspace], tmp=tmp_path / "m") as m:
        shown = m.path / "sessions" / directory.name
        names = set(os.listdir(shown))
        assert {"alias.jsonl", "middle.jsonl", "target.jsonl", "alias.md"} <= names
        assert os.readlink(shown / "latest") == "alias.jsonl"
        assert os.readlink(m.path / "latest") == f"sessions/{directory.name}/alias.jsonl"
        assert (shown / "alias.jsonl").read_bytes() == target.read_bytes()
        assert [r["file"] for r in _rows(shown)] == ["alias.jsonl", "middle.jsonl",
                                                       "target.jsonl"]
        assert {r["session_id"] for r in _rows(shown) if r["file"] != "middle.jsonl"} == {
            "target"}
        assert {"alias", "middle", "target"} <= set(os.listdir(shown / "forks"))

        # An append to the target shows through the link's entry too.
        sg.append_message(target, sg.text_message("one more"))
        os.utime(target, ns=((T0 + 1) * 1_000_000,) * 2)  # still below the link's T0+10
        size = target.stat().st_size
        wait_until(lambda: os.stat(shown / "alias.jsonl").st_size == size, 10,
                   "the link's entry to grow with its target")
        assert (shown / "alias.jsonl").read_bytes() == target.read_bytes()
        wait_until(lambda: [r["message_count"] for r in _rows(shown)] == ["3", "1", "3"], 10,
                   "both entries to count the new message")

        # `touch -h` the link into the past: claw resumes middle now.
        os.utime(link, ns=((T0 - 1) * 1_000_000,) * 2, follow_symlinks=False)
        wait_until(lambda: os.readlink(shown / "latest") == "middle.jsonl", 10,
                   "latest to follow the link's own mtime")
        assert [r["file"] for r in _rows(shown)] == ["middle.jsonl", "target.jsonl",
                                                       "alias.jsonl"]

        # The target removed: the link leads to nothing, a session claw cannot
        # load (an error row, no file); the target back brings it back.
        kept = target.read_bytes()
        target.unlink()
        wait_until(lambda: [r["file"] for r in _rows(shown)] == ["middle.jsonl", "alias.jsonl"],
                   10, "the target to go and the link to stay, as claw lists it")
        assert not {"alias.jsonl", "target.jsonl"} & set(os.listdir(shown))
        rows = {r["file"]: r for r in _rows(shown)}
        assert rows["alias.jsonl"]["message_count"] == "0"
        assert rows["alias.jsonl"]["status"].startswith("error: No such file or directory")
        sg.write_bytes(directory, "target.jsonl", kept, mtime_ms=T0 + 1)
        wait_until(lambda: "alias.jsonl" in os.listdir(shown), 10, "the link to come back")
        assert (shown / "alias.jsonl").read_bytes() == kept

        link.unlink()
        wait_until(lambda: "alias.jsonl" not in os.listdir(shown), 10, "the link to go")
        assert "target.jsonl" in os.listdir(shown)
        assert (shown / "target.jsonl").read_bytes() == target.read_bytes()
