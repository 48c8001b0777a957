"""Write a fork of a session file exactly as claw's `/session fork` does (SPEC §4).

The content is the format layer's: load the parent as claw loads it,
`Session.forked` (new id, fresh times, parent link, normalized branch; the
parent's `workspace_root` kept, as the REPL's `/session fork` keeps it),
`render_snapshot` (claw's save, sanitizing included). This module only puts
the bytes on disk safely:

* into the directory given (the parent's store directory, a real path),
  opened once and checked to be there (files.opened_at: a directory swapped
  for a link out of the store is refused, SPEC §6), every step then taken
  relative to that descriptor, with the parent file's mode and owner;
* through an unnamed temporary file (`O_TMPFILE`), linked in at the end
  under the final name (`linkat` through `/proc/self/fd/N`, else
  `AT_EMPTY_PATH`), which fails instead of replacing an existing file. A
  crash before the link leaves nothing: the kernel frees a file that never
  had a name (SPEC §6). Where the filesystem has no `O_TMPFILE` (old
  kernels, some network and FUSE filesystems), a named temp file with a name
  only clawfs uses (`.clawfs-fork-<16 hex>.tmp`: never claw's
  `<name>.tmp-<ms>-<n>`, which are claw's business, and no session name, so
  listings ignore it), locked while it is written, then `link()` (or
  `renameat2(RENAME_NOREPLACE)` where there are no hard links); a crash
  leaves that name, and `remove_leftovers` at the next mount removes it
  once no writer holds its lock;
* with a new id that is unique even against other processes forking into
  the same directory: ids use a process-wide strictly increasing clock, and
  a name that exists already is retried with the next id;
* leaving nothing behind when anything fails;
* in memory bounded by the largest record, not the session (a 10 MB parent
  is ~40 MB of parsed messages), and parsing it once: the one pass checks
  the file as claw's load does, keeping all but the messages, and renders
  each message as it is checked into a spool (an unnamed file beside the
  fork), since claw's order puts the messages after records the last
  lines may still change; the fork is then its other records and the
  spool's bytes, which gives the bytes a full load would. Before the fork
  is named, the parent's bytes are read again (not parsed) and must be the
  ones checked: a file rewritten in place meanwhile fails the fork.

The fork's load is known without reading it back: `Written` hands the index
claw's list entry of it (`summary.summary_of` of the session written) with
the version it was written as (store/files.py `FileKey`), which the index
takes only while the file is still that version (probe.py `written`).

Errors are `OSError`s whose errno names the failure: the parent gone or
unreadable (including a file claw cannot load) is ENOENT; one too big to
check (store/budget.py) EFBIG; an unwritable directory EACCES/EROFS; a
full disk ENOSPC. A parent rewritten in place
while it is forked is ENOENT too (claw itself only appends or renames).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import hashlib
import itertools
import os
import re
import secrets
import stat
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import NamedTuple

from clawfs.format import jsonl, session, snapshot, summary
from clawfs.format.clawjson import JsonObject, render
from clawfs.format.summary import Summary
from clawfs.store import files, scan
from clawfs.store.budget import Budget
from clawfs.store.files import FileKey
from clawfs.store.roots import Root

MAX_ATTEMPTS = 1000
"""Names tried before giving up (each attempt is a fresh id)."""

TEMP_NAME = re.compile(r"\.clawfs-fork-[0-9a-f]{16}\.tmp")
"""clawfs's own temp files (the fallback without O_TMPFILE); nothing else matches."""
NO_TMPFILE = (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL)
"""`open(O_TMPFILE)` where the filesystem lacks it (EOPNOTSUPP), or the kernel
(EISDIR: O_TMPFILE includes O_DIRECTORY; EINVAL on some filesystems)."""

_RENAME_NOREPLACE = 1
_AT_EMPTY_PATH = 0x1000


