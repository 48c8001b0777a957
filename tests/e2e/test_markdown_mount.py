"""SPEC §8 through a real mount: every transcript also as live Markdown.

Sizes are exact (what `stat` says is what `cat`, `cp`, `tar`, `rsync`, `wc -c`
and `mmap` get), the Markdown follows the store (`tail -f` an append,
`tail -F` a save by rename), `branches/` follows forks, bad files render
what parses, and `grep` finds in the Markdown what the JSONL escapes away.
Bounds (`SOON`) only bound a wait; nothing here asserts how fast.
"""

from __future__ import annotations

import filecmp
import mmap
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from clawfs.format import markdown
from clawfs.format.session import Message

import storegen as sg
from following import Tail
from mounting import Mount, mounted, wait_until
from storegen import CORPUS

SOON = 5.0
"""Seconds a change may take to show (SPEC §5: 100 ms with inotify)."""
BASE_MS = 1_760_000_000_000

TORSTAN_STORE = CORPUS / "Torstan__claw-code/rust/.claw/sessions"
TORSTAN_FP = "433010833d26c6d3"
TORSTAN = TORSTAN_STORE / TORSTAN_FP / "session-1775996322136-0.jsonl"
CORPUS_STORES = sorted(p for p in CORPUS.rglob("sessions") if p.is_dir() and
                       p.parent.name in (".claw", ".claude", ".clawd-mock", ".clawd-dev"))


def eventually(check: Callable[[], bool], what: str) -> None:
    wait_until(check, SOON, what)


def rendering(md: Path) -> bytes:
    """What the `.md` must hold: its backing file rendered (the path the facts show
    is the backing file's, as `user.claw.path` says)."""
    backing = os.fsdecode(os.getxattr(md, "user.claw.path"))
    return markdown.render_bytes(Path(backing).read_bytes(), backing, transcript_name(md))


def transcript_name(md: Path) -> str:
    """The transcript a `.md` of these stores renders (no name clashes here)."""
    names = [n for n in os.listdir(md.parent) if not n.endswith(".md")]
    stem = md.name.removesuffix(".md")
    return next(n for n in names if n in (stem + ".jsonl", stem + ".json"))


def md_files(workspace: Path) -> list[Path]:
    return sorted(p for p in workspace.iterdir() if p.suffix == ".md" and not p.is_symlink())


# --- sizes ------------------------------------------------------------------------


def test_every_md_of_the_corpus_is_its_rendering_and_its_size_is_exact(tmp_path: Path) -> None:
    stores: list[str | os.PathLike[str]] = []
    for store in CORPUS_STORES:
        stores += ["--store", store]
    with mounted(extra_args=stores, tmp=tmp_path) as m:
        checked = 0
        for workspace in sorted((m.path / "sessions").iterdir()):
            for md in md_files(workspace):
                size = os.stat(md).st_size  # asked first: before any read renders it
                data = md.read_bytes()
                assert size == len(data), md
                assert data == rendering(md), md
                checked += 1
        assert checked >= 150  # the corpus, every file
        assert "Traceback" not in m.log()


class Store:
    """One workspace in one root, written as claw writes it."""

    def __init__(self, base: Path) -> None:
        (base / "proj").mkdir()
        self.workspace = os.path.realpath(base / "proj")
        self.root = base / "store"
        self.dir = sg.fp_dir(self.root, self.workspace)
        self.fp = self.dir.name
        self.clock = BASE_MS

    def save(self, sid: str, messages: int | list[Message] = 1) -> Path:
        """A new session, newer than every one before."""
        self.clock += 1000
        made = sg.make_session(sid, messages=messages, workspace_root=self.workspace,
                               created_at_ms=self.clock)
        return sg.write_session(self.dir, made, mtime_ms=self.clock)

    def replace(self, sid: str, messages: int) -> None:
        """claw's snapshot save: a temp file renamed over the session."""
        self.clock += 1000
        made = sg.make_session(sid, messages=messages, workspace_root=self.workspace,
                               created_at_ms=BASE_MS, updated_at_ms=self.clock)
        tmp = sg.write_bytes(self.dir, f"{sid}.jsonl.tmp-{self.clock}-0", sg.render(made))
        os.rename(tmp, self.dir / f"{sid}.jsonl")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path)
    s.save("session-a", messages=3)
    tool: list[Message] = [sg.text_message("fix the build"),
            {"role": "assistant", "blocks": [
                {"type": "tool_use", "id": "t1", "name": "bash", "input": '{"command":"ls"}'}]},
            {"role": "tool", "blocks": [
                {"type": "tool_result", "tool_use_id": "t1", "tool_name": "bash",
                 "output": '{"stdout":"a\\nb\\n```\\n","stderr":""}', "is_error": False}]}]
    s.save("session-tools", tool)
    for name, data in [
        ("corrupt.jsonl", sg.render(sg.make_session("corrupt")) + b"{bad\n"),
        ("empty.jsonl", b""),
        ("binary.jsonl", b"\xff\xfe\x00garbage\n"),
        ("session-1699999999999.json", sg.legacy_json()),
    ]:
        sg.write_bytes(s.dir, name, data, mtime_ms=BASE_MS)
    big = [sg.text_message(f"turn {n} " + "y" * 3000, "user" if n % 2 else "assistant")
           for n in range(2000)]  # a rendering of several rendering windows
    s.save("session-big", big)
    return s


