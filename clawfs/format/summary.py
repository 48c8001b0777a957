"""What the rest of clawfs knows about one session file, without its messages.

Two views of a file exist, and they are kept apart on purpose:

* `Head` (head.py) is what the first meta line says. It costs one small
  read and is what the index orders by (SPEC §7: costs grow with sessions,
  not bytes). It can lie: claw lets the *last* meta line win and a body can
  be corrupt.
* `Summary` (here) is claw's list entry for the file after a full load
  (claw-store-format §5): it is the truth, but needs the whole file.

Both are plain values; the store keys them by the backing file's version
(`store/files.py` `FileKey`), so caches can be extended or dropped when the
file changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from clawfs.format import session
from clawfs.format.session import Session


@dataclass(frozen=True, slots=True)
class Summary:
    """claw's list entry for one file (claw-store-format §5).

    For a file that fails to load, claw's fallback values are used
    (`session_id` = file name minus extension, `created_at_ms` from that
    name else 0, `updated_at_ms` = 0, `message_count` = 0, no lineage) and
    `error` holds claw's load error text.
    """

    session_id: str
    created_at_ms: int
    updated_at_ms: int
    message_count: int
    parent_session_id: str | None = None
    branch_name: str | None = None
    model: str | None = None
    workspace_root: str | None = None
    error: str | None = None

    @property
    def loaded(self) -> bool:
        return self.error is None


def summarize(data: bytes, *, file_name: str, mtime_ms: int) -> Summary:
    """claw's list entry for a file's bytes (claw-store-format §5).

    The index's path on whole bytes: a count-only `JsonlReader` fed
    everything, then `summary_of` its session, or `failed` when claw cannot
    load it.
    """
    reader = session.JsonlReader(keep_messages=False)
    reader.feed(data)
    try:
        loaded = reader.finish(file_name, mtime_ms)
    except session.LoadError as error:
        return failed(file_name, error)
    return summary_of(loaded)


def failed(file_name: str, error: session.LoadError) -> Summary:
    """claw's list entry for a file that fails to load.

    claw's fallback values: the id is the file name minus `.jsonl`/`.json`
    ("unknown" otherwise, as claw), the creation time comes from that id or
    is 0, `updated_at_ms` and `message_count` are 0, and `error` is claw's
    load error text.
    """
    fallback_id = fallback_session_id(file_name)
    return Summary(
        session_id=fallback_id,
        created_at_ms=session.created_at_from_id(fallback_id) or 0,
        updated_at_ms=0,
        message_count=0,
        error=str(error),
    )


def summary_of(loaded: Session) -> Summary:
    """The list entry of a loaded session."""
    fork = loaded.fork
    return Summary(
        session_id=loaded.session_id,
        created_at_ms=loaded.created_at_ms,
        updated_at_ms=loaded.updated_at_ms,
        message_count=len(loaded.messages),
        parent_session_id=None if fork is None else fork.parent_session_id,
        branch_name=None if fork is None else fork.branch_name,
        model=loaded.model,
        workspace_root=loaded.workspace_root,
    )


def fallback_session_id(file_name: str) -> str:
    """claw's `session_id_from_path`: the name minus `.jsonl`, else minus `.json`.

    A name that is not valid UTF-8 (surrogate escapes here) is "unknown", as
    in claw.
    """
    if not _is_utf8(file_name):
        return "unknown"
    for suffix in (".jsonl", ".json"):
        if file_name.endswith(suffix):
            return file_name[: -len(suffix)]
    return "unknown"


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
