"""A caller's supplementary groups, from /proc (host/procs.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from clawfs.host import procs


def test_the_groups_of_a_process() -> None:
    assert procs.groups(os.getpid()) == frozenset(os.getgroups())
    child = subprocess.Popen(
        ["setpriv", "--reuid=65534", "--regid=65534", "--groups=4321,4322",
         sys.executable, "-c", "print('ready', flush=True); import sys; sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == b"ready\n"
        assert procs.groups(child.pid) == frozenset({4321, 4322})
    finally:
        child.communicate(b"")


def test_a_process_that_is_gone() -> None:
    child = subprocess.Popen(["true"])
    child.wait()
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{child.pid}") and time.monotonic() < deadline:
        time.sleep(0.01)  # reaped: its pid is free (unless reused at once)
    assert procs.groups(child.pid) is None
