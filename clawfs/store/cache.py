"""The index cache: what the index learned about each file version, kept across mounts.

Every mount used to read every session's head again, and its background
sweep every byte (issue 16: half of a mount's scan, ~55 s of CPU at 100,000
sessions). What the index learns about a file is a function of one version
of it, so it is kept here, keyed by the file's real path and its identity
(`files.FileKey`: device, inode, size, mtime and ctime in ns; ctime also
moves when a file is rewritten in place and its mtime set back, which only
the kernel can set), and a row whose identity is not the file's now is a
miss. What is kept is the index's own `versions.Version` (the head until
the file is loaded, then the load's `Summary`, and what the readable view
needs without rendering, SPEC §8: `Rendered`), as the index holds it, so a
remount builds nothing per file but its record (its numbers are one BLOB,
which `versions.py` packs; a change to that layout changes the code stamp).

Why SQLite (the standard library's sqlite3): one file and transactions, so
a batch is written whole or not at all, also when the process is killed or
the machine loses power (WAL, synchronous=NORMAL); in WAL mode readers never
wait for the writer, two mounts share one file, and writers take turns
(BEGIN IMMEDIATE with a busy timeout); lookups by key without reading the
rest; STRICT tables refuse a value of the wrong type when it is written, so
a bulk read needs no check per value. A JSON or pickle file would be
rewritten whole on every change and raced by two mounts, dbm has no
transactions, LMDB is not in the standard library.

One file per machine (`<cache dir>/index.sqlite3`), not one per set of
roots: a mount's roots change while it runs (discovery adds some, the local
root depends on the working directory), two mounts with overlapping roots
would each keep and learn the same files, and a row keyed by real path does
not depend on who mounted what. Rows of directories that no mount has read
for `EXPIRE_DAYS` are dropped.

Never trusted, only checked (SPEC §7: it may make a mount faster, never an
answer different). When opened:
- a missing file is created; one SQLite cannot read (garbage, truncated:
  `PRAGMA quick_check`) is removed and created again;
- one from another schema, clawfs version or code (a digest of the format
  package, which computes every value kept here) is emptied in place, under
  the write lock, so a mount still using it sees one consistent file, and
  a writer stops writing to a cache whose stamp is no longer its own;
- the rows of a writer that never closed it (its process is gone: a killed
  mount) are dropped. Its batches are whole, but they are what a mount was
  doing when it died, and re-reading them costs little.
Each is logged. A directory on a network filesystem is refused: SQLite's
WAL needs memory shared through a local one (host/filesystems.py).

Threads and forks: no connection outlives a call. `reading` (a scan's
read, one directory at a time) and `get` open, read and close; `commit`
writes what `put` and `forget` queued (cheap, under a lock: the index may
call them while holding its own). So the mount
reads the cache before the daemon forks and writes it after, from any
thread, never on the request path.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import clawfs
from clawfs import format as format_package
from clawfs.host import filesystems
from clawfs.store import versions
from clawfs.store.files import FileKey
from clawfs.store.versions import Version

log = logging.getLogger(__name__)

SCHEMA_VERSION = 4
FILE_NAME = "index.sqlite3"
EXPIRE_DAYS = 60
BATCH_ROWS = 5000
"""Rows per transaction: another mount waits for at most one batch."""
BUSY_SECONDS = 10.0
"""How long a writer waits for another one before it tries again later."""
MIN_SQLITE = (3, 37, 0)
"""STRICT tables."""



class Reader:
    """One read transaction over the cache, for a scan: the entries of one
    store directory at a time, a range of names at a time, so what is read
    is never all in memory at once (a directory may hold 50,000 sessions)."""

    def __init__(self, cache: IndexCache, db: sqlite3.Connection | None) -> None:
        self._cache = cache
        self._db = db
        self._dirs: dict[str, int] = {}
        self._texts: dict[int | None, str | None] = {None: None}
        if db is not None:
            self._dirs = {os.fsdecode(p): i for p, i in db.execute("SELECT path, id FROM dirs")}
            self._texts = _texts(db)

    def entries(
        self, directory: str, after: bytes | None = None, upto: bytes | None = None
    ) -> dict[str, Version]:
        """File name -> version, for the files of the real directory `directory`
        whose names (as bytes) sort after `after` and up to `upto` (None: no
        bound). Empty when the cache holds nothing there or cannot be read."""
        query, args = "", []
        if after is not None:
            query += " AND name > ?"
            args.append(after)
        if upto is not None:
            query += " AND name <= ?"
            args.append(upto)
        return dict(self.versions(directory, query, args))

    def holds(self, directory: str) -> bool:
        """Whether the cache may hold files of the real directory `directory`."""
        return self._db is not None and directory in self._dirs

    def versions(
        self, directory: str, where: str = "", args: Iterable[object] = ()
    ) -> Iterator[tuple[str, Version]]:
        """(file name, version) of the files the cache holds in the real
        directory `directory` (and `where`, a condition on `name` with its
        `args`), in the order of the names' bytes, decoded as they are
        taken: a remount goes through 100,000 of them in one loop
        (dirsync.py), and never holds all of them at once. Ends early,
        logged, when the cache turns out unreadable."""
        dir_id = self._dirs.get(directory)
        if self._db is None or dir_id is None:
            return
        self._cache._touch(dir_id)
        query = f"SELECT {_COLUMNS} FROM files WHERE dir = ?{where}"
        try:
            yield from _decoded(self._texts, self._db.execute(query, (dir_id, *args)))
        except KeyError as e:  # a text id that is not there
            self._db = None
            self._cache._rebuild(f"a row it cannot hold ({e!r})", force=True)
        except sqlite3.Error as e:
            self._db = None
            self._cache._fail("reading", e)


_TABLES = (
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT, WITHOUT ROWID",
    "CREATE TABLE dirs(id INTEGER PRIMARY KEY, path BLOB NOT NULL UNIQUE,"
    " used_day INTEGER NOT NULL) STRICT",
    "CREATE TABLE texts(id INTEGER PRIMARY KEY, value TEXT NOT NULL UNIQUE) STRICT",
    "CREATE TABLE writers(session INTEGER PRIMARY KEY AUTOINCREMENT, pid INTEGER NOT NULL,"
    " started TEXT NOT NULL, boot TEXT NOT NULL) STRICT",
    # Model and workspace root name few distinct values: kept once (texts).
    # `numbers` is versions.NUMBERS (the identity first, the Markdown's size
    # among them); session_id NULL means the file's stem, md_title is UTF-8,
    # as in `Version`.
    "CREATE TABLE files(dir INTEGER NOT NULL, name BLOB NOT NULL, session INTEGER NOT NULL,"
    f" numbers BLOB NOT NULL CHECK (length(numbers) = {versions.NUMBERS.size}),"
    " session_id TEXT, parent TEXT, branch TEXT, model INTEGER, root INTEGER, error TEXT,"
    " md_title BLOB, PRIMARY KEY (dir, name)) STRICT, WITHOUT ROWID",
)

_COLUMNS = "name, numbers, session_id, parent, branch, model, root, error, md_title"
_INSERT = f"INSERT OR REPLACE INTO files(dir, session, {_COLUMNS}) VALUES ({', '.join('?' * 11)})"


class IndexCache:
    """The cache file at `path`; get one from `open_cache`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._writing = threading.Lock()
        self._pending: dict[str, Version | None] = {}
        self._touched: set[int] = set()
        self._session: int | None = None
        self._session_pid = 0
        self._off = False

    @property
    def usable(self) -> bool:
        """False once a failure turned it off for this process (logged)."""
        return not self._off

    # --- reading ----------------------------------------------------------------

    @contextlib.contextmanager
    def reading(self) -> Iterator[Reader]:
        """A `Reader` for one scan (one snapshot of the file: a writer meanwhile
        is not seen half-way). It reads nothing when the cache is off."""
        if self._off:
            yield Reader(self, None)
            return
        try:
            with self._connect() as db:
                db.execute("BEGIN")
                reader = Reader(self, db)
                yield reader
                db.execute("COMMIT")
        except sqlite3.Error as e:
            self._fail("reading", e)

    def get(self, path: str, key: FileKey) -> Version | None:
        """What is kept for the real path `path` if it was written for version `key`."""
        directory, name = os.path.split(path)
        encoded = os.fsencode(name)
        with self.reading() as reader:
            found = reader.entries(directory, encoded[:-1] if encoded else None, encoded)
        version = found.get(name)
        return version if version is not None and version.same_as(key) else None

    def _touch(self, dir_id: int) -> None:
        """A directory was read: it stays for EXPIRE_DAYS more (written at the next commit)."""
        with self._lock:
            self._touched.add(dir_id)

    # --- writing ----------------------------------------------------------------

    def put(self, path: str, version: Version) -> None:
        """Queue what is known of the real path `path` (replacing what was)."""
        with self._lock:
            self._pending[path] = version

    def forget(self, path: str) -> None:
        """Queue the removal of the real path `path` (a file that is gone)."""
        with self._lock:
            self._pending[path] = None

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def commit(self) -> int:
        """Write what was queued, `BATCH_ROWS` per transaction; the rows written.

        Blocking (it may wait up to BUSY_SECONDS for another mount's batch):
        call it from a worker thread. What another writer kept locked is
        written next time; a failure that is not that turns the cache off
        for the rest of this process, logged.
        """
        with self._writing:
            with self._lock:
                todo, self._pending = list(self._pending.items()), {}
                touched, self._touched = self._touched, set()
            if self._off or not (todo or touched):
                return 0
            written = 0
            try:
                with self._connect() as db:
                    session, ids = self._writer(db), _Ids(db)
                    for start in range(0, max(len(todo), 1), BATCH_ROWS):
                        batch = todo[start : start + BATCH_ROWS]
                        if not self._write(db, session, ids, batch, touched if start == 0 else ()):
                            return written
                        written += len(batch)
            except sqlite3.Error as e:
                if e.sqlite_errorname in ("SQLITE_BUSY", "SQLITE_LOCKED"):
                    self._requeue(todo[written:], touched if written == 0 else set())
                    log.info("index cache %s is busy: %d row(s) wait", self.path,
                             len(todo) - written)
                else:
                    self._fail("writing", e)
            return written

    def close(self) -> None:
        """Write what is queued and leave the cache as a writer that ended cleanly."""
        self.commit()
        with self._writing:
            if self._session is None or self._session_pid != os.getpid() or self._off:
                return
            try:
                with self._connect() as db:
                    db.execute("DELETE FROM writers WHERE session = ?", (self._session,))
            except sqlite3.Error as e:
                self._fail("closing", e)
            self._session = None

    def _write(
        self,
        db: sqlite3.Connection,
        session: int,
        ids: _Ids,
        batch: list[tuple[str, Version | None]],
        touched: Iterable[int],
    ) -> bool:
        """One transaction. False when the cache is no longer ours to write."""
        db.execute("BEGIN IMMEDIATE")
        try:
            if _stamp_of(db) != code_stamp():
                db.execute("ROLLBACK")
                log.warning("index cache %s was taken over by another clawfs: not writing to it",
                            self.path)
                self._off = True
                return False
            gone, rows = [], []
            for path, version in batch:
                directory, name = os.path.split(path)
                key = (ids.dir(directory), os.fsencode(name))
                if version is None:
                    gone.append(key)
                else:
                    rows.append(_encode(session, key, version, ids.text))
            db.executemany("DELETE FROM files WHERE dir = ? AND name = ?", gone)
            _insert(db, rows)
            today = _today()
            db.executemany("UPDATE dirs SET used_day = ? WHERE id = ? AND used_day < ?",
                           [(today, i, today) for i in {*touched, *(row[1] for row in rows)}])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return True

    def _writer(self, db: sqlite3.Connection) -> int:
        """This process's writer session, registered on its first commit (a
        daemon forked after reading registers its own pid)."""
        if self._session is None or self._session_pid != os.getpid():
            pid = os.getpid()
            row = db.execute(
                "INSERT INTO writers(pid, started, boot) VALUES (?, ?, ?) RETURNING session",
                (pid, _process_start(pid) or "", _boot_id()),
            ).fetchone()
            self._session, self._session_pid = int(row[0]), pid
        return self._session

    def _requeue(self, items: list[tuple[str, Version | None]], touched: set[int]) -> None:
        with self._lock:
            for path, version in items:
                self._pending.setdefault(path, version)  # a newer one queued meanwhile wins
            self._touched |= touched

    # --- opening and checking ---------------------------------------------------

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=BUSY_SECONDS, isolation_level=None,
                             check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("PRAGMA journal_size_limit = 8388608")
            yield db
        finally:
            db.close()

    def _prepare(self) -> None:
        """Check the file and make it one this code may use (module docstring)."""
        try:
            _create_private(self.path)
            with self._connect() as db:
                problem = _problem(db)
        except sqlite3.DatabaseError as e:
            log.warning("index cache %s is unreadable (%s): starting a new one", self.path, e)
            remove_cache(self.path.parent)
            _create_private(self.path)
            problem = ""
        if problem is not None:
            self._rebuild(problem)
        with self._connect() as db:
            self._drop_dead_writers(db)
            _expire(db)

    def _rebuild(self, reason: str, *, force: bool = False) -> None:
        """Empty the cache in place and stamp it as ours, under the write lock:
        unless `force`d, only if it still needs it then, so two mounts doing
        it at once leave one good file. `reason` is logged (none for a new file)."""
        if reason:
            log.warning("index cache %s: %s: emptied", self.path, reason)
        try:
            with self._connect() as db:
                db.execute("BEGIN IMMEDIATE")
                if force or _problem(db) is not None:
                    tables = [r[0] for r in db.execute(
                        "SELECT name FROM sqlite_schema WHERE type = 'table'"
                        " AND name NOT LIKE 'sqlite_%'")]
                    for table in tables:
                        db.execute(f'DROP TABLE "{table}"')
                    for statement in _TABLES:
                        db.execute(statement)
                    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                    db.execute("INSERT INTO meta VALUES ('stamp', ?)", (code_stamp(),))
                db.execute("COMMIT")
        except sqlite3.Error as e:
            self._fail("emptying", e)

    def _drop_dead_writers(self, db: sqlite3.Connection) -> None:
        boot = _boot_id()
        dead = [
            (session, pid)
            for session, pid, started, writer_boot in db.execute("SELECT * FROM writers")
            if writer_boot != boot or _process_start(pid) != started
        ]
        if not dead:
            return
        db.execute("BEGIN IMMEDIATE")
        for session, pid in dead:
            count = db.execute("DELETE FROM files WHERE session = ?", (session,)).rowcount
            db.execute("DELETE FROM writers WHERE session = ?", (session,))
            log.warning("index cache %s: a mount (pid %d) ended without closing it:"
                        " dropped the %d row(s) it wrote", self.path, pid, count)
        db.execute("COMMIT")

    def _fail(self, doing: str, error: sqlite3.Error) -> None:
        if not self._off:
            log.warning("index cache %s: %s failed (%s): going on without it",
                        self.path, doing, error)
        self._off = True