class IdClock:
    """claw's id source: ms strictly increasing within the process, plus a counter.

    claw forces its clock to be strictly increasing and takes the counter
    for ids (and its temp names, session.rs); so do we for ids (our temp
    files have no name, or one apart from claw's). Two processes can still
    pick the same id; the link step catches that.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = 0
        self._counter = itertools.count()

    def now_ms(self) -> int:
        with self._lock:
            now = max(time.time_ns() // 1_000_000, self._last_ms + 1)
            self._last_ms = now
            return now

    def counter(self) -> int:
        with self._lock:
            return next(self._counter)


CLOCK = IdClock()


READ_CHUNK = 1 << 18
"""Bytes read at a time; small next to a session, large next to a syscall."""
SPOOL_CHUNK = 1 << 20
"""Bytes of the spool copied into the fork at a time."""


@dataclass(frozen=True, slots=True)
class _Parent:
    """What reading the parent learnt: enough to write its fork.

    `session` is the parent as claw loads it, except that a JSONL file's
    messages are count-only placeholders, rendered into the spool instead
    (`spooled` bytes); `length` and `digest` say which bytes were checked,
    so the fork can tell they are still the file's before it is named.
    """

    session: session.Session
    stat: os.stat_result
    length: int
    digest: bytes
    spooled: int

    @property
    def streamed(self) -> bool:
        """True when the messages are the spool's, not the session's.

        A count-only reader stands each JSONL message in with an empty
        placeholder; a loaded message always has a role and blocks. A legacy
        whole-file JSON parent (rare, small) comes back with its messages.
        """
        messages = self.session.messages
        return bool(messages) and not messages[0]


@dataclass(frozen=True, slots=True)
class Written:
    """A fork on disk: its path, and claw's list entry of it (`summary`, what
    a load of the file gives) for the version `key` it was written as. `key`
    is None when the file changed as it was named (then nothing is known)."""

    path: str
    key: FileKey | None
    summary: Summary


def write_fork(
    parent_path: str,
    directory: str,
    branch_name: str | None,
    *,
    file_name: str | None = None,
    clock: IdClock = CLOCK,
) -> Written:
    """Fork the session in `parent_path` into `directory`; the new file.

    Memory is bounded by the largest record, not the session: the parent is
    read once, checked as claw's load does with only meta, compaction and
    prompt_history kept, and each message rendered into the spool as it is
    checked (claw's order puts all messages last).
    """
    with _open_parent(parent_path) as opened:
        into = _open_directory(directory)
        try:
            spool = _open_spool(into)
            try:
                name = file_name or os.path.basename(parent_path)
                parent = _check_parent(opened, parent_path, name, spool)
                final, fork, key = _publish(opened.fd, parent_path, parent, spool, into,
                                            branch_name, clock)
            finally:
                os.close(spool)
        finally:
            os.close(into)
    return Written(os.path.join(directory, final), key, summary.summary_of(fork))


def _publish(
    fd: int, path: str, parent: _Parent, spool: int, into: int, branch: str | None,
    clock: IdClock,
) -> tuple[str, session.Session, FileKey | None]:
    """Write the fork into the directory open as `into`: its file name, the
    session it holds, and the version it was named as (`_Linked.key`)."""
    unnamed = True
    for _attempt in range(MAX_ATTEMPTS):
        now = clock.now_ms()
        new_id = session.new_session_id(now, clock.counter())
        final = new_id + ".jsonl"
        fork = parent.session.forked(new_id, now, branch)
        linked = None
        if unnamed:
            try:
                linked = _publish_unnamed(
                    _fork_bytes(fd, path, parent, fork, spool), into, final, parent.stat)
                if linked is None:
                    continue  # the name is taken: the next id
            except _NoUnnamedFile:
                unnamed = False  # not here (the filesystem, or no way to link it)
        if linked is None:
            linked = _publish_named(
                _fork_bytes(fd, path, parent, fork, spool), into, final, parent.stat)
        if linked is not None:
            return final, fork, linked.key
    raise FileExistsError(errno.EEXIST, "no free session id for the fork", path)


def _open_directory(directory: str) -> int:
    """`directory` opened, if it is where the store has it (not through a link)."""
    into = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    if not files.opened_at(into, directory):
        os.close(into)
        raise files.Moved(directory)
    return into


def _open_parent(path: str) -> files.BackingFile:
    try:
        return files.open_backing(path)
    except (files.NotRegular, files.Unreadable) as e:
        raise _gone(f"session to fork is unreadable: {e.strerror}", path) from None
    except OSError as e:
        raise _gone(f"session to fork is gone or unreadable: {e.strerror}", path) from None


def _check_parent(
    opened: files.BackingFile, path: str, file_name: str, spool: int
) -> _Parent:
    """The parent loaded as claw loads it, messages counted, not kept: each
    is rendered into `spool` as claw's save writes it, as it is checked
    (the reader's `taken`: nothing is parsed twice)."""
    fd, st = opened.fd, opened.stat
    with open(spool, "wb", buffering=1 << 20, closefd=False) as out:

        def render_message(
            _line: jsonl.Line, _obj: JsonObject, record: session.Record | None
        ) -> None:
            if isinstance(record, dict):  # a message (the other records are not dicts)
                out.write(render(snapshot.message_record(record)).encode("utf-8"))
                out.write(b"\n")

        reader = session.JsonlReader(keep_messages=False, taken=render_message)
        digest = hashlib.blake2b()
        length = 0
        cost = Budget(st.st_size)
        try:
            while cost.reason is None and (chunk := os.pread(fd, READ_CHUNK, length)):
                if cost.take(chunk) is not None:
                    break
                length += len(chunk)
                digest.update(chunk)
                reader.feed(chunk)
        except OSError as e:
            raise _gone(f"session to fork is unreadable: {e.strerror}", path) from None
        if cost.reason is not None:  # store/budget.py: claw's answer cannot be afforded
            raise OSError(errno.EFBIG, f"session to fork is too big to check: {cost.reason}",
                          path)
        outcome = reader.outcome(file_name, st.st_mtime_ns // 1_000_000, render_message)
        if outcome.error is not None:
            raise _gone(f"session to fork does not load: {outcome.error}", path)
        assert outcome.session is not None
        out.flush()
        spooled = out.tell()
    return _Parent(outcome.session, st, length, digest.digest(), spooled)


def _fork_bytes(
    fd: int, path: str, parent: _Parent, fork: session.Session, spool: int
) -> Iterator[bytes]:
    """claw's snapshot of `fork`, its messages the spool's if need be, and
    then only if the parent's bytes are still the ones checked."""
    if not parent.streamed:
        yield from _encoded(snapshot.snapshot_lines(fork))
        return
    yield from _encoded(snapshot.snapshot_lines(replace(fork, messages=[])))
    offset = 0
    while offset < parent.spooled:
        chunk = os.pread(spool, min(SPOOL_CHUNK, parent.spooled - offset), offset)
        if not chunk:
            raise OSError(errno.EIO, "the fork's spool came back short", path)
        offset += len(chunk)
        yield chunk
    _check_unchanged(fd, path, parent)


def _encoded(lines: Iterable[str]) -> Iterator[bytes]:
    for line in lines:
        yield line.encode("utf-8") + b"\n"


def _check_unchanged(fd: int, path: str, parent: _Parent) -> None:
    """The parent's first `parent.length` bytes read again (not parsed): the
    ones checked, or the fork fails. An append lies past them and is not
    read; a rewrite in place since they were read (which could have torn
    that read) is ENOENT."""
    digest = hashlib.blake2b()
    offset = 0
    while offset < parent.length:
        try:
            chunk = os.pread(fd, min(READ_CHUNK, parent.length - offset), offset)
        except OSError as e:
            raise _gone(f"session to fork is unreadable: {e.strerror}", path) from None
        if not chunk:
            raise _changed(path)
        offset += len(chunk)
        digest.update(chunk)
    if digest.digest() != parent.digest:
        raise _changed(path)


def _changed(path: str) -> FileNotFoundError:
    return _gone("session to fork changed while it was read", path)


def _gone(message: str, path: str) -> FileNotFoundError:
    return FileNotFoundError(errno.ENOENT, message, path)


class _NoUnnamedFile(Exception):
    """An unnamed temp file cannot be made or linked in here: use a named one."""


class _Linked(NamedTuple):
    """A fork's file as written (before it had its name) and once named."""

    written: os.stat_result
    named: os.stat_result

    @property
    def key(self) -> FileKey | None:
        """The version named, if it is the one written: naming it moves only
        its ctime, so a size or mtime that moved is another writer's (None)."""
        w, n = self.written, self.named
        if (w.st_size, w.st_mtime_ns) != (n.st_size, n.st_mtime_ns):
            return None
        return files.file_key(n)


def _publish_unnamed(
    chunks: Iterable[bytes], into: int, final: str, st: os.stat_result
) -> _Linked | None:
    """Write `chunks` (claw's bytes) into an unnamed file in the directory
    `into`, then name it `final` there; None if `final` exists. Written a
    piece at a time, so the text is never held whole. `_NoUnnamedFile` when
    the filesystem has no O_TMPFILE (nothing written) or the file cannot be
    linked in (then it is freed)."""
    fd = _open_unnamed(into)
    try:
        written = _write(fd, chunks, st)
        return _Linked(written, os.fstat(fd)) if _link_unnamed(fd, into, final) else None
    finally:
        os.close(fd)


def _publish_named(
    chunks: Iterable[bytes], into: int, final: str, st: os.stat_result
) -> _Linked | None:
    """`_publish_unnamed` through a named temp file of clawfs's own."""
    fd, temp = _create_named_temp(into)
    unlinked = False
    try:
        written = _write(fd, chunks, st)
        linked = _link_noreplace(into, temp, final)
        _unlink_quietly(into, temp)  # before the fstat: it moves the file's ctime
        unlinked = True
        return _Linked(written, os.fstat(fd)) if linked else None
    finally:
        try:
            if not unlinked:
                _unlink_quietly(into, temp)
        finally:
            os.close(fd)  # after the unlink: the lock keeps a clean-up away until then


def _write(fd: int, chunks: Iterable[bytes], st: os.stat_result) -> os.stat_result:
    """Write `chunks` to `fd` with the parent's ownership; the file's stat then."""
    with open(fd, "wb", buffering=1 << 20, closefd=False) as out:
        _give_ownership(fd, st)
        for chunk in chunks:
            out.write(chunk)
    return os.fstat(fd)


def _open_spool(into: int) -> int:
    """The spool of a fork's rendered messages: a file in the directory `into`
    (the fork's filesystem) that has no name, or only for a moment where
    there is no O_TMPFILE. Read and written; freed when closed."""
    try:
        return _open_unnamed(into)
    except _NoUnnamedFile:
        fd, temp = _create_named_temp(into)
        _unlink_quietly(into, temp)
        return fd


def _open_unnamed(into: int) -> int:
    """An unnamed file in the directory `into`, read and written (mode 0600
    until the parent's)."""
    try:
        return os.open(".", os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600, dir_fd=into)
    except OSError as e:
        if e.errno in NO_TMPFILE:
            raise _NoUnnamedFile from None
        raise  # EACCES, EROFS, ENOSPC, ENOENT: what a named file would meet too


def _link_unnamed(fd: int, into: int, final: str) -> bool:
    """Give the unnamed file `fd` the name `final` in the directory `into`
    unless it exists (then False).

    `linkat` of `/proc/self/fd/N` following the link works for any user;
    `AT_EMPTY_PATH` needs CAP_DAC_READ_SEARCH, so it is the second choice
    (no /proc mounted)."""
    try:
        proc = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        proc = None
    try:
        if proc is not None:
            os.link(str(fd), final, src_dir_fd=proc, dst_dir_fd=into)  # AT_SYMLINK_FOLLOW
        else:
            _linkat_empty_path(fd, into, final)
    except FileExistsError:
        return False
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.ENOENT, errno.EXDEV, errno.EOPNOTSUPP):
            raise  # ENOSPC, EACCES, EROFS, EMLINK ...
        raise _NoUnnamedFile from None
    finally:
        if proc is not None:
            os.close(proc)
    return True


def _linkat_empty_path(fd: int, into: int, final: str) -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    if libc.linkat(fd, b"", into, os.fsencode(final), _AT_EMPTY_PATH) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), final)


