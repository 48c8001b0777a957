"""Issue 13, links to sessions as entries of their own (class 4), attacked
through a real `--allow-other` mount: another user's link leads the mount
to nothing that user could not reach natively (SPEC §3).

A link in a directory the second user owns, to a session in a directory it
cannot enter, is listed in its workspace as claw lists it (root sees it
with the session's contents), but natively that user cannot even stat
through it: it must not learn the file's size, times, owner or rendering
through the mount, nor, from how the mount treats the link, whether the
target exists (a link to a name that is not there looks the same to it
natively: "Permission denied").

```
store/     01777 (anyone may add to it)   flat.jsonl -> A/secret.jsonl (the user's)
  A/       0700  root's   secret.jsonl 0644
  B/       0755  the user's   own.jsonl 0644
                 peek.jsonl -> ../A/secret.jsonl   gone.jsonl -> ../A/absent.jsonl
```
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from clawfs.format.fingerprint import fingerprint

import storegen as sg
from mounting import Mount, mounted, wait_until
from otheruser import OtherUser, other_user

T0 = 1_780_000_000_000
A_ROOT, B_ROOT = "/srv/a-project", "/srv/b-project"
A, B = fingerprint(A_ROOT), fingerprint(B_ROOT)
SECRET_MODEL = "model-only-root-may-know"


@dataclass(frozen=True)
class Setup:
    mount: Mount
    user: OtherUser
    store: Path

    def through(self, *parts: str) -> Path:
        return self.mount.path.joinpath("sessions", *parts)


def _build(store: Path, user: OtherUser) -> None:
    store.mkdir()
    theirs = sg.fp_dir(store, A_ROOT)
    sg.write_session(theirs, sg.make_session("secret", messages=3, workspace_root=A_ROOT,
                                             updated_at_ms=T0 + 9, model=SECRET_MODEL),
                     mtime_ms=T0 + 9).chmod(0o644)
    theirs.chmod(0o700)
    mine = sg.fp_dir(store, B_ROOT)
    sg.write_session(mine, sg.make_session("own", messages=1, workspace_root=B_ROOT,
                                           updated_at_ms=T0), mtime_ms=T0).chmod(0o644)
    os.symlink(f"../{A}/secret.jsonl", mine / "peek.jsonl")
    os.symlink(f"../{A}/absent.jsonl", mine / "gone.jsonl")
    os.symlink(f"{A}/secret.jsonl", store / "flat.jsonl")
    archive = store / "archive"  # not a fingerprint directory: only a link lists it
    archive.mkdir()
    sg.write_session(archive, sg.make_session("kept", messages=2, workspace_root=B_ROOT,
                                              updated_at_ms=T0 + 20, model=SECRET_MODEL),
                     mtime_ms=T0 + 20).chmod(0o644)
    archive.chmod(0o700)
    os.symlink("../archive/kept.jsonl", mine / "kept.jsonl")
    for path in (mine / "own.jsonl", mine / "peek.jsonl", mine / "gone.jsonl",
                 mine / "kept.jsonl", mine, store / "flat.jsonl"):
        os.lchown(path, user.uid, user.gid)
    store.chmod(0o1777)


@pytest.fixture(scope="module")
def setup() -> Iterator[Setup]:
    base = Path(tempfile.mkdtemp(prefix="clawfs-trust-links-"))
    try:
        base.chmod(0o755)  # the second user must reach the mountpoint
        with other_user() as user:
            _build(base / "store", user)
            with mounted([base / "store"], ["--allow-other"], tmp=base / "m") as m:
                yield Setup(m, user, base / "store")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_natively_the_user_cannot_stat_through_its_links(setup: Setup) -> None:
    """The precondition: it lists its own links, and following either fails
    alike, whether the target is there or not."""
    user, store = setup.user, setup.store
    assert user.listing(store / B) == ["gone.jsonl", "kept.jsonl", "own.jsonl", "peek.jsonl"]
    for link in (store / B / "peek.jsonl", store / B / "gone.jsonl", store / B / "kept.jsonl",
                 store / "flat.jsonl"):
        done = user.run("stat", "-L", link)
        assert done.returncode != 0 and b"Permission denied" in done.stderr, link
    assert user.read(store / B / "own.jsonl") is not None


def test_root_sees_the_links_as_claw_lists_them(setup: Setup) -> None:
    """claw lists every entry (session_control.rs 398): root, the mounting
    user, reads the session through the link."""
    secret = (setup.store / A / "secret.jsonl").read_bytes()
    assert setup.through(B, "peek.jsonl").read_bytes() == secret
    assert setup.through(A, "flat.jsonl").read_bytes() == secret
    tsv = setup.through(B, "index.tsv").read_bytes()
    assert {row.split(b"\t")[0] for row in tsv.splitlines()[1:]} == {
        b"own.jsonl", b"peek.jsonl", b"gone.jsonl", b"kept.jsonl"}


def test_a_link_tells_the_user_nothing_of_what_it_reaches(setup: Setup) -> None:
    """Not its size, times or owner (stat), not its rendering (the .md), not
    its xattrs, not its row; root having looked it up first (the kernel's
    dentry cache) changes nothing."""
    user = setup.user
    for parts in ((B, "peek.jsonl"), (B, "peek.md"), (B, "kept.jsonl"), (A, "flat.jsonl"),
                  (A, "flat.md")):
        os.stat(setup.through(*parts))  # root's lookup, cached by the kernel where it may
        assert not user.stats(setup.through(*parts)), parts
        assert user.xattr_names(setup.through(*parts)) == [], parts
    tsv = user.read(setup.through(B, "index.tsv"))
    assert tsv is not None
    assert [row.split(b"\t")[0] for row in tsv.splitlines()[1:]] == [b"own.jsonl"]
    assert SECRET_MODEL.encode() not in tsv


def test_a_link_shows_the_same_whether_its_target_exists(setup: Setup) -> None:
    """peek (target there) and gone (not there) are alike to the user
    natively; so they are through the mount, in the listing and by name."""
    user = setup.user
    listed = user.listing(setup.through(B))
    assert listed is not None and "own.jsonl" in listed
    assert ("peek.jsonl" in listed) == ("gone.jsonl" in listed)
    assert ("peek.md" in listed) == ("gone.md" in listed)
    assert user.stats(setup.through(B, "peek.jsonl")) == \
        user.stats(setup.through(B, "gone.jsonl"))
    workspace = user.listing(setup.through(A))
    # A's sessions lie in its 0700 directory and, by the flat link, in the
    # store's root: directories of two modes, so the workspace shows 0555 and
    # lists per caller only what this user may see: none of A's sessions.
    assert workspace == ["branches", "fork", "forks", "index.tsv"]


# --- containment: links swapped, chained, and forked beside (SPEC §6) -------------------

MARKER = b"OUTSIDE-THE-STORE"
WORKSPACE = "/srv/linked"


def _outside_bytes(sid: str) -> bytes:
    return sg.render(sg.make_session(sid, messages=[sg.text_message(MARKER.decode())],
                                     workspace_root=WORKSPACE, updated_at_ms=T0 + 50))


def _everything(m: Mount) -> dict[str, bytes | int]:
    """Every file under sessions/ with its bytes (or the errno reading it),
    and the xattr values of each."""
    seen: dict[str, bytes | int] = {}
    for directory, _dirs, names in os.walk(m.path / "sessions"):
        for name in names:
            path = Path(directory) / name
            try:
                seen[str(path)] = path.read_bytes()
                seen[f"{path}@xattrs"] = b"".join(os.getxattr(path, x) for x in os.listxattr(path))
            except OSError as e:
                seen[str(path)] = e.errno or 0
    return seen


def _leaked(m: Mount, outside: Path) -> list[str]:
    return [name for name, data in _everything(m).items() if isinstance(data, bytes)
            and (MARKER in data or os.fsencode(outside) in data)]


def test_links_swapped_while_mounted_never_lead_out_of_the_store(tmp_path: Path) -> None:
    """A link inside re-pointed out of the store (renamed over: no moment
    without it), a link whose missing directory appears as a link out, a
    chain out by `..` and through a directory link: nothing from outside is
    ever read, listed, rendered or forked, and a fork of the link written
    before the swap is the target's, beside the link."""
    store = tmp_path / "store"
    directory = sg.fp_dir(store, WORKSPACE)
    target = sg.write_session(directory, sg.make_session(
        "target", messages=2, workspace_root=WORKSPACE, updated_at_ms=T0), mtime_ms=T0)
    alias = directory / "alias.jsonl"
    os.symlink("target.jsonl", alias)
    os.symlink("missing/x.jsonl", directory / "later.jsonl")  # leads to nothing, inside
    outside = tmp_path / "outside"
    outside.mkdir()
    sg.write_bytes(outside, "x.jsonl", _outside_bytes("x"), T0 + 50)
    sg.write_bytes(outside, "marker.jsonl", _outside_bytes("marker"), T0 + 50)
    before = sorted(os.listdir(outside))
    with mounted([store], tmp=tmp_path / "m") as m:
        shown = m.path / "sessions" / directory.name
        assert (shown / "alias.jsonl").read_bytes() == target.read_bytes()
        control = shown / "forks" / "alias" / "fork"
        fd = os.open(control, os.O_WRONLY | os.O_TRUNC)
        try:
            os.write(fd, b"beside\n")
        finally:
            os.close(fd)
        made = control.read_text()
        assert not made.startswith("error"), made
        fork = directory / made.split("\t")[0]
        assert fork.parent == directory and fork.is_file() and not fork.is_symlink()
        assert b'"parent_session_id":"target"' in fork.read_bytes()

        os.symlink(outside / "marker.jsonl", directory / "alias.tmp")
        os.rename(directory / "alias.tmp", alias)
        os.symlink(outside, directory / "missing")
        os.symlink(f"../../{directory.parent.name}/../outside/x.jsonl", directory / "up.jsonl")
        os.symlink("missing/marker.jsonl", directory / "through.jsonl")
        sg.write_session(directory, sg.make_session(
            "marker", messages=1, workspace_root=WORKSPACE, updated_at_ms=T0), mtime_ms=T0)
        wait_until(lambda: (shown / "marker.jsonl").exists(), 30, "the changes to be applied")

        names = set(os.listdir(shown))
        assert not {"alias.jsonl", "later.jsonl", "up.jsonl", "through.jsonl"} & names
        assert _leaked(m, outside) == []
        tsv = (shown / "index.tsv").read_bytes()
        listed = {row.split(b"\t")[0] for row in tsv.splitlines()[1:]}
        assert not {b"alias.jsonl", b"up.jsonl", b"through.jsonl"} & listed
        for control in (shown / "fork", shown / "forks" / "alias" / "fork"):
            try:
                control.write_bytes(b"escape\n")
            except OSError:
                pass
        assert sorted(os.listdir(outside)) == before
        assert _leaked(m, outside) == []


