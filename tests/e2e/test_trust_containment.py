"""Issue 13, led out of the store (SPEC §6): a fingerprint directory replaced
by a symlink out of the root, while mounted or before, is treated as gone.
No read, listing or fork may reach the directory it points to: not at once,
not after the safety rescan, not at mount time.

`mv STORE/<fp> STORE/old; ln -s OUTSIDE STORE/<fp>`, where OUTSIDE holds a
file of the same name as the session (valid, so a fork of it would work)
and one the store never had. Everything in OUTSIDE carries a marker that
must never come out of the mount.

The safety rescan runs every 60 s; the tests trigger one instead of waiting:
with the daemon stopped (SIGSTOP, nothing asks the mount meanwhile) more
events than the inotify queue holds are made in the root, so the queue
overflows, and on SIGCONT the watcher reports a rescan. A session written
meanwhile into another workspace shows once that rescan is applied.
"""

from __future__ import annotations

import errno
import os
import signal
from pathlib import Path

from clawfs.format.fingerprint import fingerprint

import storegen as sg
from mounting import Mount, mounted, wait_until

T0 = 1_780_000_000_000
WORKSPACE = "/srv/contained"
FP = fingerprint(WORKSPACE)
MARKER = b"OUTSIDE-THE-STORE"
SEEN_TIMEOUT = 30.0
"""Seconds to wait for the mount to show a change (it takes milliseconds)."""


def session_bytes(sid: str, *, outside: bool = False) -> bytes:
    text = f"{sid} {MARKER.decode()}" if outside else f"{sid} inside"
    return sg.render(sg.make_session(sid, messages=[sg.text_message(text)],
                                     workspace_root=WORKSPACE, updated_at_ms=T0))


def build(base: Path) -> tuple[Path, Path]:
    """The store (one workspace, one session) and the directory outside it."""
    store = base / "store"
    sg.write_bytes(sg.fp_dir(store, WORKSPACE), "s1.jsonl", session_bytes("s1"), T0)
    outside = base / "outside"
    outside.mkdir()
    sg.write_bytes(outside, "s1.jsonl", session_bytes("s1", outside=True), T0 + 1)
    sg.write_bytes(outside, "never-in-store.jsonl", session_bytes("never", outside=True), T0 + 2)
    outside.chmod(0o700)  # root's own: the owner of the store could not read it
    return store, outside


def swap_for_link(store: Path, outside: Path) -> None:
    os.rename(store / FP, store / "old")
    os.symlink(outside, store / FP)


def show_marker(m: Mount, store: Path, name: str) -> None:
    """Write a session into another workspace and wait until the mount lists
    it: by then every change made before it has been applied."""
    workspace = f"/srv/marker-{name}"
    sg.write_bytes(sg.fp_dir(store, workspace), f"{name}.jsonl", session_bytes(name), T0)
    where = m.path / "sessions" / fingerprint(workspace)
    wait_until(lambda: (where / f"{name}.jsonl").exists(), SEEN_TIMEOUT, f"{name} to show")


def force_rescan(m: Mount, store: Path) -> None:
    """Make the watcher report a rescan now, and wait until it is applied."""
    assert m.proc is not None
    limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    m.proc.send_signal(signal.SIGSTOP)
    try:
        for n in range(limit // 3 + 1000):  # CREATE, CLOSE_WRITE, DELETE each
            flood = store / f"flood-{n}.txt"
            flood.touch()
            flood.unlink()
        workspace = "/srv/marker-rescan"
        sg.write_bytes(sg.fp_dir(store, workspace), "rescan.jsonl", session_bytes("r"), T0)
    finally:
        m.proc.send_signal(signal.SIGCONT)
    where = m.path / "sessions" / fingerprint("/srv/marker-rescan") / "rescan.jsonl"
    wait_until(where.exists, SEEN_TIMEOUT, "the rescan to be applied")


def everything_shown(m: Mount) -> dict[str, bytes | int]:
    """Every name under sessions/ with its bytes (or the errno reading it)."""
    seen: dict[str, bytes | int] = {}
    for directory, _dirs, files in os.walk(m.path / "sessions"):
        for name in files:
            path = Path(directory) / name
            try:
                seen[str(path.relative_to(m.path))] = path.read_bytes()
            except OSError as e:
                seen[str(path.relative_to(m.path))] = e.errno or 0
    return seen


def assert_nothing_from_outside(m: Mount, outside: Path) -> None:
    seen = everything_shown(m)
    leaked = [name for name, data in seen.items()
              if isinstance(data, bytes) and MARKER in data]
    assert leaked == [], f"outside bytes served as {leaked}"
    assert not [name for name in seen if "never-in-store" in name], sorted(seen)
    for name in ("s1.jsonl", "index.tsv"):  # a held entry, and a built file
        try:
            data = (m.path / "sessions" / FP / name).read_bytes()
        except OSError as e:
            assert e.errno in (errno.ENOENT, errno.ESTALE), e
            continue
        assert MARKER not in data and b"never-in-store" not in data, name
        assert os.fsencode(outside) not in data, name


def test_a_linked_out_directory_is_never_read(tmp_path: Path) -> None:
    store, outside = build(tmp_path)
    with mounted([store], tmp=tmp_path / "m") as m:
        through = m.path / "sessions" / FP / "s1.jsonl"
        assert through.read_bytes() == session_bytes("s1")  # the kernel holds it now
        swap_for_link(store, outside)
        show_marker(m, store, "after-swap")
        assert_nothing_from_outside(m, outside)


def test_a_fork_never_lands_in_a_linked_out_directory(tmp_path: Path) -> None:
    store, outside = build(tmp_path)
    before = sorted(os.listdir(outside))
    with mounted([store], tmp=tmp_path / "m") as m:
        workspace = m.path / "sessions" / FP
        assert os.readlink(workspace / "latest") == "s1.jsonl"
        swap_for_link(store, outside)
        show_marker(m, store, "after-swap")
        for control in (workspace / "fork", workspace / "forks" / "s1" / "fork"):
            try:
                control.write_bytes(b"escape\n")
            except OSError as e:
                assert e.errno in (errno.ENOENT, errno.ESTALE), e
        assert sorted(os.listdir(outside)) == before
        assert sorted(os.listdir(store / "old")) == ["s1.jsonl"]


def test_the_rescan_never_lists_a_linked_out_directory(tmp_path: Path) -> None:
    store, outside = build(tmp_path)
    with mounted([store], tmp=tmp_path / "m") as m:
        assert (m.path / "sessions" / FP / "s1.jsonl").read_bytes() == session_bytes("s1")
        swap_for_link(store, outside)
        show_marker(m, store, "after-swap")
        force_rescan(m, store)
        assert_nothing_from_outside(m, outside)
        assert FP not in os.listdir(m.path / "sessions")


def test_a_directory_linked_out_at_mount_time_is_not_served(tmp_path: Path) -> None:
    """Passes on main: the scan at mount time checks fingerprint links."""
    store, outside = build(tmp_path)
    swap_for_link(store, outside)
    with mounted([store], tmp=tmp_path / "m") as m:
        assert FP not in os.listdir(m.path / "sessions")
        assert_nothing_from_outside(m, outside)
        force_rescan(m, store)
        assert FP not in os.listdir(m.path / "sessions")
        assert_nothing_from_outside(m, outside)
