"""The fork writer's publication step where the filesystem has no hard links:
`renameat2(RENAME_NOREPLACE)` must still never replace an existing file."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from clawfs.format import session
from clawfs.store import forkwriter

import storegen as sg

FUTURE_MS = 1_900_000_000_000


def _no_hard_links(src: object, dst: object) -> None:
    raise OSError(errno.EPERM, "hard links not supported")


def test_rename_noreplace_fallback_never_replaces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = tmp_path / "d"
    parent = sg.write_session(d, sg.make_session("session-1-0", messages=2))
    clock = forkwriter.IdClock()
    clock._last_ms = FUTURE_MS  # the first id is known: session-<FUTURE_MS + 1>-0
    squatter = d / f"session-{FUTURE_MS + 1}-0.jsonl"
    squatter.write_bytes(b"keep me\n")
    monkeypatch.setattr(os, "link", _no_hard_links)
    new = Path(forkwriter.write_fork(str(parent), str(d), "b", clock=clock))
    assert squatter.read_bytes() == b"keep me\n"
    assert new != squatter and new.parent == d
    forked = session.load(new.read_bytes(), file_name=new.name, mtime_ms=0)
    assert forked.fork == session.Fork("session-1-0", "b")
    assert sorted(os.listdir(d)) == sorted([parent.name, squatter.name, new.name])  # no temp


def test_other_link_errors_are_not_swallowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = tmp_path / "d"
    parent = sg.write_session(d, sg.make_session("session-1-0"))

    def no_space(src: object, dst: object) -> None:
        raise OSError(errno.ENOSPC, "full")

    monkeypatch.setattr(os, "link", no_space)
    with pytest.raises(OSError) as caught:
        forkwriter.write_fork(str(parent), str(d), None)
    assert caught.value.errno == errno.ENOSPC
    assert os.listdir(d) == [parent.name]
