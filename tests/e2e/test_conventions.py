"""The conventions of mount tools, through real mounts (issue 15): `-o`
options, a read-only mount, link times for `find -newer`, a failed fork's
reason in the log, warnings about store options, systemd readiness,
`clawfs path`, and `umount --force` on a stopped daemon."""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from clawfs.cli.samplestore import SampleStore, generate
from clawfs.mount.view import SESSION_LINK

import storegen as sg
from mounting import Mount, alive, mounted, new_mount, unmounting, wait_until


def mount_options(path: Path) -> set[str]:
    """The per-mount options (field 6) and the superblock ones of `path`."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == str(path):
                return set(fields[5].split(",")) | set(line.split(" - ")[1].split()[2].split(","))
    raise AssertionError(f"{path} is not mounted")


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file below `root` with its size and mtime: what a mount must not change."""
    found = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            st = os.lstat(os.path.join(dirpath, name))
            found[os.path.join(dirpath, name)] = (st.st_size, st.st_mtime_ns)
    return found


def webapp(m: Mount) -> Path:
    return m.path / "workspaces" / "webapp"


def a_fork_node(m: Mount) -> Path:
    forks = webapp(m) / "forks"
    return forks / sorted(os.listdir(forks))[0]


# --- -o OPT[,OPT...] -----------------------------------------------------------


def test_dash_o_gives_store_and_kernel_options(sample: SampleStore, tmp_path: Path) -> None:
    stores = ",".join(f"workspace={p}" for p in sample.projects)
    with mounted(extra_args=["-o", f"{stores},nosuid,nodev,noatime", "-o", "rw,defaults"],
                 tmp=tmp_path) as m:
        assert sorted(os.listdir(m.path / "workspaces")) == ["cli-tool", "notes", "webapp"]
        assert (m.path / "latest").read_bytes() == sample.files["ideas"].read_bytes()
        options = mount_options(m.path)
        assert {"nosuid", "nodev", "noatime", "rw"} <= options, options


def test_dash_o_with_an_unknown_option_names_the_closest(tmp_path: Path) -> None:
    mount = new_mount(tmp_path)
    done = mount.sandbox.run("mount", mount.path, "-o", "ro,alow_other", "--no-discover")
    assert done.returncode == 2
    assert "usage: clawfs mount" in done.stderr
    assert "unknown mount option 'alow_other' (did you mean 'allow_other'?)" in done.stderr
    assert os.listdir(mount.path) == [] and not mount.is_mounted()


# --- --read-only -----------------------------------------------------------------


@pytest.mark.parametrize("switch", [["--read-only"], ["-o", "ro"]], ids=["--read-only", "-o ro"])
def test_read_only_turns_the_fork_files_off(tmp_path: Path, switch: list[str]) -> None:
    store = generate(tmp_path / "store")
    before = snapshot(store.base)
    with mounted(extra_args=[*store.mount_args(), *switch], tmp=tmp_path / "m") as m:
        assert "ro" in mount_options(m.path)
        controls = [webapp(m) / "fork", a_fork_node(m) / "fork"]
        for control in controls:
            assert os.stat(control).st_mode & 0o777 == 0o444
            with pytest.raises(OSError) as caught:
                with open(control, "w") as f:
                    f.write("bugfix\n")
            assert caught.value.errno == errno.EROFS
        shell = subprocess.run(["bash", "-c", f"echo bugfix > {controls[0]}"],
                               capture_output=True, text=True, check=False)
        assert shell.returncode != 0 and "Read-only file system" in shell.stderr
        assert (m.path / "latest").read_bytes()  # reading still works
    assert snapshot(store.base) == before


def test_without_read_only_a_fork_file_forks(tmp_path: Path) -> None:
    """The precondition of the test above: the same write forks on a normal mount."""
    store = generate(tmp_path / "store")
    with mounted(extra_args=store.mount_args(), tmp=tmp_path / "m") as m:
        assert os.stat(webapp(m) / "fork").st_mode & 0o777 == 0o644
        (webapp(m) / "fork").write_text("bugfix\n")
        assert (webapp(m) / "fork").read_text().split("\t")[1] == "bugfix"


# --- find -newer: links have the times of what they point at -------------------------


