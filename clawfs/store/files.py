"""The one way clawfs opens a backing file, and what names a version of one.

A session file is untrusted input and can change between being listed and
being opened: whoever can write the store (another user of a shared store,
claw itself) may swap in a symlink, a FIFO, a directory or a device. Every
read of a session file's bytes therefore starts with `open_backing`:

* `O_NOFOLLOW`: a symlink swapped in is never followed out of the store
  (SPEC §6), even before the watcher has told the index;
* `O_NONBLOCK`: opening a FIFO would otherwise block until a writer came,
  and with it the index, or every FUSE request (they share one thread);
  regular files ignore the flag;
* the checks run on `fstat` of the open descriptor, so they are about the
  file that is read, not whatever the name points to a moment later;
* only a regular file is a session file;
* the file opened must be the one at the path asked for, as the kernel
  names it (/proc/self/fd): callers pass real paths (the index keeps
  files by their real path), so a directory on the way that was swapped
  for a link since (`ln -s /elsewhere STORE/<fp>`) is refused, and nothing
  is read out of the store through it (SPEC §6), even before the watcher
  has told the index.

`FileKey` names one version of a file on disk. It is the store's business
(claw's bytes do not know where they lie): caches of heads and full loads
are keyed by it, in memory and across mounts (store/cache.py), and a file
that kept its key did not change.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import struct
from dataclasses import dataclass
from typing import NamedTuple

OPEN_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK


class FileKey(NamedTuple):
    """Identity of one version of a backing file (SPEC §7).

    `dev`/`ino` name the file; a rename over it (claw's snapshot save) is a
    new key. `size` and `mtime_ns` tell whether it changed in place, and
    `ctime_ns` what those two miss: a rewrite in place with the mtime set
    back, a chmod or chown (only the kernel sets ctime). A tuple, not a
    dataclass: a mount makes one per file, 100,000 of them at a time.
    """

    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int

    def same_file(self, other: FileKey) -> bool:
        return self.dev == other.dev and self.ino == other.ino


def file_key(st: os.stat_result) -> FileKey:
    mtime_ns, ctime_ns = st.st_mtime_ns, st.st_ctime_ns
    # A file written and never touched since has ctime == mtime: one int
    # object for both (32 bytes a file, 3 MB at 100,000 sessions).
    return FileKey(st.st_dev, st.st_ino, st.st_size, mtime_ns,
                   mtime_ns if ctime_ns == mtime_ns else ctime_ns)


_FS_IOC_GETVERSION = 0x80087601  # _IOR('v', 1, long)


def generation(fd: int) -> int | None:
    """The inode generation of the open file `fd`, where the filesystem keeps
    one (ext4, xfs, btrfs; else None). A device and inode number are reused
    once a file is deleted, and in a burst of saves by rename a new file can
    get the old one's number, size and (coarse) mtime: its generation differs."""
    try:
        return int(struct.unpack("l", fcntl.ioctl(fd, _FS_IOC_GETVERSION, b"\0" * 8))[0])
    except OSError:
        return None


class NotRegular(FileNotFoundError):
    """The path names something that is not a regular file (a FIFO, a
    directory, a device; for `lstat_regular` also a symlink): no longer a
    session file. errno ENOENT."""

    def __init__(self, path: str) -> None:
        super().__init__(errno.ENOENT, "not a regular file", path)


class Moved(FileNotFoundError):
    """The file opened is not at the path asked for: a directory on the way is
    a link now (or the file was renamed just then). errno ENOENT."""

    def __init__(self, path: str) -> None:
        super().__init__(errno.ENOENT, "not where the store has it (a link on the way?)", path)


class Unreadable(OSError):
    """The file opened but `fstat` of it failed (EIO on a network filesystem,
    say): a failure to read it, not to open it. Same errno as the fstat's."""


@dataclass(frozen=True, slots=True)
class BackingFile:
    """An open backing file: its descriptor and the fstat its checks ran on.

    The caller owns `fd` (close it, or use the object as a context manager).
    """

    fd: int
    stat: os.stat_result

    @property
    def key(self) -> FileKey:
        return file_key(self.stat)

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> BackingFile:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def open_backing(path: str) -> BackingFile:
    """Open the regular file at `path` for reading, safely (see the module).

    Raises the open's own `OSError` (ENOENT: gone; ELOOP: a symlink now;
    EACCES ...), `Unreadable` when its fstat fails, `NotRegular` when it is
    not a regular file, `Moved` when it is not at `path` (a real path). No
    descriptor is left open when it raises.
    """
    fd = os.open(path, OPEN_FLAGS)
    try:
        st = os.fstat(fd)
    except OSError as e:
        os.close(fd)
        raise Unreadable(e.errno, e.strerror, path) from None
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise NotRegular(path)
    if not opened_at(fd, path):
        os.close(fd)
        raise Moved(path)
    return BackingFile(fd, st)


def opened_at(fd: int, path: str) -> bool:
    """Whether `fd` is open on what the real path `path` names (or named: a
    file renamed over since, claw's save, is still the one that was there).
    Without /proc, whether `path` still resolves to itself."""
    try:
        actual = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return os.path.realpath(path) == path
    return actual in (path, path + " (deleted)")


def lstat_regular(path: str) -> os.stat_result:
    """lstat of a backing file; `NotRegular` unless it is a regular file.

    lstat, not stat: a symlink (or a FIFO) swapped in for a session is no
    longer a session, and a symlink is never followed out of the store.
    """
    st = os.lstat(path)
    if not stat.S_ISREG(st.st_mode):
        raise NotRegular(path)
    return st
