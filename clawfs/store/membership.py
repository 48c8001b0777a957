"""Which workspace a session belongs to (SPEC §2).

A session in directory `<fp>/` belongs there when the fingerprint claw
computes for its recorded root is `fp`; one that records no root belongs
when its canonical path lies in the workspace, where the workspace is known
(claw drops it otherwise, "legacy session is missing workspace binding",
session_control.rs 365-372, 815-817; in a bare `--store` it is not known,
and the session belongs). A relative recorded root (`"."`) is resolved
against the workspace, as claw canonicalizes it against its working
directory, which is the workspace (807-813, 33-48; `resolve`).
claw hashes the canonical path where it exists (and the raw one before
#151); for a Windows path the canonical form is the verbatim `\\\\?\\` one.
`fingerprint.fingerprint_candidates` knows those forms. Sessions that do not
belong are listed, but are never an alias target.

Resolving a recorded root touches the disk (`fingerprint.canonical`, a
realpath waited for a bounded time: the root may lie on a filesystem that
does not answer), and a store repeats the same few roots thousands of
times, so results are cached per root string. The index decides new roots before taking its lock
(`compute`, then `learn`) and re-decides known ones on a rescan
(`recorded`, `compute`, `update`).
"""

from __future__ import annotations

import posixpath

from clawfs.format import fingerprint
from clawfs.host import paths
from clawfs.store.roots import Root


def resolve(workspace_root: str | None, root: Root) -> str | None:
    """A recorded root as claw reads it in a store of `root`: a relative one
    joined to the workspace (`root.owner_dir()`); where that is not known,
    `"."` (the workspace, whichever it is) counts as no recorded root, and
    any other relative one is left as it is (it belongs nowhere). No I/O."""
    if workspace_root is None or workspace_root.startswith("/"):
        return workspace_root
    if fingerprint.is_windows_path(workspace_root):
        return workspace_root
    owner = root.owner_dir()
    if owner is not None:
        return posixpath.normpath(posixpath.join(owner, workspace_root))
    return None if posixpath.normpath(workspace_root) == "." else workspace_root


class Membership:
    """Memoized membership and workspace decisions."""

    def __init__(self) -> None:
        self._candidates: dict[str, frozenset[str]] = {}
        self._preferred: dict[str, str] = {}

    def recorded(self) -> list[str]:
        """The recorded roots decided so far."""
        return list(self._candidates)

    @staticmethod
    def compute_both(recorded: list[str]) -> tuple[dict[str, frozenset[str]], dict[str, str]]:
        """`compute` and each root's `preferred_fingerprint`, from one
        canonicalization per root (`decide`; touches the disk: call unlocked)."""
        decided = {root: decide(root) for root in recorded}
        return ({root: forms for root, (forms, _) in decided.items()},
                {root: preferred for root, (_, preferred) in decided.items()})

    @staticmethod
    def compute(recorded: list[str]) -> dict[str, frozenset[str]]:
        """Decide these roots afresh (touches the disk; call without locks held)."""
        return {root: frozenset(fingerprint.fingerprint_candidates(root)) for root in recorded}

    def knows(self, workspace_root: str) -> bool:
        return workspace_root in self._candidates

    def learn(
        self, fresh: dict[str, frozenset[str]], preferred: dict[str, str] | None = None
    ) -> None:
        """Take decisions for roots not decided yet (known ones are left as they are)."""
        for root, forms in fresh.items():
            self._candidates.setdefault(root, forms)
        for root, fp in (preferred or {}).items():
            self._preferred.setdefault(root, fp)

    def update(self, fresh: dict[str, frozenset[str]]) -> set[str]:
        """Take fresh decisions; the recorded roots whose answer changed."""
        moved = {root for root, forms in fresh.items() if self._candidates.get(root) != forms}
        self._candidates.update(fresh)
        for root in moved:
            self._preferred.pop(root, None)
        return moved

    def candidates(self, workspace_root: str) -> frozenset[str]:
        cached = self._candidates.get(workspace_root)
        if cached is None:
            cached = frozenset(fingerprint.fingerprint_candidates(workspace_root))
            self._candidates[workspace_root] = cached
        return cached

    def belongs(self, fp: str, workspace_root: str | None, path: str, root: Root) -> bool:
        """Whether the session at real path `path` in a store of `root`, with
        this recorded root (`resolve`d), belongs to workspace `fp`."""
        if workspace_root is None:
            owner = root.owner_dir()
            return owner is None or paths.inside(path, owner)
        return fp in self.candidates(workspace_root)

    def legacy_workspace(
        self, workspace_root: str | None, root: Root, known_fps: set[str]
    ) -> str:
        """The workspace a flat file lying in `root` joins (SPEC §2).

        Its recorded root's fingerprint (of the forms claw may have used,
        one that already has a directory if any, else the canonical one);
        without a recorded root, the workspace of the project owning the
        root (`<P>/.claw/sessions` -> fp of `P`); failing that, the
        fingerprint of the root's own path.
        """
        if workspace_root is not None:
            forms = self.candidates(workspace_root)
            present = sorted(forms & known_fps)
            if present:
                return present[0]
            fp = self._preferred.get(workspace_root)
            if fp is None:
                fp = self._preferred[workspace_root] = preferred_fingerprint(workspace_root)
            return fp
        owner = root.owner_dir()
        if owner is not None:
            return fingerprint.fingerprint(owner)
        return fingerprint.fingerprint(root.realpath)


def belongs_as_recorded(fp: str, workspace_root: str) -> bool:
    """Whether `fp` is the fingerprint of the recorded root as written, which
    is always one of its candidates (`fingerprint_candidates`: claw before
    #151, and claw's fallback): then the file belongs, whatever the root's
    canonical form, and nothing need be canonicalized to say so (a realpath
    in a thread, per recorded root, at every mount)."""
    return fingerprint.fingerprint(workspace_root) == fp


def decide(workspace_root: str) -> tuple[frozenset[str], str]:
    """`fingerprint.fingerprint_candidates` and `preferred_fingerprint` of a
    recorded root, canonicalizing it once (a realpath in a thread of its
    own: the two took two, which at a mount of 301 workspaces was a third
    of its scan)."""
    if fingerprint.is_windows_path(workspace_root):  # neither touches the disk
        return (frozenset(fingerprint.fingerprint_candidates(workspace_root)),
                preferred_fingerprint(workspace_root))
    raw = fingerprint.fingerprint(workspace_root)
    real = fingerprint.canonical(workspace_root)
    if real is None:
        return frozenset((raw,)), raw
    canonical = fingerprint.fingerprint(real)
    return frozenset((raw, canonical)), canonical


def preferred_fingerprint(workspace_root: str) -> str:
    """The fingerprint current claw computes for `workspace_root`.

    Canonical path if it exists here; a Windows path in verbatim form;
    else the raw string (claw's fallback when canonicalize fails).
    """
    if fingerprint.is_windows_path(workspace_root):
        if workspace_root.startswith("\\\\?\\"):
            return fingerprint.fingerprint(workspace_root)
        body = workspace_root.rstrip("\\/")
        if len(body) == 2 and body[1] == ":":
            body += "\\"
        if body.startswith("\\\\"):
            body = "UNC\\" + body[2:]
        return fingerprint.fingerprint("\\\\?\\" + body)
    real = fingerprint.canonical(workspace_root)
    return fingerprint.fingerprint(workspace_root if real is None else real)
