"""Issue 9, load: 50 parallel readers (grep -r, cat, ls -lR, getfattr) for
about ten seconds (longer until each has run once) while a writer appends
to a session as claw does and 100 forks are made through control files.
Nothing fails that should not, every fork is a distinct valid session with
the right parent, no store file changes except by forks (and the appends),
and the daemon's peak memory stays bounded.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
import time
from pathlib import Path

from clawfs.format import session

import storegen as sg
from devtools.mountctl import Tally, vm_hwm_mb
from mounting import Mount, mounted

T0 = 1_750_000_000_000
WORKSPACES = [f"/srv/hardening-load-{n}" for n in range(3)]
SESSIONS_PER_WORKSPACE = 30
READERS = 50
SECONDS = 10.0
ALL_RAN_WITHIN = 40.0
"""Seconds from the start by which each reader command must have run once.

Normally all have run many times within `SECONDS`; on a loaded machine a
whole `ls -lR` of the mount may take longer, so the load goes on until each
has, up to this bound (below the mount's hang watchdog and pytest's timeout).
"""
FORKS = 100
FORKERS = 4
PEAK_LIMIT_MB = 150.0
"""SPEC §7: the daemon's peak memory stays under 150 MB."""


def build(root: Path) -> dict[str, Path]:
    """Three workspaces of sessions with a little lineage; the fork parents by id."""
    parents: dict[str, Path] = {}
    for w, ws in enumerate(WORKSPACES):
        directory = sg.fp_dir(root, ws)
        for n in range(SESSIONS_PER_WORKSPACE):
            sid = f"session-{T0 + w * 1000 + n}-0"
            parent = f"session-{T0 + w * 1000 + n - 1}-0" if n % 3 == 2 else None
            s = sg.make_session(sid, messages=20 + n, workspace_root=ws, parent=parent,
                                created_at_ms=T0 + w * 1000 + n)
            sg.write_session(directory, s, mtime_ms=T0 + w * 1000 + n)
            if n < 2:
                parents[sid] = directory / f"{sid}.jsonl"
    return parents


def digest(root: Path) -> dict[str, bytes]:
    return {str(p): hashlib.sha256(p.read_bytes()).digest() for p in root.rglob("*") if p.is_file()}


def reader_commands(m: Mount) -> list[tuple[str, str, set[int]]]:
    """(name, shell command, accepted exit codes)."""
    s = m.path / "sessions"
    return [
        ("grep", f"grep -r -c message {s} > /dev/null", {0, 1}),
        ("cat", f"cat {s}/*/*.jsonl > /dev/null", {0}),
        ("ls", f"ls -lR {m.path} > /dev/null", {0}),
        ("getfattr", f"getfattr --absolute-names -d -m - {s}/*/*.jsonl > /dev/null", {0}),
        ("index", f"cat {s}/*/index.tsv > /dev/null", {0}),
    ]


def read_loop(command: tuple[str, str, set[int]], stop: threading.Event, tally: Tally) -> None:
    name, shell, accepted = command
    while not stop.is_set():
        done = subprocess.run(["bash", "-c", shell], capture_output=True, text=True,
                              timeout=60, check=False)
        tally.ran(name)
        if done.returncode not in accepted or done.stderr:
            tally.failed(f"{name} exited {done.returncode}: {done.stderr[-500:]}")


def append_loop(path: Path, stop: threading.Event, tally: Tally) -> None:
    n = 0
    while not stop.is_set():
        sg.append_message(path, sg.text_message(f"appended {n}", role="assistant"))
        tally.ran("append")
        n += 1
        time.sleep(0.02)


def fork_loop(jobs: list[tuple[Path, str]], tally: Tally, made: dict[str, str]) -> None:
    for control, branch in jobs:
        try:
            # One handle for both: a handle reads the result of its own write
            # (a new open would read whichever fork of this file came last).
            fd = os.open(control, os.O_RDWR)
            try:
                os.write(fd, branch.encode() + b"\n")
                result = os.pread(fd, 4096, 0).decode()
            finally:
                os.close(fd)
            tally.ran("fork")
            name, got_branch, backing = result.rstrip("\n").split("\t")
            if got_branch != branch:
                tally.failed(f"fork {branch}: result says branch {got_branch!r}")
            made[branch] = backing
        except (OSError, ValueError) as e:
            tally.failed(f"fork {branch}: {e!r}")


