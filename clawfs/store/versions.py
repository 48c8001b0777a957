"""What the index knows of one version of a session file, compactly.

A version is named by its `FileKey` (store/files.py). What the index learns
of it is the one place per-version values live: its head until it is
loaded, then the load's `Summary` (which says all the index needs, so the
head is not kept), and what its Markdown view is once rendered
(`Rendered`). The index's record of a file holds its `Version`
(records.py), and the index cache keeps versions across mounts as they are
held (store/cache.py): a remount makes no object per file besides the
record and this.

Compact because a mount holds one per session, 100,000 within SPEC §7's
150 MB: the numbers are packed into one bytes value (a Python int per
number would cost 28-32 bytes each; the Markdown's size is one of them),
the session id is left out when it is the file's stem (claw names files
after their session), the few distinct texts (model, workspace root,
branch) share one tuple, and the Markdown's title is kept as UTF-8 (a
title with one emoji in it would take four bytes a character as a str).
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from clawfs.format.head import Head
from clawfs.format.summary import Summary
from clawfs.store.files import FileKey

NUMBERS = struct.Struct("<QQqqqqqqqB")
"""dev, ino, size, mtime_ns, ctime_ns (the `FileKey`), created_at_ms,
updated_at_ms, count (the load's message count, else the head's bytes
scanned), the Markdown's size (-1: not known), flags."""
KEY = struct.Struct("<QQqqq")
LOADED, META, MESSAGES, NO_CREATED, LOADED_BEFORE = 1, 2, 4, 8, 16
_CREATED, _UPDATED, _COUNT, _MD_SIZE = 5, 6, 7, 8
_MD_AT = KEY.size + 24
"""Where the Markdown's size is in `numbers`."""

Texts = tuple[str | None, str | None, str | None, str | None]
"""branch_name, model, workspace_root, error."""
_TEXTS: dict[Texts, Texts] = {}
TEXTS_KEPT = 4096
"""Distinct text tuples shared at most (beyond it, new ones are not shared)."""


class Rendered(NamedTuple):
    """What is known of a version's Markdown without rendering it again
    (SPEC §8): its title, and its size once rendered to the end (None:
    only the title is known, from the start of the file)."""

    title: str
    size: int | None


class Version(NamedTuple):
    """One version of one file, as the index knows it (module docstring).

    `session_id` is None when it is the file's stem: the methods that need
    it are given the stem.
    """

    numbers: bytes
    session_id: str | None
    parent_session_id: str | None
    texts: Texts
    title: bytes | None = None
    """The Markdown's title, UTF-8; None: nothing is known of its Markdown."""

    @classmethod
    def of(
        cls,
        key: FileKey,
        head: Head | None,
        summary: Summary | None,
        stem: str,
        *,
        loaded_before: bool = False,
        rendered: Rendered | None = None,
    ) -> Version:
        """The version `key` from its load if given, else from its head.
        `loaded_before`: an earlier version of the same file was loaded."""
        created: int | None
        if summary is not None:
            sid, created, updated = summary.session_id, summary.created_at_ms, summary.updated_at_ms
            count, flags, parent = summary.message_count, LOADED, summary.parent_session_id
            texts = (summary.branch_name, summary.model, summary.workspace_root, summary.error)
        else:
            assert head is not None and head.session_id is not None
            assert head.updated_at_ms is not None
            sid, created, updated = head.session_id, head.created_at_ms, head.updated_at_ms
            count, parent = head.scanned, head.parent_session_id
            flags = META * head.meta_found | MESSAGES * head.has_messages
            texts = (head.branch_name, head.model, head.workspace_root, None)
        if created is None:
            created, flags = 0, flags | NO_CREATED
        if loaded_before:
            flags |= LOADED_BEFORE
        numbers = NUMBERS.pack(*key, created, updated, count, -1, flags)
        version = cls(numbers, None if sid == stem else sid, parent, shared(texts))
        return version if rendered is None else version.rendering(rendered)

    # --- what it says --------------------------------------------------------------

    @property
    def rendered(self) -> Rendered | None:
        """What is known of its Markdown."""
        if self.title is None:
            return None
        size = int.from_bytes(self.numbers[_MD_AT : _MD_AT + 8], "little", signed=True)
        return Rendered(self.title.decode("utf-8", "surrogatepass"), None if size < 0 else size)

    @property
    def measured(self) -> bool:
        """Whether the size of its Markdown is known: `rendered` without
        making one (the load sweep asks it of every file every minute)."""
        return self.title is not None and int.from_bytes(
            self.numbers[_MD_AT : _MD_AT + 8], "little", signed=True) >= 0

    def rendering(self, rendered: Rendered) -> Version:
        """This version, with what is known of its Markdown."""
        size = -1 if rendered.size is None else rendered.size
        numbers = (self.numbers[:_MD_AT] + size.to_bytes(8, "little", signed=True)
                   + self.numbers[_MD_AT + 8 :])
        return self._replace(numbers=numbers, title=rendered.title.encode("utf-8", "surrogatepass"))

    @property
    def key(self) -> FileKey:
        return FileKey._make(KEY.unpack_from(self.numbers))

    @property
    def loaded(self) -> bool:
        """What it says comes from a load of this version."""
        return bool(self.numbers[-1] & LOADED)

    @property
    def loaded_before(self) -> bool:
        """This version, or an earlier one of the same file, was loaded."""
        return bool(self.numbers[-1] & (LOADED | LOADED_BEFORE))

    @property
    def earlier_loaded(self) -> bool:
        """An earlier version of the same file was loaded: it is one that changes."""
        return bool(self.numbers[-1] & LOADED_BEFORE)

    @property
    def updated_at_ms(self) -> int:
        return int(NUMBERS.unpack(self.numbers)[_UPDATED])

    @property
    def workspace_root(self) -> str | None:
        return self.texts[2]

    def head(self, stem: str) -> Head | None:
        """What its first meta line says; None once loaded."""
        *_, created, updated, scanned, _, flags = NUMBERS.unpack(self.numbers)
        if flags & LOADED:
            return None
        branch, model, root, _ = self.texts
        return Head(
            bool(flags & META), self.session_id or stem,
            None if flags & NO_CREATED else created, updated, self.parent_session_id, branch,
            model, root, bool(flags & MESSAGES), scanned,
        )

    def summary(self, stem: str) -> Summary | None:
        """claw's list entry for this version, once loaded."""
        *_, created, updated, count, _, flags = NUMBERS.unpack(self.numbers)
        if not flags & LOADED:
            return None
        branch, model, root, error = self.texts
        return Summary(self.session_id or stem, created, updated, count, self.parent_session_id,
                       branch, model, root, error)

    def loaded_once(self) -> Version:
        """This version, of a file an earlier version of which was loaded."""
        flags = self.numbers[-1] | LOADED_BEFORE
        return self._replace(numbers=self.numbers[:-1] + bytes((flags,)))

    def same_as(self, key: FileKey | bytes) -> bool:
        """Whether this is version `key` (a `FileKey`, or one packed by `KEY`)."""
        packed = key if isinstance(key, bytes) else KEY.pack(*key)
        return self.numbers.startswith(packed)


def shared(texts: Texts) -> Texts:
    """One tuple for each distinct set of texts (error texts are per file: not shared)."""
    if texts[3] is not None:
        return texts
    known = _TEXTS.get(texts)
    if known is None:
        if len(_TEXTS) >= TEXTS_KEPT:
            return texts
        known = _TEXTS[texts] = texts
    return known
