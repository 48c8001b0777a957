"""Write a fork of a session file exactly as claw's `/session fork` does (SPEC §4).

The content is the format layer's: load the parent as claw loads it,
`Session.forked` (new id, fresh times, parent link, normalized branch; the
parent's `workspace_root` kept, as the REPL's `/session fork` keeps it),
`render_snapshot` (claw's save, sanitizing included). This module only puts
the bytes on disk safely:

* into the directory given (the parent's store directory), with the
  parent file's mode and owner;
* through a temp file named as claw names them (`<name>.tmp-<ms>-<n>`, which
  listings ignore), then `link()` to the final name, which fails instead of
  replacing an existing file (`renameat2(RENAME_NOREPLACE)` where the
  filesystem has no hard links);
* with a new id that is unique even against other processes forking into
  the same directory: ids use a process-wide strictly increasing clock, and
  a name that exists already is retried with the next id;
* leaving nothing behind when anything fails.

Errors are `OSError`s whose errno names the failure: the parent gone or
unreadable (including a file claw cannot load) is ENOENT; an unwritable
directory EACCES/EROFS; a full disk ENOSPC.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import itertools
import os
import stat
import threading
import time

from clawfs import session, snapshot

MAX_ATTEMPTS = 1000
"""Names tried before giving up (each attempt is a fresh id)."""

_RENAME_NOREPLACE = 1
_AT_FDCWD = -100


class IdClock:
    """claw's id source: ms strictly increasing within the process, plus a counter.

    claw forces its clock to be strictly increasing and shares one counter
    between ids and temp names (session.rs); so do we. Two processes can
    still pick the same id; the link step catches that.
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


def load_parent(path: str, file_name: str) -> tuple[session.Session, os.stat_result]:
    """The parent session and its file's stat; ENOENT if gone or unloadable."""
    try:
        # O_NONBLOCK: a FIFO in the file's place must not block the open.
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as e:
        raise _gone(f"session to fork is gone or unreadable: {e.strerror}", path) from None
    # Fed in chunks: the reader decodes and splits one chunk at a time, so a
    # 10 MB parent peaks at ~50 MB instead of ~140 MB (scripts/bench.py).
    reader = session.JsonlReader()
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _gone("not a regular file", path)  # reported as unreadable below
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            reader.feed(chunk)
    except OSError as e:
        raise _gone(f"session to fork is unreadable: {e.strerror}", path) from None
    finally:
        os.close(fd)
    try:
        parent = reader.finish(file_name, st.st_mtime_ns // 1_000_000)
    except session.LoadError as e:
        raise _gone(f"session to fork does not load: {e}", path) from None
    return parent, st


def _gone(message: str, path: str) -> FileNotFoundError:
    return FileNotFoundError(errno.ENOENT, message, path)


def write_fork(
    parent_path: str,
    directory: str,
    branch_name: str | None,
    *,
    file_name: str | None = None,
    clock: IdClock = CLOCK,
) -> str:
    """Fork the session in `parent_path` into `directory`; return the new file's path."""
    parent, st = load_parent(parent_path, file_name or os.path.basename(parent_path))
    for _attempt in range(MAX_ATTEMPTS):
        now = clock.now_ms()
        new_id = session.new_session_id(now, clock.counter())
        final = os.path.join(directory, new_id + ".jsonl")
        if _publish(parent.forked(new_id, now, branch_name), final, st, clock):
            return final
    raise FileExistsError(errno.EEXIST, "no free session id for the fork", directory)


def _publish(fork: session.Session, final: str, st: os.stat_result, clock: IdClock) -> bool:
    """Write `fork` as claw saves it to `final` through a temp file; False if
    `final` exists. Rendered line by line, so the text is never held whole."""
    fd, temp = _create_temp(final, clock)
    try:
        with open(fd, "wb", buffering=1 << 20) as out:
            _give_ownership(fd, st)
            for line in snapshot.snapshot_lines(fork):
                out.write(line.encode("utf-8"))
                out.write(b"\n")
        return _link_noreplace(temp, final)
    finally:
        _unlink_quietly(temp)


def _create_temp(final: str, clock: IdClock) -> tuple[int, str]:
    """A new temp file `<final>.tmp-<ms>-<n>`; another process may hold the same
    name (claw's names are only unique per process), so a taken one is skipped."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    for _attempt in range(MAX_ATTEMPTS):
        temp = f"{final}.tmp-{clock.now_ms()}-{clock.counter()}"
        try:
            return os.open(temp, flags, 0o600), temp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temp file name", final)


def _give_ownership(fd: int, st: os.stat_result) -> None:
    """The parent's owner (where we may set it) and exact mode (no umask)."""
    if (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
        try:
            os.fchown(fd, st.st_uid, st.st_gid)
        except PermissionError:
            pass  # an ordinary user cannot give files away; keep our own
    os.fchmod(fd, st.st_mode & 0o7777)


def _link_noreplace(temp: str, final: str) -> bool:
    """Make `temp` appear as `final` unless `final` exists (then False)."""
    try:
        os.link(temp, final)
        return True
    except FileExistsError:
        return False
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
    try:
        _renameat2_noreplace(temp, final)
    except FileExistsError:
        return False
    return True


def _renameat2_noreplace(source: str, target: str) -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    result = libc.renameat2(
        _AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), _RENAME_NOREPLACE
    )
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), target)


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
