"""Mount clawfs for real in a test, and never leave the mount behind.

    from mounting import mounted     # tests/ is on sys.path under pytest

    def test_latest(tmp_path):
        with mounted([store_dir], tmp=tmp_path) as m:
            assert (m.path / "latest").read_bytes() == ...

`mounted()` runs `clawfs mount` as a subprocess (a new session, so a test's
Ctrl-C does not reach it) with the machine shut out: HOME,
CLAW_CONFIG_HOME, XDG_STATE_HOME and the working directory are temporary
directories and discovery is off, so the tester's real stores are never
read. It waits until the mount answers, fails fast with the log if the
process exits, and on the way out unmounts whatever happened (SIGTERM, then
`fusermount3 -u`, `umount -f`, `fusermount3 -u -z`).

A FUSE request that deadlocks leaves the test in uninterruptible sleep,
which no pytest timeout can end. Each mount has a watchdog: if the mount is
still up `hang_timeout` seconds after it was armed (at mount time, and again
at the start of every test by tests/conftest.py), it aborts the FUSE
connection through /sys/fs/fuse/connections/<minor>/abort. Pending calls
then fail with ENOTCONN, and the fixture fails the test saying so.

The steps shared with scripts/soak.py and scripts/bench.py (sandbox
environment, unmount chain, ready wait) live in `scripts/devtools/mountctl.py`.

Also here: `unmounting(new_mount(tmp))` guards a test that runs `clawfs
mount` itself (the same cleanup and watchdog); `Sandbox` runs any clawfs
command shut out from the machine; `make_stale_mount()` leaves a dead FUSE
mount; `honour_modes=True` runs the daemon as root without the
capabilities that ignore file modes (permission tests); `bindfs()` puts a
store behind a FUSE passthrough (a filesystem with no inotify from behind,
no O_TMPFILE).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from clawfs.host.mounts import mount_table
from clawfs.mount.mountpoint import FSTYPE

from devtools.mountctl import (
    CONNECTIONS,
    NotReady,
    abort_connection,
    force_unmount,
    read_log,
    sandbox_env,
    wait_gone,
    wait_ready,
)
from devtools.mountctl import READY_MARK as READY_MARK
from devtools.mountctl import alive as alive
from devtools.mountctl import is_mounted as is_mounted

START_TIMEOUT = 30.0
"""Seconds a mount may take to answer before the fixture gives up."""
HANG_TIMEOUT = 60.0
"""Seconds a mount may stay up per test before the watchdog aborts it.

