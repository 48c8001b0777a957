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
  is ~40 MB of parsed messages): pass 1 checks the file as claw's load does,
  keeping all but the messages; pass 2 re-reads the same bytes and renders
  one message at a time, which gives the bytes a full load would.

Errors are `OSError`s whose errno names the failure: the parent gone or
unreadable (including a file claw cannot load) is ENOENT; one too big to
check (store/budget.py) EFBIG; an unwritable directory EACCES/EROFS; a
full disk ENOSPC. A parent rewritten in place
between the two passes is ENOENT too (claw itself only appends or renames).
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

from clawfs.format import clawjson, jsonl, session, snapshot
from clawfs.format.clawjson import render
from clawfs.store import files, scan
from clawfs.store.budget import Budget
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


@dataclass(frozen=True, slots=True)
class _Parent:
    """What pass 1 learnt about the parent: enough to write its fork.

    `session` is the parent as claw loads it, except that a JSONL file's
    messages are count-only placeholders; `length` and `digest` say which
    bytes were checked, so pass 2 renders the messages from exactly those.
    """

    session: session.Session
    stat: os.stat_result
    length: int
    digest: bytes

    @property
    def streamed(self) -> bool:
        """True when the messages must be re-read (pass 2) from the file.

        A count-only reader stands each JSONL message in with an empty
        placeholder; a loaded message always has a role and blocks. A legacy
        whole-file JSON parent (rare, small) comes back with its messages.
        """
        messages = self.session.messages
        return bool(messages) and not messages[0]


def write_fork(
    parent_path: str,
    directory: str,
    branch_name: str | None,
    *,
    file_name: str | None = None,
    clock: IdClock = CLOCK,
) -> str:
    """Fork the session in `parent_path` into `directory`; return the new file's path.

    Memory is bounded by the largest record, not the session: pass 1 checks
    the whole file as claw's load does but keeps only meta, compaction and
    prompt_history; pass 2 re-reads the same bytes from the same fd and
    renders one message at a time (claw's order puts all messages last).
    """
    with _open_parent(parent_path) as opened:
        parent = _check_parent(opened, parent_path, file_name or os.path.basename(parent_path))
        into = _open_directory(directory)
        try:
            name = _publish(opened.fd, parent_path, parent, into, branch_name, clock)
        finally:
            os.close(into)
    return os.path.join(directory, name)


def _publish(
    fd: int, path: str, parent: _Parent, into: int, branch: str | None, clock: IdClock
) -> str:
    """Write the fork into the directory open as `into`; its file name."""
    unnamed = True
    for _attempt in range(MAX_ATTEMPTS):
        now = clock.now_ms()
        new_id = session.new_session_id(now, clock.counter())
        final = new_id + ".jsonl"
        fork = parent.session.forked(new_id, now, branch)
        if unnamed:
            try:
                if _publish_unnamed(_fork_lines(fd, path, parent, fork), into, final, parent.stat):
                    return final
                continue  # the name is taken: the next id
            except _NoUnnamedFile:
                unnamed = False  # not here (the filesystem, or no way to link it)
        if _publish_named(_fork_lines(fd, path, parent, fork), into, final, parent.stat):
            return final
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


