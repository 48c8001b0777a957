"""Issue 13, store text that reaches a log, a terminal or a name (SPEC §6):
escaped, so a file name cannot forge a log line or drive the terminal, and
format characters (Unicode Cf: bidi overrides, zero-width marks) cannot
spoof a listing.

A log line clawfs writes starts with `<date> <time>,<ms> <LEVEL> <logger>:`
(the daemon's log) or `clawfs:` (stderr); a file name holding a newline and
such a prefix must not start a line of its own, and an ANSI escape must not
reach the log or a terminal raw.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

from clawfs.format.fingerprint import fingerprint

import storegen as sg
from mounting import Sandbox, mounted, wait_until

T0 = 1_780_000_000_000
WORKSPACE = "/srv/escaping"
FORGED = "2026-12-01 20:00:00,000 ERROR clawfs: FAKE"
HOSTILE_NAME = f"x\n{FORGED} \x1b[31mred\x1b[0m.jsonl"
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")
"""Control characters other than the newline that ends each line."""
SPOOFING = ["\u202e", "\u2066", "\u200b", "\u061c", "\ufeff"]
"""Format characters (Cf): right-to-left override, left-to-right isolate,
zero-width space, Arabic letter mark, zero-width no-break space."""


def hostile_store(base: Path) -> Path:
    """A good session and a corrupt one with the hostile name (its problem is logged)."""
    store = base / "store"
    directory = sg.fp_dir(store, WORKSPACE)
    sg.write_session(directory, sg.make_session("good", messages=1, workspace_root=WORKSPACE,
                                                updated_at_ms=T0), mtime_ms=T0)
    sg.write_bytes(directory, HOSTILE_NAME, b"not json at all\n", T0 + 1)
    return store


def forged_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(FORGED)]


def raw_controls(text: str) -> list[str]:
    return sorted({repr(ch) for ch in CONTROL.findall(text)})


def test_a_file_name_cannot_forge_a_log_line(tmp_path: Path) -> None:
    store = hostile_store(tmp_path)
    with mounted([store], tmp=tmp_path / "m", foreground=False) as m:
        wait_until(lambda: "FAKE" in m.log(), 30, "the hostile file's problem to be logged")
        log = m.log()
    assert forged_lines(log) == [], log
    assert raw_controls(log) == [], log


@pytest.mark.parametrize("command", ["tree", "workspaces"])
def test_a_file_name_cannot_drive_the_terminal(tmp_path: Path, command: str) -> None:
    store = hostile_store(tmp_path)
    sandbox = Sandbox(tmp_path / "sandbox")
    sandbox.cwd.mkdir(parents=True)
    done = sandbox.run(command, "--store", store, "--no-discover")
    assert done.returncode == 0, done.stderr
    assert "FAKE" in done.stdout + done.stderr  # the name is shown, escaped
    for out in (done.stdout, done.stderr):
        assert forged_lines(out) == [], out
        assert raw_controls(out) == [], out


def spoofing_store(base: Path) -> Path:
    """One workspace per format character in its root's last component, and
    a fork whose branch name holds a right-to-left override."""
    store = base / "store"
    for n, ch in enumerate(SPOOFING):
        root = f"/srv/evil{n}{ch}gnp.exe"
        session = sg.make_session(f"s{n}", messages=1, workspace_root=root, updated_at_ms=T0)
        sg.write_session(sg.fp_dir(store, root), session, mtime_ms=T0)
    directory = sg.fp_dir(store, WORKSPACE)
    sg.write_session(directory, sg.make_session("parent", messages=1, workspace_root=WORKSPACE,
                                                updated_at_ms=T0), mtime_ms=T0)
    sg.write_session(directory, sg.make_session("child", messages=1, workspace_root=WORKSPACE,
                                                parent="parent", branch="fix\u202etxt.exe",
                                                updated_at_ms=T0 + 1), mtime_ms=T0 + 1)
    return store


def format_characters(text: str) -> list[str]:
    return sorted({f"U+{ord(ch):04X}" for ch in text if unicodedata.category(ch) == "Cf"})


def test_labels_hold_no_format_characters(tmp_path: Path) -> None:
    store = spoofing_store(tmp_path)
    with mounted([store], tmp=tmp_path / "m") as m:
        labels = sorted(p.name for p in (m.path / "workspaces").iterdir())
        assert len(labels) == len(SPOOFING) + 1, labels
        assert format_characters("".join(labels)) == [], labels
        for n in range(len(SPOOFING)):  # each still names its workspace
            owner = [label for label in labels if label.startswith(f"evil{n}")]
            assert len(owner) == 1, labels
            fp = fingerprint(f"/srv/evil{n}{SPOOFING[n]}gnp.exe")
            assert (m.path / "workspaces" / owner[0]).readlink() == Path(f"../sessions/{fp}")


@pytest.mark.parametrize("command", ["tree", "workspaces"])
def test_the_terminal_gets_no_format_characters(tmp_path: Path, command: str) -> None:
    store = spoofing_store(tmp_path)
    sandbox = Sandbox(tmp_path / "sandbox")
    sandbox.cwd.mkdir(parents=True)
    done = sandbox.run(command, "--store", store, "--no-discover")
    assert done.returncode == 0, done.stderr
    assert format_characters(done.stdout + done.stderr) == [], done.stdout
