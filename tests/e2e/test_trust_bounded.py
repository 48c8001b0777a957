"""Issue 13, bounded work on hostile files (SPEC §6), through real mounts: a
300 MB file (one line of NULs, `truncate -s 300M`, or 300 MB of newlines),
present at mount or appearing in a live mount, never stalls anything else
(the caps on xattrs and index.tsv cells: test_trust_caps.py).

No timings are asserted (the rules forbid them in pass/fail tests): the
work is bounded instead. What the daemon read is its `rchar` in
/proc/<pid>/io (every byte any read syscall returned to it), its memory
its peak resident set (VmHWM); an unrelated new session must show within
the usual generous wait for a change. The bounds, documented:

- READ_BOUND: 80 MiB in all. SPEC §6 names 64 MiB as an example of the
  cap on what one check of a file may read; a small store and the
  daemon's own start read ~4 MiB (measured); the rest is slack. A fix
  that picks another cap changes this with it.
- MEMORY_BOUND: 256 MiB, SPEC §7's daemon budget (150 MB) plus room for
  one capped read held twice (a chunk and the line it joins). A mount of a
  small store peaks at ~32 MB (measured).

A wait also stops as soon as the daemon is over READ_BOUND, so on main
(which reads the whole file: 58 s and 1.5 GB for the single line, 78 s
and 1.2 GB for the newlines in a plain index scan, measured) a test fails
in seconds instead of a minute.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from clawfs.format.fingerprint import fingerprint

import storegen as sg
from devtools.mountctl import vm_hwm_mb
from mounting import Mount, mounted

T0 = 1_780_000_000_000
WORKSPACE = "/srv/bounded"
FP = fingerprint(WORKSPACE)
HUGE = 300 << 20
READ_BOUND = 80 << 20
MEMORY_BOUND_MB = 256
SEEN_TIMEOUT = 20.0
"""Seconds to wait for a change to show (SPEC §5 says 100 ms; generous on a busy machine)."""
KINDS = ["single-line", "newlines"]


@pytest.fixture(scope="module")
def huge_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """The two 300 MB files, made once; tests hard-link them into their stores."""
    base = tmp_path_factory.mktemp("huge")
    single = base / "single-line"
    with open(single, "wb") as f:
        f.truncate(HUGE)  # one line of NULs, sparse
    newlines = base / "newlines"
    with open(newlines, "wb") as f:
        chunk = b"\n" * (1 << 20)
        for _ in range(HUGE // len(chunk)):
            f.write(chunk)
    yield {"single-line": single, "newlines": newlines}
    single.unlink()
    newlines.unlink()


def small_store(base: Path) -> Path:
    store = base / "store"
    good = sg.make_session("good", messages=2, workspace_root=WORKSPACE, updated_at_ms=T0)
    sg.write_session(sg.fp_dir(store, WORKSPACE), good, mtime_ms=T0)
    return store


def rchar(pid: int) -> int:
    """Bytes the process's read syscalls returned, all files together."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError(f"no rchar for {pid}")


def daemon(m: Mount) -> int:
    assert m.proc is not None and m.proc.poll() is None, m.log()
    return m.proc.pid


def wait_within_budget(m: Mount, condition: Callable[[], bool], what: str) -> None:
    """Wait for `condition`; fail at once if the daemon reads over READ_BOUND."""
    pid = daemon(m)
    deadline = time.monotonic() + SEEN_TIMEOUT
    while not condition():
        read = rchar(pid)
        assert read <= READ_BOUND, (
            f"waiting for {what}, the daemon has read {read >> 20} MiB "
            f"(bound {READ_BOUND >> 20} MiB)")
        assert time.monotonic() < deadline, f"{what} did not show within {SEEN_TIMEOUT:.0f} s"
        time.sleep(0.02)


def new_session_shows(m: Mount, store: Path) -> None:
    """An unrelated session written now shows in the mount, within the budget."""
    workspace = "/srv/unrelated"
    sg.write_session(sg.fp_dir(store, workspace),
                     sg.make_session("fresh", messages=1, workspace_root=workspace,
                                     updated_at_ms=T0))
    shown = m.path / "sessions" / fingerprint(workspace) / "fresh.jsonl"
    wait_within_budget(m, shown.exists, "an unrelated new session")


def still_serves(m: Mount, huge: Path) -> None:
    """The huge file is listed and readable, not an alias target, and the rest
    still answers; then the daemon's reads and memory are within bounds."""
    workspace = m.path / "sessions" / FP
    wait_within_budget(m, lambda: (workspace / "z.jsonl").exists(), "the huge file's entry")
    with open(workspace / "z.jsonl", "rb") as through, open(huge, "rb") as native:
        assert through.read(4096) == native.read(4096)
    assert os.stat(workspace / "z.jsonl").st_size == HUGE
    assert os.readlink(workspace / "latest") == "good.jsonl"
    assert (workspace / "good.jsonl").read_bytes().startswith(b'{"created_at_ms"')
    pid = daemon(m)
    assert rchar(pid) <= READ_BOUND, f"the daemon read {rchar(pid) >> 20} MiB"
    peak = vm_hwm_mb(pid)
    assert peak is not None and peak <= MEMORY_BOUND_MB, f"daemon peak {peak} MB"


@pytest.mark.parametrize("kind", KINDS)
def test_a_huge_file_at_mount(tmp_path: Path, huge_files: dict[str, Path], kind: str) -> None:
    store = small_store(tmp_path)
    os.link(huge_files[kind], store / FP / "z.jsonl")
    with mounted([store], tmp=tmp_path / "m") as m:
        new_session_shows(m, store)
        still_serves(m, huge_files[kind])


@pytest.mark.parametrize("kind", KINDS)
def test_a_huge_file_appearing_live(
    tmp_path: Path, huge_files: dict[str, Path], kind: str
) -> None:
    store = small_store(tmp_path)
    with mounted([store], tmp=tmp_path / "m") as m:
        assert os.readlink(m.path / "sessions" / FP / "latest") == "good.jsonl"
        os.link(huge_files[kind], store / FP / "z.jsonl")
        new_session_shows(m, store)
        still_serves(m, huge_files[kind])
