"""`clawfs show REF`: the Markdown of a session named as `claw --resume` names it.

Expectations follow claw's `resolve_reference` and `latest_session_excluding`
(session_control.rs 102-134, 179-214; claw-store-format §6-7), and were
checked against claw-oracle on the same stores (`list <fp dir> --cwd
<workspace>`: its `latest` answers session-b here, session-g when the
workspace's sessions are all empty, and its two errors read as below).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from clawfs.cli.main import main
from clawfs.format import markdown
from clawfs.format.fingerprint import fingerprint

import storegen as sg
from storegen import CORPUS, REPO

TORSTAN = (
    CORPUS / "Torstan__claw-code/rust/.claw/sessions/433010833d26c6d3"
    / "session-1775996322136-0.jsonl"
)


@pytest.fixture(autouse=True)
def _logging_restored() -> Iterator[None]:
    """`main` logs to the stderr of the moment: a captured one, closed after the test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in set(root.handlers) - set(handlers):
        root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project with three sessions (the newest empty), the global root empty."""
    ws = Path(os.path.realpath(tmp_path / "proj"))
    ws.mkdir()
    monkeypatch.setenv("CLAW_CONFIG_HOME", str(tmp_path / "claw-home"))
    monkeypatch.chdir(ws)
    store = sg.fp_dir(ws / ".claw" / "sessions", str(ws))
    for name, count, updated in [("session-a", 0, 30), ("session-b", 2, 20), ("session-c", 1, 10)]:
        sg.write_session(store, sg.make_session(name, messages=count, workspace_root=str(ws),
                                                updated_at_ms=updated))
    return ws


def _md(path: Path) -> bytes:
    return markdown.render_bytes(path.read_bytes(), os.path.realpath(path))


def _store(ws: Path) -> Path:
    return ws / ".claw" / "sessions" / fingerprint(str(ws))


def _show(capsys: pytest.CaptureFixture[bytes], *args: str) -> tuple[int, bytes, str]:
    status = main(["show", *args])
    out, err = capsys.readouterr()
    return status, out, err.decode()


def test_a_path_prints_its_markdown(capfdbinary: pytest.CaptureFixture[bytes]) -> None:
    assert _show(capfdbinary, str(TORSTAN)) == (0, _md(TORSTAN), "")


def test_a_relative_path_is_taken_from_the_current_directory(
    workspace: Path, capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    relative = os.path.relpath(_store(workspace) / "session-c.jsonl")
    assert _show(capfdbinary, relative) == (0, _md(workspace / relative), "")


@pytest.mark.parametrize("alias", ["latest", "LAST", "Recent"])
def test_latest_is_the_newest_session_with_messages(
    workspace: Path, alias: str, capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    assert _show(capfdbinary, alias) == (0, _md(_store(workspace) / "session-b.jsonl"), "")


def test_an_id_names_a_file_of_the_workspace(
    workspace: Path, capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    assert _show(capfdbinary, "session-c") == (0, _md(_store(workspace) / "session-c.jsonl"), "")


def test_an_id_of_a_store_given_by_option(
    tmp_path: Path, workspace: Path, capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    other = tmp_path / "other-store"
    directory = sg.fp_dir(other, "/elsewhere")
    sg.write_session(directory, sg.make_session("session-x", workspace_root="/elsewhere"))
    status, out, _ = _show(capfdbinary, "session-x", "--store", str(other), "--no-discover")
    assert (status, out) == (0, _md(directory / "session-x.jsonl"))


def test_latest_falls_back_to_another_workspace_with_a_note(
    tmp_path: Path, workspace: Path, capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    for name in ("session-b.jsonl", "session-c.jsonl"):
        (_store(workspace) / name).unlink()
    elsewhere = os.path.realpath(tmp_path / "elsewhere")
    directory = sg.fp_dir(tmp_path / "claw-home" / "sessions", elsewhere)
    sg.write_session(directory, sg.make_session("session-g", workspace_root=elsewhere))
    status, out, err = _show(capfdbinary, "latest")
    assert (status, out) == (0, _md(directory / "session-g.jsonl"))
    assert err == f"clawfs: note: a session from a different workspace (origin: {elsewhere})\n"


def test_claws_errors(workspace: Path, capfdbinary: pytest.CaptureFixture[bytes]) -> None:
    fp = fingerprint(str(workspace))
    hint = (
        f"Hint: managed sessions live in .claw/sessions/{fp}/ (workspace-specific partition).\n"
        "Try `latest` for the most recent session or `/session list` in the REPL.\n"
    )
    assert _show(capfdbinary, "nope") == (1, b"", "clawfs: session not found: nope\n" + hint)
    assert _show(capfdbinary, "session-b.json") == (
        1, b"", "clawfs: session not found: session-b.json\n" + hint
    )
    for name in ("session-b.jsonl", "session-c.jsonl"):
        (_store(workspace) / name).unlink()
    assert _show(capfdbinary, "latest") == (1, b"", (
        f"clawfs: all sessions are empty (0 messages) in .claw/sessions/{fp}/\n"
        "This usually means a fresh `claw` session is running but no messages have been sent"
        " yet.\nWait for a response in your other session, then try `--resume latest` again.\n"
    ))
    (_store(workspace) / "session-a.jsonl").unlink()
    assert _show(capfdbinary, "latest") == (1, b"", (
        f"clawfs: no managed sessions found in .claw/sessions/{fp}/\n"
        "Start `claw` to create a session, then rerun with `--resume latest`.\n"
        "Note: /resume latest searches all workspaces.\n"
    ))
    assert _show(capfdbinary, str(workspace)) == (
        1, b"", f"clawfs: {workspace}: not a regular file\n"
    )


def test_no_discovery_unless_asked(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    from clawfs.live import rediscovery

    walks: list[object] = []

    def walk(roots: list[object], settings: object) -> list[object]:
        walks.append(settings)
        return roots

    monkeypatch.setattr(rediscovery, "discover_now", walk)
    assert _show(capfdbinary, "latest")[0] == 0
    assert walks == []
    assert _show(capfdbinary, "latest", "--discover", str(workspace))[0] == 0
    assert len(walks) == 1


def _clawfs(*args: str, cwd: Path) -> list[str]:
    """`clawfs` in a fresh interpreter where importing pyfuse3 fails."""
    code = (
        "import sys; sys.modules['pyfuse3'] = None\n"
        "from clawfs.cli.main import main; sys.exit(main(sys.argv[1:]))"
    )
    return [sys.executable, "-c", code, *args]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def test_show_latest_works_without_fuse(workspace: Path) -> None:
    done = subprocess.run(_clawfs("show", "latest", cwd=workspace), cwd=workspace, env=_env(),
                          capture_output=True, timeout=60, check=False)
    assert (done.returncode, done.stderr) == (0, b"")
    assert done.stdout == _md(_store(workspace) / "session-b.jsonl")


def test_a_closed_pipe_ends_it_quietly(workspace: Path) -> None:
    big = [sg.text_message("line\n" * 2000) for _ in range(50)]  # ~1 MB of Markdown
    sg.write_session(_store(workspace), sg.make_session("session-big", messages=big,
                                                        workspace_root=str(workspace)))
    with subprocess.Popen(_clawfs("show", "session-big", cwd=workspace), cwd=workspace,
                          env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE) as child:
        assert child.stdout is not None and child.stderr is not None
        assert child.stdout.read(100).startswith(b"# line\n")
        child.stdout.close()
        assert child.wait(timeout=60) == 128 + 13
        assert child.stderr.read() == b""
