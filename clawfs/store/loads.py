"""Full loads of session files, cached per file version (SPEC §7).

Two ways to read a session file, and one word for each: its *head* is the
cheap read (the first meta line, format/head.py); its *load* reads all of
it as claw loads it and gives claw's truth about it (`Summary`). A load
costs the whole file, so what it gives is kept with the file's version
(the index's record of it, records.py), and a file that only grew (same
device and inode, old bytes kept, as when claw appends a message) is
loaded from its old end with a reader kept here, not from the start.

A load is the file's, whichever entry asks: several entries may reach one
file (links, records.py), each loaded as itself, and the last load of each
file version is kept (`DONE_KEPT`, `DONE_BYTES`) to answer the others
without reading the file again: N links to one big session cost one
parse, not N (SPEC §6). What
an entry's own name changes in it (claw's fallbacks: the id of a file without
one, `session.Naming`; a failed load's fallback values) is made anew for it.

The kept readers and loads share the index's lock.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace

from clawfs.format import head as heads
from clawfs.format import session, summary
from clawfs.format.head import Head
from clawfs.format.summary import Summary
from clawfs.store import budget, files, order
from clawfs.store.budget import Budget
from clawfs.store.files import FileKey

READ_CHUNK = 1 << 20
HEAD_WINDOW = 1 << 20
"""Bytes of a loaded file that its head is read from."""

KEPT_READER_BYTES = 32 << 20
"""File bytes whose loaded state is kept to extend counts of growing files."""

CHECK_BYTES = 256
"""Bytes before a kept reader's end, compared to tell that the old part is unchanged."""

DONE_KEPT = 4096
"""Files whose last load is kept for the other entries reaching them."""
DONE_BYTES = 16 << 20
"""Text those loads may hold in all (a recorded root or model may be a
line long, and a file gone from the store leaves its load here until it
is pushed out)."""

@dataclass(slots=True)
class Loaded:
    """One load: the file's version and what claw makes of it."""

    path: str
    key: FileKey
    summary: Summary
    head: Head | None
    """The head of this version when the file was read from its start."""


@dataclass(slots=True)
class _Kept:
    """A reader kept after a full load, to extend it when the file grows."""

    key: FileKey
    reader: session.JsonlReader
    fed: int
    check: bytes
    """The bytes just before `fed`, re-read to make sure the old part is unchanged."""
    budget: Budget
    """What reading it has cost so far (store/budget.py)."""


@dataclass(frozen=True, slots=True)
class _Done:
    """The last load of a file: what another entry reaching it is told."""

    key: FileKey
    file_name: str
    """The name of the entry it was loaded as."""
    summary: Summary
    naming: session.Naming
    error: str | None
    """The load error (claw's, or the budget's), whose fallback values are the entry's."""

    @property
    def weight(self) -> int:
        """Its text's length, and a little for the rest."""
        s = self.summary
        texts = (s.session_id, s.parent_session_id, s.branch_name, s.model, s.workspace_root,
                 s.error, self.file_name)
        return 256 + sum(len(text) for text in texts if text is not None)