@pytest.fixture
def mnt(store: Store, tmp_path: Path) -> Iterator[Mount]:
    with mounted([store.root], tmp=tmp_path / "m") as m:
        yield m


def test_sizes_are_exact_for_wc_and_mmap(mnt: Mount, store: Store) -> None:
    ws = mnt.path / "sessions" / store.fp
    files = md_files(ws)
    assert {p.name for p in files} == {
        "session-a.md", "session-tools.md", "corrupt.md", "empty.md", "binary.md",
        "session-1699999999999.md", "session-big.md"}
    listed = subprocess.run(["ls", "-l", ws], capture_output=True, text=True, check=True).stdout
    for md in files:
        size = os.stat(md).st_size
        assert f" {size} " in listed
        wc = subprocess.run(["wc", "-c", md], capture_output=True, text=True, check=True)
        assert int(wc.stdout.split()[0]) == size
        data = md.read_bytes()
        assert len(data) == size and data == rendering(md)
        if size:
            with open(md, "rb") as f, mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as mapped:
                assert mapped[:] == data
                assert mapped[size - 7 :] == data[-7:]  # a page fault at the end first
    assert os.stat(ws / "session-big.md").st_size > 5 << 20


def test_cp_tar_and_rsync_copy_the_md_files_exactly(
    mnt: Mount, store: Store, tmp_path: Path
) -> None:
    ws = mnt.path / "sessions" / store.fp
    out = tmp_path / "copies"
    out.mkdir()
    subprocess.run(["cp", "-r", ws, out / "cp"], check=True)
    subprocess.run(["rsync", "-a", f"{ws}/", out / "rsync"], check=True)
    (out / "tar").mkdir()
    tar = subprocess.run(["tar", "-c", "-C", ws, "."], capture_output=True, check=True)
    assert b"changed as we read it" not in tar.stderr
    subprocess.run(["tar", "-x", "-C", out / "tar"], input=tar.stdout, check=True)
    for md in md_files(ws):
        catted = subprocess.run(["cat", md], capture_output=True, check=True).stdout
        for how in ("cp", "rsync", "tar"):
            copy = out / how / md.name
            assert copy.read_bytes() == catted, (how, md.name)
        assert filecmp.cmp(out / "cp" / md.name, out / "rsync" / md.name, shallow=False)
    assert os.readlink(out / "rsync" / "latest.md") == os.readlink(ws / "latest.md")


# --- content --------------------------------------------------------------------------


def test_bad_and_empty_files_render_without_an_error(mnt: Mount, store: Store) -> None:
    ws = mnt.path / "sessions" / store.fp
    for name in ("corrupt.md", "binary.md"):
        done = subprocess.run(["cat", ws / name], capture_output=True, text=True)
        assert done.returncode == 0 and done.stderr == ""
        assert done.stdout.startswith("# ")
        assert "\n**claw cannot load this file:** " in done.stdout
    empty = (ws / "empty.md").read_text()
    assert empty.startswith("# empty\n\n| id | `empty` |") and "## " not in empty
    legacy = (ws / "session-1699999999999.md").read_text()
    assert "## 1 · user\n\nlegacy 0\n" in legacy
    assert "Traceback" not in mnt.log()


