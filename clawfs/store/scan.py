"""Which directory entries of a root are sessions, and where they live.

claw counts a file as a session iff its extension (text after the last dot,
as Rust's `Path::extension`) is exactly `jsonl` or `json`
(session_control.rs). So rotated copies `<stem>.rot-<ms>.jsonl` are
sessions, while temp files `<name>.tmp-<ms>-<n>` and backups
`<name>.before-clear-<ms>.bak` are not. A *directory* named like a session
in a fingerprint directory (or a link to a directory inside the root) is
listed too, as claw lists it: a session that
fails to load ("Is a directory", 664-671, 430-439; probe.py); in a root,
claw lists files only. So is a link that leads to nothing inside the root
("No such file or directory"). Fingerprint directories are the 16-hex subdirectories of a
root; anything else in a root is ignored.

Symlinks are followed only while they stay inside the root (SPEC §6), and
a found file is recorded under its real path, so a link re-pointed later
cannot lead the mount out of the store. A link is an entry of its own, as
claw lists every entry (a link to a sibling session is listed beside it),
and is ordered by its own mtime (`Found.link_mtime_ns`): claw takes an
entry's mtime from `DirEntry::metadata`, which does not follow links
(session_control.rs 398).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from clawfs.host import paths
from clawfs.store.roots import Root

FINGERPRINT_DIR = re.compile(r"[0-9a-f]{16}")
IS_A_DIRECTORY = "Is a directory (os error 21)"
"""claw's load error for a directory named like a session (Rust's io::Error
text): what such an entry's load says, and how it is told from a file."""
NO_SUCH_FILE = "No such file or directory (os error 2)"
"""claw's load error for a link inside the store that leads to nothing (its
target removed): listed, and told from a file, the same way."""
NOT_FILES = (IS_A_DIRECTORY, NO_SUCH_FILE)
ROT_NAME = re.compile(r"(?P<stem>.*)\.rot-(?P<ms>[0-9]+)\.jsonl", re.DOTALL)


def session_extension(name: str) -> str | None:
    """Rust's `Path::extension`: after the last dot, none for `.name` or no dot."""
    dot = name.rfind(".")
    return None if dot <= 0 else name[dot + 1 :]


def is_session_name(name: str) -> bool:
    """`session_extension(name)` is `jsonl` or `json` (the extension's dot is
    the last one, and not the first character), without slicing: it is
    asked of every entry of every fingerprint directory at each mount."""
    return name.endswith(_SESSION_SUFFIXES) and name not in _SESSION_SUFFIXES


_SESSION_SUFFIXES = (".jsonl", ".json")


def rot_stem(name: str) -> str | None:
    """For a rotated copy `<stem>.rot-<ms>.jsonl`, the live file's stem."""
    if ".rot-" not in name:
        return None  # the common case, without the regular expression
    match = ROT_NAME.fullmatch(name)
    return match.group("stem") if match else None


