"""What the mount says about a session, as bytes: `index.tsv` and the
`user.claw.*` extended attributes (SPEC §2). No FUSE here.

Both render claw's list entry for a file (`Summary`, the index's load of
it) plus where the file is and its title (the first line of its Markdown,
SPEC §8). The values need a load of the whole file, which the index caches
per file version, and the title the start of its Markdown, cached beside
it (`StoreIndex.markdown`): `xattrs` and `generate` may load (callers run
them off the request thread), `cached_xattrs` never does, and
`user.claw.path` (what `claw --resume` needs) is the backing file, known
without any load. A `.md` file has its transcript's attributes, the path
included: the backing JSONL is what `claw --resume` takes.

Values come from untrusted files and may be huge (a `model` of 300 MB):
an attribute longer than the kernel's limit (`XATTR_MAX`) is left out, as
`listxattr` would otherwise name one that no `getxattr` can return, and an
index.tsv cell is cut at `CELL_MAX` bytes with `CUT`, so one hostile file
cannot make every `cat index.tsv` cost hundreds of MB (SPEC §6).
"""

from __future__ import annotations

import errno

from clawfs.format.summary import Summary
from clawfs.mount.errors import RequestError
from clawfs.mount.privacy import Viewer
from clawfs.mount.view import Entry, EntryKind, session_file
from clawfs.store.index import SessionFile, StoreIndex

PATH_XATTR = "user.claw.path"

XATTR_MAX = 65536
"""The kernel's limit on one attribute value (XATTR_SIZE_MAX)."""
CELL_MAX = 4096
"""Bytes of one index.tsv cell, `CUT` included: ids, times, names, paths and
models fit many times over; a longer one is a file making trouble."""
CUT = "\\\u2026"
"""What ends a cut cell: a backslash and an ellipsis, which the cells'
escaping never produces (a backslash in a value is written `\\\\`)."""

INDEX_COLUMNS = (
    "file",
    "session_id",
    "created_at_ms",
    "updated_at_ms",
    "message_count",
    "parent_session_id",
    "branch_name",
    "model",
    "workspace_root",
    "path",
    "status",
    "title",
)


def xattrs(index: StoreIndex, entry: Entry, who: Viewer | None = None) -> dict[str, bytes]:
    """`user.claw.*` of a transcript; absent values are left out, and all of
    them for a caller who could not read the file (`who`: another user of an
    --allow-other mount; its list would tell which values the file holds).

    May fully load the file (the first time for its version): call it off
    the request thread, or try `cached_xattrs` first.
    """
    sf = _session_file(index, entry, who)
    if sf is None:
        return {}
    try:
        loaded = index.load(sf)
    except FileNotFoundError:
        raise RequestError(errno.ESTALE, "session file is gone") from None
    return _xattrs(sf, loaded, _title(index, sf))


def cached_xattrs(
    index: StoreIndex, entry: Entry, who: Viewer | None = None
) -> dict[str, bytes] | None:
    """`xattrs` if they need no load (one is cached), else None."""
    sf = _session_file(index, entry, who)
    if sf is None:
        return {}
    loaded = index.cached_load(sf)
    known = index.markdown.known(sf.path, sf.key)
    if loaded is None or known is None:
        return None
    return _xattrs(sf, loaded, known.title)


def xattr(
    index: StoreIndex, entry: Entry, name: str, who: Viewer | None = None
) -> bytes | None:
    """One attribute; `user.claw.path` needs no load (the backing file)."""
    if name == PATH_XATTR:
        sf = _session_file(index, entry, who)
        return None if sf is None else _encode(sf.path)
    return xattrs(index, entry, who).get(name)


def generate(index: StoreIndex, entry: Entry, who: Viewer | None = None) -> bytes:
    """The content of a GENERATED entry (index.tsv), built now: a header, then
    one row per file in claw's order (for another user, `who`, per file it
    knows: mount/privacy.py). Loads every file not loaded yet."""
    if entry.kind is not EntryKind.GENERATED or len(entry.key) != 3:
        raise RequestError(errno.EINVAL, "not a generated file")
    rows = ["\t".join(INDEX_COLUMNS)]
    for sf, loaded in index.loaded(entry.key[1]):
        if who is not None and not who.knows(sf):
            continue
        row = _row(sf, loaded, _title(index, sf))
        rows.append("\t".join(_escape(value) for value in row))
    return ("\n".join(rows) + "\n").encode("utf-8", "surrogateescape")


def _session_file(index: StoreIndex, entry: Entry, who: Viewer | None) -> SessionFile | None:
    """The file behind a transcript or `.md` entry, if `who` (None: the
    mounting user) could read it."""
    sf = session_file(index, entry)
    return None if sf is None or (who is not None and not who.reads(sf)) else sf


def _title(index: StoreIndex, sf: SessionFile) -> str | None:
    """The title of the file's Markdown (reads only the start of an unmeasured file)."""
    known = index.markdown.known(sf.path, sf.key)
    return known.title if known is not None else index.markdown.title(sf.path)


def _xattrs(sf: SessionFile, loaded: Summary, title: str | None) -> dict[str, bytes]:
    values: dict[str, str | int | None] = {
        "session_id": loaded.session_id,
        "parent_session_id": loaded.parent_session_id,
        "branch_name": loaded.branch_name,
        "message_count": loaded.message_count,
        "created_at_ms": loaded.created_at_ms,
        "updated_at_ms": loaded.updated_at_ms,
        "workspace_root": loaded.workspace_root,
        "model": loaded.model,
        "path": sf.path,
        "title": title,
    }
    encoded = {
        f"user.claw.{name}": _encode(value) for name, value in values.items() if value is not None
    }
    return {name: value for name, value in encoded.items() if len(value) <= XATTR_MAX}


def _encode(value: str | int) -> bytes:
    return str(value).encode("utf-8", "surrogateescape")


def _row(sf: SessionFile, loaded: Summary, title: str | None) -> list[str | int | None]:
    """One index.tsv row, in `INDEX_COLUMNS` order."""
    if loaded.error is not None:
        status = f"error: {loaded.error}"
    elif not sf.belongs:
        status = "foreign"
    else:
        status = "ok"
    return [
        sf.name,
        loaded.session_id,
        loaded.created_at_ms,
        loaded.updated_at_ms,
        loaded.message_count,
        loaded.parent_session_id,
        loaded.branch_name,
        loaded.model,
        loaded.workspace_root,
        sf.path,
        status,
        title,
    ]


def _escape(value: str | int | None) -> str:
    """index.tsv cells: empty for absent, `\\`, tab and newline escaped, cut
    at `CELL_MAX` bytes (never inside a character or an escape) with `CUT`."""
    if value is None:
        return ""
    text = str(value)
    text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
    if len(text) * 4 <= CELL_MAX:
        return text  # short enough whatever its characters
    data = text.encode("utf-8", "surrogateescape")
    if len(data) <= CELL_MAX:
        return text
    end = CELL_MAX - len(CUT.encode("utf-8"))
    while end > 0 and data[end] & 0xC0 == 0x80:
        end -= 1  # not inside a character
    kept = data[:end].decode("utf-8", "surrogateescape")
    if (len(kept) - len(kept.rstrip("\\"))) % 2:
        kept = kept[:-1]  # not inside an escape
    return kept + CUT
