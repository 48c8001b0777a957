"""What a session reference names, as `claw --resume REF` resolves it.

claw (runtime/session_control.rs `resolve_reference_excluding`, lines
102-134; claw-store-format §6-7), run in a directory `W`:

1. `latest`, `last`, `recent` (ASCII case-insensitive, lines 747-752):
   the first session with messages in `W`'s own workspace, in claw's
   order; else (lines 196-203) the first over every workspace; else an
   error that says whether sessions exist at all.
2. Otherwise the reference as a path, relative to `W` (claw joins it to
   the canonical `W`): used if it exists, file or directory.
3. A reference that looks like a path (it has an extension or more than
   one component) and does not exist is an error.
4. Otherwise an id: `<id>.jsonl`, then `<id>.json`, in `W`'s workspace.

Where we differ, and why:

* The workspace is the index's (store/latest.py): its files from every
  root given, and `latest` among the files that belong to it. claw's
  fallback to other workspaces does not validate; ours, the index's root
  alias (`global_latest`), keeps to files that belong where they lie.
* An id not found in `W`'s workspace is looked up in every other one (in
  the index's order): with `--store` given, the user names sessions of
  that store, which need not be `W`'s.
* claw loads and validates a file found by id before resuming it; for
  reading, a file that does not load or belongs elsewhere is shown anyway
  (the Markdown names claw's load error).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from clawfs.format.fingerprint import fingerprint
from clawfs.store.index import SessionFile, StoreIndex

ALIASES = ("latest", "last", "recent")
"""session_control.rs `SESSION_REFERENCE_ALIASES`."""

EXTENSIONS = ("jsonl", "json")
"""`PRIMARY_SESSION_EXTENSION`, then `LEGACY_SESSION_EXTENSION` (lines 136-140)."""


class ReferenceError(Exception):
    """The reference names no session; str(e) is claw's message."""


@dataclass(frozen=True, slots=True)
class Resolved:
    path: str
    """The session file."""
    file: SessionFile | None
    """The index's entry for it (None for a reference given as a path)."""
    elsewhere: bool = False
    """An alias answered from another workspace (claw prints a note)."""


def is_alias(reference: str) -> bool:
    """claw's `is_session_reference_alias`: ASCII case-insensitive."""
    return reference.isascii() and reference.lower() in ALIASES


def workspace_fp(cwd: str) -> str:
    """The fingerprint claw uses in `cwd`: of its canonical path (`from_cwd`, lines 33-48)."""
    return fingerprint(os.path.realpath(cwd))


def direct_path(reference: str, cwd: str) -> str | None:
    """The existing path a reference names (claw's step 2), else None."""
    if is_alias(reference) or not reference:
        return None
    candidate = os.path.join(os.path.realpath(cwd), reference)
    return candidate if os.path.exists(candidate) else None


def looks_like_path(reference: str) -> bool:
    """Rust's `extension().is_some() || components().count() > 1` for the reference."""
    parts = [p for i, p in enumerate(reference.split("/")) if p and (p != "." or i == 0)]
    if reference.startswith("/"):
        parts.insert(0, "/")
    if len(parts) > 1:
        return True
    name = parts[0] if parts else ""
    return name not in ("", "/", ".", "..") and name.rfind(".") > 0


def resolve(index: StoreIndex, reference: str, cwd: str) -> Resolved:
    """The session `reference` names for a command run in `cwd` (see the module doc).

    Raises ReferenceError with claw's message when there is none.
    """
    fp = workspace_fp(cwd)
    if is_alias(reference):
        return _latest(index, fp)
    path = direct_path(reference, cwd)
    if path is not None:
        return Resolved(path, None)
    if not looks_like_path(reference):
        found = _by_id(index, fp, reference)
        if found is not None:
            return Resolved(found.path, found)
    raise ReferenceError(missing_reference(reference, fp))


def _latest(index: StoreIndex, fp: str) -> Resolved:
    # claw loads every file to decide (a later meta line wins over the first):
    # a command that answers once loads them too, this workspace's first.
    index.loaded(fp)
    found = index.latest(fp)
    if found is not None:
        return Resolved(found.path, found)
    index.sweep()
    found = index.global_latest()
    if found is not None:
        return Resolved(found.path, found, elsewhere=found.fp != fp)
    if any(ws.files for ws in index.workspaces()):
        raise ReferenceError(all_sessions_empty(fp))
    raise ReferenceError(no_managed_sessions(fp))


def _by_id(index: StoreIndex, fp: str, session_id: str) -> SessionFile | None:
    fps = [fp] + [ws.fp for ws in index.workspaces() if ws.fp != fp]
    for each in fps:
        for extension in EXTENSIONS:
            found = index.file(each, f"{session_id}.{extension}")
            if found is not None:
                return found
    return None


# claw's messages (session_control.rs lines 764-794), with our fingerprint.


def missing_reference(reference: str, fp: str) -> str:
    return (
        f"session not found: {reference}\n"
        f"Hint: managed sessions live in .claw/sessions/{fp}/ (workspace-specific partition).\n"
        "Try `latest` for the most recent session or `/session list` in the REPL."
    )


def no_managed_sessions(fp: str) -> str:
    return (
        f"no managed sessions found in .claw/sessions/{fp}/\n"
        "Start `claw` to create a session, then rerun with `--resume latest`.\n"
        "Note: /resume latest searches all workspaces."
    )


def all_sessions_empty(fp: str) -> str:
    return (
        f"all sessions are empty (0 messages) in .claw/sessions/{fp}/\n"
        "This usually means a fresh `claw` session is running but no messages have been"
        " sent yet.\n"
        "Wait for a response in your other session, then try `--resume latest` again."
    )