def open_cache(directory: Path) -> IndexCache | None:
    """The index cache in `directory` (created, checked, rebuilt as needed),
    or None, logged, when there can be none there."""
    if sqlite3.sqlite_version_info < MIN_SQLITE:
        log.warning("no index cache: SQLite %s is older than 3.37", sqlite3.sqlite_version)
        return None
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as e:
        log.warning("no index cache: cannot create %s: %s", directory, e.strerror)
        return None
    kind = filesystems.shared_kind(directory)
    if kind is not None:
        log.warning("no index cache: %s is on %s, and SQLite's WAL needs a local filesystem",
                    directory, kind)
        return None
    cache = IndexCache(directory / FILE_NAME)
    try:
        cache._prepare()
    except (OSError, sqlite3.Error) as e:
        log.warning("no index cache in %s: %s", directory, e)
        return None
    return None if cache._off else cache


def remove_cache(directory: Path) -> None:
    """Delete the cache file in `directory` with its journal files."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(directory / (FILE_NAME + suffix))


@functools.cache
def code_stamp() -> str:
    """clawfs's version and a digest of the source that makes what is kept:
    the format package computes every value, versions.py packs them. A
    change to either empties the cache."""
    digest = hashlib.sha256()
    sources = [*Path(format_package.__file__).parent.glob("*.py"), Path(versions.__file__)]
    for source in sorted(sources):
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return f"clawfs {clawfs.__version__} format {digest.hexdigest()[:16]}"


# --- helpers ---------------------------------------------------------------------


def _problem(db: sqlite3.Connection) -> str | None:
    """Why this file cannot be used as it is ("" for a new, empty one), or None.
    Raises sqlite3.DatabaseError for a file SQLite cannot read."""
    check = db.execute("PRAGMA quick_check").fetchall()
    if check != [("ok",)]:
        raise sqlite3.DatabaseError(f"quick_check: {check[0][0]}")
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version == 0:
        return ""
    if version != SCHEMA_VERSION:
        return f"schema version {version}, not {SCHEMA_VERSION}"
    stamp = _stamp_of(db)
    return None if stamp == code_stamp() else f"written by {stamp}, not {code_stamp()}"


def _stamp_of(db: sqlite3.Connection) -> str | None:
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'stamp'").fetchone()
    except sqlite3.OperationalError:
        return None  # no meta table: not ours
    return None if row is None else str(row[0])


def _create_private(path: Path) -> None:
    """Create the file readable by its owner only (SQLite gives its journal
    files the same mode): it names every session file and its id."""
    os.close(os.open(path, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600))


def _expire(db: sqlite3.Connection) -> None:
    """Drop the rows of directories no mount has read for EXPIRE_DAYS."""
    before = _today() - EXPIRE_DAYS
    if db.execute("SELECT 1 FROM dirs WHERE used_day < ? LIMIT 1", (before,)).fetchone() is None:
        return
    db.execute("BEGIN IMMEDIATE")
    db.execute("DELETE FROM files WHERE dir IN (SELECT id FROM dirs WHERE used_day < ?)",
               (before,))
    db.execute("DELETE FROM dirs WHERE used_day < ?", (before,))
    db.execute("DELETE FROM texts WHERE id NOT IN (SELECT used FROM ("
               "SELECT model AS used FROM files UNION SELECT root FROM files)"
               " WHERE used IS NOT NULL)")
    db.execute("COMMIT")


class _Ids:
    """The ids of directories and texts (model, workspace root) within one
    commit, adding those missing. Valid across its transactions: expiry
    only drops directories unused for days and texts no row uses, and these
    are used by the rows this commit writes."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._dirs: dict[str, int] = {}
        self._texts: dict[str | None, int | None] = {None: None}

    def dir(self, path: str) -> int:
        found = self._dirs.get(path)
        if found is None:
            raw = os.fsencode(path)
            row = self._db.execute("SELECT id FROM dirs WHERE path = ?", (raw,)).fetchone()
            if row is None:
                row = self._db.execute("INSERT INTO dirs(path, used_day) VALUES (?, ?)"
                                       " RETURNING id", (raw, _today())).fetchone()
            found = self._dirs[path] = int(row[0])
        return found

    def text(self, value: str | None) -> int | None:
        if value in self._texts:
            return self._texts[value]
        row = self._db.execute("SELECT id FROM texts WHERE value = ?", (value,)).fetchone()
        if row is None:
            row = self._db.execute("INSERT INTO texts(value) VALUES (?) RETURNING id",
                                   (value,)).fetchone()
        found = self._texts[value] = int(row[0])
        return found


