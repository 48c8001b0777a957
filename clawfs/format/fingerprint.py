"""claw's workspace fingerprint: the name of a workspace's session directory.

claw (session_control.rs `workspace_fingerprint`) hashes the path's string
form with 64-bit FNV-1a and prints 16 lowercase hex digits. The string form
is Rust's `to_string_lossy`, so invalid UTF-8 becomes U+FFFD; nothing else is
normalized (case, NFC/NFD and trailing separators all change the hash).

claw hashes the canonical form of the path it recorded, so deciding a
session's workspace canonicalizes a path a session file names: untrusted
input, which may lie on a filesystem that never answers (a stopped FUSE
daemon, a hung NFS server), where realpath would wait forever and the mount
with it. `canonical` waits `CANONICAL_WAIT` at most (SPEC §6).
"""

from __future__ import annotations

import os
import re
import threading

_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_MASK = 0xFFFFFFFFFFFFFFFF

_SURROGATE = re.compile("[\ud800-\udfff]")
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")
_VERBATIM = "\\\\?\\"


def fingerprint(path: str | bytes) -> str:
    """The 16-hex fingerprint claw gives the directory of `path`."""
    value = _FNV_OFFSET
    for byte in _lossy_utf8(path):
        value = ((value ^ byte) * _FNV_PRIME) & _MASK
    return f"{value:016x}"


def _lossy_utf8(path: str | bytes) -> bytes:
    """UTF-8 bytes of `path` as Rust's `to_string_lossy` would give them.

    Python's "replace" decoder substitutes U+FFFD per maximal subpart, as
    Rust's `from_utf8_lossy` does. A `str` may carry surrogate escapes
    (`os.fsdecode` of a non-UTF-8 name): those go back to their bytes first;
    any other lone surrogate is what Windows' lossy conversion turns into
    U+FFFD.
    """
    if isinstance(path, bytes):
        return path.decode("utf-8", "replace").encode("utf-8")
    try:
        return path.encode("utf-8")
    except UnicodeEncodeError:
        pass
    try:
        raw = path.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", path).encode("utf-8")
    return raw.decode("utf-8", "replace").encode("utf-8")


def is_windows_path(path: str) -> bool:
    """True for drive (`C:\\x`) and UNC (`\\\\server\\share`) paths."""
    return bool(_WINDOWS_DRIVE.match(path)) or path.startswith("\\\\")


def fingerprint_candidates(workspace_root: str) -> set[str]:
    """Every fingerprint claw may have used for a recorded `workspace_root`.

    claw records the raw cwd but hashes `fs::canonicalize(cwd)`, falling back
    to the raw path (since #151; before it the raw path was hashed). So:
    the canonical path where it exists here, and the raw path. A Windows path
    cannot be canonicalized on this machine; its canonical form is verbatim
    (`\\\\?\\D:\\proj`, or `\\\\?\\UNC\\server\\share` for UNC paths), without a
    trailing separator, which is why those forms are added by hand.
    """
    candidates = {fingerprint(workspace_root)}
    if is_windows_path(workspace_root):
        for form in _verbatim_forms(workspace_root):
            candidates.add(fingerprint(form))
        return candidates
    real = canonical(workspace_root)
    if real is not None:
        candidates.add(fingerprint(real))
    return candidates


def _verbatim_forms(path: str) -> set[str]:
    """`\\\\?\\` forms Windows' canonicalize may give: separators as `\\`, none trailing."""
    if path.startswith(_VERBATIM):
        return {path}
    body = "UNC\\" + path[2:] if path.startswith("\\\\") else path
    forms = {_VERBATIM + body}
    backslashed = body.replace("/", "\\")
    forms.add(_VERBATIM + backslashed)
    trimmed = backslashed.rstrip("\\")
    if trimmed and not re.fullmatch(r"[A-Za-z]:", trimmed):
        forms.add(_VERBATIM + trimmed)
    return forms


CANONICAL_WAIT = 3.0
"""Seconds a canonicalization may take before it counts as failed."""


class _Canonical:
    """realpath in a thread of its own, waited for `CANONICAL_WAIT` at most.
    One that has not come back fails every later one at once (claw's
    fallback, the raw path, is used) until it does: at most one thread is
    ever held by a filesystem that does not answer, and nobody waits on
    it twice. One canonicalization at a time (results are cached per
    recorded root, store/membership.py, so there are few)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: threading.Thread | None = None

    def __call__(self, path: str) -> str | None:
        with self._lock:
            if self._held is not None and self._held.is_alive():
                return None
            found: list[str | None] = []
            worker = threading.Thread(target=lambda: found.append(_realpath(path)),
                                      name="clawfs-canonical", daemon=True)
            worker.start()
            worker.join(CANONICAL_WAIT)
            if worker.is_alive():
                self._held = worker
                return None
            self._held = None
            return found[0] if found else None


def _realpath(path: str) -> str | None:
    try:
        return os.path.realpath(path, strict=True)
    except (OSError, ValueError):
        return None


canonical = _Canonical()
"""`fs::canonicalize`: the real path if every component exists, else None
(also when finding out takes over `CANONICAL_WAIT`)."""
