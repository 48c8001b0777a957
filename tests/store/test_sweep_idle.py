"""The load sweep of a store it has swept already (livestore: every 60 s).

Each pass asks every file whether it still needs a load or its Markdown
measured; with nothing to do that must cost a look at bytes the record
holds, not a `Rendered` made (its title decoded) per file: at 100,000
sessions the pass ran every minute over every file, beside the safety
sweep's rescan (BENCHMARKS.md, per-deletion CPU).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from clawfs.store.index import StoreIndex
from clawfs.store.roots import RootKind, make_root
from clawfs.store.versions import Version

import storegen as sg

T0 = 1_760_000_000_000


def test_a_sweep_with_nothing_left_to_do_renders_no_title(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = tmp_path / "proj"
    ws.mkdir()
    d = sg.fp_dir(tmp_path / "root", os.path.realpath(ws))
    for n in range(20):
        sg.write_session(d, sg.make_session(f"session-{n}", updated_at_ms=T0 + n, messages=2,
                                            workspace_root=os.path.realpath(ws)),
                         mtime_ms=T0 + n)
    index = StoreIndex([make_root(str(tmp_path / "root"), RootKind.STORE, 0)])
    index.scan()
    index.sweep()
    assert all(rec.rendered is not None and rec.rendered.size is not None
               for space in index.workspaces() for rec in space.ordered)
    made: list[Version] = []
    real = Version.rendered

    def counting(self: Version) -> Any:
        made.append(self)
        return real.fget(self)  # type: ignore[attr-defined]

    monkeypatch.setattr(Version, "rendered", property(counting))
    assert index.sweep() == 0
    assert made == []
