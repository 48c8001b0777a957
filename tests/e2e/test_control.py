"""SPEC §4 through a real mount: the `fork` control file as the shell and
Python use it. What a fork writes is the fork writer's business (its own
tests); here: one fork per open, the result a read returns, read-your-writes,
and errors reaching the writer."""

from __future__ import annotations

import errno
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from clawfs.cli.samplestore import SampleStore, generate
from clawfs.format.fingerprint import fingerprint

from mounting import HONOUR_MODES, Mount, mounted


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[Mount, SampleStore, Path]]:
    """A fresh sample store (tests here add files) and the webapp directory."""
    sample = generate(tmp_path / "sample")
    with mounted(extra_args=sample.mount_args(), tmp=tmp_path) as m:
        yield m, sample, workspace(m, sample)


def workspace(m: Mount, sample: SampleStore, project: str = "webapp") -> Path:
    return m.path / "sessions" / fingerprint(os.path.realpath(sample.base / "projects" / project))


def backing_dir(sample: SampleStore) -> Path:
    return sample.files["login"].parent


def sessions_in(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir() if p.suffix in (".jsonl", ".json")}


def sh(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=False)


def test_echo_forks_and_the_fork_is_visible_at_once(
    store: tuple[Mount, SampleStore, Path]
) -> None:
    m, sample, ws = store
    before = sessions_in(backing_dir(sample))
    done = sh(f"echo incident-review > {ws}/fork")
    assert done.returncode == 0, done.stderr
    (new,) = sessions_in(backing_dir(sample)) - before
    result = (ws / "fork").read_text()
    assert result == f"{new}\tincident-review\t{backing_dir(sample) / new}\n"
    # Read your writes: listing, lineage, index.tsv and latest, all without waiting.
    assert new in os.listdir(ws)
    assert os.readlink(ws / "latest") == new
    bugfix = sample.files["bugfix"].name.removesuffix(".jsonl")
    login = sample.files["login"].name.removesuffix(".jsonl")
    stem = new.removesuffix(".jsonl")
    assert stem in os.listdir(ws / "forks" / login / bugfix)
    assert new in (ws / "index.tsv").read_text()
    assert os.getxattr(ws / new, "user.claw.branch_name") == b"incident-review"


def test_fork_file_in_the_tree_forks_that_session(
    store: tuple[Mount, SampleStore, Path]
) -> None:
    m, sample, ws = store
    login = sample.files["login"].name.removesuffix(".jsonl")
    with open(ws / "forks" / login / "fork", "w") as f:
        f.write("from-login\n")
    result = (ws / "forks" / login / "fork").read_text()
    new = result.split("\t")[0]
    parent = os.getxattr(ws / new, "user.claw.parent_session_id").decode()
    assert parent == login
    assert new.removesuffix(".jsonl") in os.listdir(ws / "forks" / login)


def test_empty_write_forks_without_a_branch(store: tuple[Mount, SampleStore, Path]) -> None:
    m, sample, ws = store
    before = sessions_in(backing_dir(sample))
    assert sh(f"echo > {ws}/fork").returncode == 0
    (new,) = sessions_in(backing_dir(sample)) - before
    assert (ws / "fork").read_text() == f"{new}\t\t{backing_dir(sample) / new}\n"
    assert "user.claw.branch_name" not in os.listxattr(ws / new)


def test_open_with_truncate_and_no_write_does_nothing(
    store: tuple[Mount, SampleStore, Path]
) -> None:
    m, sample, ws = store
    before = sessions_in(backing_dir(sample))
    assert sh(f": > {ws}/fork").returncode == 0
    assert sh(f"truncate -s0 {ws}/fork").returncode == 0
    assert sessions_in(backing_dir(sample)) == before
    assert (ws / "fork").read_bytes() == b"", "empty before any write"


def test_second_write_on_one_open_fails_with_einval(
    store: tuple[Mount, SampleStore, Path]
) -> None:
    m, sample, ws = store
    before = sessions_in(backing_dir(sample))
    done = sh(f"printf 'a\\nb\\n' > {ws}/fork")
    assert done.returncode == 1 and "Invalid argument" in done.stderr
    assert len(sessions_in(backing_dir(sample)) - before) == 1
    # The command was the first write; its result stays what a read returns.
    assert (ws / "fork").read_text().split("\t")[1] == "a"


@pytest.mark.parametrize("command", [b"a\nb", b"x" * 257, b"\xff\xfe", b"bad\x07name"])
def test_invalid_command_fails_and_creates_nothing(
    store: tuple[Mount, SampleStore, Path], command: bytes
) -> None:
    m, sample, ws = store
    before = sessions_in(backing_dir(sample))
    fd = os.open(ws / "fork", os.O_WRONLY | os.O_TRUNC)
    try:
        with pytest.raises(OSError) as caught:
            os.write(fd, command)
        assert caught.value.errno == errno.EINVAL
    finally:
        os.close(fd)
    assert sessions_in(backing_dir(sample)) == before
    assert (ws / "fork").read_text().startswith("error: ")


def test_read_write_handle_reads_its_own_result(store: tuple[Mount, SampleStore, Path]) -> None:
    m, sample, ws = store
    fd = os.open(ws / "fork", os.O_RDWR)
    try:
        os.write(fd, b"mine\n")
        mine = os.pread(fd, 4096, 0).decode()
        sh(f"echo other > {ws}/fork")
        assert os.pread(fd, 4096, 0).decode() == mine
    finally:
        os.close(fd)
    assert mine.split("\t")[1] == "mine"
    assert (ws / "fork").read_text().split("\t")[1] == "other"


def test_concurrent_writers_make_distinct_forks(store: tuple[Mount, SampleStore, Path]) -> None:
    m, sample, ws = store
    before = sessions_in(backing_dir(sample))
    errors: list[BaseException] = []

    def fork(i: int) -> None:
        try:
            with open(ws / "fork", "w") as f:
                f.write(f"writer-{i}\n")
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=fork, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    new = sessions_in(backing_dir(sample)) - before
    assert len(new) == 8
    branches = {os.getxattr(ws / n, "user.claw.branch_name") for n in new}
    assert branches == {f"writer-{i}".encode() for i in range(8)}


def test_no_latest_means_enoent(tmp_path: Path) -> None:
    """A workspace whose sessions are all empty has no `latest` to fork."""
    sample = generate(tmp_path / "sample")
    for short in ("ideas",):
        sample.files[short].write_bytes(sample.files[short].read_bytes().splitlines(True)[0])
    with mounted(extra_args=sample.mount_args(), tmp=tmp_path) as m:
        ws = workspace(m, sample, "notes")
        assert not os.path.lexists(ws / "latest")
        done = sh(f"echo x > {ws}/fork")
        assert done.returncode == 1 and "No such file or directory" in done.stderr
        assert (ws / "fork").read_text().startswith("error: ")


def test_unwritable_store_means_eacces_and_nothing_left(tmp_path: Path) -> None:
    sample = generate(tmp_path / "sample")
    directory = backing_dir(sample)
    directory.chmod(0o555)
    try:
        probe = subprocess.run([*HONOUR_MODES, "touch", directory / "probe"],
                               capture_output=True, check=False)
        assert probe.returncode != 0, "precondition: the directory is not writable"
        before = sorted(os.listdir(directory))
        with mounted(extra_args=sample.mount_args(), tmp=tmp_path, honour_modes=True) as m:
            done = sh(f"echo x > {workspace(m, sample)}/fork")
            assert done.returncode == 1 and "Permission denied" in done.stderr
        assert sorted(os.listdir(directory)) == before
    finally:
        directory.chmod(0o755)
