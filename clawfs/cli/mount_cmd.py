"""`clawfs mount`: check, index, mount, detach, serve (SPEC §1).

The order is what makes failures land where the user sees them: every
check, the index and the kernel mount happen while the terminal is still
attached, so a refusal is one line on stderr and a non-zero exit. Only then
does the process detach (unless -f) and start trio; the shell's `clawfs
mount` returns once the daemon answers requests.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pyfuse3
import trio

from clawfs.cli import logsetup, storecheck
from clawfs.cli.progress import Progress, counted, terminal_of
from clawfs.host import allocator, dirs
from clawfs.live import rediscovery as discovery
from clawfs.live import saving, trimming
from clawfs.live.livestore import LiveStore, force_polling_from_env
from clawfs.mount.daemon import NOTIFY_SOCKET, ReadyPipe, detach, notify_systemd
from clawfs.mount.fuse_ops import Operations
from clawfs.mount.mountpoint import (
    MountError,
    check_allow_other,
    check_fuse,
    check_mountpoint,
    check_overlap,
    mount_options,
)
from clawfs.mount.serve import serve
from clawfs.mount.view import View
from clawfs.store import forkwriter
from clawfs.store.access import Access
from clawfs.store.cache import IndexCache, open_cache
from clawfs.store.index import StoreIndex
from clawfs.store.roots import roots_from_args

log = logging.getLogger("clawfs")

READY_MESSAGE = "ready: serving %s (pid %d)"
"""Logged once the mount answers; tests wait for it (tests/mounting.py)."""


def run_mount(args: argparse.Namespace) -> int:
    mountpoint = Path(os.path.abspath(args.mountpoint))
    check_fuse()
    check_allow_other(args.allow_other)
    check_mountpoint(args.mountpoint)
    roots = roots_from_args(args)
    check_overlap(mountpoint, [root.path for root in roots])

    log_file = args.log_file or logsetup.default_log_file()
    # A daemon's progress goes to its log; its terminal only hears problems.
    console = logsetup.to_stderr(args.debug, quiet=not args.foreground)
    if not args.foreground or args.log_file:
        _log_to(log_file, args.debug)

    storecheck.warn_about_stores(args.stores)
    if allocator.tune():  # before indexing: the command's own peak counts too
        log.debug("glibc malloc: blocks of %d KiB or more mapped for themselves",
                  allocator.MMAP_THRESHOLD >> 10)
    if not args.foreground and os.environ.get(NOTIFY_SOCKET):
        log.warning("started by systemd (NOTIFY_SOCKET is set) but detaching: "
                    "use -f in the unit (Type=notify)")

    # Resolved before mounting: discovery must never stat the mountpoint again.
    found = discovery.MountDiscovery(args, os.path.realpath(mountpoint), roots)
    cache = None if args.no_cache else open_cache(dirs.cache_dir())
    # On a terminal (a daemon's, which hears nothing else), how far indexing got.
    progress = Progress(found.roots, None if args.foreground else terminal_of(sys.stderr))
    index = StoreIndex(found.roots, cache)
    # Other users may enter: the view answers each with what it could read natively.
    view = View(index, Access() if args.allow_other else None)
    ops = Operations(view, read_only=args.read_only)
    # The watcher follows the store from before the scan: what changes after
    # it is queued by the kernel until the daemon runs (no rescan to catch up).
    live = LiveStore(
        index, ops.refresh_kernel, force_polling=force_polling_from_env(),
        poll_interval_s=args.poll_interval,
    )
    live.arm()
    _index(index, cache, progress)
    storecheck.warn_if_empty(found.roots, len(index.workspaces()), found.settings is not None)
    options = mount_options(args.allow_other, args.read_only, args.kernel_flags)
    try:
        pyfuse3.init(ops, str(mountpoint), options)
    except RuntimeError as e:
        raise MountError(
            f"cannot mount on {args.mountpoint}: {e} (see the message above)"
        ) from None

    if args.foreground:
        ready = ReadyPipe(None)
    else:
        logsetup.remove(console)
        ready_line = progress.ready_line(str(mountpoint), len(index.fingerprints()))
        ready = detach(str(mountpoint), log_file, ready_line)

    def on_ready() -> None:
        log.info(READY_MESSAGE, mountpoint, os.getpid())
        ready.ready()
        notify_systemd(f"READY=1\nSTATUS=serving {mountpoint}")

    # Live from here on: discovered roots join the watched ones.
    walk = found.start(live.add_root)

    async def startup() -> None:
        await live.started.wait()  # changes are seen before the mount counts as ready
        if walk is not None:
            await walk()
        # The root alias's first check loads a file: done here, off the request thread.
        await trio.to_thread.run_sync(index.global_latest)

    async def clean_up() -> None:
        # What a fork killed midway left (only where the filesystem has no
        # O_TMPFILE: store/forkwriter.py); off the startup path, nobody waits for it.
        for path in await trio.to_thread.run_sync(forkwriter.remove_leftovers, found.roots):
            log.info("removed %s, left by a fork that did not finish", path)

    try:
        serve(ops.initialized, on_ready, startup=startup,
              background=[live.run, clean_up, functools.partial(saving.keep_saved, index),
                          trimming.keep_trimmed])
    except BaseException as e:
        log.exception("the mount stopped")
        ready.fail(f"the mount stopped: {e}")
        return 1
    finally:
        found.stop()
        _close_cache(index, cache)
    return 0


def _log_to(log_file: Path, debug: bool) -> None:
    try:
        logsetup.to_file(log_file, debug)
    except OSError as e:
        raise MountError(
            f"cannot write the log file {log_file}: {e.strerror} (give another with --log-file)"
        ) from None


def _index(index: StoreIndex, cache: IndexCache | None, progress: Progress) -> None:
    """Index the known roots before mounting: the mount answers with them.

    The cache is only read here (the daemon has not forked yet); what the
    index learns is written once it serves (live/saving.py).
    """
    roots = index.roots
    log.info("indexing %s: %s", counted(len(roots), "store root"),
             ", ".join(r.path for r in roots))
    if cache is None:
        log.info("no index cache: every session file is read")
    else:
        log.info("index cache: %s", cache.path)
    with progress.ticking(), _collecting_later():
        index.scan(progress.update)
    index.take_changes()  # the kernel holds nothing yet: nothing to check
    tally = index.tally
    log.info(
        "indexed %s in %s in %.2f s: %s from the index cache, %s read",
        counted(tally.listed, "session file"), counted(len(index.fingerprints()), "workspace"),
        progress.seconds, f"{tally.cached:,}", f"{tally.read:,}",
    )


def _close_cache(index: StoreIndex, cache: IndexCache | None) -> None:
    """Write what is left for the cache and close it (the mount has ended)."""
    if cache is None:
        return
    try:
        index.save()
        cache.close()
    except Exception:
        log.exception("closing the index cache failed")


@contextlib.contextmanager
def _collecting_later() -> Iterator[None]:
    """No garbage collection while the index is built, then none of it ever.

    The scan makes a few objects per session and no cycles: collecting
    meanwhile costs ~0.7 s at 100,000 sessions for nothing. What it built
    lives as long as the mount, so it is frozen (`gc.freeze`) out of the
    daemon's later collections, which would otherwise walk it each time.
    """
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()