@dataclass(frozen=True, slots=True)
class Place:
    """A store directory session files are listed in: a fingerprint
    directory of a root (`fp_dir` its name), or the root itself for legacy
    flat files (`fp_dir` None: their workspace is decided from their
    contents). `directory` is its real path. One is shared by every file
    listed there (a directory may hold 50,000 sessions)."""

    root: Root
    fp_dir: str | None
    directory: str
    prefix: str = field(init=False, repr=False, compare=False)
    """`directory` and a slash: what a file name is joined to (no
    `os.path.join` per file, 100,000 times a scan)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "prefix", self.directory.rstrip("/") + "/")


class Found(NamedTuple):
    """A session file found in a root: where it was listed (`place`: forks
    of it go there), its name there, and its real path if that is not
    where it was listed (a link), and then the link's own mtime (its
    lstat's, which claw orders it by; None where not known). (A tuple: a
    scan makes one per file.)"""

    place: Place
    file_name: str
    real: str | None = None
    link_mtime_ns: int | None = None

    @property
    def path(self) -> str:
        """The real path of the file."""
        return self.entry_path if self.real is None else self.real

    @property
    def root(self) -> Root:
        return self.place.root

    @property
    def fp_dir(self) -> str | None:
        return self.place.fp_dir

    @property
    def directory(self) -> str:
        return self.place.directory

    @property
    def entry_path(self) -> str:
        """Where it was listed (the real path, unless it is a link)."""
        return self.place.prefix + self.file_name


def _resolve(entry: os.DirEntry[str], root: Root, want_dir: bool) -> str | None:
    """The real path of `entry` if it is the wanted kind and inside `root`.

    The kind comes from the listing itself (d_type) where the filesystem
    gives it: no stat per file, which at 100,000 sessions is a third of a
    remount.
    """
    try:
        if entry.is_symlink():
            return _resolve_path(entry.path, entry.stat(follow_symlinks=False), root, want_dir)
        kind = entry.is_dir if want_dir else entry.is_file
        return entry.path if kind(follow_symlinks=False) else None
    except OSError:
        return None


def _found(place: Place, entry: os.DirEntry[str], real: str) -> Found:
    """A listed session file; a link with its own mtime (cached by `_resolve`'s lstat)."""
    if real == entry.path:
        return Found(place, entry.name)
    try:
        own = entry.stat(follow_symlinks=False).st_mtime_ns
    except OSError:
        own = None
    return Found(place, entry.name, real, own)


def _resolve_path(path: str, lst: os.stat_result, root: Root, want_dir: bool) -> str | None:
    real = path
    mode = lst.st_mode
    if stat.S_ISLNK(mode):
        resolved = paths.resolve_inside(path, root.realpath)  # never a step outside the root
        if resolved is None or not paths.below(resolved, root.realpath):
            return None  # outside the root, or the root itself (listed twice)
        real = resolved
        try:
            mode = os.lstat(real).st_mode  # real: no link left to follow
        except FileNotFoundError:
            # Leads to nothing inside the root (its target removed): claw lists
            # the entry, whose load fails (session_control.rs 430-439; probe.py).
            return None if want_dir else real
    if want_dir:
        return real if stat.S_ISDIR(mode) else None
    return real if stat.S_ISREG(mode) else None


@dataclass(frozen=True, slots=True)
class RootListing:
    """A root's fingerprint directories (name, real path) and flat session files."""

    fp_dirs: list[tuple[str, str]]
    flat: list[Found]


def read_root(root: Root) -> RootListing:
    """List `root`; one that does not exist (yet) or cannot be read is empty."""
    listing = RootListing([], [])
    try:
        entries = sorted(os.scandir(root.realpath), key=lambda e: e.name)  # a few per root
    except OSError:
        return listing
    place = Place(root, None, root.realpath)
    for entry in entries:
        if FINGERPRINT_DIR.fullmatch(entry.name):
            real = _resolve(entry, root, want_dir=True)
            if real is not None:
                listing.fp_dirs.append((entry.name, real))
        elif is_session_name(entry.name):
            real = _resolve(entry, root, want_dir=False)
            if real is not None:
                listing.flat.append(_found(place, entry, real))
    return listing


def read_fp_dir(root: Root, fp: str, directory: str) -> list[Found]:
    """Session files directly in one fingerprint directory (real path
    `directory`), in no particular order. Only the `Found`s are kept while
    it lists, not the listing: a directory may hold 50,000 sessions."""
    found: list[Found] = []
    place = Place(root, fp, directory)
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                if not is_session_name(entry.name):
                    continue
                real = _resolve(entry, root, want_dir=False)
                if real is None:
                    real = _directory(entry, root)  # claw lists it, and fails to load it
                if real is not None:
                    found.append(_found(place, entry, real))
    except OSError:
        return []
    return found


def session_names(fd: int) -> set[str]:
    """The names of the entries of the open directory `fd` named like a
    session, whatever they are (a remount `stat`s each: dirsync.hits), as
    one listing (no `DirEntry` per file). Empty if it cannot be read."""
    try:
        return {name for name in os.listdir(fd) if is_session_name(name)}
    except OSError:
        return set()


def _directory(entry: os.DirEntry[str], root: Root) -> str | None:
    """The real path of `entry` if it is a directory or a link to one inside
    the root: in a fingerprint directory claw lists it, and fails to load it."""
    try:
        if entry.is_dir(follow_symlinks=False):
            return entry.path
    except OSError:
        return None
    return _resolve(entry, root, want_dir=True)


def count_sessions(roots: Iterable[Root]) -> int:
    """How many session files the roots hold, by their names only (for a
    progress line: it may count a link or a non-file the scan leaves out)."""
    total = 0
    for root in roots:
        listing = read_root(root)
        total += len(listing.flat)
        for _, directory in listing.fp_dirs:
            try:
                with os.scandir(directory) as entries:
                    total += sum(1 for entry in entries if is_session_name(entry.name))
            except OSError:
                continue
    return total


def find_entry(root: Root, fp: str | None, directory: str, name: str) -> Found | None:
    """The session file `directory/name` if it is one now (else None)."""
    if not is_session_name(name):
        return None
    path = os.path.join(directory, name)
    try:
        lst = os.lstat(path)
        real = _resolve_path(path, lst, root, want_dir=False)
    except OSError:
        return None
    if real is None and fp is not None:  # a directory named like a session, or a
        # link to one inside the root, as read_fp_dir lists it
        try:
            real = path if stat.S_ISDIR(lst.st_mode) else _resolve_path(path, lst, root, True)
        except OSError:
            return None
    if real is None:
        return None
    place = Place(root, fp, directory)
    return Found(place, name) if real == path else Found(place, name, real, lst.st_mtime_ns)


def find_fp_dir(root: Root, fp: str) -> str | None:
    """The real path of `root/<fp>` if it is a directory inside the root now."""
    path = os.path.join(root.realpath, fp)
    try:
        return _resolve_path(path, os.lstat(path), root, want_dir=True)
    except OSError:
        return None


def locate(root: Root, path: str) -> tuple[str | None, str] | None:
    """Where `path` (a file or directory under `root`) sits in the layout.

    Returns `(fp_dir, name)` for a file in a fingerprint directory,
    `(None, name)` for a flat file in the root, `(fp_dir, "")` for a
    fingerprint directory itself, `(None, "")` for the root; None when the
    path is outside the layout. Works on paths that no longer exist.
    """
    base = root.realpath.rstrip("/")
    candidates = [base]
    if root.path.rstrip("/") != base:
        candidates.append(root.path.rstrip("/"))
    for prefix in candidates:
        rest = paths.relative(path, prefix)
        if rest == "":
            return None, ""
        if rest is not None:
            parts = rest.split("/")
            if len(parts) == 1:
                name = parts[0]
                if FINGERPRINT_DIR.fullmatch(name):
                    return name, ""
                return None, name
            if len(parts) == 2 and FINGERPRINT_DIR.fullmatch(parts[0]):
                return parts[0], parts[1]
            return None
    return None