def test_links_have_the_times_of_their_sessions(sample: SampleStore, tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    reference.touch()  # after every sample session, before the mount starts
    time.sleep(0.05)
    with mounted(extra_args=sample.mount_args(), tmp=tmp_path / "m") as m:
        link = a_fork_node(m) / SESSION_LINK
        assert os.lstat(link).st_mtime_ns == os.stat(link).st_mtime_ns
        assert os.lstat(m.path / "latest").st_mtime_ns == sample.files["ideas"].stat().st_mtime_ns
        found = subprocess.run(["find", m.path, "-newer", reference, "-name", "*.jsonl"],
                               capture_output=True, text=True, check=True)
        assert found.stdout == "", "no session is newer than the reference, nor a link to one"
        newer = subprocess.run(["find", m.path, "-newer", reference],
                               capture_output=True, text=True, check=True)
        assert not [p for p in newer.stdout.split() if os.path.islink(p)
                    and os.path.isfile(p)], newer.stdout


# --- a failed fork's reason in the log --------------------------------------------------


def test_a_failed_fork_says_why_in_the_log(tmp_path: Path) -> None:
    store = tmp_path / "store"
    empty = sg.make_session("meta-only", messages=0, workspace_root="/work/empty")
    sg.workspace_store(store, "/work/empty", [(empty, 1_700_000_000_000)])
    with mounted([store], tmp=tmp_path / "m") as m:
        (fp,) = os.listdir(m.path / "sessions")
        control = m.path / "sessions" / fp / "fork"
        fd = os.open(control, os.O_WRONLY | os.O_TRUNC)
        try:
            with pytest.raises(OSError) as caught:
                os.write(fd, b"x\n")
        finally:
            os.close(fd)
        assert caught.value.errno == errno.ENOENT
        assert control.read_text() == "error: this workspace has no latest session\n"
        wait_until(lambda: "no latest session" in m.log(), 5, "the log line")
        line = next(line for line in m.log().splitlines() if "no latest session" in line)
        assert "fork through" in line and fp in line and "ENOENT" in line


# --- warnings about store options ----------------------------------------------------------


def test_mount_warns_about_a_project_dir_given_as_store(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / ".claw" / "sessions").mkdir(parents=True)
    mount = new_mount(tmp_path)
    with unmounting(mount):
        done = mount.sandbox.run("mount", mount.path, "--store", project, "--no-discover",
                                 "--log-file", mount.log_path)
        assert done.returncode == 0, done.stderr
        expected = f"did you mean --workspace {project}?"
        assert expected in done.stderr
        assert "no claw sessions found (looked in " in done.stderr
        assert expected in mount.log() and "no claw sessions found" in mount.log()


def test_mount_of_a_good_store_warns_nothing(sample: SampleStore, tmp_path: Path) -> None:
    mount = new_mount(tmp_path)
    with unmounting(mount):
        done = mount.sandbox.run("mount", mount.path, *sample.mount_args(),
                                 "--log-file", mount.log_path)
        assert done.returncode == 0, done.stderr
        assert done.stderr == ""
        assert " WARNING " not in mount.log()


# --- systemd: READY=1 once the mount answers ---------------------------------------------


@pytest.fixture(params=["path", "abstract"])
def notify_socket(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[
        tuple[str, socket.socket]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if request.param == "path":
        address = str(tmp_path / "notify")
        sock.bind(address)
    else:
        name = f"clawfs-test-{os.getpid()}-{time.monotonic_ns()}"
        sock.bind("\0" + name)
        address = "@" + name
    with sock:
        yield address, sock


def test_sd_notify_ready_when_the_mount_answers(
    sample: SampleStore, tmp_path: Path, notify_socket: tuple[str, socket.socket]
) -> None:
    address, sock = notify_socket
    sock.settimeout(30)
    got: list[tuple[bytes, bytes | None]] = []

    def receive() -> None:
        data = sock.recv(4096)
        try:  # what a reader sees the moment systemd would start dependants
            seen: bytes | None = (tmp_path / "m" / "mnt" / "latest").read_bytes()
        except OSError:
            seen = None
        got.append((data, seen))

    listener = threading.Thread(target=receive)
    listener.start()
    with mounted(extra_args=sample.mount_args(), tmp=tmp_path / "m",
                 env={"NOTIFY_SOCKET": address}) as m:
        listener.join(30)
        assert got, "no READY=1"
        (data, seen), = got
        fields = dict(line.split("=", 1) for line in data.decode().splitlines())
        assert fields["READY"] == "1"
        assert fields["STATUS"] == f"serving {m.path}"
        assert seen == sample.files["ideas"].read_bytes()


# --- clawfs path ---------------------------------------------------------------------------


def test_clawfs_path_prints_backing_files(sample: SampleStore, tmp_path: Path) -> None:
    with mounted(extra_args=sample.mount_args(), tmp=tmp_path) as m:
        node = a_fork_node(m)
        done = m.sandbox.run("path", m.path / "latest", node, node / SESSION_LINK)
        assert done.returncode == 0, done.stderr
        latest, of_node, of_link = done.stdout.splitlines()
        assert latest == str(sample.files["ideas"])
        assert of_node == of_link == os.fsdecode(os.getxattr(node / SESSION_LINK,
                                                             "user.claw.path"))
        assert Path(of_node).read_bytes() == (node / SESSION_LINK).read_bytes()
        assert not of_node.startswith(str(m.path))
        resumed = subprocess.run(["bash", "-c", f'cat "$(clawfs path {m.path}/latest)"'],
                                 env={**m.sandbox.env(), "PATH": _clawfs_path()},
                                 capture_output=True, check=False)
        assert resumed.stdout == sample.files["ideas"].read_bytes(), resumed.stderr


def test_clawfs_path_errors(sample: SampleStore, tmp_path: Path) -> None:
    outside = tmp_path / "plain.jsonl"
    outside.write_text("{}\n")
    with mounted(extra_args=sample.mount_args(), tmp=tmp_path / "m") as m:
        tsv = webapp(m) / "index.tsv"
        done = m.sandbox.run("path", tsv, outside, m.path / "nope", m.path / "latest")
        assert done.returncode == 1
        errors = done.stderr.splitlines()
        assert errors == [
            f"clawfs: {tsv}: has no backing file (only sessions do: a transcript, an alias "
            "such as latest, or a forks/ node)",
            f"clawfs: {outside}: not in a clawfs mount (it is on "
            f"{_fstype_of(tmp_path)}; `findmnt -t fuse.clawfs` lists the mounts)",
            f"clawfs: {m.path / 'nope'}: no such file in the mount",
        ]
        assert done.stdout == f"{sample.files['ideas']}\n", "the good path is still printed"


def _fstype_of(path: Path) -> str:
    found = subprocess.run(["findmnt", "-n", "-o", "FSTYPE,TARGET", "-T", str(path)],
                           capture_output=True, text=True, check=True).stdout.split()
    return f"{found[0]} at {found[1]}"


def _clawfs_path() -> str:
    """PATH with this venv's bin first, where the `clawfs` entry point is."""
    import sys

    return f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}"


# --- umount --force: a stopped daemon -----------------------------------------------------


def test_umount_force_frees_readers_of_a_stopped_daemon(
    sample: SampleStore, tmp_path: Path
) -> None:
    with mounted(extra_args=sample.mount_args(), tmp=tmp_path) as m:
        pid = m.daemon_pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        try:
            # A fresh name: no cache can answer it, so the reader waits on the daemon.
            reader = subprocess.Popen(["cat", m.path / "sessions" / "nothing-cached-here"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(0.5)
            assert reader.poll() is None, "the reader should hang on the stopped daemon"
            plain = m.sandbox.run("umount", m.path, timeout=30)
            assert plain.returncode == 1 and "busy" in plain.stderr, plain.stderr
            assert f"clawfs umount --force {m.path}" in plain.stderr
            forced = m.sandbox.run("umount", "--force", m.path, timeout=30)
            assert forced.returncode == 0, forced.stderr
            reader.wait(timeout=10)
            assert reader.returncode != 0
            assert reader.stderr is not None
            assert b"Software caused connection abort" in reader.stderr.read()
            assert not m.is_mounted()
            assert os.listdir(m.path) == []
        finally:
            if alive(pid):
                os.kill(pid, signal.SIGCONT)
        wait_until(lambda: not alive(pid), 10, "the daemon to exit once continued")