def test_a_line_inside_a_tool_results_stdout_is_found_by_grep(tmp_path: Path) -> None:
    wanted = "+use crate::agent_debug::agent_debug_log;"
    assert wanted.encode() not in TORSTAN.read_bytes().split(b"\n")  # not a line of its own
    with mounted([TORSTAN_STORE], tmp=tmp_path) as m:
        ws = m.path / "sessions" / TORSTAN_FP
        jsonl = subprocess.run(["grep", "-cxF", wanted, ws / TORSTAN.name],
                               capture_output=True, text=True)
        assert jsonl.stdout.strip() == "0"  # the transcript escapes it inside a JSON string
        found = subprocess.run(["grep", "-rnxF", wanted, *map(str, ws.glob("*.md"))],
                               capture_output=True, text=True, check=True).stdout
        assert f"{ws / TORSTAN.name.replace('.jsonl', '.md')}:" in found
        assert (m.path / "latest.md").read_bytes() == (ws / "latest.md").read_bytes()


# --- live -----------------------------------------------------------------------------


def test_tail_f_latest_md_shows_an_appended_message(
    mnt: Mount, store: Store, tails: list[Tail]
) -> None:
    ws = mnt.path / "sessions" / store.fp
    assert os.readlink(ws / "latest.md") == "session-big.md"
    small = store.save("session-live", messages=2)
    eventually(lambda: os.readlink(ws / "latest.md") == "session-live.md", "latest.md re-pointed")
    through = mnt.path / "latest.md"
    before = os.stat(through)
    tail = Tail("-f", "-n", "+1", through)
    tails.append(tail)
    eventually(lambda: tail.read() == (ws / "session-live.md").read_bytes(), "tail -f printing it")
    for n in range(3):
        sg.append_message(small, sg.text_message(f"appended **{n}**", "assistant"))
        want = f"## {3 + n} · assistant\n\nappended **{n}**\n\n".encode()

        def followed(want: bytes = want) -> bool:
            return tail.read().endswith(want)

        eventually(followed, f"tail -f following append {n}")
    after = os.stat(through)
    assert after.st_ino == before.st_ino and after.st_size > before.st_size  # grown, not new
    assert tail.read() == (ws / "session-live.md").read_bytes()
    assert after.st_size == len(tail.read())


def test_a_snapshot_save_is_a_new_md_that_tail_F_follows(
    mnt: Mount, store: Store, tails: list[Tail]
) -> None:
    ws = mnt.path / "sessions" / store.fp
    through = ws / "session-a.md"
    before = os.stat(through)
    tail = Tail("-F", "-s", "0.2", "-n", "+1", through)
    tails.append(tail)
    old = through.read_bytes()
    eventually(lambda: tail.read() == old, "tail -F printing it")
    store.replace("session-a", 5)
    eventually(lambda: os.stat(through).st_ino != before.st_ino, "a new inode")
    new = through.read_bytes()
    assert new != old and "## 5 · user".encode() in new and os.stat(through).st_size == len(new)
    eventually(lambda: tail.read().endswith(new), "tail -F following the new file")


def test_branches_list_each_branch_and_follow_a_new_fork(mnt: Mount, store: Store) -> None:
    ws = mnt.path / "sessions" / store.fp
    assert os.listdir(ws / "branches") == []
    control = ws / "forks" / "session-a" / "fork"
    for branch in ("bugfix", "feat/x"):
        subprocess.run(f"echo '{branch}' > {control}", shell=True, check=True)
    names = sorted(os.listdir(ws / "branches"))
    assert names == ["bugfix", "feat_x"]
    first = os.readlink(ws / "branches" / "bugfix")
    assert first.startswith("../") and (ws / "branches" / "bugfix").read_bytes() == \
        (ws / first.removeprefix("../")).read_bytes()
    assert os.getxattr(ws / "branches" / "bugfix", "user.claw.branch_name") == b"bugfix"
    # A newer fork of the same branch: the link follows it (newest wins).
    subprocess.run(f"echo bugfix > {control}", shell=True, check=True)
    newest = os.readlink(ws / "branches" / "bugfix")
    assert newest != first and sorted(os.listdir(ws / "branches")) == names
    made = control.read_text().split("\t")[0]
    assert newest == f"../{made}"
    md = ws / made.replace(".jsonl", ".md")
    assert "| branch | `bugfix` |" in md.read_text()
    session_md = ws / "forks" / "session-a" / made.removesuffix(".jsonl") / "session.md"
    assert session_md.read_bytes() == md.read_bytes()
