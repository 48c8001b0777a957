"""What the kernel asks of the mount, counted: the round trips a `cat`, a
`stat` or a close costs (issue 16: each costs ~30 us in pyfuse3 + trio), and
that none of the cut ones broke a writer of the control files.

Requests are counted from the `--debug` log, where the adapter logs each one
it answers as `name(args)`. Counts, never timings (scripts/bench.py times).
"""

from __future__ import annotations

import collections
import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pyfuse3
import pytest

from clawfs.cli.samplestore import SampleStore, generate
from clawfs.format.fingerprint import fingerprint

from mounting import Mount, mounted, wait_until

SOON = 5.0
"""Seconds something asynchronous may take to show (a release, an invalidation)."""

REQUEST = re.compile(r"^clawfs: (\w+)\((\d*)", re.M)
"""A request line of a foreground mount's --debug log: its name, its first
argument when that is a number (an inode or a handle)."""


class Requests:
    """The requests a mount answered since this was made, or since the last `take()`.

    GETATTR is counted for `inode` only (none when None): a directory's
    attributes are invalidated by every check after a change in its
    workspace (kernelcache.py), and the root's last 1 s (a dead mount must
    show), so a path walk asks for them at times no test controls.
    """

    def __init__(self, mount: Mount, inode: int | None = None) -> None:
        self.mount = mount
        self.inode = inode
        self.seen = len(mount.log())

    def take(self) -> collections.Counter[str]:
        log = self.mount.log()
        counts = collections.Counter(name for name, _ in self._found(log))
        self.seen = len(log)
        return counts

    def asked(self, request: str) -> bool:
        """Whether `request` ("name(number" as logged) was answered since, without taking."""
        return any(f"{name}({first}" == request for name, first in self._found(self.mount.log()))

    def _found(self, log: str) -> list[tuple[str, str]]:
        return [(name, first) for name, first in REQUEST.findall(log, self.seen)
                if hasattr(pyfuse3.Operations, name)
                and (name != "getattr" or first == str(self.inode))]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[Mount, SampleStore, Path]]:
    """A sample store mounted with --debug, and its webapp workspace."""
    sample = generate(tmp_path / "sample")
    with mounted(extra_args=[*sample.mount_args(), "--debug"], tmp=tmp_path) as m:
        project = os.path.realpath(sample.base / "projects" / "webapp")
        yield m, sample, m.path / "sessions" / fingerprint(project)


def sh(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=False)


def forks_made(sample: SampleStore, before: set[str]) -> set[str]:
    return {p.name for p in sample.files["login"].parent.iterdir()} - before


def test_flush_is_asked_once_per_mount(store: tuple[Mount, SampleStore, Path]) -> None:
    """The first FLUSH is answered ENOSYS; the kernel then stops sending it."""
    m, sample, ws = store
    requests = Requests(m)
    requests.seen = 0  # from the mount's start
    name = sample.files["login"].name
    for _ in range(5):
        assert (ws / name).read_bytes() == sample.files["login"].read_bytes()
    assert (ws / "index.tsv").read_text().startswith("file\t")
    assert requests.take()["flush"] == 1
    before = {p.name for p in sample.files["login"].parent.iterdir()}
    assert sh(f"echo a > {ws}/fork").returncode == 0
    assert len(forks_made(sample, before)) == 1
    assert requests.take()["flush"] == 0


@pytest.mark.parametrize(
    "command",
    [
        "echo topic > {fork}",
        "printf 'topic\\n' | tee {fork} > /dev/null",
        "printf 'topic\\n' > {tmp}/cmd && cp {tmp}/cmd {fork}",
        "python3 -c \"open('{fork}', 'w').write('topic\\n')\"",
        "truncate -s0 {fork} && echo topic >> {fork}",
    ],
)
def test_every_kind_of_writer_forks_once_without_flush(
    store: tuple[Mount, SampleStore, Path], tmp_path: Path, command: str
) -> None:
    """What the shell and Python do to a control file (open with O_TRUNC,
    write, close) still forks exactly once and reads back the result, with
    FLUSH cut (pyfuse3 notes: "A control file written by the shell")."""
    m, sample, ws = store
    cat = sh(f"cat {ws}/{sample.files['login'].name} > /dev/null")  # FLUSH is cut from here
    assert cat.returncode == 0
    before = {p.name for p in sample.files["login"].parent.iterdir()}
    requests = Requests(m)
    done = sh(command.format(fork=ws / "fork", tmp=tmp_path))
    assert done.returncode == 0, done.stderr
    (new,) = forks_made(sample, before)
    assert (ws / "fork").read_text().split("\t")[:2] == [new, "topic"]
    assert os.readlink(ws / "latest") == new
    assert requests.take()["flush"] == 0