def control_files(m: Mount, parents: dict[str, Path]) -> list[Path]:
    """The `fork` file of each chosen parent's node in forks/."""
    return [m.path / "sessions" / path.parent.name / "forks" / sid / "fork"
            for sid, path in parents.items()]


def test_readers_writer_and_forks_together(tmp_path: Path) -> None:
    root = tmp_path / "store"
    parents = build(root)
    active = next(iter(parents.values()))
    before = digest(root)
    with mounted([root], tmp=tmp_path) as m:
        assert m.proc is not None
        controls = control_files(m, parents)
        assert all(c.exists() for c in controls)
        parent_of = {str(c): sid for c, sid in zip(controls, parents, strict=True)}
        jobs = [(controls[i % len(controls)], f"load-{i}") for i in range(FORKS)]
        stop = threading.Event()
        tally = Tally()
        made: dict[str, str] = {}
        commands = reader_commands(m)
        threads = [threading.Thread(target=read_loop, args=(commands[i % len(commands)],
                                                             stop, tally))
                   for i in range(READERS)]
        threads.append(threading.Thread(target=append_loop, args=(active, stop, tally)))
        forkers = [threading.Thread(target=fork_loop, args=(jobs[i::FORKERS], tally, made))
                   for i in range(FORKERS)]
        began = time.monotonic()
        for t in threads + forkers:
            t.start()
        time.sleep(SECONDS)
        while not every_command_ran(tally, commands) and time.monotonic() < began + ALL_RAN_WITHIN:
            time.sleep(0.1)
        for t in forkers:
            t.join(timeout=120)
        stop.set()
        for t in threads:
            t.join(timeout=120)
        elapsed = time.monotonic() - began
        assert not any(t.is_alive() for t in threads + forkers), "a call hung"
        assert tally.failures == [], tally.failures[:10]
        assert every_command_ran(tally, commands), tally.runs
        peak = vm_hwm_mb(m.proc.pid)
        assert peak is not None, "the daemon is gone"
        print(f"load: {tally.runs} in {elapsed:.1f} s, daemon VmHWM {peak:.0f} MB")
        assert peak < PEAK_LIMIT_MB, f"daemon peak {peak:.0f} MB"
        assert "Traceback" not in m.log(), m.log()[-3000:]
    check_forks(root, before, made, jobs, parent_of)
    check_unchanged(root, before, active)


def every_command_ran(tally: Tally, commands: list[tuple[str, str, set[int]]]) -> bool:
    return all(tally.runs.get(name, 0) > 0 for name, _, _ in commands)


def check_forks(
    root: Path,
    before: dict[str, bytes],
    made: dict[str, str],
    jobs: list[tuple[Path, str]],
    parent_of: dict[str, str],
) -> None:
    assert len(made) == FORKS
    new = {p for p in digest(root) if p not in before}
    assert new == set(made.values()), "every new file is a fork we made, and nothing else"
    ids = set()
    for control, branch in jobs:
        path = Path(made[branch])
        loaded = session.load(path.read_bytes(), file_name=path.name,
                              mtime_ms=path.stat().st_mtime_ns // 1_000_000)
        assert loaded.fork is not None and loaded.fork.branch_name == branch
        assert loaded.fork.parent_session_id == parent_of[str(control)], branch
        assert loaded.session_id == path.stem
        ids.add(loaded.session_id)
    assert len(ids) == FORKS
    leftovers = [p for p in root.rglob("*") if ".tmp-" in p.name]
    assert leftovers == []


def check_unchanged(root: Path, before: dict[str, bytes], active: Path) -> None:
    after = digest(root)
    changed = [p for p, h in before.items() if after.get(p) != h]
    assert changed == [str(active)], changed
    lines = active.read_bytes().splitlines()
    loaded = session.load(active.read_bytes(), file_name=active.name, mtime_ms=T0)
    assert len(loaded.messages) == len(lines) - 1  # every append is one whole message

