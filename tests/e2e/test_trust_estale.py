"""Issue 13, ESTALE (SPEC §6): claw's snapshot save (a new file renamed over
a session) never makes an open or a stat through the mount fail with
ESTALE: the caller gets the old file or the new one, as on a local disk
(all of one of them: what an open reads is one of the saves, whole).

Bounded by counts, not durations: the save loop runs a fixed number of
saves (the reader asks for as long as it runs).
"""

from __future__ import annotations

import errno
import os
import threading
from collections import Counter
from pathlib import Path

from clawfs.format.fingerprint import fingerprint

import storegen as sg
from mounting import mounted

T0 = 1_780_000_000_000
WORKSPACE = "/srv/faults"
FP = fingerprint(WORKSPACE)
SAVES = 2000
"""Snapshot saves in the ESTALE loop (the issue saw 682 ESTALE in 12,654 opens)."""


def versions(count: int) -> list[bytes]:
    """Successive saves of one session, as claw's snapshot save renders them."""
    return [sg.render(sg.make_session("s", messages=1 + n % 5, workspace_root=WORKSPACE,
                                      updated_at_ms=T0 + n)) for n in range(count)]


def save_over(directory: Path, data: bytes, n: int) -> None:
    """claw's save: write `<name>.tmp-<ms>-<n>`, rename it over the session."""
    temp = directory / f"s.jsonl.tmp-{T0 + n}-{n}"
    temp.write_bytes(data)
    os.rename(temp, directory / "s.jsonl")


def test_a_snapshot_save_never_makes_open_or_stat_fail(tmp_path: Path) -> None:
    store = tmp_path / "store"
    directory = sg.fp_dir(store, WORKSPACE)
    saves = versions(8)
    sg.write_bytes(directory, "s.jsonl", saves[0], T0)
    counts: Counter[str] = Counter()
    with mounted([store], tmp=tmp_path / "m") as m:
        path = m.path / "sessions" / FP / "s.jsonl"
        assert path.read_bytes() == saves[0]
        done = threading.Event()

        def ask() -> None:
            while not done.is_set():
                for what, call in (("open", _open_and_read), ("stat", os.stat)):
                    counts[what] += 1
                    try:
                        got = call(path)
                    except ShortRead:
                        counts["open read other than its fstat's size"] += 1
                        continue
                    except OSError as e:
                        counts[f"{what} {errno.errorcode.get(e.errno or 0, e.errno)}"] += 1
                        continue
                    if isinstance(got, bytes) and got not in saves:
                        counts["open read neither the old file nor the new one"] += 1

        reader = threading.Thread(target=ask)
        reader.start()
        try:
            for n in range(SAVES):
                save_over(directory, saves[n % len(saves)], n)
        finally:
            done.set()
            reader.join()
    failures = {what: n for what, n in counts.items() if " " in what}
    assert counts["open"] > 0 and counts["stat"] > 0
    assert failures == {}, dict(counts)


class ShortRead(Exception):
    """An open read other than its fstat's size: an assert in the reader
    thread would only end that thread, so the reader counts this instead."""


def _open_and_read(path: Path) -> bytes:
    """What one open of `path` reads, to its end as its fstat gives it."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        data = b""
        while chunk := os.read(fd, 1 << 16):
            data += chunk
        if data and len(data) != size:  # counted by the caller, which runs in a thread
            raise ShortRead(len(data), size)
        return data
    finally:
        os.close(fd)