def test_a_failed_fork_still_fails_the_writer(store: tuple[Mount, SampleStore, Path]) -> None:
    """The error is the write's, so cutting FLUSH loses none."""
    m, sample, ws = store
    before = {p.name for p in sample.files["login"].parent.iterdir()}
    for command in (f"printf 'a\\001b\\n' > {ws}/fork", f"printf 'a\\001b\\n' | tee {ws}/fork"):
        done = sh(command)
        assert done.returncode != 0 and "Invalid argument" in done.stderr, command
    assert forks_made(sample, before) == set()
    assert (ws / "fork").read_text() == "error: fork command has a control character\n"


def test_a_warm_cat_is_one_open_and_one_release(
    store: tuple[Mount, SampleStore, Path], tmp_path: Path
) -> None:
    """Once the kernel holds a transcript, a `cat` of it a second later asks
    nothing but OPEN and RELEASE: no LOOKUP, no GETATTR (its attributes are
    kept 60 s, the watcher invalidates them on change), no FLUSH, no READ
    (the pages are kept), and a `stat` asks nothing at all."""
    m, sample, ws = store
    through = ws / sample.files["login"].name
    assert through.read_bytes() == sample.files["login"].read_bytes()
    left_alone(m, through, sample.files["login"].parent)
    time.sleep(1.1)  # past a 1 s attribute timeout
    requests = Requests(m, os.stat(through).st_ino)
    assert subprocess.run(["cat", through], capture_output=True).stdout == through.read_bytes()
    counts: collections.Counter[str] = collections.Counter()

    def released() -> bool:
        counts.update(requests.take())
        return counts["release"] >= 2

    wait_until(released, SOON, "the releases (sent after close returns)")
    assert counts == {"open": 2, "release": 2}  # the `cat` and read_bytes() above
    os.stat(through)
    assert requests.take() == {}


def left_alone(m: Mount, through: Path, backing_dir: Path) -> None:
    """A change elsewhere in the workspace (a new file in `backing_dir`) has
    the mount check what it touched, and only that (kernelcache.py): the held
    transcript `through` is left alone, so a stat of it asks nothing."""
    inode = os.stat(through).st_ino
    since = Requests(m, inode)
    new = f"session-{time.time_ns()}.jsonl"
    (backing_dir / new).write_bytes(b"")
    wait_until(lambda: (through.parent / new).exists(), SOON, "the new file through the mount")
    os.stat(through)
    assert not since.asked(f"getattr({inode}")


def test_with_other_users_a_chmod_above_a_file_shows_within_seconds(tmp_path: Path) -> None:
    """With --allow-other the kernel checks other users against the cached
    modes, and what a transcript shows is narrowed by every directory above
    it (SPEC §3). A chmod of its directory changes nothing the watcher marks
    the file's version by, so only a 1 s attribute timeout (not 60) shows
    it soon. The store lies where other users may enter (not below the
    tests' 0700 temporary directory), so there is something to revoke."""
    base = Path(tempfile.mkdtemp(prefix="clawfs-test-", dir="/var/tmp"))
    try:
        base.chmod(0o755)
        sample = generate(base / "sample")
        backing = sample.files["login"]
        args = [*sample.mount_args(), "--allow-other", "--debug"]
        with mounted(extra_args=args, tmp=tmp_path) as m:
            project = os.path.realpath(sample.base / "projects" / "webapp")
            through = m.path / "sessions" / fingerprint(project) / backing.name
            assert stat.S_IMODE(os.stat(through).st_mode) == 0o444  # others may read it
            left_alone(m, through, backing.parent)
            backing.parent.chmod(0o700)  # others may not enter its directory now
            wait_until(lambda: stat.S_IMODE(os.stat(through).st_mode) == 0o400, SOON,
                       "the revoked read bits through the mount")
    finally:
        shutil.rmtree(base, ignore_errors=True)


THREAD_READ = "not in the page cache, from a worker thread"
"""What the --debug log says of a read that went to a worker thread (reader.py)."""


def drop_pages(path: Path) -> None:
    """Have the kernel forget the file's cached pages (written back first)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def test_only_a_read_the_page_cache_cannot_answer_goes_to_a_worker_thread(
    store: tuple[Mount, SampleStore, Path]
) -> None:
    """A cold read waits for the disk in a worker thread, so it stalls no
    other request (tests/mount/test_fuse_ops.py shows that by construction);
    a read of cached pages is answered on the request thread."""
    m, sample, ws = store
    cold, warm = sample.files["login"], sample.files["bugfix"]
    for backing in (cold, warm):
        # Fully loaded now, so nothing in the mount reads it again by itself.
        assert os.getxattr(ws / backing.name, "user.claw.message_count")
    drop_pages(cold)
    since = len(m.log())
    assert (ws / cold.name).read_bytes() == cold.read_bytes()
    assert m.log()[since:].count(THREAD_READ) >= 1
    assert warm.read_bytes()  # its pages are cached now
    since = len(m.log())
    assert (ws / warm.name).read_bytes() == warm.read_bytes()
    assert THREAD_READ not in m.log()[since:]
    assert "read(" in m.log()[since:]