def test_the_user_cannot_fork_through_a_link_what_it_cannot_read(setup: Setup) -> None:
    """A fork copies its parent's bytes beside the entry forked, with the
    file's own mode: through the user's link to a session of its workspace
    that only a directory keeps from it (kept.jsonl, root's latest there),
    a copy would land in its own directory, readable. Forking is the
    mounting user's (the control files refuse the user: found nothing), and
    its `latest` is the latest session *it* knows (own.jsonl)."""
    user, store = setup.user, setup.store
    assert os.readlink(setup.through(B, "latest")) == "kept.jsonl"  # root's: claw's order
    assert user.readlink(setup.through(B, "latest")) == "own.jsonl"
    before = set(os.listdir(store / B))
    done = user.run("sh", "-c", f"echo copy > {setup.through(B, 'fork')}")
    assert done.returncode != 0 and b"Permission denied" in done.stderr, done
    made = sorted(set(os.listdir(store / B)) - before)
    try:
        for name in made:
            copied = (store / B / name).read_bytes()
            assert SECRET_MODEL.encode() not in copied, (name, done)
            assert b'"parent_session_id":"kept"' not in copied, (name, done)
    finally:
        for name in made:
            (store / B / name).unlink()


# --- bounded work: a link to a filesystem that does not answer (SPEC §6) -----------------


