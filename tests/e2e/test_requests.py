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
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pyfuse3
import pytest

from clawfs.cli.samplestore import SampleStore, generate
from clawfs.format.fingerprint import fingerprint

from mounting import Mount, mounted

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
