"""Which filesystem a path lies on, and whether this machine sees all its changes.

inotify reports what the local kernel does to a file. On a filesystem
served by something else (an NFS or SMB server, any FUSE daemon such as
sshfs, rclone or bindfs, a 9p host, a cluster filesystem) the writes of
other machines, or of the daemon's own backend, reach the local kernel only
when it asks, so no inotify event is ever raised for them: the watcher must
poll such store roots (SPEC §7), and SQLite's WAL, which shares memory
between processes, must not be used there (store/cache.py).

statfs(2) names the filesystem of the path itself (its `f_type` magic,
from linux/magic.h), also for a path below a bind mount or an automount
point, which the mount table would make us match by prefix; Python has no
binding for it (`os.statvfs` has no `f_type`), hence ctypes.
"""

from __future__ import annotations

import ctypes
import os

SHARED = {
    0x6969: "nfs",
    0x517B: "smb",
    0xFF534D42: "cifs",
    0xFE534D42: "smb2",
    0x65735546: "fuse",
    0x01021997: "9p",
    0x00C36400: "ceph",
    0x5346414F: "afs",
    0x6B414653: "afs",
    0x73757245: "coda",
    0x0000564C: "ncp",
    0x0BD00BD0: "lustre",
    0x47504653: "gpfs",
    0x01161970: "gfs2",
    0x7461636F: "ocfs2",
    0x013111A8: "ibrix",
    0x786F4256: "vboxsf",
}
"""f_type values of filesystems whose contents other machines or a daemon's
backend change behind the local kernel's back."""


class _Statfs(ctypes.Structure):
    # Only f_type is read. It comes first on every Linux ABI (a word wide);
    # the padding covers the rest of struct statfs (120 bytes on x86_64).
    _fields_ = [("f_type", ctypes.c_long), ("_rest", ctypes.c_byte * 256)]


_libc = ctypes.CDLL(None, use_errno=True)


def fs_magic(path: str | os.PathLike[str]) -> int:
    """statfs(2)'s `f_type` of the filesystem `path` lies on. Raises OSError."""
    buf = _Statfs()
    if _libc.statfs(os.fsencode(path), ctypes.byref(buf)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), os.fspath(path))
    return int(buf.f_type) & 0xFFFFFFFF


def shared_kind(path: str | os.PathLike[str]) -> str | None:
    """The kind of shared filesystem (`"nfs"`, `"fuse"` ...) `path` lies on,
    None for a local one. A path that does not exist yet is judged by its
    nearest existing ancestor (where it will be created); one that cannot
    be asked at all counts as local, which is what it was taken for before."""
    current = os.path.abspath(os.fspath(path))
    while True:
        try:
            return SHARED.get(fs_magic(current))
        except OSError:
            parent = os.path.dirname(current)
            if parent == current:
                return None
            current = parent