Below pytest's own timeout (120 s in pyproject), so the watchdog fires first.
"""

LIVE: set[Mount] = set()
"""Mounts currently up, so conftest can re-arm their watchdogs per test."""
USED: set[Path] = set()
"""Every mountpoint this test run used (conftest checks none is left mounted)."""


def clawfs_command(*args: str | os.PathLike[str]) -> list[str]:
    """`clawfs ARGS` run with this interpreter (the project's venv)."""
    return [sys.executable, "-m", "clawfs", *(os.fspath(a) for a in args)]


@dataclass
class Sandbox:
    """Temporary HOME, config, state and working directories for one run."""

    root: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    """Set on top of the sandbox (e.g. CLAWFS_FORCE_POLLING for the polling tests)."""

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def cwd(self) -> Path:
        return self.root / "cwd"

    def env(self) -> dict[str, str]:
        """`sandbox_env` of `root` (home, state and cwd below it) plus `extra_env`."""
        return sandbox_env(self.root) | self.extra_env

    def run(
        self, *args: str | os.PathLike[str], timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """Run `clawfs ARGS` in the sandbox and wait for it."""
        return subprocess.run(
            clawfs_command(*args), env=self.env(), cwd=self.cwd, capture_output=True,
            text=True, timeout=timeout, start_new_session=True, check=False,
        )


class Watchdog:
    """Aborts a FUSE connection that is still up after its deadline."""

    def __init__(self, mountpoint: Path) -> None:
        self.mountpoint = mountpoint
        self.fired = False
        self._deadline = float("inf")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="fuse-watchdog")
        self._thread.start()

    def arm(self, seconds: float) -> None:
        self._deadline = time.monotonic() + seconds

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            if time.monotonic() > self._deadline:
                self.fired = True
                abort_connection(self.mountpoint)
                return


@dataclass(eq=False)
class Mount:
    """A live clawfs mount made by `mounted()`."""

    path: Path
    sandbox: Sandbox
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    """The `clawfs mount -f` process; None for a daemon mount."""
    hang_timeout: float = HANG_TIMEOUT
    watchdog: Watchdog | None = field(default=None, repr=False)

    def log(self) -> str:
        """Everything the mount logged so far."""
        return read_log(self.log_path)

    @property
    def daemon_pid(self) -> int | None:
        """The serving process: the -f process, or the daemon's pid from its log."""
        if self.proc is not None:
            return self.proc.pid
        found = re.findall(r"\(pid (\d+)\)", self.log())
        return int(found[-1]) if found else None

    def is_mounted(self) -> bool:
        return is_mounted(self.path)


HONOUR_MODES = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
"""Command prefix: root without the capabilities that bypass file modes.

Tests run as root, and root reads a `chmod 000` file, so a permission test
would pass for the wrong reason (pyfuse3 notes). Staying uid 0 keeps
/dev/fuse usable and the mount reachable by the test itself.
"""


def ensure_fusectl() -> None:
    """Mount the FUSE control filesystem if it is not (it holds `abort`)."""
    if any(e.fstype == "fusectl" for e in mount_table()):
        return
    subprocess.run(["mount", "-t", "fusectl", "none", str(CONNECTIONS)],
                   capture_output=True, check=False)


def make_stale_mount(path: Path, fstype: str = FSTYPE) -> None:
    """Leave a FUSE mount with no daemon at `path`, as `kill -9` without
    auto_unmount does: listing it fails with ENOTCONN.

    Mounts with mount(2) on a fresh /dev/fuse descriptor, then closes the
    descriptor, which aborts the connection. Needs root (tests run as root).
    """
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open("/dev/fuse", os.O_RDWR)
    try:
        options = f"fd={fd},rootmode=40000,user_id={os.getuid()},group_id={os.getgid()}"
        flags = 0x2 | 0x4  # MS_NOSUID | MS_NODEV
        if libc.mount(b"clawfs", os.fsencode(path), fstype.encode(), ctypes.c_ulong(flags),
                      options.encode()) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), str(path))
    finally:
        os.close(fd)


def wait_until(
    condition: object, timeout: float, what: str, state: Callable[[], object] | None = None
) -> None:
    """Poll `condition` until it holds; on a timeout say what `state` shows
    then (what the mount answered), so a rare failure can be read later."""
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            seen = "" if state is None else f"; it shows {state()!r}"
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{seen}")
        time.sleep(0.02)


def _start(mount: Mount, command: list[str], foreground: bool, timeout: float) -> None:
    env, cwd = mount.sandbox.env(), mount.sandbox.cwd
    if foreground:
        with open(mount.log_path, "ab") as log:
            mount.proc = subprocess.Popen(command, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                          stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True)
        try:
            wait_ready(mount.proc, mount.log_path, mount.path, timeout)
        except NotReady as e:
            raise AssertionError(str(e)) from None
        return
    done = subprocess.run(command, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout,
                          start_new_session=True, check=False)
    if done.returncode != 0:
        raise AssertionError(
            f"clawfs mount failed ({done.returncode}): {done.stderr}\nlog:\n{mount.log()}")


def _stop(mount: Mount) -> None:
    """Unmount and end the serving process, whatever state they are in."""
    pid = mount.daemon_pid
    if mount.proc is not None and mount.proc.poll() is None and mount.is_mounted():
        mount.proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            mount.proc.wait(timeout=5)
    force_unmount(mount.path)
    if mount.proc is not None:
        if mount.proc.poll() is None:
            os.killpg(mount.proc.pid, signal.SIGKILL)
        mount.proc.wait()
    elif pid is not None:
        wait_gone(pid, timeout=5)


