"""Checks before mounting, the mount table, and unmounting.

Every refusal is a `MountError` whose text is one line: what is wrong, then
how to fix it (SPEC §1). The CLI prints it and exits non-zero. Nothing here
knows about claw's store or about pyfuse3: these are plain checks on paths
and on `/proc/self/mountinfo`, so they can run before anything is mounted.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
from collections.abc import Iterable
from pathlib import Path

from clawfs.host import paths
from clawfs.host.mounts import mounts_at, real_mountpoint

FSTYPE = "fuse.clawfs"
FUSERMOUNT = "fusermount3"
CONNECTIONS = Path("/sys/fs/fuse/connections")
"""The fusectl filesystem: one directory per FUSE connection, by device minor."""


class MountError(Exception):
    """A refusal to mount or unmount: one line, reason then fix."""


def check_fuse() -> None:
    """FUSE needs the /dev/fuse device and fusermount3 (mount helper, umount)."""
    if not os.path.exists("/dev/fuse"):
        raise MountError(
            "FUSE is not available: /dev/fuse is missing "
            "(load the module with `modprobe fuse`, or run where FUSE is available)"
        )
    if shutil.which(FUSERMOUNT) is None:
        raise MountError(
            f"FUSE is not available: {FUSERMOUNT} is not installed "
            "(install it: apt-get install fuse3)"
        )


def check_mountpoint(path: str | os.PathLike[str]) -> None:
    """Refuse a mountpoint that is missing, not a directory, busy or stale."""
    shown = os.fspath(path)
    fuse = [e for e in mounts_at(path) if e.fstype.startswith("fuse")]
    if fuse:
        if is_stale(path):
            raise _stale(shown)
        kind = fuse[-1].fstype
        raise MountError(
            f"cannot mount on {shown}: already mounted ({kind}) "
            f"(unmount it first: clawfs umount {shown})"
        )
    try:
        st = os.stat(path)
        if not stat.S_ISDIR(st.st_mode):
            raise MountError(f"cannot mount on {shown}: not a directory (give a directory)")
        entries = os.listdir(path)
    except FileNotFoundError:
        raise MountError(
            f"cannot mount on {shown}: no such directory (create it: mkdir -p {shown})"
        ) from None
    except NotADirectoryError:
        raise MountError(f"cannot mount on {shown}: not a directory (give a directory)") from None
    except OSError as e:
        if e.errno == errno.ENOTCONN:
            raise _stale(shown) from None
        raise MountError(
            f"cannot mount on {shown}: {e.strerror} (give a directory you can read)"
        ) from None
    if entries:
        raise MountError(
            f"cannot mount on {shown}: directory not empty (use an empty directory)"
        )


def _stale(shown: str) -> MountError:
    return MountError(
        f"cannot mount on {shown}: stale mount (Transport endpoint is not connected) "
        f"(clean it up: clawfs umount {shown})"
    )


def is_stale(path: str | os.PathLike[str]) -> bool:
    """A FUSE mount whose daemon is gone.

    `stat` and `os.path.ismount` can look fine while the kernel still caches
    the root's attributes, but a listing always asks the daemon (pyfuse3
    notes), so list it.
    """
    try:
        os.listdir(path)
    except OSError as e:
        return e.errno == errno.ENOTCONN
    return False


def check_overlap(
    mountpoint: str | os.PathLike[str], roots: Iterable[str | os.PathLike[str]]
) -> None:
    """Refuse a mountpoint inside a store root, or a root inside the mountpoint.

    Either way a crawler of one walks the other forever (SPEC §1). Roots that
    do not exist yet count too: they may be created later and watched.
    """
    mount = real_mountpoint(mountpoint)
    for root in roots:
        real = os.path.realpath(root)
        if paths.inside(mount, real):
            raise MountError(
                f"cannot mount on {os.fspath(mountpoint)}: it is inside the store root {real} "
                "(choose a mountpoint outside the store)"
            )
        if paths.inside(real, mount):
            raise MountError(
                f"cannot mount on {os.fspath(mountpoint)}: the store root {real} is inside it "
                "(choose a mountpoint that holds no store)"
            )


def check_allow_other(allow_other: bool) -> None:
    """fusermount3 lets only root use allow_other unless fuse.conf permits it."""
    if not allow_other or os.geteuid() == 0:
        return
    try:
        conf = Path("/etc/fuse.conf").read_text(encoding="utf-8", errors="replace")
    except OSError:
        conf = ""
    if not any(line.strip() == "user_allow_other" for line in conf.splitlines()):
        raise MountError(
            "--allow-other is not permitted for users "
            "(add `user_allow_other` to /etc/fuse.conf, or mount without --allow-other)"
        )


def mount_options(
    allow_other: bool, read_only: bool = False, kernel_flags: Iterable[str] = ()
) -> set[str]:
    """Options for pyfuse3.init().

    fsname/subtype make the type `fuse.clawfs` (findmnt, PRUNEFS). `ro` only
    for a read-only mount: otherwise the control files are writable, and
    read-only-ness is answered per request with EROFS; with `ro` the kernel
    itself refuses every write, forks included. `default_permissions` lets
    the kernel check our modes, which is required with allow_other (SPEC
    §1). `auto_unmount` has fusermount3 remove the mount if the daemon dies
    (kill -9) instead of leaving a stale one. `kernel_flags` are the
    generic mount flags given with -o (nosuid, noatime ...), passed on.
    """
    options = {"fsname=clawfs", "subtype=clawfs", "default_permissions", "auto_unmount"}
    options.update(kernel_flags)
    if allow_other:
        options.add("allow_other")
    if read_only:
        options.add("ro")
    return options


def unmount(path: str | os.PathLike[str], lazy: bool = False, force: bool = False) -> None:
    """`fusermount3 -u` (with -z when lazy), with a one-line error.

    `force` first aborts the connection (`abort_connection`), for a daemon
    that is stopped or stuck: every program waiting on the mount gets an
    error at once (ECONNABORTED; ENOTCONN for later calls) instead of
    hanging, then the mount is removed, lazily if something still holds it
    open.
    """
    shown = os.fspath(path)
    entries = mounts_at(path)
    if not entries:
        raise MountError(f"cannot unmount {shown}: not mounted (nothing to do)")
    if not entries[-1].fstype.startswith("fuse"):
        raise MountError(
            f"cannot unmount {shown}: not a FUSE mount ({entries[-1].fstype}) (use umount(8))"
        )
    if force:
        abort_connection(path)
        try:
            _fusermount(path, lazy=False)
        except MountError:
            _fusermount(path, lazy=True)  # aborted, but still held open: detach it
        return
    _fusermount(path, lazy)


def abort_connection(path: str | os.PathLike[str]) -> None:
    """Abort the FUSE connection mounted at `path` (its fusectl `abort` file).

    The kernel then fails every pending request (ECONNABORTED) and every
    later one (ENOTCONN), so readers blocked on a stopped daemon return; the
    mount stays until it is unmounted. The connection's directory is named
    by the mount's device minor (/proc/self/mountinfo); its files belong to
    the mounting user.
    """
    shown = os.fspath(path)
    fuse = [e for e in mounts_at(path) if e.fstype.startswith("fuse")]
    if not fuse:
        raise MountError(f"cannot abort {shown}: no FUSE mount there (nothing to do)")
    abort = CONNECTIONS / str(fuse[-1].minor) / "abort"
    try:
        abort.write_text("1")
    except FileNotFoundError:
        raise MountError(
            f"cannot abort the connection of {shown}: {abort} does not exist "
            f"(mount the FUSE control filesystem: mount -t fusectl none {CONNECTIONS})"
        ) from None
    except OSError as e:
        raise MountError(
            f"cannot abort the connection of {shown}: {abort}: {e.strerror} "
            "(run it as the user who mounted it, or as root)"
        ) from None


def _fusermount(path: str | os.PathLike[str], lazy: bool) -> None:
    shown = os.fspath(path)
    command = [FUSERMOUNT, "-u", *(["-z"] if lazy else []), real_mountpoint(path)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise MountError(f"cannot unmount {shown}: {FUSERMOUNT} is not installed "
                         "(install it: apt-get install fuse3)") from None
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"
        reason = reason.removeprefix(f"{FUSERMOUNT}: ")
        fix = (
            f"close what uses it, or use: clawfs umount --lazy {shown}; if programs hang "
            f"on it: clawfs umount --force {shown}"
            if "busy" in reason.lower()
            else f"try: {FUSERMOUNT} -u -z {shown}"
        )
        raise MountError(f"cannot unmount {shown}: {reason} ({fix})")