def _create_named_temp(into: int) -> tuple[int, str]:
    """A new temp file of clawfs's own name (`TEMP_NAME`) in the directory
    `into`, for reading and writing, locked (flock) while it is written, so
    `remove_leftovers` in another mount never takes it for a crash's. A name
    the clean-up took between our create and our lock is given up for a new
    one."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
    for _attempt in range(MAX_ATTEMPTS):
        temp = f".clawfs-fork-{secrets.token_hex(8)}.tmp"
        try:
            fd = os.open(temp, flags, 0o600, dir_fd=into)
        except FileExistsError:
            continue
        if _lock(fd) is not False and _same_file(fd, temp, into):
            return fd, temp
        os.close(fd)  # a clean-up holds or removed it: it is the clean-up's now
    raise FileExistsError(errno.EEXIST, "no free temp file name")


def _lock(fd: int) -> bool | None:
    """Take `fd`'s flock without waiting: True, False when another holds it,
    None where the filesystem has no locks (a clean-up cannot take it then)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:
        return None
    return True


def _same_file(fd: int, path: str, into: int | None = None) -> bool:
    try:
        st, held = os.stat(path, dir_fd=into, follow_symlinks=False), os.fstat(fd)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == (held.st_dev, held.st_ino)


def remove_leftovers(roots: Iterable[Root]) -> list[str]:
    """Remove clawfs's own temp files that a crashed fork left in the store
    directories of `roots` (forks go only there: scan.read_root's
    fingerprint directories); the paths removed. Only `TEMP_NAME`, only a
    regular file, and only one whose lock no writer holds: claw's temp
    files, and a fork still being written by another mount, stay."""
    removed: list[str] = []
    for root in roots:
        for _name, directory in scan.read_root(root).fp_dirs:
            removed += _remove_leftovers_in(directory)
    return removed


