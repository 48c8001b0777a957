"""Issue 9, bad files (SPEC §6), all at once in one store, through one mount
whose daemon cannot bypass file modes: every request still answers, the
good sessions stay visible and right, nothing outside the store is served,
and each problem is logged once however often the file is asked about.

tests/test_mount_badinput.py covers each kind of damage on its own; here
they are mixed with the harder cases (5 MB single line, symlinks out of the
store, directories named like sessions, an unreadable file next to the
rest) and hit repeatedly by ordinary tools.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from clawfs.cli.samplestore import reply, text
from clawfs.format.fingerprint import fingerprint
from clawfs.format.session import Session
from clawfs.format.snapshot import render_snapshot

from mounting import HONOUR_MODES, Mount, mounted

WORKSPACE = "/srv/hardening-bad"
FP = fingerprint(WORKSPACE)
OTHER_WS = "/srv/hardening-other"
OTHER_FP = fingerprint(OTHER_WS)
ESCAPED_FP = fingerprint("/srv/hardening-escaped")
T0 = 1_750_000_000_000


def session_bytes(sid: str, workspace: str, words: str, at: int = T0) -> bytes:
    return render_snapshot(Session(
        version=1, session_id=sid, created_at_ms=at, updated_at_ms=at,
        workspace_root=workspace, messages=[text("user", words), reply("ok")],
    ))


GOOD_ID = "session-1750000000000-0"
GOOD = session_bytes(GOOD_ID, WORKSPACE, "hello hardening")
OTHER_ID = "session-1750000000001-0"
OTHER = session_bytes(OTHER_ID, OTHER_WS, "the other workspace", T0 - 1000)
SECRET = session_bytes("session-1760000000000-0", WORKSPACE, "outside secret", T0 + 10**9)

BAD: dict[str, bytes] = {
    "empty.jsonl": b"",
    "corrupt.jsonl": GOOD.replace(b'"role"', b'"role', 1),
    "truncated-mid-line.jsonl": GOOD[: len(GOOD) * 2 // 3],
    "binary.jsonl": bytes(range(256)) * 40,
    "five-mb-line.jsonl": b'{"type":"message","message":{"role":"user","blocks":[{"type":'
                          b'"text","text":"' + b"y" * (5 << 20) + b'"}]}}',
    "five-mb-broken.jsonl": b'{"type":"message","message":{"role":"user","blocks":[{"type":'
                            b'"text","text":"' + b"z" * (5 << 20) + b"\n",
    "meta-wrong-types.jsonl": b'{"type":"session_meta","version":[],"session_id":{},'
                              b'"created_at_ms":"soon","updated_at_ms":null}\n',
    "message-wrong-types.jsonl": GOOD.splitlines(True)[0]
                                 + b'{"type":"message","message":{"role":7,"blocks":"x"}}\n',
    "top-level-array.jsonl": b"[1,2,3]\n",
    "top-level-string.json": b'"just a string"',
    "nul-bytes.jsonl": GOOD[:40] + b"\x00" * 100 + GOOD[40:],
    "deep-nesting.jsonl": b"[" * 100_000 + b"]" * 100_000 + b"\n",
}
"""Damaged files: listed, raw bytes readable, message_count 0 where claw fails."""

UNREADABLE = "unreadable.jsonl"
ESCAPE_LINK = "escape.jsonl"
SESSION_DIR = "session-1750000000009-0.jsonl"


def build(base: Path) -> Path:
    root = base / "store"
    directory = root / FP
    directory.mkdir(parents=True)
    (directory / f"{GOOD_ID}.jsonl").write_bytes(GOOD)
    for name, data in BAD.items():
        (directory / name).write_bytes(data)
        older = (T0 - 60_000) * 1_000_000  # meta-less files are as new as their mtime
        os.utime(directory / name, ns=(older, older))
    (directory / UNREADABLE).write_bytes(GOOD.replace(b"hello", b"hidden"))
    (directory / UNREADABLE).chmod(0o000)
    # Outside the store: a newer session, and a whole fingerprint directory.
    outside = base / "outside"
    (outside / ESCAPED_FP).mkdir(parents=True)
    (outside / "secret.jsonl").write_bytes(SECRET)
    (outside / ESCAPED_FP / "session-1760000000001-0.jsonl").write_bytes(SECRET)
    (directory / ESCAPE_LINK).symlink_to(outside / "secret.jsonl")
    (directory / "dotdot.jsonl").symlink_to("../../outside/secret.jsonl")
    (root / ESCAPED_FP).symlink_to(outside / ESCAPED_FP)
    (root / "flat-escape.jsonl").symlink_to(outside / "secret.jsonl")
    # Directories named like sessions, in a fingerprint dir and in the root.
    (directory / SESSION_DIR).mkdir()
    (directory / SESSION_DIR / "inner.jsonl").write_bytes(SECRET)
    (root / "legacy-dir.json").mkdir()
    (root / OTHER_FP).mkdir()
    (root / OTHER_FP / f"{OTHER_ID}.jsonl").write_bytes(OTHER)
    return root


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Mount, Path]]:
    base = tmp_path_factory.mktemp("hardening-bad")
    root = build(base)
    unreadable = root / FP / UNREADABLE
    denied = subprocess.run([*HONOUR_MODES, "cat", unreadable], capture_output=True, check=False)
    assert denied.returncode != 0, "precondition: the daemon's user cannot read a 000 file"
    with mounted([root], tmp=base, honour_modes=True) as m:
        yield m, root
    unreadable.chmod(0o644)


def run(*command: str | os.PathLike[str], ok: bool = True) -> subprocess.CompletedProcess[bytes]:
    """A tool through the mount: must finish (a hang is a failure, not a wait)."""
    done = subprocess.run([os.fspath(c) for c in command], capture_output=True, timeout=60,
                          check=False)
    if ok:
        assert done.returncode == 0, (command, done.stderr[-2000:])
    return done


def test_good_sessions_stay_visible_and_right(bad: tuple[Mount, Path]) -> None:
    m, _ = bad
    ws = m.path / "sessions" / FP
    assert sorted(os.listdir(m.path / "sessions")) == sorted([FP, OTHER_FP])
    assert os.readlink(ws / "latest") == f"{GOOD_ID}.jsonl"
    assert (m.path / "latest").read_bytes() == GOOD
    assert (m.path / "sessions" / OTHER_FP / f"{OTHER_ID}.jsonl").read_bytes() == OTHER


def test_damaged_files_are_listed_with_their_raw_bytes(bad: tuple[Mount, Path]) -> None:
    m, _ = bad
    ws = m.path / "sessions" / FP
    names = set(os.listdir(ws))
    assert set(BAD) <= names
    for name, data in BAD.items():
        assert run("cat", ws / name).stdout == data, name
        assert os.stat(ws / name).st_size == len(data)


def test_index_and_xattrs_answer_for_every_file(bad: tuple[Mount, Path]) -> None:
    m, _ = bad
    ws = m.path / "sessions" / FP
    rows = [r.split("\t") for r in (ws / "index.tsv").read_text().splitlines()[1:]]
    status = {r[0]: r[10] for r in rows}
    assert status[f"{GOOD_ID}.jsonl"] == "ok"
    for name in ("corrupt.jsonl", "binary.jsonl", "meta-wrong-types.jsonl",
                 "message-wrong-types.jsonl", "five-mb-broken.jsonl", "deep-nesting.jsonl"):
        assert status[name].startswith("error: "), (name, status[name])
        assert os.getxattr(ws / name, "user.claw.message_count") == b"0"
    assert status["five-mb-line.jsonl"] == "ok"  # one valid message, no meta: claw loads it
    assert os.getxattr(ws / "five-mb-line.jsonl", "user.claw.message_count") == b"1"
    dump = run("getfattr", "-d", "-m", "-", *[ws / n for n in BAD]).stdout
    assert dump.count(b"user.claw.session_id=") == len(BAD)


def test_nothing_outside_the_store_is_served(bad: tuple[Mount, Path]) -> None:
    m, _ = bad
    assert ESCAPED_FP not in os.listdir(m.path / "sessions")
    everything = run("grep", "-r", "-l", "outside secret", m.path, ok=False)
    assert everything.returncode == 1, everything.stdout  # 1: no match, and no error
    ws = m.path / "sessions" / FP
    for name in (ESCAPE_LINK, "dotdot.jsonl", SESSION_DIR):
        assert name not in os.listdir(ws), name
    assert "hidden" not in run("cat", *(ws / n for n in os.listdir(ws)
                                        if n.endswith((".jsonl", ".json")))).stdout.decode(
        errors="replace")


def test_unreadable_file_is_skipped(bad: tuple[Mount, Path]) -> None:
    m, _ = bad
    assert UNREADABLE not in os.listdir(m.path / "sessions" / FP)


def test_every_request_answers_again_and_again(bad: tuple[Mount, Path]) -> None:
    m, _ = bad
    for _ in range(3):
        run("ls", "-lR", m.path)
        run("tree", "-a", m.path)
        run("grep", "-r", "-c", "hello", m.path / "sessions", ok=False)
        run("getfattr", "-R", "-d", "-m", "-", m.path / "sessions")
        (m.path / "sessions" / FP / "index.tsv").read_bytes()
    assert m.proc is not None and m.proc.poll() is None
    assert m.is_mounted()


def test_each_problem_is_logged_once(bad: tuple[Mount, Path]) -> None:
    m, root = bad
    run("ls", "-lR", m.path)
    run("cat", *(m.path / "sessions" / FP / n for n in BAD))
    (m.path / "sessions" / FP / "index.tsv").read_bytes()
    log = m.log().splitlines()
    for name in [*BAD, UNREADABLE]:
        path = str(root / FP / name)
        mentions = [line for line in log if f"{path}:" in line]
        assert len(mentions) <= 1, (name, mentions)
    for name in (UNREADABLE, "corrupt.jsonl", "binary.jsonl"):
        path = str(root / FP / name)
        assert sum(f"{path}:" in line for line in log) == 1, (name, log)
    assert "Traceback" not in m.log()
