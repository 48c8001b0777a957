"""systemd: the shipped user unit works as installed, and `READY=1` goes to
`NOTIFY_SOCKET` (a path, or an abstract `@name`) (issue 15).

The unit is read and checked here on any machine: its command line is
parsed by clawfs's own parser, and its program is where scripts/install
puts clawfs. Where `systemd-analyze` exists, the unit is also verified by
systemd itself against a home holding that program.
"""

from __future__ import annotations

import configparser
import logging
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clawfs.cli.main import parse
from clawfs.mount.daemon import notify_systemd

import gendocs
from storegen import REPO

UNIT = REPO / "scripts" / "share" / "systemd" / "user" / "clawfs.service"


def unit_problems(text: str) -> list[str]:
    """What reading the unit finds wrong: the checks that need no systemd."""
    unit = configparser.ConfigParser(interpolation=None, strict=True)
    unit.optionxform = str  # type: ignore[assignment,method-assign]  # keys keep their case
    unit.read_string(text)
    problems = []
    service = unit["Service"]
    if service.get("Type") != "notify":
        problems.append("Type is not notify: dependants would not wait for the mount")
    program, *argv = shlex.split(service.get("ExecStart", ""))
    if program != INSTALLED:
        problems.append(f"ExecStart runs {program}, not {INSTALLED} (where scripts/install "
                        "and pipx put clawfs)")
    args = parse(argv)
    if args.command != "mount" or not args.foreground:
        problems.append("ExecStart is not `clawfs mount -f`: systemd supervises the process")
    if shlex.split(service.get("ExecStartPre", "")) != ["/bin/mkdir", "-p", str(args.mountpoint)]:
        problems.append("ExecStartPre does not create the mountpoint")
    if unit.get("Install", "WantedBy", fallback=None) != "default.target":
        problems.append("not wanted by default.target: enable would do nothing")
    if unit.get("Unit", "Documentation", fallback=None) != "man:clawfs(1)":
        problems.append("Documentation does not name the man page")
    return problems


INSTALLED = "%h/.local/bin/clawfs"


def verify(unit: Path, tmp_path: Path) -> subprocess.CompletedProcess[str] | None:
    """`systemd-analyze --user verify` against a home where clawfs is installed
    as scripts/install installs it; None where systemd-analyze does not exist."""
    home = tmp_path / "home"
    (home / ".local" / "bin").mkdir(parents=True)
    (home / ".local" / "bin" / "clawfs").symlink_to(Path(sys.executable).parent / "clawfs")
    assert (home / ".local" / "bin" / "clawfs").resolve().is_file()
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return None
    return subprocess.run(
        [analyze, "--user", "verify", str(unit)],
        env={**os.environ, "HOME": str(home), "XDG_RUNTIME_DIR": str(runtime),
             "MANPATH": str(gendocs.MAN_PAGE.parents[1])},
        capture_output=True, text=True, check=False,
    )


def test_the_unit_works_as_installed(tmp_path: Path) -> None:
    """Read on every machine; verified by systemd itself where it is installed."""
    assert unit_problems(UNIT.read_text()) == []
    done = verify(UNIT, tmp_path)
    if done is not None:
        assert (done.returncode, done.stderr, done.stdout) == (0, "", "")


def test_a_broken_unit_is_caught(tmp_path: Path) -> None:
    broken = tmp_path / "clawfs.service"
    broken.write_text(UNIT.read_text().replace(INSTALLED, "%h/nowhere/clawfs")
                      .replace("Type=notify", "Type=simple"))
    assert len(unit_problems(broken.read_text())) == 2
    done = verify(broken, tmp_path)
    if done is not None:
        assert done.returncode != 0 and "nowhere/clawfs" in done.stderr


def test_the_unit_names_clawfs_where_the_install_puts_it() -> None:
    setup = (REPO / "scripts" / "lib" / "setup.sh").read_text()
    assert 'USER_BIN="${CLAWFS_BIN_DIR:-$HOME/.local/bin}"' in setup
    assert '_link "$VENV/bin/clawfs" "$USER_BIN/clawfs"' in setup
    assert INSTALLED.replace("%h", "$HOME") == "$HOME/.local/bin/clawfs"


def test_the_unit_ships_in_the_wheel_data() -> None:
    pyproject = (REPO / "pyproject.toml").read_text()
    assert '"share/systemd/user" = ["scripts/share/systemd/user/clawfs.service"]' in pyproject


# --- sd_notify --------------------------------------------------------------------------


def listening(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(5)
    return sock


def test_notify_to_a_socket_path(tmp_path: Path) -> None:
    path = str(tmp_path / "notify")
    with listening(path) as sock:
        assert notify_systemd("READY=1\nSTATUS=x", {"NOTIFY_SOCKET": path}) is True
        assert sock.recv(4096) == b"READY=1\nSTATUS=x"


def test_notify_to_an_abstract_socket() -> None:
    name = f"clawfs-notify-{os.getpid()}-{time.monotonic_ns()}"
    with listening("\0" + name) as sock:
        assert notify_systemd("READY=1", {"NOTIFY_SOCKET": "@" + name}) is True
        assert sock.recv(4096) == b"READY=1"


def test_notify_without_systemd_does_nothing() -> None:
    assert notify_systemd("READY=1", {}) is False
    assert notify_systemd("READY=1", {"NOTIFY_SOCKET": ""}) is False
    assert notify_systemd("READY=1", {"NOTIFY_SOCKET": "vsock:2:1234"}) is False


def test_a_dead_notify_socket_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        assert notify_systemd("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "gone")}) is False
    assert "cannot notify systemd" in caplog.text
