"""The fork control files (SPEC §4): what a write to `fork` does and what a
read returns. No FUSE here: the adapter hands over the bytes written and the
inodes the kernel holds, runs the fork in a worker thread, and tells the
kernel what it returns to invalidate.

The protocol, in one place:

- One fork per open: the first non-empty write on a handle is the command
  (`ControlFiles.accept`); a later non-empty one is EINVAL. Empty writes and
  flushes are no command: bash's `echo` flushes before writing.
- The command is one line (`parse_fork_command`): its branch name, or none.
- The source is the session the control file stands for (`fork_source`):
  `sessions/<fp>/fork` forks what `latest` names, `forks/<path>/fork` the
  session of that lineage node, both looked up when the write arrives.
- A read returns the handle's own result if it wrote, else the file's last
  result (`LastResults`, the most recent ones only), else nothing. A result
  is `ForkOutcome.line()` or `error_line()`. Another user of an
  --allow-other mount reads a last result only if it wrote it, or if it
  could read the fork it names (SPEC §3: it tells the new file's name and
  path).
- Read your writes: before write() returns, the aliases the fork may have
  re-pointed (`alias_keys`) and the new name in the workspace directory are
  checked against the view (`Fork.run`), so the kernel drops what it cached.
"""

from __future__ import annotations

import errno
import logging
import threading
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass

from clawfs.format import rusttext, session
from clawfs.mount import kernelcache
from clawfs.mount.errors import RequestError
from clawfs.mount.inodes import InodeTable
from clawfs.mount.privacy import Viewer
from clawfs.mount.view import ALIASES, SESSIONS, Entry, EntryKind, Key, View, workspace_of
from clawfs.store.index import SessionFile, StoreIndex

log = logging.getLogger(__name__)

MAX_COMMAND = 256
"""Longest command in bytes, trailing newline not counted (SPEC §4)."""
LAST_RESULTS = 4096
"""Results kept for a new open to read: the most recently written ones; an
older one reads as empty (a bound on memory, not a promise)."""


@dataclass(frozen=True, slots=True)
class ForkOutcome:
    name: str
    branch_name: str | None
    backing_path: str

    def line(self) -> bytes:
        """What reading the control file returns after this fork (SPEC §4)."""
        text = f"{self.name}\t{self.branch_name or ''}\t{self.backing_path}\n"
        return text.encode("utf-8", "surrogateescape")


def error_line(message: str) -> bytes:
    """What reading the control file returns after a failed write (SPEC §4)."""
    return f"error: {message}\n".encode("utf-8", "surrogateescape")


def parse_fork_command(data: bytes) -> str | None:
    """The branch name in a write to a control file (SPEC §4); None = no branch.

    One line: a trailing newline is dropped, surrounding whitespace
    trimmed. More than one non-empty line, invalid UTF-8, a control
    character, or more than 256 bytes: EINVAL.
    """
    if data.endswith(b"\n"):
        data = data[:-1]
    if len(data) > MAX_COMMAND:
        raise RequestError(errno.EINVAL, f"fork command longer than {MAX_COMMAND} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestError(errno.EINVAL, "fork command is not valid UTF-8") from None
    lines = [line for line in (rusttext.trim(raw) for raw in text.split("\n")) if line]
    if len(lines) > 1:
        raise RequestError(errno.EINVAL, "fork command has more than one line")
    branch = lines[0] if lines else ""
    if any(unicodedata.category(ch) == "Cc" for ch in branch):
        raise RequestError(errno.EINVAL, "fork command has a control character")
    return branch or None


def fork_source(index: StoreIndex, control: Entry) -> SessionFile:
    """The session a control file forks, now; ENOENT when there is none."""
    key = control.key
    if control.kind is not EntryKind.CONTROL or len(key) < 3 or key[0] != SESSIONS:
        raise RequestError(errno.EINVAL, "not a fork control file")
    fp = key[1]
    if len(key) == 3:
        latest = index.latest(fp)
        if latest is None:
            raise RequestError(errno.ENOENT, "this workspace has no latest session")
        return latest
    owner = index.lineage(fp).find(key[3:-1])
    sf = None if owner is None else index.file(fp, owner.name)
    if sf is None:
        raise RequestError(errno.ENOENT, "the session to fork is gone")
    return sf


def fork(index: StoreIndex, control: Entry, command: bytes) -> ForkOutcome:
    """Fork the session `control` stands for; `command` is what was written.
    Nothing is created when the command is invalid."""
    branch = parse_fork_command(command)
    sf = fork_source(index, control)
    try:
        made = index.fork(sf, branch)
    except OSError as e:
        raise RequestError(e.errno if e.errno else errno.EIO, e.strerror or str(e)) from None
    return ForkOutcome(made.name, session.normalize_branch_name(branch), made.path)


def alias_keys(fp: str | None) -> list[Key]:
    """The aliases a fork in workspace `fp` may re-point: the root's and the
    workspace's own (a fork is the newest session of its workspace)."""
    keys: list[Key] = [(name,) for name in ALIASES]
    if fp is not None:
        keys += [(SESSIONS, fp, name) for name in ALIASES]
    return keys


@dataclass(slots=True)
class Handle:
    """One open control file (`who`: its opener's view, when that is another
    user of an --allow-other mount)."""

    entry: Entry
    who: Viewer | None = None
    used: bool = False
    """A command was accepted on this handle: no other one is."""
    result: bytes | None = None
    """The result of that command, once it ran."""


@dataclass(frozen=True, slots=True)
class Result:
    """A result as a new open reads it: the line, the other user who wrote it
    (None: the mounting user or root), and the fork it names (None for an
    error)."""

    line: bytes
    uid: int | None = None
    made: str | None = None

    def shown_to(self, who: Viewer | None) -> bool:
        if who is None or (self.uid is not None and who.caller.uid == self.uid):
            return True
        return self.made is not None and who.knows_path(self.made)


class LastResults:
    """The last result of each control file, for a new open to read, by key.

    Forks finish in worker threads and reads come from the request thread,
    hence the lock.
    """

    def __init__(self, keep: int = LAST_RESULTS) -> None:
        self._keep = keep
        self._results: OrderedDict[Key, Result] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Key) -> Result | None:
        with self._lock:
            return self._results.get(key)

    def put(self, key: Key, result: Result) -> None:
        with self._lock:
            self._results[key] = result
            self._results.move_to_end(key)
            if len(self._results) > self._keep:
                self._results.popitem(last=False)