class LoadCache:
    """Full loads, with the readers of growing files kept to extend them."""

    def __init__(self, lock: threading.RLock, report: Callable[[str, str], None]) -> None:
        self._lock = lock
        self._report = report
        """Logs a problem with a file once (the index's)."""
        self._kept: OrderedDict[str, _Kept] = OrderedDict()
        self._done: OrderedDict[str, _Done] = OrderedDict()
        self._done_bytes = 0

    def load(
        self, path: str, file_name: str, loaded_before: FileKey | None = None,
        *, for_others: bool = True,
    ) -> Loaded | None:
        """Fully load the current version of a file (extending a kept reader if it grew).

        `loaded_before` is a version of it loaded earlier, if any: a file
        loaded again is likely to keep growing, so its reader is kept.
        `for_others`: other entries may reach the file, so its load is kept for
        them (`DONE_KEPT`); False when its one entry keeps what it says (the
        index's record does), so that a sweep of 100,000 files does not
        leave its last `DONE_KEPT` loads here for nobody (~1 KB each).
        None when it cannot be opened or read, or is no longer a regular file.
        """
        try:
            opened = files.open_backing(path)
        except files.Unreadable as e:
            self._report(path, f"cannot read: {e.strerror}")
            return None
        except OSError:
            return None  # gone, or replaced by something that is not a session file
        fd, key = opened.fd, opened.key
        shared = self._shared(path, key, file_name)
        if shared is not None:
            opened.close()
            return shared
        try:
            with self._lock:
                kept = self._kept.pop(path, None)
            start, first = 0, b""
            if kept is not None and _extends(fd, kept, key):
                reader, start, cost = kept.reader, kept.fed, kept.budget
                cost.reason = cost.reason or budget.too_big(key.size)
            else:
                reader, cost = session.JsonlReader(keep_messages=False), Budget(key.size)
            fed = start
            while fed < key.size and cost.reason is None:
                chunk = os.pread(fd, min(READ_CHUNK, key.size - fed), fed)
                if not chunk:
                    break
                if fed == 0:
                    first = chunk[:HEAD_WINDOW]
                if cost.take(chunk) is not None:
                    break  # never held nor parsed: the cap is on what claw's reader gets
                reader.feed(chunk)
                fed += len(chunk)
            if cost.reason is not None:
                return self._done_as(
                    self._unaffordable(path, file_name, key, cost.reason, first), file_name,
                    session.FROM_BYTES, for_others)
            growing = start > 0 or (loaded_before is not None and loaded_before.same_file(key))
            check = self._check_bytes(fd, key, fed) if growing else None
        except OSError as e:
            self._report(path, f"cannot read: {e.strerror}")
            return None
        finally:
            opened.close()
        outcome = reader.outcome(file_name, order.mtime_ms(key.mtime_ns))
        if outcome.error is None:
            assert outcome.session is not None
            result = summary.summary_of(outcome.session)
        else:
            result = summary.failed(file_name, outcome.error)
            self._report(path, f"claw cannot load it: {outcome.error}")
        if check is not None:
            self._keep(path, _Kept(key, reader, fed, check, cost))
        head = heads.parse_head(first) if start == 0 else None
        return self._done_as(Loaded(path, key, result, head), file_name, outcome.naming, for_others)

    def _done_as(
        self, loaded: Loaded, file_name: str, naming: session.Naming, for_others: bool
    ) -> Loaded:
        """Keep `loaded` (loaded as `file_name`) for the other entries reaching
        its file, if any may (`for_others`); an older load of it goes either way."""
        done = _Done(loaded.key, file_name, loaded.summary, naming, loaded.summary.error)
        with self._lock:
            before = self._done.pop(loaded.path, None)
            self._done_bytes -= 0 if before is None else before.weight
            if not for_others:
                return loaded
            self._done[loaded.path] = done
            self._done_bytes += done.weight
            while len(self._done) > DONE_KEPT or self._done_bytes > DONE_BYTES:
                _, dropped = self._done.popitem(last=False)
                self._done_bytes -= dropped.weight
        return loaded

    def _shared(self, path: str, key: FileKey, file_name: str) -> Loaded | None:
        """The load of this version of the file as the entry `file_name`, made
        from the last load of it (as another entry) if that was this version."""
        with self._lock:
            done = self._done.get(path)
        if done is None or done.key != key:
            return None
        result = done.summary
        if file_name != done.file_name:
            if done.error is not None:
                result = summary.failed(file_name, session.LoadError(done.error))
            else:
                ids = (result.session_id, result.created_at_ms, result.updated_at_ms)
                session_id, created, updated = done.naming.renamed(
                    ids, file_name, order.mtime_ms(key.mtime_ns))
                result = replace(result, session_id=session_id, created_at_ms=created,
                                 updated_at_ms=updated)
        return Loaded(path, key, result, None)  # not read: no head of its own

    def _unaffordable(
        self, path: str, file_name: str, key: FileKey, reason: str, first: bytes
    ) -> Loaded:
        """The load of a file clawfs cannot afford to check (store/budget.py):
        claw's fallback values, and an error that says clawfs cannot tell."""
        error = session.LoadError(f"clawfs cannot tell what claw makes of it: {reason}")
        self._report(path, str(error))
        head = heads.parse_head(first) if first else None
        return Loaded(path, key, summary.failed(file_name, error), head)

    def _check_bytes(self, fd: int, key: FileKey, fed: int) -> bytes | None:
        """The check bytes to keep a growing file's reader with, if it is small
        enough to keep; else None."""
        if key.size > KEPT_READER_BYTES:
            return None
        try:
            return os.pread(fd, min(fed, CHECK_BYTES), max(fed - CHECK_BYTES, 0))
        except OSError:
            return None  # the load stands; only extending it later is given up

    def _keep(self, path: str, kept: _Kept) -> None:
        with self._lock:
            self._kept[path] = kept
            total = sum(k.key.size for k in self._kept.values())
            while total > KEPT_READER_BYTES and self._kept:
                _, dropped = self._kept.popitem(last=False)
                total -= dropped.key.size


def _extends(fd: int, kept: _Kept, key: FileKey) -> bool:
    """Whether the file is `kept`'s file grown at the end, old bytes intact."""
    if not kept.key.same_file(key) or key.size < kept.fed:
        return False
    if not kept.check:
        return True
    start = kept.fed - len(kept.check)
    return os.pread(fd, len(kept.check), start) == kept.check
