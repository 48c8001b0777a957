"""What the mount shows each user (SPEC §3): with `--allow-other`, nobody
learns through it what they could not read natively; the mounting user
sees everything it can read.

Who could read what is store/access.py's rule; this module applies it to
what the mount serves, in the two ways the kernel leaves open:

- What entries *report* (`Reported`), the same for every caller: the
  kernel checks other users against these modes (`default_permissions`)
  and caches them. A transcript reports its backing file's owner, group
  and read bits, a workspace directory its backing directory's, a `forks/`
  node its session's (read as search), each narrowed by every directory
  above it, so the kernel stops whom the disk would stop. A workspace
  merged from directories whose modes differ reports 0555 and is guarded
  per caller instead. `Reported.shared` says whether an entry is visible to
  everyone the kernel lets into its directory; one that is not is looked up
  again on every use (entry timeout 0), so that the per-caller answer below
  is asked each time.
- What a caller *sees* where the mount answers per request (`Viewer`):
  listings, lookups that are not shared, the aliases' targets, labels,
  index.tsv rows, xattrs, fork results. A caller knows a session when it
  could read the file and list its directory (`knows`): its name and
  everything in it are then its own to learn.

The mounting user and root get no `Viewer` (None): their requests are
answered as they always were, with no per-caller work.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from clawfs.host import procs
from clawfs.store import labels as labelling
from clawfs.store.access import LIST, Access, Caller, Mode
from clawfs.store.index import SessionFile, StoreIndex
from clawfs.store.latest import Stamp
from clawfs.store.workspaces import home_in

VIEWERS_KEPT = 64
"""Callers whose answers are kept (the least recently asking go first)."""
GROUPS_TTL = 1.0
"""Seconds a process's supplementary groups are trusted."""


class Viewer:
    """One caller's view of the store: what it may know, and the answers that
    depend on that (aliases, labels), kept per state of the index. Safe to
    use from several threads (a race only computes an answer twice)."""

    def __init__(self, index: StoreIndex, rules: Access, caller: Caller) -> None:
        self.index = index
        self.rules = rules
        self.caller = caller
        self._latest: dict[str, tuple[Stamp | None, SessionFile | None]] = {}
        self._global: tuple[int, SessionFile | None] | None = None
        self._homes: dict[str, tuple[Stamp | None, str | None]] = {}
        self._labels: tuple[int, dict[str, str], dict[str, str]] | None = None

    # --- one file or directory ----------------------------------------------------

    def reads(self, sf: SessionFile) -> bool:
        return self.rules.can_read(self.caller, sf.path)

    def searches(self, directory: str) -> bool:
        return self.rules.can_search(self.caller, directory)

    def lists(self, directory: str) -> bool:
        return self.rules.can_list(self.caller, directory)

    def reaches(self, sf: SessionFile) -> bool:
        """It could stat the file by its name natively (a lookup): search the
        directory it is listed in and, for a link, the one the file lies in,
        which following the link takes. Its own link into a directory closed
        to it leads nowhere for it, target there or not ("Permission denied"
        alike), so the entry tells it nothing of the file, nor that it exists."""
        return self.searches(sf.directory) and self._follows(sf)

    def sees(self, sf: SessionFile) -> bool:
        """It could list the file's name and stat it (a listing): `reaches`
        with the listed directory readable too."""
        return self.lists(sf.directory) and self._follows(sf)

    def _follows(self, sf: SessionFile) -> bool:
        return not sf.is_link or self.searches(os.path.dirname(sf.path))

    def knows(self, sf: SessionFile) -> bool:
        """It could list the file's directory and read the file: its name,
        contents and everything derived from them are its own to learn."""
        return self.lists(sf.directory) and self.reads(sf)

    def knows_path(self, path: str) -> bool:
        """`knows` for a file by its real path (a fork just made)."""
        return self.lists(os.path.dirname(path)) and self.rules.can_read(self.caller, path)

    def sees_workspace(self, fp: str) -> bool:
        """`sessions/<fp>` exists for it: a root it could list holds the
        fingerprint directory, or it knows one of the flat files whose
        contents put them in this workspace."""
        snap = self.index.workspace(fp)
        if snap is None:
            return False
        if any(self.lists(root.realpath) for root in snap.dirs.values()):
            return True
        return any(sf.legacy and self.knows(sf) for sf in snap.ordered)

    # --- answers that depend on it ------------------------------------------------

    def latest(self, fp: str) -> SessionFile | None:
        """`sessions/<fp>/latest` among the sessions it knows. The mounting
        user's answer is its answer when it knows that session (claw's order
        is the same; whatever the rule skipped above it, it skips too)."""
        stamp = self.index.version(fp)
        kept = self._latest.get(fp)
        if kept is not None and kept[0] == stamp:
            return kept[1]
        theirs = self.index.latest(fp)
        if theirs is not None and not self.knows(theirs):
            theirs = self.index.latest(fp, readable=self.knows)
        self._latest[fp] = (stamp, theirs)
        return theirs

    def global_latest(self) -> SessionFile | None:
        """The root alias among the sessions it knows (as `latest`)."""
        generation = self.index.generation
        if self._global is not None and self._global[0] == generation:
            return self._global[1]
        theirs = self.index.global_latest()
        if theirs is not None and not self.knows(theirs):
            theirs = self.index.global_latest(readable=self.knows)
        self._global = (generation, theirs)
        return theirs

    def labels(self) -> dict[str, str]:
        """fp -> label of the workspaces it sees, each named after what it
        knows (SPEC §2's rule over the sessions it knows and the roots it
        could reach), collisions resolved among those."""
        return self._labelled()[0]

    def label_owner(self, label: str) -> str | None:
        return self._labelled()[1].get(label)

    def _labelled(self) -> tuple[dict[str, str], dict[str, str]]:
        generation = self.index.generation
        if self._labels is not None and self._labels[0] == generation:
            return self._labels[1], self._labels[2]
        raw = {}
        for fp in self.index.fingerprints():
            if self.sees_workspace(fp):
                home = self._home(fp)
                if home is not None:
                    raw[fp] = labelling.label_of(home)
        resolved = labelling.resolve_collisions(raw)
        owners = {label: fp for fp, label in resolved.items()}
        self._labels = (generation, resolved, owners)
        return resolved, owners

    def _home(self, fp: str) -> str | None:
        stamp = self.index.version(fp)
        kept = self._homes.get(fp)
        if kept is not None and kept[0] == stamp:
            return kept[1]
        snap = self.index.workspace(fp)
        home = None
        if snap is not None:
            roots = [*snap.dirs.values(), *(sf.root for sf in snap.ordered)]
            home = home_in(
                (sf for sf in snap.ordered if self.knows(sf)),
                [root for root in roots if self.searches(root.realpath)],
            )
        self._homes[fp] = (stamp, home)
        return home