@dataclass(slots=True)
class Fork:
    """An accepted command with what it needs to run in a worker thread:
    the alias inodes the kernel holds (and what each was last checked
    against), and the workspace directory's inode, if the kernel has one."""

    controls: ControlFiles
    handle: Handle
    command: bytes
    aliases: list[kernelcache.Held]
    seen: kernelcache.Seen
    directory: int | None

    def run(self) -> kernelcache.Stale:
        """Fork, remember the result, and find what the kernel must drop for
        the fork to be seen when write() returns (SPEC §4). Raises
        RequestError, after remembering it as the result.

        Not a full pass over the workspace (that is the live store's, when
        the watcher sees the new file): new names show by themselves (an
        ENOENT is not cached, listings are read fresh), so only the aliases,
        which the fork may re-point, are checked, and the new name in the
        workspace directory is dropped in case an older file of that name
        is still cached.
        """
        view = self.controls.view
        try:
            outcome = fork(view.index, self.handle.entry, self.command)
            stale = kernelcache.find_stale(view, self.aliases, self.seen)
        except RequestError as e:
            self.controls.remember(self.handle, error_line(e.message), None)
            # Also where the user looks when `echo x > fork` shows only the errno.
            log.warning("fork through %s failed: %s (%s)", "/".join(self.handle.entry.key),
                        e.message, errno.errorcode.get(e.errno, e.errno))
            raise
        except Exception:
            self.controls.remember(self.handle, error_line("internal error"), None)
            log.exception("fork through %s failed", "/".join(self.handle.entry.key))
            raise RequestError(errno.EIO, "internal error") from None
        if self.directory is not None:
            stale.entries.append((self.directory, outcome.name))
        self.controls.remember(self.handle, outcome.line(), outcome.backing_path)
        return stale


class ControlFiles:
    """The control files of one mount: accepting a write, reading a result,
    keeping the last ones."""

    def __init__(self, view: View, keep: int = LAST_RESULTS, read_only: bool = False) -> None:
        self.view = view
        self.results = LastResults(keep)
        self.read_only = read_only
        """`clawfs mount --read-only`: every fork is refused with EROFS."""

    def read(self, handle: Handle, off: int, size: int) -> bytes:
        """The handle's own result once it wrote, else the file's last one
        (if its caller may see it)."""
        if handle.used:
            result = handle.result
        else:
            last = self.results.get(handle.entry.key)
            result = last.line if last is not None and last.shown_to(handle.who) else None
        return (result or b"")[off : off + size]

    def accept(
        self,
        handle: Handle,
        command: bytes,
        inodes: InodeTable[kernelcache.Slot],
    ) -> Fork | None:
        """The fork a write of `command` asks for, or None for an empty write.

        Call on the request thread (it reads the inode table), and the
        returned fork's `run` in a worker thread (it loads the parent in
        full). Every write to a control file passes here, so this is where a mount
        that must not fork would refuse.
        """
        if not command:
            return None
        if self.read_only:
            raise RequestError(errno.EROFS, "this mount is read-only (--read-only)")
        if handle.used:
            raise RequestError(errno.EINVAL, "one fork per open")  # SPEC §4
        handle.used = True
        fp = workspace_of(handle.entry.key)
        aliases = inodes.held_at((EntryKind.SYMLINK, key) for key in alias_keys(fp))
        checked = inodes.seen(inode for inode, *_ in aliases)
        directory = None if fp is None else inodes.current((EntryKind.DIR, (SESSIONS, fp)))
        return Fork(self, handle, command, aliases, checked, directory)

    def remember(self, handle: Handle, result: bytes, made: str | None) -> None:
        """`result` is what `handle` and, from now on, a new open reads
        (`made`: the fork's backing file, on success)."""
        handle.result = result
        writer = None if handle.who is None else handle.who.caller.uid
        self.results.put(handle.entry.key, Result(result, writer, made))
