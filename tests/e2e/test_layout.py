"""SPEC §2–§3 through a real mount, read-only parts: layout, aliases,
attributes, modes, inodes, xattrs, and EROFS for everything that writes.

One mount of the sample store serves the whole module (the tests only
read); tests that change the store make their own.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from clawfs.cli.samplestore import SampleStore, generate
from clawfs.format.fingerprint import fingerprint

from mounting import Mount, mounted, wait_until


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleStore:
    sample = generate(tmp_path_factory.mktemp("sample"))
    os.chmod(sample.files["release"], 0o640)  # read bits are passed through
    return sample


@pytest.fixture(scope="module")
def mnt(sample: SampleStore, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mount]:
    with mounted(extra_args=sample.mount_args(), tmp=tmp_path_factory.mktemp("m")) as m:
        yield m


def fp(sample: SampleStore, project: str) -> str:
    return fingerprint(os.path.realpath(sample.base / "projects" / project))


def ws(mnt: Mount, sample: SampleStore, project: str) -> Path:
    return mnt.path / "sessions" / fp(sample, project)


def stem(path: Path) -> str:
    return path.name.rsplit(".", 1)[0]


def store_digest(sample: SampleStore) -> dict[str, str]:
    """Every file under the sample with its sha256 (to prove nothing changed)."""
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(sample.base.rglob("*")) if p.is_file()
    }


# --- layout -------------------------------------------------------------------


def test_top_level(mnt: Mount) -> None:
    assert sorted(os.listdir(mnt.path)) == [
        "last", "last.md", "latest", "latest.md", "recent", "recent.md", "sessions", "workspaces"
    ]


def test_top_aliases_name_the_newest_non_empty_session(mnt: Mount, sample: SampleStore) -> None:
    ideas = sample.files["ideas"]
    for alias in ("latest", "last", "recent"):
        assert os.readlink(mnt.path / alias) == f"sessions/{fp(sample, 'notes')}/{ideas.name}"
    assert subprocess.run(["cat", mnt.path / "latest"], capture_output=True,
                          check=True).stdout == ideas.read_bytes()


def test_workspaces_are_labelled_links(mnt: Mount, sample: SampleStore) -> None:
    assert sorted(os.listdir(mnt.path / "workspaces")) == ["cli-tool", "notes", "webapp"]
    for label in ("cli-tool", "notes", "webapp"):
        target = os.readlink(mnt.path / "workspaces" / label)
        assert target == f"../sessions/{fp(sample, label)}"
        assert (mnt.path / "workspaces" / label).resolve() == ws(mnt, sample, label)


def test_sessions_has_one_directory_per_fingerprint(mnt: Mount, sample: SampleStore) -> None:
    expected = sorted(fp(sample, p) for p in ("cli-tool", "notes", "webapp"))
    assert sorted(os.listdir(mnt.path / "sessions")) == expected


def test_workspace_directory_entries(mnt: Mount, sample: SampleStore) -> None:
    names = set(os.listdir(ws(mnt, sample, "webapp")))
    files = {sample.files[k].name for k in
             ("login", "oauth", "oauth-tests", "bugfix", "empty", "legacy")}
    markdown = {stem(sample.files[k]) + ".md" for k in
                ("login", "oauth", "oauth-tests", "bugfix", "empty", "legacy")}
    assert names == {"latest", "last", "recent", "latest.md", "last.md", "recent.md", "fork",
                     "index.tsv", "forks", "branches"} | files | markdown


def test_workspace_latest_skips_the_empty_session(mnt: Mount, sample: SampleStore) -> None:
    webapp = ws(mnt, sample, "webapp")
    assert os.readlink(webapp / "latest") == sample.files["bugfix"].name
    assert (webapp / "latest").read_bytes() == sample.files["bugfix"].read_bytes()


def test_transcripts_are_the_backing_bytes(mnt: Mount, sample: SampleStore) -> None:
    for short in ("login", "legacy", "empty", "verbose"):
        path = sample.files[short]
        project = path.relative_to(sample.base / "projects").parts[0]
        assert (ws(mnt, sample, project) / path.name).read_bytes() == path.read_bytes()


def test_forks_tree_follows_lineage(mnt: Mount, sample: SampleStore) -> None:
    forks = ws(mnt, sample, "webapp") / "forks"
    login, oauth = stem(sample.files["login"]), stem(sample.files["oauth"])
    tests, bugfix = stem(sample.files["oauth-tests"]), stem(sample.files["bugfix"])
    assert set(os.listdir(forks)) == {login, stem(sample.files["empty"]),
                                      stem(sample.files["legacy"])}
    assert set(os.listdir(forks / login)) == {
        "fork", "session.jsonl", "session.md", oauth, bugfix
    }
    assert os.readlink(forks / login / "session.jsonl") == f"../../{sample.files['login'].name}"
    deep = forks / login / oauth / tests / "session.jsonl"
    assert os.readlink(deep) == f"../../../../{sample.files['oauth-tests'].name}"
    assert deep.read_bytes() == sample.files["oauth-tests"].read_bytes()
    assert set(os.listdir(forks / login / oauth / tests)) == {
        "fork", "session.jsonl", "session.md"
    }


def test_tree_command_walks_the_forks(mnt: Mount, sample: SampleStore) -> None:
    out = subprocess.run(["tree", ws(mnt, sample, "webapp") / "forks"], capture_output=True,
                         text=True, check=True).stdout
    assert stem(sample.files["oauth-tests"]) in out


def test_index_tsv_has_a_row_per_transcript(mnt: Mount, sample: SampleStore) -> None:
    rows = (ws(mnt, sample, "webapp") / "index.tsv").read_text().splitlines()
    assert rows[0].split("\t")[:2] == ["file", "session_id"]
    assert len(rows) == 1 + 6
    assert {r.split("\t")[0] for r in rows[1:]} == {
        sample.files[k].name for k in ("login", "oauth", "oauth-tests", "bugfix", "empty",
                                       "legacy")}


def test_missing_names_are_enoent(mnt: Mount, sample: SampleStore) -> None:
    for path in (mnt.path / "nope", ws(mnt, sample, "webapp") / "nope.jsonl",
                 mnt.path / "sessions" / "0000000000000000"):
        with pytest.raises(FileNotFoundError):
            os.stat(path)


# --- attributes ---------------------------------------------------------------


def test_transcript_attributes_are_the_backing_files(mnt: Mount, sample: SampleStore) -> None:
    for short in ("login", "release"):
        backing = os.stat(sample.files[short])
        project = sample.files[short].relative_to(sample.base / "projects").parts[0]
        st = os.stat(ws(mnt, sample, project) / sample.files[short].name)
        assert st.st_size == backing.st_size
        assert st.st_mtime_ns == backing.st_mtime_ns
        assert st.st_ctime_ns == backing.st_ctime_ns
        assert stat.S_ISREG(st.st_mode)
        assert stat.S_IMODE(st.st_mode) == stat.S_IMODE(backing.st_mode) & 0o444
        assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())
    release = ws(mnt, sample, "cli-tool") / sample.files["release"].name
    assert stat.S_IMODE(os.stat(release).st_mode) == 0o440


def test_modes_of_everything_else(mnt: Mount, sample: SampleStore) -> None:
    webapp = ws(mnt, sample, "webapp")
    expected: dict[Path, int] = {
        mnt.path: stat.S_IFDIR | 0o555,
        mnt.path / "sessions": stat.S_IFDIR | 0o555,
        webapp: stat.S_IFDIR | 0o555,
        webapp / "forks": stat.S_IFDIR | 0o555,
        webapp / "fork": stat.S_IFREG | 0o644,
        webapp / "index.tsv": stat.S_IFREG | 0o444,
        mnt.path / "latest": stat.S_IFLNK | 0o777,
        webapp / "latest": stat.S_IFLNK | 0o777,
        mnt.path / "workspaces" / "webapp": stat.S_IFLNK | 0o777,
    }
    for path, mode in expected.items():
        st = os.lstat(path)
        assert st.st_mode == mode, path
        assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())
    assert os.stat(webapp / "index.tsv").st_size == 0


def test_symlink_size_is_target_length(mnt: Mount, sample: SampleStore) -> None:
    for link in (mnt.path / "latest", ws(mnt, sample, "webapp") / "latest",
                 mnt.path / "workspaces" / "notes"):
        assert os.lstat(link).st_size == len(os.fsencode(os.readlink(link)))


def test_ls_l_works_everywhere(mnt: Mount) -> None:
    done = subprocess.run(["ls", "-lR", mnt.path], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "index.tsv" in done.stdout


def test_inodes_are_stable_and_distinct(mnt: Mount, sample: SampleStore) -> None:
    webapp = ws(mnt, sample, "webapp")
    paths = [webapp / n for n in os.listdir(webapp)] + [mnt.path / n for n in os.listdir(mnt.path)]
    first = {p: os.lstat(p).st_ino for p in paths}
    assert len(set(first.values())) == len(paths)
    assert {p: os.lstat(p).st_ino for p in paths} == first
    assert os.stat(mnt.path).st_ino == 1


# --- extended attributes ------------------------------------------------------


def test_xattrs_describe_the_session(mnt: Mount, sample: SampleStore) -> None:
    path = ws(mnt, sample, "webapp") / sample.files["oauth"].name
    names = set(os.listxattr(path))
    assert {"user.claw.session_id", "user.claw.parent_session_id", "user.claw.branch_name",
            "user.claw.message_count", "user.claw.path"} <= names
    assert os.getxattr(path, "user.claw.session_id") == stem(sample.files["oauth"]).encode()
    assert os.getxattr(path, "user.claw.branch_name") == b"oauth"
    assert os.getxattr(path, "user.claw.path") == os.fsencode(sample.files["oauth"])
    assert os.getxattr(path, "user.claw.parent_session_id") == \
        stem(sample.files["login"]).encode()


def test_absent_xattrs_are_absent(mnt: Mount, sample: SampleStore) -> None:
    path = ws(mnt, sample, "webapp") / sample.files["login"].name
    assert "user.claw.parent_session_id" not in os.listxattr(path)
    with pytest.raises(OSError) as caught:
        os.getxattr(path, "user.claw.parent_session_id")
    assert caught.value.errno == errno.ENODATA
    # Namespaces clawfs never has are unsupported, so `ls -l` stops asking.
    for name in ("security.selinux", "system.posix_acl_access", "trusted.x"):
        with pytest.raises(OSError) as caught:
            os.getxattr(path, name)
        assert caught.value.errno == errno.EOPNOTSUPP


def test_getfattr_dump(mnt: Mount, sample: SampleStore) -> None:
    path = ws(mnt, sample, "notes") / sample.files["ideas"].name
    out = subprocess.run(["getfattr", "-d", path], capture_output=True, text=True,
                         check=True).stdout
    assert 'user.claw.message_count="2"' in out


# --- read-only ----------------------------------------------------------------

WRITES: dict[str, Callable[[Path, Path], object]] = {
    "create": lambda d, f: open(d / "new.jsonl", "x"),
    "open for writing": lambda d, f: open(f, "r+b"),
    "open with O_TRUNC": lambda d, f: os.open(f, os.O_WRONLY | os.O_TRUNC),
    "append": lambda d, f: open(f, "ab"),
    "truncate": lambda d, f: os.truncate(f, 0),
    "unlink": lambda d, f: os.unlink(f),
    "rename": lambda d, f: os.rename(f, d / "moved.jsonl"),
    "mkdir": lambda d, f: os.mkdir(d / "newdir"),
    "rmdir": lambda d, f: os.rmdir(d / "forks"),
    "symlink": lambda d, f: os.symlink("x", d / "link"),
    "hard link": lambda d, f: os.link(f, d / "hard.jsonl"),
    "chmod": lambda d, f: os.chmod(f, 0o666),
    "setxattr": lambda d, f: os.setxattr(f, "user.claw.session_id", b"x"),
    "removexattr": lambda d, f: os.removexattr(f, "user.claw.session_id"),
    "mknod": lambda d, f: os.mkfifo(d / "fifo"),
    "utime": lambda d, f: os.utime(f, (0, 0)),
}


@pytest.mark.parametrize("operation", sorted(WRITES))
def test_writes_fail_with_erofs_and_change_nothing(
    mnt: Mount, sample: SampleStore, operation: str
) -> None:
    before = store_digest(sample)
    directory = ws(mnt, sample, "webapp")
    target = directory / sample.files["login"].name
    with pytest.raises(OSError) as caught:
        WRITES[operation](directory, target)
    assert caught.value.errno in (errno.EROFS, errno.EACCES, errno.EPERM), caught.value
    assert store_digest(sample) == before


def test_shell_redirection_into_a_transcript_fails(mnt: Mount, sample: SampleStore) -> None:
    before = store_digest(sample)
    target = ws(mnt, sample, "webapp") / sample.files["login"].name
    done = subprocess.run(["bash", "-c", f"echo x > {target}"], capture_output=True, text=True,
                          check=False)
    assert done.returncode != 0 and "Read-only file system" in done.stderr
    assert store_digest(sample) == before


# --- a store that changes: inode identity ---------------------------------------


def test_inode_follows_backing_identity(tmp_path: Path) -> None:
    """Same file growing: same inode. A file renamed over it: a new inode."""
    sample = generate(tmp_path / "sample")
    with mounted(extra_args=sample.mount_args(), tmp=tmp_path) as m:
        path = m.path / "sessions" / fp(sample, "notes") / sample.files["ideas"].name
        backing = sample.files["ideas"]
        first = os.stat(path).st_ino
        with open(backing, "ab") as f:
            f.write(b'{"type":"prompt_history","text":"more","timestamp_ms":1}\n')
        size = os.stat(backing).st_size
        wait_until(lambda: os.stat(path).st_size == size, 5, "the new size")
        assert os.stat(path).st_ino == first
        replacement = backing.with_name(backing.name + ".tmp-1-1")
        replacement.write_bytes(backing.read_bytes())
        os.rename(replacement, backing)
        wait_until(lambda: os.stat(path).st_ino != first, 5, "a new inode")
        assert path.read_bytes() == backing.read_bytes()
