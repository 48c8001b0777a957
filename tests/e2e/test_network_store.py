"""SPEC §7 through a real mount: a store on a filesystem that inotify cannot
watch is polled, while a local store in the same mount keeps inotify.

The shared store is a FUSE passthrough (Debian's `bindfs`, installed by
scripts/lib/setup.sh) of a backing directory, and every change is made to
the backing directory, behind bindfs's back, as another machine writes to
an NFS export or an sshfs server's disk: no inotify event is raised on the
view for it (checked first, or the test would prove nothing).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from inotify_simple import INotify, flags

from clawfs.host.filesystems import shared_kind

from mounting import bindfs, mounted, wait_until
from storegen import append_message, fp_dir, make_session, text_message, write_session

POLL = 0.5
"""The mount's --poll-interval in this test."""
SLACK = 4.0
"""Seconds beyond one poll interval a change may take to show: bindfs's own
attribute cache (1 s), the index update and a loaded machine."""


def silent_to_inotify(directory: Path, backing: Path) -> bool:
    """Whether a file written in `backing` raises no inotify event on `directory`."""
    with INotify(nonblocking=True) as inotify:
        inotify.add_watch(directory, flags.CREATE | flags.MODIFY | flags.MOVED_TO)
        (backing / "probe.jsonl.tmp-0-0").write_bytes(b"x")
        (backing / "probe.jsonl.tmp-0-0").unlink()
        time.sleep(0.3)
        return not inotify.read(timeout=0)


def test_a_store_behind_fuse_is_polled_and_a_local_one_keeps_inotify(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    workspace = os.path.realpath(project)
    backing = tmp_path / "backing"
    far = fp_dir(backing, workspace)  # the other machine's side of the shared store
    write_session(far, make_session("s-old", workspace_root=workspace), mtime_ms=1_760_000_000_000)
    local = tmp_path / "local"
    near = fp_dir(local, workspace)
    write_session(near, make_session("s-local", workspace_root=workspace))

    with bindfs(backing, tmp_path / "view") as view:
        assert shared_kind(view) == "fuse"
        assert shared_kind(local) is None
        assert silent_to_inotify(view / far.name, far)
        with mounted([view, local], tmp=tmp_path / "m",
                     extra_args=["--poll-interval", str(POLL)]) as m:
            ws = m.path / "sessions" / far.name
            log = m.log()
            assert "watching the store (inotify+polling)" in log
            assert f"polling {view} every {POLL} s: it is on fuse" in log
            assert f"polling {local}" not in log

            write_session(far, make_session("s-new", workspace_root=workspace))
            began = time.monotonic()
            wait_until(lambda: "s-new.jsonl" in os.listdir(ws), POLL + SLACK,
                       "a session written behind the FUSE store")
            new_shows = time.monotonic() - began

            append_message(far / "s-new.jsonl", text_message("more"))
            want = (far / "s-new.jsonl").read_bytes()
            began = time.monotonic()
            wait_until(lambda: (ws / "s-new.jsonl").read_bytes() == want, POLL + SLACK,
                       "an append behind the FUSE store")
            append_shows = time.monotonic() - began

            write_session(near, make_session("s-local-2", workspace_root=workspace))
            wait_until(lambda: "s-local-2.jsonl" in os.listdir(ws), SLACK,
                       "a session in the local store")
            assert "Traceback" not in m.log()
    print(f"behind FUSE: new session after {new_shows:.2f} s, append after {append_shows:.2f} s")
