"""scripts/lib/setup.sh: what a minimal Debian/Ubuntu lacks is installed, and
`link_user_files` puts clawfs on PATH with its man page, completions and
systemd unit, never clobbering another program's file (issue 15).

The system checks run with a PATH of stand-ins: the real tools the script
needs, minus the one under test, and an `apt-get` that records what it was
asked to install instead of installing it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from storegen import REPO

SETUP = REPO / "scripts" / "lib" / "setup.sh"
TOOLS = ("fusermount3", "pkg-config", "getfattr", "tree", "bindfs", "rsync", "gcc", "id",
         "dirname", "cat", "mkdir", "ln", "cp", "cmp", "cut")


def stand_ins(tmp_path: Path, leave_out: str = "", python: str = sys.executable) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        if tool != leave_out and found is not None:
            (bin_dir / tool).symlink_to(found)
    (bin_dir / "python3").symlink_to(python)
    (bin_dir / "apt-get").write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/apt.log\n')
    (bin_dir / "apt-get").chmod(0o755)
    return bin_dir


def run_setup(step: str, env: dict[str, str], cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    bash = shutil.which("bash")
    assert bash is not None
    return subprocess.run([bash, "-c", f". {SETUP}; {step}"], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=60, check=False)


def test_the_stand_ins_need_nothing(tmp_path: Path) -> None:
    """The precondition: with every tool present, nothing is installed."""
    env = {"PATH": str(stand_ins(tmp_path)), "HOME": str(tmp_path)}
    done = run_setup("ensure_system_packages", env)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "apt.log").exists()


@pytest.mark.parametrize(("tool", "package"), [("gcc", "gcc"), ("tree", "tree"),
                                               ("getfattr", "attr"), ("fusermount3", "fuse3"),
                                               ("rsync", "rsync")])
def test_a_missing_tool_is_installed(tmp_path: Path, tool: str, package: str) -> None:
    env = {"PATH": str(stand_ins(tmp_path, leave_out=tool)), "HOME": str(tmp_path)}
    done = run_setup("ensure_system_packages", env)
    assert f"installing system packages: {package}" in done.stderr
    assert f"install -y -qq {package}" in (tmp_path / "apt.log").read_text()


def test_a_python_without_venv_or_headers_gets_python3_venv_and_python3_dev(
    tmp_path: Path,
) -> None:
    fake = tmp_path / "python3"
    fake.write_text("#!/bin/sh\nexit 1\n")  # no ensurepip, no Python.h
    fake.chmod(0o755)
    env = {"PATH": str(stand_ins(tmp_path, python=str(fake))), "HOME": str(tmp_path)}
    done = run_setup("ensure_system_packages", env)
    assert "installing system packages: python3-venv python3-dev" in done.stderr
    assert done.returncode == 1 and "Python.h is missing" in done.stderr


def test_link_user_files(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "CLAWFS_VENV": str(REPO / ".venv")}
    done = run_setup("link_user_files", env)
    assert done.returncode == 0, done.stderr
    links = {
        ".local/bin/clawfs": REPO / ".venv" / "bin" / "clawfs",
        ".local/share/man/man1/clawfs.1": REPO / "scripts/share/man/man1/clawfs.1",
        ".local/share/bash-completion/completions/clawfs":
            REPO / "scripts/share/bash-completion/completions/clawfs",
        ".local/share/zsh/site-functions/_clawfs":
            REPO / "scripts/share/zsh/site-functions/_clawfs",
    }
    for link, target in links.items():
        assert os.readlink(home / link) == str(target), link
    unit = home / ".local/share/systemd/user/clawfs.service"
    assert unit.read_text() == (REPO / "scripts/share/systemd/user/clawfs.service").read_text()
    assert f"{home}/.local/bin is not on your PATH" in done.stderr
    again = run_setup("link_user_files",
                      {**env, "PATH": f"{home}/.local/bin:{os.environ['PATH']}"})
    assert again.returncode == 0 and again.stderr == "", again.stderr


def test_another_programs_files_are_left_alone(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".local" / "bin").mkdir(parents=True)
    (home / ".local" / "bin" / "clawfs").write_text("someone else's\n")
    unit = home / ".local/share/systemd/user/clawfs.service"
    unit.parent.mkdir(parents=True)
    unit.write_text("# edited by the user\n")
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "CLAWFS_VENV": str(REPO / ".venv")}
    done = run_setup("link_user_files", env)
    assert done.returncode == 0, done.stderr
    assert (home / ".local" / "bin" / "clawfs").read_text() == "someone else's\n"
    assert unit.read_text() == "# edited by the user\n"
    assert "exists and is not a link: left alone" in done.stderr
    assert "differs from scripts/share/systemd/user/clawfs.service: left alone" in done.stderr


def test_links_name_the_clones_real_path(tmp_path: Path) -> None:
    """Reached through a symlink (`cd ~/src/clawfs` where src is a link), the
    links still name the real place, so they outlive the symlink."""
    alias = tmp_path / "alias"
    alias.symlink_to(REPO)
    home = tmp_path / "home"
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "PWD": str(alias)}
    done = run_setup("pwd; link_user_files", env, cwd=alias)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(alias), "precondition: the shell sees the link's path"
    assert os.readlink(home / ".local/bin/clawfs") == str(REPO / ".venv" / "bin" / "clawfs")
    assert os.readlink(home / ".local/share/man/man1/clawfs.1") == str(
        REPO / "scripts/share/man/man1/clawfs.1")
