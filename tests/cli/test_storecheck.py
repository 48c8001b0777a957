"""Warnings for store options that do not say what the user meant, and for
commands that find no session at all (issue 15), with the fix in each."""

from __future__ import annotations

from pathlib import Path

import pytest

from clawfs.cli import main as cli
from clawfs.cli.storecheck import store_problem

import storegen as sg


def a_store(root: Path) -> Path:
    sg.workspace_store(root, "/work/p", [(sg.make_session("s1"), 1_700_000_000_000)])
    return root


def test_a_real_store_is_fine(tmp_path: Path) -> None:
    assert store_problem(str(a_store(tmp_path / "store"))) is None
    flat = tmp_path / "flat"
    sg.write_session(flat, sg.make_session("legacy"))
    assert store_problem(str(flat)) is None


def test_a_missing_directory(tmp_path: Path) -> None:
    problem = store_problem(str(tmp_path / "nope"))
    assert problem == (f"--store {tmp_path / 'nope'}: no such directory (it is watched and "
                       "shows once claw creates it; check the path)")


def test_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    assert "not a directory" in (store_problem(str(tmp_path / "f")) or "")


def test_a_project_directory_suggests_workspace(tmp_path: Path) -> None:
    a_store(tmp_path / "proj" / ".claw" / "sessions")
    problem = store_problem(str(tmp_path / "proj"))
    assert problem == (f"--store {tmp_path / 'proj'} is a project directory, not a session "
                       f"store: did you mean --workspace {tmp_path / 'proj'}?")


def test_its_claw_directory_suggests_sessions(tmp_path: Path) -> None:
    a_store(tmp_path / "proj" / ".claw" / "sessions")
    claw = tmp_path / "proj" / ".claw"
    assert store_problem(str(claw)) == (
        f"--store {claw} is claw's .claw directory: did you mean --store {claw / 'sessions'} "
        f"(or --data-dir {claw})?")


def test_a_directory_without_sessions(tmp_path: Path) -> None:
    (tmp_path / "other" / "notes").mkdir(parents=True)
    (tmp_path / "other" / "notes" / "x.txt").write_text("x")
    problem = store_problem(str(tmp_path / "other")) or ""
    assert "holds no claw sessions" in problem and "--workspace PROJECT" in problem


def test_an_empty_project_store_is_only_not_written_yet(tmp_path: Path) -> None:
    store = tmp_path / "proj" / ".claw" / "sessions"
    store.mkdir(parents=True)
    assert store_problem(str(store)) == (
        f"--store {store} holds no claw sessions yet (it is watched: they show as claw "
        "writes them)")


@pytest.mark.parametrize("command", ["tree", "workspaces"])
def test_commands_warn_on_stderr_and_say_where_they_looked(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "proj" / ".claw" / "sessions").mkdir(parents=True)
    assert cli.main([command, "--no-discover", "--store", str(tmp_path / "proj")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"clawfs: --store {tmp_path / 'proj'} is a project directory, not a session store: "
        f"did you mean --workspace {tmp_path / 'proj'}?",
        f"clawfs: no claw sessions found (looked in {tmp_path / 'proj'}): give the store "
        "with --store, --workspace or --data-dir",
    ]