def _check_parent(opened: files.BackingFile, path: str, file_name: str) -> _Parent:
    """Pass 1: the parent loaded as claw loads it, messages counted, not kept."""
    reader = session.JsonlReader(keep_messages=False)
    digest = hashlib.blake2b()
    length = 0
    fd, st = opened.fd, opened.stat
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
        raise OSError(errno.EFBIG, f"session to fork is too big to check: {cost.reason}", path)
    try:
        parent = reader.finish(file_name, st.st_mtime_ns // 1_000_000)
    except session.LoadError as e:
        raise _gone(f"session to fork does not load: {e}", path) from None
    return _Parent(parent, st, length, digest.digest())


def _fork_lines(fd: int, path: str, parent: _Parent, fork: session.Session) -> Iterator[str]:
    """claw's snapshot lines of `fork`, its messages read again from `fd` if need be."""
    if not parent.streamed:
        yield from snapshot.snapshot_lines(fork)
        return
    yield from snapshot.snapshot_lines(replace(fork, messages=[]))
    count = 0
    for message in _reread_messages(fd, path, parent):
        count += 1
        yield render(snapshot.message_record(message))
    if count != len(parent.session.messages):
        raise _changed(path)


def _reread_messages(fd: int, path: str, parent: _Parent) -> Iterator[session.Message]:
    """Pass 2: each message of the bytes pass 1 checked, normalized, in file order.

    Lines are split by the splitter `JsonlReader` uses (jsonl.py). Bytes
    that differ from pass 1 (the file rewritten in place) fail the fork: an
    append lies past `parent.length` and is not read.
    """
    digest = hashlib.blake2b()
    splitter = jsonl.Splitter()
    offset = 0
    try:
        while offset < parent.length:
            try:
                chunk = os.pread(fd, min(READ_CHUNK, parent.length - offset), offset)
            except OSError as e:
                raise _gone(f"session to fork is unreadable: {e.strerror}", path) from None
            if not chunk:
                raise _changed(path)
            offset += len(chunk)
            digest.update(chunk)
            yield from _messages_in(splitter.feed(chunk), path)
        yield from _messages_in(splitter.pending(), path)
    except jsonl.NotUtf8:
        raise _changed(path) from None
    if digest.digest() != parent.digest:
        raise _changed(path)


def _messages_in(lines: list[jsonl.Line], path: str) -> Iterator[session.Message]:
    """The normalized message of each line that holds one, in order."""
    for line in lines:
        try:
            value = clawjson.parse(line.text)
            if not isinstance(value, dict) or value.get("type") != "message":
                continue
            message = session.normalize_message(value["message"])
        except (clawjson.ClawJsonError, session.LoadError, KeyError):
            raise _changed(path) from None
        yield message


def _changed(path: str) -> FileNotFoundError:
    return _gone("session to fork changed while it was read", path)


def _gone(message: str, path: str) -> FileNotFoundError:
    return FileNotFoundError(errno.ENOENT, message, path)


class _NoUnnamedFile(Exception):
    """An unnamed temp file cannot be made or linked in here: use a named one."""


def _publish_unnamed(lines: Iterable[str], into: int, final: str, st: os.stat_result) -> bool:
    """Write `lines` as claw saves them into an unnamed file in the directory
    `into`, then name it `final` there; False if `final` exists. Written line
    by line, so the text is never held whole. `_NoUnnamedFile` when the
    filesystem has no O_TMPFILE (nothing written) or the file cannot be
    linked in (then it is freed)."""
    fd = _open_unnamed(into)
    try:
        _write(fd, lines, st)
        return _link_unnamed(fd, into, final)
    finally:
        os.close(fd)


def _publish_named(lines: Iterable[str], into: int, final: str, st: os.stat_result) -> bool:
    """`_publish_unnamed` through a named temp file of clawfs's own."""
    fd, temp = _create_named_temp(into)
    try:
        _write(fd, lines, st)
        return _link_noreplace(into, temp, final)
    finally:
        try:
            _unlink_quietly(into, temp)
        finally:
            os.close(fd)  # after the unlink: the lock keeps a clean-up away until then


def _write(fd: int, lines: Iterable[str], st: os.stat_result) -> None:
    with open(fd, "wb", buffering=1 << 20, closefd=False) as out:
        _give_ownership(fd, st)
        for line in lines:
            out.write(line.encode("utf-8"))
            out.write(b"\n")


def _open_unnamed(into: int) -> int:
    """An unnamed file in the directory `into`, for writing (mode 0600 until the parent's)."""
    try:
        return os.open(".", os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, 0o600, dir_fd=into)
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
    `into`, locked (flock) while it is written, so `remove_leftovers` in
    another mount never takes it for a crash's. A name the clean-up took
    between our create and our lock is given up for a new one."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
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
