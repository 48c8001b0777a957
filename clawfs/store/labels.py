"""Human names for workspaces: `workspaces/<label> -> ../sessions/<fp>` (SPEC §2).

The label is the last component of the workspace's root directory. Which
recorded root to trust is decided by the index (one whose fingerprint is
the directory's, else the newest session's, else the project above
`.claw/sessions`); this module turns a path into a name and resolves
collisions, where every colliding label gets `-<first 8 hex of fp>`.
"""

from __future__ import annotations

import ntpath
import posixpath
from collections.abc import Mapping

from clawfs.format import fingerprint, printable


def last_component(path: str) -> str:
    """The final name of `path`, Windows paths split as Windows paths.

    Trailing separators are dropped. For a drive root (`C:\\`) the drive
    (`C:`) is the name; for a UNC share, the share.
    """
    if fingerprint.is_windows_path(path):
        if path.startswith("\\\\?\\"):
            path = path[4:]
            if path.startswith("UNC\\"):
                path = "\\\\" + path[4:]
        drive, rest = ntpath.splitdrive(path)
        rest = rest.rstrip("\\/")
        if not rest:
            return drive.replace("/", "\\").rstrip("\\").rsplit("\\", 1)[-1]
        return ntpath.basename(rest)
    return posixpath.basename(path.rstrip("/"))


def as_name(component: str) -> str:
    """A usable directory entry name made from store text: `/`, controls
    (NUL among them) and format characters replaced (a U+202E in a label
    would make `ls` show another name: format/printable.py), `.`, `..` and
    "" too."""
    name = printable.for_name(component.replace("/", "_"))
    if name in ("", ".", ".."):
        return "_" * max(len(name), 1)
    return name


def label_of(path: str) -> str:
    return as_name(last_component(path))


def resolve_collisions(labels: Mapping[str, str]) -> dict[str, str]:
    """fp -> label with every colliding label given `-<8 hex of fp>`.

    A suffixed label that would still collide with another label (unlikely,
    but fingerprints are data too) falls back to the whole fingerprint.
    """
    counts: dict[str, int] = {}
    for label in labels.values():
        counts[label] = counts.get(label, 0) + 1
    result = {
        fp: label if counts[label] == 1 else f"{label}-{fp[:8]}" for fp, label in labels.items()
    }
    seen: dict[str, int] = {}
    for label in result.values():
        seen[label] = seen.get(label, 0) + 1
    for fp, label in list(result.items()):
        if seen[label] > 1:
            result[fp] = f"{labels[fp]}-{fp}"
    return result
