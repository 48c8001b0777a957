"""The work a store change costs the mount does not grow with the workspace
(SPEC §7, issue 16): after one change, the held inodes re-resolved against
the view are the same number in a workspace of 100 sessions and of 10,000,
with the kernel holding every entry of it (an `ls -l`, a `cat` of each)
and every top node of its fork tree. Counted, not timed: how often the
view resolves an entry in the check that follows (kernelcache.held_for,
find_stale: what the adapter's refresh_kernel runs), how often the fork
tree is built, and how many sessions' branches are looked at again
(view.Branches: `branches/` is held too).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from clawfs.mount import kernelcache
from clawfs.mount.inodes import InodeTable
from clawfs.mount.view import Branches, Entry, Key, View
from clawfs.store import lineage as lineage_tree
from clawfs.store.index import SessionFile, StoreIndex
from clawfs.store.roots import RootKind, make_root

import storegen as sg

T0 = 1_760_000_000_000


class Counting(View):
    """The view, counting what the check resolves."""

    resolved = 0

    def resolve(self, key: Key, who: object = None) -> Entry | None:
        self.resolved += 1
        return super().resolve(key)


def workspace(base: Path, sessions: int) -> tuple[StoreIndex, str, Path]:
    project = base / "proj"
    project.mkdir(parents=True)
    d = sg.fp_dir(base / "store", os.path.realpath(project))
    template = sg.render(sg.make_session("session-X", messages=1,
                                         workspace_root=os.path.realpath(project)))
    for n in range(sessions):
        sid = f"session-{T0 + n}-0"
        parent = f"session-{T0 + n - 1}-0" if n % 10 == 9 else None
        data = template.replace(b"session-X", sid.encode())
        if parent is not None:  # a fork of the one before, on one of three branches
            data = sg.render(sg.make_session(sid, messages=1, parent=parent, branch=f"b{n % 3}",
                                             workspace_root=os.path.realpath(project)))
        sg.write_bytes(d, f"{sid}.jsonl", data, mtime_ms=T0 + n)
    index = StoreIndex([make_root(str(base / "store"), RootKind.STORE, 0)])
    index.scan()
    return index, d.name, d


def held_everything(view: View, fp: str) -> InodeTable[kernelcache.Slot]:
    """The inode table of a kernel that was shown everything of the workspace."""
    root = view.root()
    table: InodeTable[kernelcache.Slot] = InodeTable((root.kind, root.key),
                                                     group=kernelcache.group_of)
    shown = [*view.entries(root)]
    ws = view.resolve(("sessions", fp))
    assert ws is not None
    shown += [ws, *view.entries(ws)]
    forks = view.resolve(("sessions", fp, "forks"))
    assert forks is not None
    shown += view.entries(forks)
    branches = view.resolve(("sessions", fp, "branches"))
    assert branches is not None
    shown += view.entries(branches)
    for entry in shown:
        identity = (1, hash(entry.key)) if entry.kind in kernelcache.BACKED else None
        table.looked_up(table.number((entry.kind, entry.key), identity))
    return table


def change(d: Path, how: str, sessions: int) -> Path:
    newest = d / f"session-{T0 + sessions - 1}-0.jsonl"
    if how == "append":
        sg.append_message(newest, sg.text_message("more"))
        return newest
    if how == "delete":
        newest.unlink()
        return newest
    sid = f"session-{T0 + sessions}-0"  # a new session, or a fork of the newest
    parent = newest.name.removesuffix(".jsonl") if how == "fork" else None
    branch = "b0" if how == "fork" else None
    return sg.write_session(d, sg.make_session(sid, messages=1, parent=parent, branch=branch))


def resolved_after(base: Path, sessions: int, how: str) -> tuple[int, int]:
    """(entries resolved by the check after one change, entries the kernel holds)."""
    index, fp, d = workspace(base, sessions)
    view = Counting(index)
    view.index.lineage(fp)  # forks/ was listed: its tree is built
    table = held_everything(view, fp)
    index.take_changes()
    index.refresh_path(str(change(d, how, sessions)))
    held = kernelcache.held_for(table, index.take_changes())
    view.resolved = 0
    kernelcache.find_stale(view, held, {})
    return view.resolved, len(table)


@pytest.mark.parametrize("how", ["append", "new", "fork", "delete"])
def test_one_change_checks_as_much_in_a_small_and_a_large_workspace(
    tmp_path: Path, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    builds: list[int] = []
    real_build = lineage_tree.build

    def counting(members: list[lineage_tree.Member]) -> lineage_tree.Lineage:
        builds.append(1)
        return real_build(members)

    labelled: list[str] = []
    real_label = Branches._label

    def label(self: Branches, sf: SessionFile) -> str | None:
        labelled.append(sf.name)
        return real_label(self, sf)

    monkeypatch.setattr(lineage_tree, "build", counting)
    monkeypatch.setattr(Branches, "_label", label)
    small, small_held = resolved_after(tmp_path / "small", 100, how)
    small_labelled = len(labelled)
    large, large_held = resolved_after(tmp_path / "large", 10_000, how)
    assert large_held > 50 * small_held / 2  # the kernel holds 100 times as much
    assert small == large
    assert small < 40
    assert len(builds) == 2  # one per workspace, when forks/ was listed: none for the change
    # branches/ was listed before the change (every session looked at once);
    # the change looks at the sessions it changed only.
    changed_small, changed_large = small_labelled - 100, len(labelled) - small_labelled - 10_000
    assert changed_small == changed_large <= 2
