"""`mount -t fuse.clawfs` and an /etc/fstab line, for real (issue 15).

mount(8) runs mount.fuse3, which runs `clawfs SOURCE MOUNTPOINT -o OPTIONS`
through /bin/sh. mount(8) drops the caller's PATH and HOME first, so the
helper finds `clawfs` only in the standard PATH (/usr/local/bin ...). The
test never touches the machine's /usr/local/bin or /etc/fstab: it runs in a
private mount namespace (unshare) where its own bin directory is
bind-mounted over /usr/local/bin and its own fstab over /etc/fstab. The
clawfs mount lives in that namespace too; the test's shell script reads
through it and unmounts it, and whatever happens, the daemon (found by the
pid in its log) is stopped afterwards, which takes the namespace's mount
with it.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

from clawfs.cli.samplestore import SampleStore
from clawfs.mount.mountpoint import CONNECTIONS, FSTYPE

from mounting import Sandbox, alive, ensure_fusectl, wait_until


def test_mount_t_fuse_clawfs_and_an_fstab_line(sample: SampleStore, tmp_path: Path) -> None:
    ensure_fusectl()
    sandbox = Sandbox(tmp_path / "sandbox")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "clawfs").symlink_to(Path(sys.executable).parent / "clawfs")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    logs = [tmp_path / "by-type.log", tmp_path / "by-fstab.log"]
    store = sample.projects[0] / ".claw" / "sessions"  # webapp's store, as SOURCE
    workspaces = ",".join(f"workspace={p}" for p in sample.projects)
    fstab = tmp_path / "fstab"
    fstab.write_text(f"clawfs  {mnt}  fuse.clawfs  noauto,nodev,{workspaces},no-discover,"
                     f"log-file={logs[1]}  0  0\n")
    out = tmp_path / "out"
    out.mkdir()
    q = shlex.quote
    script = f"""
set -eu
mount --bind {q(str(bin_dir))} /usr/local/bin
mount --bind {q(str(fstab))} /etc/fstab
mount -t fuse.clawfs {q(str(store))} {q(str(mnt))} -o no-discover,log-file={q(str(logs[0]))}
cat {q(str(mnt))}/latest > {q(str(out / "type-latest"))}
ls {q(str(mnt))}/workspaces > {q(str(out / "type-workspaces"))}
findmnt -n -o FSTYPE,SOURCE {q(str(mnt))} > {q(str(out / "type-findmnt"))}
umount {q(str(mnt))}
mount {q(str(mnt))}
ls {q(str(mnt))}/workspaces > {q(str(out / "fstab-workspaces"))}
cat {q(str(mnt))}/latest > {q(str(out / "fstab-latest"))}
findmnt -n -o OPTIONS {q(str(mnt))} > {q(str(out / "fstab-options"))}
umount {q(str(mnt))}
"""
    try:
        done = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "bash", "-c", script],
            env=sandbox.env(), cwd=sandbox.cwd, capture_output=True, text=True, timeout=90,
            check=False,
        )
        assert done.returncode == 0, f"{done.stderr}\n{_read(logs[0])}\n{_read(logs[1])}"
    finally:
        for log in logs:
            _stop_daemon(log)
    assert (out / "type-latest").read_bytes() == _latest_of(store)
    assert (out / "type-workspaces").read_text().split() == ["webapp"]
    assert (out / "type-findmnt").read_text().split() == [FSTYPE, "clawfs"]
    assert (out / "fstab-workspaces").read_text().split() == ["cli-tool", "notes", "webapp"]
    assert (out / "fstab-latest").read_bytes() == sample.files["ideas"].read_bytes()
    assert "nodev" in (out / "fstab-options").read_text().strip().split(",")
    for log in logs:
        assert "ready: serving" in _read(log) and "unmounted" in _read(log)
    assert not os.listdir(mnt)


def _latest_of(store: Path) -> bytes:
    """What `latest` of a one-workspace store is, by the index (not guessed)."""
    from clawfs.store.index import StoreIndex
    from clawfs.store.roots import RootKind, make_root

    index = StoreIndex([make_root(str(store), RootKind.STORE, 0)])
    index.scan()
    found = index.global_latest()
    assert found is not None
    return Path(found.path).read_bytes()


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def _stop_daemon(log: Path) -> None:
    """Wait for a daemon to end after its unmount; one that does not gets its
    connection aborted (found in its own mount table, in the private
    namespace), then SIGTERM, then SIGKILL."""
    pids = [int(p) for p in re.findall(r"\(pid (\d+)\)", _read(log))]
    for pid in pids:
        try:
            wait_until(lambda: not alive(pid), 10, "the daemon to exit")  # noqa: B023
            continue
        except AssertionError:
            pass
        try:
            with open(f"/proc/{pid}/mountinfo") as f:
                for line in f:
                    if f" - {FSTYPE} " in line:
                        minor = line.split()[2].partition(":")[2]
                        (CONNECTIONS / minor / "abort").write_text("1")
        except OSError:
            pass
        os.kill(pid, signal.SIGTERM)
        try:
            wait_until(lambda: not alive(pid), 5, "the daemon to stop")  # noqa: B023
        except AssertionError:
            os.kill(pid, signal.SIGKILL)