class Viewers:
    """The `Viewer` of each caller of one mount; None for callers who see
    everything (the mounting user, root) and on a mount no other user may
    enter (without --allow-other)."""

    def __init__(
        self,
        index: StoreIndex,
        rules: Access | None,
        *,
        groups_of: Callable[[int], frozenset[int] | None] = procs.groups,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.index = index
        self.rules = rules
        self._groups_of = groups_of
        self._clock = clock
        self._viewers: OrderedDict[Caller, Viewer] = OrderedDict()
        self._groups: dict[tuple[int, int, int], tuple[float, Caller]] = {}
        self._lock = threading.Lock()

    def of(self, uid: int, gid: int, pid: int) -> Viewer | None:
        """The viewer for a request from `uid`/`gid` by process `pid`."""
        rules = self.rules
        if rules is None or uid in (0, rules.mounting.uid):
            return None
        caller = self._caller(uid, gid, pid)
        with self._lock:
            viewer = self._viewers.get(caller)
            if viewer is None:
                viewer = self._viewers[caller] = Viewer(self.index, rules, caller)
                while len(self._viewers) > VIEWERS_KEPT:
                    self._viewers.popitem(last=False)
            self._viewers.move_to_end(caller)
            return viewer

    def _caller(self, uid: int, gid: int, pid: int) -> Caller:
        """The caller with its supplementary groups (/proc), kept for a second."""
        key = (uid, gid, pid)
        now = self._clock()
        kept = self._groups.get(key)
        if kept is not None and now - kept[0] < GROUPS_TTL:
            return kept[1]
        caller = Caller.of(uid, gid, self._groups_of(pid))
        if len(self._groups) > 4096:
            self._groups.clear()
        self._groups[key] = (now, caller)
        return caller


class Reported:
    """What entries report, for every caller alike (see the module docstring).

    Nothing here is needed without --allow-other (`rules` None): entries
    then report the mounting user and fixed modes, as always.
    """

    def __init__(self, index: StoreIndex, rules: Access) -> None:
        self.index = index
        self.rules = rules
        # fp -> (the workspace snapshot, its backing directories): listing a
        # workspace asks for every entry, and finding the flat files' homes
        # walks every session (the modes themselves are Access's, per TTL).
        self._dirs: dict[str, tuple[object, frozenset[str]]] = {}

    def file(self, path: str, st: os.stat_result | None = None) -> Mode | None:
        """A transcript backed by `path` (a fresh lstat of it, if known)."""
        return self.rules.shown(path, st)

    def workspace(self, fp: str) -> Mode | None:
        """`sessions/<fp>` (and its `forks/`): its backing directories' mode,
        where they all report the same; None (0555, guarded per caller)
        where they differ or there are none (flat files only)."""
        shown = {self.rules.shown(directory) for directory in self._backing(fp)}
        return shown.pop() if len(shown) == 1 else None

    def node(self, sf: SessionFile) -> Mode | None:
        """A `forks/` node: its session's read bits as search bits."""
        mode = self.rules.shown(sf.path)
        if mode is None:
            return None
        return Mode(mode.uid, mode.gid, mode.bits | (mode.bits & 0o444) >> 2)

    def public_workspace(self, fp: str) -> bool:
        """Everyone sees `sessions/<fp>`: a root everyone could list holds it."""
        snap = self.index.workspace(fp)
        if snap is None:
            return False
        for root in snap.dirs.values():
            shown = self.rules.shown(root.realpath)
            if shown is not None and shown.public(LIST):
                return True
        return False

    def _backing(self, fp: str) -> frozenset[str]:
        snap = self.index.workspace(fp)
        if snap is None:
            return frozenset()
        known = self._dirs.get(fp)
        if known is not None and known[0] is snap:
            return known[1]
        dirs = frozenset(snap.dirs) | {sf.directory for sf in snap.ordered if sf.legacy}
        self._dirs[fp] = (snap, dirs)
        return dirs