def _remove_leftovers_in(directory: str) -> list[str]:
    try:
        names = [name for name in os.listdir(directory) if TEMP_NAME.fullmatch(name)]
    except OSError:
        return []
    removed = []
    for name in names:
        path = os.path.join(directory, name)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode) and _lock(fd) and _same_file(fd, path):
                os.unlink(path)
                removed.append(path)
        except OSError:
            continue
        finally:
            os.close(fd)
    return removed


def _give_ownership(fd: int, st: os.stat_result) -> None:
    """The parent's owner (where we may set it) and exact mode (no umask)."""
    if (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
        try:
            os.fchown(fd, st.st_uid, st.st_gid)
        except PermissionError:
            pass  # an ordinary user cannot give files away; keep our own
    os.fchmod(fd, st.st_mode & 0o7777)


def _link_noreplace(into: int, temp: str, final: str) -> bool:
    """Make `temp` appear as `final` (both in the directory `into`) unless
    `final` exists (then False)."""
    try:
        os.link(temp, final, src_dir_fd=into, dst_dir_fd=into)
        return True
    except FileExistsError:
        return False
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
    try:
        _renameat2_noreplace(into, temp, final)
    except FileExistsError:
        return False
    return True


def _renameat2_noreplace(into: int, source: str, target: str) -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    result = libc.renameat2(into, os.fsencode(source), into, os.fsencode(target), _RENAME_NOREPLACE)
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), target)


def _unlink_quietly(into: int, name: str) -> None:
    try:
        os.unlink(name, dir_fd=into)
    except FileNotFoundError:
        pass
