"""`clawfs tree` and `clawfs workspaces` keep stderr for problems: discovery's
progress shows with `-v`, or once the walk has been slow, and counts read
as English (issue 15)."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from clawfs.cli import logsetup
from clawfs.store import discover

import storegen as sg
from mounting import Sandbox


def sandbox_with_a_project(tmp_path: Path) -> Sandbox:
    """A HOME holding one project store, found by discovery."""
    sandbox = Sandbox(tmp_path / "sandbox")
    sandbox.env()  # creates home, state and cwd
    store = sandbox.home / "proj" / ".claw" / "sessions"
    sg.workspace_store(store, str(sandbox.home / "proj"),
                       [(sg.make_session("s1", workspace_root=str(sandbox.home / "proj")),
                         1_700_000_000_000)])
    return sandbox


@pytest.mark.parametrize("command", ["tree", "workspaces"])
def test_stderr_is_quiet_on_every_run(command: str, tmp_path: Path) -> None:
    sandbox = sandbox_with_a_project(tmp_path)
    first = sandbox.run(command)  # nothing remembered yet: the walk runs
    again = sandbox.run(command)
    for done in (first, again):
        assert done.returncode == 0, done.stderr
        assert done.stderr == ""
        assert "proj" in done.stdout


@pytest.mark.parametrize("command", ["tree", "workspaces"])
def test_verbose_shows_the_walk_in_english(command: str, tmp_path: Path) -> None:
    sandbox = sandbox_with_a_project(tmp_path)
    done = sandbox.run(command, "-v")
    assert done.returncode == 0, done.stderr
    assert f"clawfs: discovery: walking {sandbox.home}" in done.stderr
    assert "clawfs: discovery: found " in done.stderr
    end = [line for line in done.stderr.splitlines() if "discovery: done in" in line]
    assert len(end) == 1 and ", 1 new store, 0 unreadable" in end[0], done.stderr
    assert "directories" in end[0] and "(s)" not in done.stderr


def test_counts_are_english(caplog: pytest.LogCaptureFixture) -> None:
    one = discover.DiscoveryResult(roots=["/r"], dirs_visited=1, unreadable=0,
                                   cut_short=False, seconds=0.0)
    with caplog.at_level(logging.INFO):
        discover.Walker._log_end(one)
    assert "1 directory, 1 new store, 0 unreadable" in caplog.text


def test_progress_shows_once_the_command_is_slow() -> None:
    """`ProgressAfter`: warnings always; info lines once its time has come."""
    script = (
        "import logging, time\n"
        "from clawfs.cli import logsetup\n"
        "logsetup.to_stderr(debug=False, progress_after=0.3)\n"
        "log = logging.getLogger('clawfs')\n"
        "log.info('early'); log.warning('a problem'); time.sleep(0.4); log.info('late')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True)
    assert done.stderr.splitlines() == ["clawfs: a problem", "clawfs: late"]


def test_the_slow_threshold_is_a_couple_of_seconds() -> None:
    assert 1.0 <= logsetup.SLOW_SECONDS <= 5.0