def test_a_link_into_a_stalled_filesystem_stalls_nothing(tmp_path: Path) -> None:
    """A link's target is resolved only while it stays inside the root: a
    link to a path on a filesystem that never answers (another mount whose
    daemon is stopped: every lookup there waits) is never followed there,
    neither at the scan nor when it appears while mounted, so the mount
    starts and keeps showing what changes."""
    stalled_store = tmp_path / "stalled-store"
    sg.write_session(sg.fp_dir(stalled_store, "/srv/stalled"),
                     sg.make_session("far", workspace_root="/srv/stalled"))
    store = tmp_path / "store"
    directory = sg.fp_dir(store, WORKSPACE)
    sg.write_session(directory, sg.make_session("here", workspace_root=WORKSPACE,
                                                updated_at_ms=T0), mtime_ms=T0)
    with mounted([stalled_store], tmp=tmp_path / "m2") as stalled:
        far = stalled.path / "sessions" / "never-answered" / "far.jsonl"
        os.symlink(far, directory / "before.jsonl")
        pid = stalled.daemon_pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        try:
            with mounted([store], tmp=tmp_path / "m1") as m:
                shown = m.path / "sessions" / directory.name
                assert "here.jsonl" in os.listdir(shown)
                os.symlink(far, directory / "during.jsonl")
                sg.write_session(directory, sg.make_session(
                    "after", workspace_root=WORKSPACE, updated_at_ms=T0 + 1), mtime_ms=T0 + 1)
                wait_until(lambda: (shown / "after.jsonl").exists(), 30,
                           "a session written after the link to show")
                assert not {"before.jsonl", "during.jsonl"} & set(os.listdir(shown))
        finally:
            os.kill(pid, signal.SIGCONT)


def test_a_recorded_root_on_a_stalled_filesystem_stalls_nothing(tmp_path: Path) -> None:
    """Found beside the links: a session whose recorded workspace root lies
    on a filesystem that never answers kept the mount from starting, as the
    link did, since claw's fingerprint canonicalizes that root and realpath
    waited there; it waits CANONICAL_WAIT once now (format/fingerprint.py)."""
    stalled_store = tmp_path / "stalled-store"
    sg.write_session(sg.fp_dir(stalled_store, "/srv/stalled"),
                     sg.make_session("far", workspace_root="/srv/stalled"))
    store = tmp_path / "store"
    with mounted([stalled_store], tmp=tmp_path / "m2") as stalled:
        recorded = str(stalled.path / "sessions" / "never-answered")
        sg.write_session(sg.fp_dir(store, recorded),
                         sg.make_session("here", workspace_root=recorded))
        pid = stalled.daemon_pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        try:
            with mounted([store], tmp=tmp_path / "m1") as m:
                assert os.listdir(m.path / "sessions")
        finally:
            os.kill(pid, signal.SIGCONT)
