"""SPEC §6 through a real mount: bad files are listed and readable, an
unreadable one is skipped with a log line, and the mount never dies."""

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

WORKSPACE = "/srv/project-bad"
FP = fingerprint(WORKSPACE)

GOOD = render_snapshot(Session(
    version=1, session_id="session-1700000000001-0", created_at_ms=1700000000000,
    updated_at_ms=1700000000000, workspace_root=WORKSPACE,
    messages=[text("user", "hello"), reply("hi")],
))

BAD: dict[str, bytes] = {
    "empty.jsonl": b"",
    "corrupt.jsonl": GOOD + b"{not json\n",
    "truncated.jsonl": GOOD[:-25],
    "binary.jsonl": b"\x00\xff\xfe garbage \x80\x81\n" * 50,
    "wrong-type.jsonl": b'{"type":"session_meta","version":"one","session_id":5}\n',
    "unknown-record.jsonl": GOOD + b'{"type":"surprise"}\n',
    "bom.jsonl": b"\xef\xbb\xbf" + GOOD,
    "huge-line.jsonl": b'{"type":"session_meta","session_id":"' + b"x" * 3_000_000 + b"\n",
    "not-json.json": b"this is not json at all",
}


def write_store(root: Path) -> Path:
    directory = root / FP
    directory.mkdir(parents=True)
    (directory / "session-1700000000001-0.jsonl").write_bytes(GOOD)
    for name, data in BAD.items():
        (directory / name).write_bytes(data)
    return directory


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Mount, Path]]:
    base = tmp_path_factory.mktemp("bad")
    directory = write_store(base / "store")
    with mounted([base / "store"], tmp=base) as m:
        yield m, directory


def test_every_bad_file_is_listed(bad: tuple[Mount, Path]) -> None:
    m, _ = bad
    names = set(os.listdir(m.path / "sessions" / FP))
    assert set(BAD) | {"session-1700000000001-0.jsonl"} <= names


def test_bad_files_read_as_their_raw_bytes(bad: tuple[Mount, Path]) -> None:
    m, _ = bad
    for name, data in BAD.items():
        got = subprocess.run(["cat", m.path / "sessions" / FP / name], capture_output=True,
                             check=True).stdout
        assert got == data, name


def test_latest_is_the_good_session(bad: tuple[Mount, Path]) -> None:
    m, _ = bad
    assert os.readlink(m.path / "sessions" / FP / "latest") == "session-1700000000001-0.jsonl"
    assert (m.path / "latest").read_bytes() == GOOD


def test_index_tsv_reports_errors(bad: tuple[Mount, Path]) -> None:
    m, _ = bad
    rows = [r.split("\t") for r in (m.path / "sessions" / FP / "index.tsv").read_text()
            .splitlines()[1:]]
    status = {r[0]: r[10] for r in rows}
    assert status["session-1700000000001-0.jsonl"] == "ok"
    for name in ("corrupt.jsonl", "binary.jsonl", "wrong-type.jsonl", "bom.jsonl"):
        assert status[name].startswith("error: "), (name, status[name])


def test_xattrs_of_bad_files_answer(bad: tuple[Mount, Path]) -> None:
    m, _ = bad
    for name in BAD:
        path = m.path / "sessions" / FP / name
        assert os.getxattr(path, "user.claw.message_count") == b"0"


def test_mount_survives_everything(bad: tuple[Mount, Path]) -> None:
    m, _ = bad
    subprocess.run(["grep", "-r", "-c", "hello", m.path / "sessions"], capture_output=True,
                   check=False)
    subprocess.run(["ls", "-lR", m.path], capture_output=True, check=True)
    assert m.proc is not None and m.proc.poll() is None
    assert m.is_mounted()


def test_unreadable_file_is_skipped_with_a_log_line(tmp_path: Path) -> None:
    """The daemon runs without root's power over file modes: as plain root a
    chmod 000 file would be read and the test would pass for the wrong reason."""
    directory = write_store(tmp_path / "store")
    secret = directory / "secret.jsonl"
    secret.write_bytes(GOOD.replace(b"hello", b"secret"))
    secret.chmod(0o000)
    denied = subprocess.run([*HONOUR_MODES, "cat", secret], capture_output=True, check=False)
    assert denied.returncode != 0, "precondition: the file cannot be read"
    with mounted([tmp_path / "store"], tmp=tmp_path, honour_modes=True) as m:
        listing = os.listdir(m.path / "sessions" / FP)
        assert "secret.jsonl" not in listing
        assert "session-1700000000001-0.jsonl" in listing
        assert (m.path / "latest").read_bytes() == GOOD
        assert sum("secret.jsonl" in line for line in m.log().splitlines()) == 1
