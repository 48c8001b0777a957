"""The demo: `clawfs demo` mounts a sample store when the machine has no claw
sessions and prints what to try; `scripts/demo` works from any directory,
puts `clawfs` on PATH, and every command it prints works as printed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mounting import Mount, clawfs_command, new_mount, unmounting
from storegen import REPO


def run_demo(mount: Mount, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(clawfs_command("demo", *args), env=mount.sandbox.env(),
                          cwd=mount.sandbox.cwd, capture_output=True, text=True,
                          timeout=120, start_new_session=True, check=False)


def test_demo_mounts_a_sample_and_prints_tips(tmp_path: Path) -> None:
    mount = new_mount(tmp_path)
    mount.log_path = mount.sandbox.state / "clawfs" / "clawfs.log"
    with unmounting(mount):
        done = run_demo(mount, mount.path)
        assert done.returncode == 0, done.stderr
        assert "a sample store" in done.stdout
        assert "W=" in done.stdout and "umount" in done.stdout
        assert sorted(os.listdir(mount.path / "workspaces")) == ["cli-tool", "notes", "webapp"]
        store = mount.sandbox.home / ".local" / "share" / "clawfs" / "demo-store"
        assert os.readlink(mount.path / "latest").startswith("sessions/")
        assert (mount.path / "latest").resolve().read_bytes().startswith(b'{"created_at_ms"')
        assert store.is_dir()
        # The readable view's tips work as printed.
        tip = {why: command for command, why in re.findall(r"^  (.+?)\s+# (.+)$", done.stdout,
                                                             re.MULTILINE)}
        assert tip["the same session as Markdown: messages, tools, output"] == \
            f"less {mount.path}/latest.md"
        assert tip["follow a running session as claw writes it"] == \
            f"tail -f {mount.path}/latest.md"
        found = _shell(tip["tool output as lines (JSON hides them)"], mount.sandbox.env(),
                       mount.sandbox.cwd)
        assert found.returncode == 0, found.stderr
        assert ".md:" in found.stdout and ":error: could not compile" in found.stdout
        assert (mount.path / "latest.md").read_text().startswith("# Summarize what we did")
        assert "bugfix" in _shell(tip["the newest session of each branch"].replace(
            "$W", str(mount.path / "workspaces" / "webapp")), mount.sandbox.env(),
            mount.sandbox.cwd).stdout
        again = run_demo(mount, mount.path)
        assert again.returncode == 0, again.stderr
        assert "remounting" in again.stdout


def test_demo_leaves_a_non_empty_directory_alone(tmp_path: Path) -> None:
    mount = new_mount(tmp_path)
    target = tmp_path / "busy"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    done = run_demo(mount, target)
    assert done.returncode == 1
    assert "not an empty directory" in done.stderr and "demo /tmp/claw" in done.stderr
    assert os.listdir(target) == ["keep.txt"]


def test_scripts_demo_from_another_directory_and_its_commands_work_as_printed(
    tmp_path: Path,
) -> None:
    """From a directory holding a folder named `clawfs` (a clone's parent),
    `python -m clawfs` would import that folder; the demo must not. With
    ~/.local/bin on PATH the printed commands say plain `clawfs`."""
    mount = new_mount(tmp_path)
    home = mount.sandbox.home
    mount.path = home / "claw"  # the demo's default mountpoint
    mount.log_path = mount.sandbox.state / "clawfs" / "clawfs.log"
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "clawfs").mkdir(parents=True)  # the shadowing folder
    env = {**mount.sandbox.env(), "PATH": f"{home}/.local/bin:{os.environ['PATH']}"}
    with unmounting(mount):
        done = subprocess.run(["bash", REPO / "scripts" / "demo"], env=env, cwd=elsewhere,
                              capture_output=True, text=True, timeout=600,
                              start_new_session=True, check=False)
        assert done.returncode == 0, done.stderr + done.stdout
        assert "ImportError" not in done.stderr
        assert os.path.realpath(home / ".local" / "bin" / "clawfs") == str(
            REPO / ".venv" / "bin" / "clawfs")
        man = home / ".local" / "share" / "man" / "man1" / "clawfs.1"
        assert man.read_text().startswith(".TH CLAWFS")
        assert (home / ".local/share/bash-completion/completions/clawfs").is_file()
        assert mount.is_mounted()
        w = re.search(r"^  (W=\S+)$", done.stdout, re.MULTILINE)
        path_tip = re.search(r"^  (clawfs path \$W/latest)\s", done.stdout, re.MULTILINE)
        assert w is not None and path_tip is not None, done.stdout
        shown = _shell(f"{w.group(1)}; {path_tip.group(1)}", env, elsewhere)
        assert shown.returncode == 0, shown.stderr
        assert Path(shown.stdout.strip()).is_file()
        unmount = re.search(r"^Unmount with:  (.+?)   \(or:", done.stdout, re.MULTILINE)
        assert unmount is not None and unmount.group(1) == "clawfs umount ~/claw", done.stdout
        gone = _shell(unmount.group(1), env, elsewhere)
        assert gone.returncode == 0, gone.stderr
        assert not mount.is_mounted()


@pytest.mark.parametrize("installed", [False, True], ids=["no link", "~/.local/bin link"])
def test_without_clawfs_on_path_the_demo_prints_the_full_path(
    tmp_path: Path, installed: bool
) -> None:
    """Not on PATH: the install's link in ~/.local/bin when there is one
    (scripts/install made it), else the program in the virtualenv."""
    mount = new_mount(tmp_path)
    mount.log_path = mount.sandbox.state / "clawfs" / "clawfs.log"
    env = {**mount.sandbox.env(), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    if installed:
        (mount.sandbox.home / ".local" / "bin").mkdir(parents=True)
        (mount.sandbox.home / ".local" / "bin" / "clawfs").symlink_to(
            Path(sys.executable).parent / "clawfs")
    with unmounting(mount):
        done = subprocess.run(clawfs_command("demo", mount.path), env=env,
                              cwd=mount.sandbox.cwd, capture_output=True, text=True,
                              timeout=120, start_new_session=True, check=False)
        assert done.returncode == 0, done.stderr
        unmount = re.search(r"^Unmount with:  (.+?)   \(or:", done.stdout, re.MULTILINE)
        assert unmount is not None, done.stdout
        program = unmount.group(1).split()[0]
        assert program == "~/.local/bin/clawfs" if installed else program.endswith("/bin/clawfs")
        assert f"add {os.path.dirname(program)} to it" in done.stdout
        gone = _shell(unmount.group(1), env, mount.sandbox.cwd)
        assert gone.returncode == 0, gone.stderr
        assert not mount.is_mounted()


def _shell(command: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", command], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=60, check=False)
