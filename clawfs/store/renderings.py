"""Where the Markdown cache keeps what it learns of each file version.

mdcache.py measures and titles the Markdown of a version (SPEC §8) and
asks a `Known` to keep the result. The index's answer is: with the
version, on its record of the file (versions.Version), so the index
cache keeps it across mounts and nothing else holds one entry per file.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from clawfs.store import versions
from clawfs.store.commits import Commits
from clawfs.store.files import FileKey
from clawfs.store.versions import Rendered


class Renderings:
    """mdcache.Known over the index's records (each call takes the index's lock)."""

    def __init__(self, commits: Commits) -> None:
        self._commits = commits

    def known(self, path: str, key: FileKey) -> Rendered | None:
        return self._of(path, versions.KEY.pack(*key))

    def size_of(self, path: str, st: os.stat_result) -> int | None:
        packed = versions.KEY.pack(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns,
                                   st.st_ctime_ns)
        rendered = self._of(path, packed)
        return None if rendered is None else rendered.size

    def _of(self, path: str, packed: bytes) -> Rendered | None:
        commits = self._commits
        with commits.lock:
            rec = commits.records.backed_by(path)
            return rec.rendered if rec is not None and rec.version.same_as(packed) else None

    def remember(self, path: str, key: FileKey, rendered: Rendered) -> None:
        commits = self._commits
        with commits.lock:
            rec = commits.records.backed_by(path)
            if rec is None or not rec.version.same_as(key):
                return
            now = rec.rendered
            if now == rendered or (now is not None and now.size is not None
                                   and rendered.size is None):
                return  # a title-only result never replaces a size
            if commits.records.revise(path, rec.version.rendering(rendered)):
                commits.unsaved.learned(path)

    def grew(self, path: str, key: FileKey) -> bool:
        commits = self._commits
        with commits.lock:
            rec = commits.records.backed_by(path)
            return rec is not None and rec.key.same_file(key) and rec.version.earlier_loaded

    def retain(self, keep: Callable[[str], bool]) -> None:
        """Nothing to do: a file that leaves the index takes its version along."""
