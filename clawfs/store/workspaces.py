"""What the index tells of each workspace: a snapshot, its home, its label (SPEC §2).

All derived from the records and kept until they go stale: a snapshot and
a home while the workspace's `Stamp` stays the same, the labels until a
home changes or a workspace comes or goes (one workspace's label depends
on the others': collisions get a suffix, labels.py). An append to a
session changes the stamp but not the home, so it recomputes no label.
Runs with the index's lock held and does no I/O.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from clawfs.store import labels as labelling
from clawfs.store.latest import Stamp
from clawfs.store.records import Records, SessionFile, Space
from clawfs.store.roots import Root


@dataclass(frozen=True, slots=True)
class Workspace:
    """A snapshot of one workspace: do not mutate (it is shared)."""

    fp: str
    label: str | None
    path: str | None
    """The workspace directory it is labelled after (a recorded root), if known."""
    files: Mapping[str, SessionFile]
    ordered: tuple[SessionFile, ...]
    """claw's order by what is known (heads until loaded)."""
    dirs: Mapping[str, Root]
    """The fingerprint directories backing it (real path -> root)."""


class Workspaces:
    """Snapshots, homes and labels of the records' workspaces, kept per state."""

    def __init__(self, listing: Records) -> None:
        self._records = listing
        self._snapshots: dict[str, tuple[Stamp | None, Workspace]] = {}
        self._homes: dict[str, tuple[Stamp | None, str | None]] = {}
        self._labels: dict[str, str | None] | None = None
        self._owners: dict[str, str] = {}
        """label -> fp, built with `_labels`."""

    def snapshot(self, fp: str) -> Workspace:
        """The workspace `fp` now (it must exist)."""
        label = self.labels().get(fp)
        stamp = self._records.stamp(fp)
        kept = self._snapshots.get(fp)
        if kept is not None and kept[0] == stamp and kept[1].label == label:
            return kept[1]
        space = self._records.spaces[fp]
        snap = Workspace(
            fp=fp,
            label=label,
            path=self._home(fp),
            files=dict(space.files),
            ordered=tuple(space.order.items()),
            dirs=dict(space.dirs),
        )
        self._snapshots[fp] = (stamp, snap)
        return snap

    def labels(self) -> dict[str, str | None]:
        """fp -> label (None: the workspace has no home to be named after)."""
        if self._labels is None:
            raw: dict[str, str] = {}
            for fp in self._records.spaces:
                home = self._home(fp)
                if home is not None:
                    raw[fp] = labelling.label_of(home)
            resolved = labelling.resolve_collisions(raw)
            self._labels = {fp: resolved.get(fp) for fp in self._records.spaces}
            self._owners = {label: fp for fp, label in resolved.items()}
        return self._labels

    def label_owner(self, label: str) -> str | None:
        """The fingerprint of the workspace labelled `label` (`workspaces/<label>`)."""
        self.labels()
        return self._owners.get(label)

    def changed(self, fps: Iterable[str]) -> None:
        """These workspaces changed (their stamps moved on): let go of what
        was kept for the ones that are gone, and of the labels if a home
        changed or a workspace came or went."""
        for fp in fps:
            before = self._homes.get(fp)
            if fp not in self._records.spaces:
                self._snapshots.pop(fp, None)
                self._homes.pop(fp, None)
                self._labels = None
            elif before is None or self._home(fp) != before[1]:
                self._labels = None

    def _home(self, fp: str) -> str | None:
        stamp = self._records.stamp(fp)
        kept = self._homes.get(fp)
        if kept is None or kept[0] != stamp:
            kept = self._homes[fp] = (stamp, self._find_home(self._records.spaces[fp]))
        return kept[1]

    def _find_home(self, space: Space) -> str | None:
        return home_in(
            space.order.items(),
            # Lazily: the roots are only looked at when no file records one.
            itertools.chain(space.dirs.values(), (f.root for f in space.files.values())),
        )


def home_in(ordered: Iterable[SessionFile], roots: Iterable[Root]) -> str | None:
    """The path a workspace is named after (SPEC §2): a recorded root that
    belongs, else the newest recorded root, else the project above
    `.claw/sessions`, else none. `ordered` is its files in claw's order,
    `roots` the roots backing it (the mount asks with the ones another user
    may know of: mount/privacy.py)."""
    newest: str | None = None
    for rec in ordered:
        recorded = rec.workspace_root
        if recorded is None:
            continue
        if rec.belongs:  # the file's recorded root is one that belongs
            return recorded
        if newest is None:
            newest = recorded
    if newest is not None:
        return newest
    for root in sorted(roots, key=lambda r: r.precedence):
        owner = root.owner_dir()
        if owner is not None:
            return owner
    return None