def _texts(db: sqlite3.Connection) -> dict[int | None, str | None]:
    texts: dict[int | None, str | None] = {None: None}
    texts.update(db.execute("SELECT id, value FROM texts"))
    return texts


def _encode(
    session: int, key: tuple[int, bytes], version: Version,
    ids: Callable[[str | None], int | None],
) -> tuple[Any, ...]:
    branch, model, root, error = version.texts
    dir_id, name = key
    return (
        dir_id, session, name, version.numbers, version.session_id, version.parent_session_id,
        branch, ids(model), ids(root), error, version.title,
    )


def _insert(db: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    """Insert rows; one whose text SQLite cannot take (a lone surrogate, which
    claw's parser never lets through, in an error text) is left out."""
    try:
        db.executemany(_INSERT, rows)
    except UnicodeEncodeError:
        for row in rows:
            with contextlib.suppress(UnicodeEncodeError):
                db.execute(_INSERT, row)


def _decoded(
    texts: dict[int | None, str | None], rows: Iterable[Any]
) -> Iterator[tuple[str, Version]]:
    """Rows into (file name, version), one tight loop (100,000 of them at a mount).

    Nothing is checked per value: STRICT types and the CHECK constraints
    held when the rows were written, and `quick_check` (which checks both)
    passed when the cache was opened. Ids have no such check: a dangling
    one raises KeyError. The version is made as `Version`'s own
    constructor would (a tuple of its fields), without its keywords, and
    its texts looked up once per set of ids (one directory has few)."""
    encoding, errors = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()
    make = tuple.__new__
    by_ids: dict[tuple[str | None, int | None, int | None, str | None], versions.Texts] = {}
    for name, numbers, sid, parent, branch, model, root, error, md_title in rows:
        ids = (branch, model, root, error)
        texts_of = by_ids.get(ids)
        if texts_of is None:
            texts_of = by_ids[ids] = versions.shared((branch, texts[model], texts[root], error))
        yield name.decode(encoding, errors), make(
            Version, (numbers, sid, parent, texts_of, md_title)
        )


def _today() -> int:
    return int(time.time() // 86_400)


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        return ""


def _process_start(pid: int) -> str | None:
    """When process `pid` started (clock ticks since boot, proc(5) stat field
    22), or None when there is no such process: with the boot id, what tells
    a live writer from a dead one whose pid was reused."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rpartition(b")")[2].split()
    except OSError:
        return None
    return fields[19].decode("ascii") if len(fields) > 19 else None