@contextlib.contextmanager
def mounted(
    stores: Sequence[Path] = (),
    extra_args: Sequence[str | os.PathLike[str]] = (),
    *,
    tmp: Path | None = None,
    foreground: bool = True,
    discover: bool = False,
    hang_timeout: float = HANG_TIMEOUT,
    honour_modes: bool = False,
    env: dict[str, str] | None = None,
    start_timeout: float = START_TIMEOUT,
) -> Iterator[Mount]:
    """Mount `stores` (each a `--store DIR`) and yield the live `Mount`.

    `tmp` holds the sandbox, the log and the mountpoint (`tmp/mnt`); a fresh
    temporary directory (removed afterwards) when None. `extra_args` go to
    `clawfs mount` as given (other store options, `--debug` ...).
    `foreground=False` runs it as a daemon, whose command must return only
    once the mount answers. Discovery is off unless `discover` is true.
    `honour_modes` runs it with `HONOUR_MODES`, so file modes in the store
    apply to the daemon as to an ordinary user. `env` is added to the
    sandbox's environment. `start_timeout` bounds how long the mount may take
    to answer.
    """
    own_tmp = tmp is None
    base = Path(tempfile.mkdtemp(prefix="clawfs-test-")) if tmp is None else tmp
    mount = new_mount(base, hang_timeout)
    mount.sandbox.extra_env.update(env or {})
    args: list[str | os.PathLike[str]] = ["mount", mount.path]
    for store in stores:
        args += ["--store", store]
    if not discover:
        args.append("--no-discover")
    args += list(extra_args)
    args += ["-f"] if foreground else ["--log-file", mount.log_path]
    try:
        with unmounting(mount):
            prefix = HONOUR_MODES if honour_modes else []
            _start(mount, [*prefix, *clawfs_command(*args)], foreground, start_timeout)
            with mount_answers(mount):
                os.stat(mount.path)
            yield mount
    finally:
        if own_tmp and not is_mounted(mount.path):
            shutil.rmtree(base, ignore_errors=True)


def new_mount(base: Path, hang_timeout: float = HANG_TIMEOUT) -> Mount:
    """A not-yet-mounted `Mount` in `base`: sandbox, empty `mnt/`, log path."""
    mount = Mount(base / "mnt", Sandbox(base / "sandbox"), base / "clawfs.log",
                  hang_timeout=hang_timeout)
    mount.path.mkdir(parents=True, exist_ok=True)
    return mount


@contextlib.contextmanager
def unmounting(mount: Mount) -> Iterator[Mount]:
    """Guard a block that mounts `mount.path` however it likes.

    Starts the hang watchdog; afterwards always unmounts and ends the
    serving process (a daemon's pid is read from its log), then fails if
    anything is still mounted or the watchdog had to fire.
    """
    ensure_fusectl()
    USED.add(mount.path)
    mount.watchdog = Watchdog(mount.path)
    mount.watchdog.arm(START_TIMEOUT + mount.hang_timeout)
    LIVE.add(mount)
    try:
        yield mount
    finally:
        LIVE.discard(mount)
        try:
            _stop(mount)
        finally:
            mount.watchdog.stop()
        assert not mount.is_mounted(), f"{mount.path} is still mounted"
        assert not mount.watchdog.fired, (
            f"the mount hung for over {mount.hang_timeout:.0f} s: connection aborted\n"
            f"{mount.log()}")


@contextlib.contextmanager
def mount_answers(mount: Mount) -> Iterator[None]:
    """Turn an aborted connection inside the block into a clear failure."""
    try:
        yield
    except OSError as e:
        if mount.watchdog is not None and mount.watchdog.fired:
            raise AssertionError(f"the mount hung: connection aborted\n{mount.log()}") from e
        raise


def clawfs_mounts() -> list[str]:
    """Every fuse.clawfs mountpoint on the machine, whoever made it."""
    return [e.mountpoint for e in mount_table() if e.fstype == FSTYPE]


def left_mounted() -> list[str]:
    """Mountpoints this test run used that are still mounted (should be none).

    Only ours: other clawfs mounts on the machine (a developer's, a bench run
    next door) are none of this run's business.
    """
    return [str(p) for p in sorted(USED) if is_mounted(p)]


@contextlib.contextmanager
def bindfs(backing: Path, view: Path) -> Iterator[Path]:
    """`view` as a FUSE passthrough of `backing` (Debian's bindfs, installed by
    scripts/lib/setup.sh), unmounted on the way out."""
    view.mkdir()
    subprocess.run(["bindfs", str(backing), str(view)], check=True, capture_output=True)
    try:
        yield view
    finally:
        done = subprocess.run(["fusermount3", "-u", str(view)], capture_output=True, check=False)
        if done.returncode != 0:
            subprocess.run(["fusermount3", "-u", "-z", str(view)], capture_output=True,
                           check=False)
