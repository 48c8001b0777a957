"""Issue 13, other users' privacy (SPEC §3): through an `--allow-other` mount a
second user reads, lists and learns nothing it could not natively, and can
still use what it may.

Root mounts (the daemon reads everything, as a user's daemon reads all of
that user's files) and a second real user (tests/otheruser.py), created with `useradd` and
removed afterwards, asks through the mount with `setpriv`. Root ignores file
modes, so everything the second user is denied is first shown to be denied
natively (the precondition), then asked through the mount.

The store (everything under a 0755 base directory, so the mountpoint is
reachable):

```
store/                          a bare --store root, 0755
  OPEN/    0755   open.jsonl 0644    the user may read this one
                  secret.jsonl 0600  a fork of open (branch, model): not this
  CLOSED/  0700   inner.jsonl 0644   readable mode, in a directory it cannot enter
  HIDDEN/  0755   only.jsonl 0600    the only source of its workspace's label
  FORKED/  0755   forkme.jsonl 0600  root forks it; its result is root's
  MERGED/  0755   near.jsonl 0644    also backed by home/.../MERGED (far.jsonl, newer)
  TEAM/    0755   team.jsonl 0640    group TEAM_GID, which the user has only as a
                                     supplementary group where a test says so
home/      0700   .claw/sessions/HOME/home.jsonl 0644   a store under a closed home
                  .claw/sessions/MERGED/far.jsonl 0644  the other half of MERGED
```
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from clawfs.format.fingerprint import fingerprint

import storegen as sg
from mounting import Mount, mounted
from otheruser import TEAM_GID, OtherUser, other_user

T0 = 1_780_000_000_000
OPEN_ROOT = "/srv/open-project"
CLOSED_ROOT = "/srv/closed-project"
HIDDEN_ROOT = "/srv/hidden-project-name"
FORKED_ROOT = "/srv/forked-project"
HOME_ROOT = "/srv/home-project"
MERGED_ROOT = "/srv/merged-project"
TEAM_ROOT = "/srv/team-project"
OPEN, CLOSED, HIDDEN, FORKED, HOME, MERGED, TEAM = (
    fingerprint(r)
    for r in (OPEN_ROOT, CLOSED_ROOT, HIDDEN_ROOT, FORKED_ROOT, HOME_ROOT, MERGED_ROOT, TEAM_ROOT)
)
FUTURE = 1_900_000_000_000
"""inner.jsonl's time: newer than the forks the tests make (they are dated now)."""
SECRET_MODEL = "model-only-root-may-know"
SECRET_BRANCH = "branch-only-root-may-know"


# --- the store and the mount ------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    mount: Mount
    user: OtherUser
    store: Path
    home_store: Path

    def through(self, *parts: str) -> Path:
        return self.mount.path.joinpath("sessions", *parts)


def _session(directory: Path, sid: str, root: str, mode: int, mtime: int, *,
             parent: str | None = None, branch: str | None = None,
             model: str | None = None) -> Path:
    session = sg.make_session(sid, messages=2, workspace_root=root, updated_at_ms=mtime,
                              parent=parent, branch=branch, model=model)
    path = sg.write_session(directory, session, mtime_ms=mtime)
    path.chmod(mode)
    return path


def build(base: Path) -> tuple[Path, Path]:
    store = base / "store"
    opened = sg.fp_dir(store, OPEN_ROOT)
    _session(opened, "open", OPEN_ROOT, 0o644, T0)
    _session(opened, "secret", OPEN_ROOT, 0o600, T0 + 10, parent="open", branch=SECRET_BRANCH,
             model=SECRET_MODEL)
    closed = sg.fp_dir(store, CLOSED_ROOT)
    _session(closed, "inner", CLOSED_ROOT, 0o644, FUTURE)  # the newest of all
    closed.chmod(0o700)
    _session(sg.fp_dir(store, HIDDEN_ROOT), "only", HIDDEN_ROOT, 0o600, T0 + 1)
    _session(sg.fp_dir(store, FORKED_ROOT), "forkme", FORKED_ROOT, 0o600, T0 + 3)
    _session(sg.fp_dir(store, MERGED_ROOT), "near", MERGED_ROOT, 0o644, T0 + 4)
    team = _session(sg.fp_dir(store, TEAM_ROOT), "team", TEAM_ROOT, 0o640, T0 + 5)
    os.chown(team, 0, TEAM_GID)
    home = base / "home"
    home_store = home / ".claw" / "sessions"
    _session(sg.fp_dir(home_store, HOME_ROOT), "home", HOME_ROOT, 0o644, T0 + 2)
    _session(sg.fp_dir(home_store, MERGED_ROOT), "far", MERGED_ROOT, 0o644, T0 + 6)
    home.chmod(0o700)
    return store, home_store


@pytest.fixture(scope="module")
def setup() -> Iterator[Setup]:
    base = Path(tempfile.mkdtemp(prefix="clawfs-trust-privacy-"))
    try:
        base.chmod(0o755)  # the second user must reach the mountpoint
        store, home_store = build(base)
        with other_user() as user, mounted([store, home_store], ["--allow-other"],
                                           tmp=base / "m") as m:
            yield Setup(m, user, store, home_store)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_the_second_user_is_denied_natively(setup: Setup) -> None:
    """The precondition of every test below: what the user may not do natively."""
    user, store = setup.user, setup.store
    assert user.read(store / OPEN / "open.jsonl") is not None
    assert user.listing(store / OPEN) == ["open.jsonl", "secret.jsonl"]
    assert user.read(store / OPEN / "secret.jsonl") is None
    assert user.read(store / CLOSED / "inner.jsonl") is None
    assert user.listing(store / CLOSED) is None
    assert user.read(store / HIDDEN / "only.jsonl") is None
    assert user.read(setup.home_store / HOME / "home.jsonl") is None
    assert user.listing(setup.home_store) is None
    assert user.read(setup.home_store / MERGED / "far.jsonl") is None
    assert user.read(store / TEAM / "team.jsonl") is None
    assert user.run_in_group("cat", store / TEAM / "team.jsonl").returncode == 0


def test_the_second_user_can_still_use_what_it_may(setup: Setup) -> None:
    """Passes on main: a readable session in an open directory, its xattrs,
    its row of index.tsv, its workspace's label."""
    user = setup.user
    native = (setup.store / OPEN / "open.jsonl").read_bytes()
    assert user.read(setup.through(OPEN, "open.jsonl")) == native
    listed = user.listing(setup.through(OPEN))
    assert listed is not None and "open.jsonl" in listed
    dump = user.xattr_dump(setup.through(OPEN, "open.jsonl"))
    assert dump.returncode == 0, dump.stderr
    assert b'user.claw.session_id="open"' in dump.stdout
    tsv = user.read(setup.through(OPEN, "index.tsv"))
    assert tsv is not None
    assert [row.split(b"\t")[0] for row in tsv.splitlines()[1:]].count(b"open.jsonl") == 1
    assert user.readlink(setup.mount.path / "workspaces" / "open-project") == f"../sessions/{OPEN}"


def test_a_closed_fingerprint_directory_stays_closed(setup: Setup) -> None:
    user = setup.user
    assert user.read(setup.through(CLOSED, "inner.jsonl")) is None
    assert user.read(setup.through(CLOSED, "inner.md")) is None
    assert user.listing(setup.through(CLOSED)) is None


def test_a_store_under_a_closed_home_stays_closed(setup: Setup) -> None:
    user = setup.user
    assert user.read(setup.through(HOME, "home.jsonl")) is None
    assert user.listing(setup.through(HOME)) is None


def test_index_tsv_shows_only_readable_sessions(setup: Setup) -> None:
    tsv = setup.user.read(setup.through(OPEN, "index.tsv"))
    assert tsv is not None
    assert [row.split(b"\t")[0] for row in tsv.splitlines()[1:]] == [b"open.jsonl"]
    assert SECRET_MODEL.encode() not in tsv and SECRET_BRANCH.encode() not in tsv
    assert os.fsencode(setup.store / OPEN / "secret.jsonl") not in tsv


def test_xattrs_of_an_unreadable_session_tell_nothing(setup: Setup) -> None:
    user = setup.user
    secret = setup.through(OPEN, "secret.jsonl")
    dump = user.xattr_dump(secret)
    assert SECRET_MODEL.encode() not in dump.stdout and SECRET_BRANCH.encode() not in dump.stdout
    assert user.xattr_names(secret) == []


def test_a_fork_result_is_not_shown_to_another_user(setup: Setup) -> None:
    """Root forks a 0600 session (the fork is 0600 too, as its parent): the
    other user may not read either, so the control file's last result (the
    new file's name and backing path) is none of its business.

    Through the workspace's own control file (it forks `latest`, forkme), which
    the user can reach: the node `forks/forkme/` it cannot (a node tells whose
    fork its session is, which only the unreadable file says)."""
    assert setup.user.listing(setup.through(FORKED, "forks")) == []
    assert setup.user.read(setup.through(FORKED, "forks", "forkme", "fork")) is None
    control = setup.through(FORKED, "fork")
    fd = os.open(control, os.O_RDWR)
    try:
        os.write(fd, b"root-fork\n")
        mine = os.pread(fd, 4096, 0)
    finally:
        os.close(fd)
    made = mine.split(b"\t")[0].decode()
    assert made.endswith(".jsonl"), mine
    assert (setup.store / FORKED / made).stat().st_mode & 0o077 == 0
    assert setup.user.read(setup.store / FORKED / made) is None  # precondition
    seen = setup.user.read(control)
    assert seen is not None
    assert made.encode() not in seen and b"root-fork" not in seen


def test_labels_come_only_from_readable_sessions(setup: Setup) -> None:
    labels = setup.user.listing(setup.mount.path / "workspaces")
    assert labels is not None and "open-project" in labels
    assert "hidden-project-name" not in labels  # only.jsonl, 0600, says so
    assert "closed-project" not in labels  # inner.jsonl, behind a 0700 directory
    assert "home-project" not in labels  # home.jsonl, under a 0700 home


def test_the_root_alias_names_no_session_the_user_cannot_list(setup: Setup) -> None:
    """`latest` is inner.jsonl (the newest of all), which lies in a 0700
    directory: its name is not the user's to learn. (Beyond the issue's own
    list, but the same rule; SPEC §3 "nobody learns through the mount".)"""
    target = setup.user.readlink(setup.mount.path / "latest")
    assert target is not None and CLOSED not in target  # open.jsonl is the user's to see


def test_a_workspace_alias_is_decided_by_readable_sessions_only(setup: Setup) -> None:
    """In OPEN, secret.jsonl (0600) is newer than open.jsonl, so `latest`
    names it: that tells the user it has messages and is newer, which only
    its contents say. (Beyond the issue's own list, but the same rule.)"""
    target = setup.user.readlink(setup.through(OPEN, "latest"))
    assert target == "open.jsonl"


def test_what_root_learnt_first_does_not_let_the_user_in(setup: Setup) -> None:
    """The kernel keeps entries and attributes root looked up; the user's
    walk through them is still checked against modes that carry the store's."""
    inner = setup.through(CLOSED, "inner.jsonl")
    assert inner.stat().st_size > 0 and inner.read_bytes()  # root, first
    assert not setup.user.stats(inner)
    assert setup.user.read(inner) is None


def test_a_merged_directory_shows_only_what_the_user_could_list(setup: Setup) -> None:
    """sessions/MERGED is backed by an open directory and one under a closed
    home: the user lists and reaches only the open one's names, also after
    root has looked the other's up, and its `latest` is among them."""
    user, merged = setup.user, setup.through(MERGED)
    assert sorted(p.name for p in merged.glob("*.jsonl")) == ["far.jsonl", "near.jsonl"]
    assert (merged / "far.jsonl").stat().st_size > 0  # root, first
    assert os.readlink(merged / "latest") == "far.jsonl"
    listed = user.listing(merged)
    assert listed is not None and "near.jsonl" in listed and "far.jsonl" not in listed
    assert not user.stats(merged / "far.jsonl")
    assert user.read(merged / "far.jsonl") is None
    assert user.readlink(merged / "latest") == "near.jsonl"
    tsv = user.read(merged / "index.tsv")
    assert tsv is not None and [r.split(b"\t")[0] for r in tsv.splitlines()[1:]] == [b"near.jsonl"]


def test_supplementary_groups_count(setup: Setup) -> None:
    """team.jsonl is 0640 to group TEAM_GID: with that group as a
    supplementary one, the user reads it, its row and its xattrs; without,
    nothing (the native answers were checked first)."""
    user, team = setup.user, setup.through(TEAM, "team.jsonl")
    native = (setup.store / TEAM / "team.jsonl").read_bytes()
    member = user.run_in_group("cat", team)
    assert (member.returncode, member.stdout) == (0, native), member.stderr
    rows = user.run_in_group("cat", setup.through(TEAM, "index.tsv")).stdout
    assert [r.split(b"\t")[0] for r in rows.splitlines()[1:]] == [b"team.jsonl"]
    dump = user.run_in_group("getfattr", "--absolute-names", "-d", "-m", "-", team)
    assert b'user.claw.session_id="team"' in dump.stdout
    assert user.read(team) is None
    tsv = user.read(setup.through(TEAM, "index.tsv"))
    assert tsv is not None and tsv.splitlines()[1:] == []
    assert user.xattr_names(team) == []


def test_forks_show_only_the_nodes_of_sessions_the_user_knows(setup: Setup) -> None:
    """secret.jsonl (0600) is a fork of open.jsonl: its node under forks/open/
    says so, which only secret.jsonl itself does."""
    user, forks = setup.user, setup.through(OPEN, "forks")
    assert (forks / "open" / "secret").is_dir()  # root, first
    assert user.listing(forks) == ["open"]
    assert user.listing(forks / "open") == ["fork", "session.jsonl", "session.md"]
    assert not user.stats(forks / "open" / "secret")


def test_markdown_views_and_branches_follow_their_sessions(setup: Setup) -> None:
    """`.md` files are as readable as their transcripts; `branches/` names
    come from the files that carry them (secret.jsonl's branch is not the
    user's to learn); the `.md` aliases are the user's own."""
    user, opened = setup.user, setup.through(OPEN)
    assert user.read(opened / "secret.md") is None
    assert (opened / "secret.md").read_bytes()  # root
    md = user.read(opened / "open.md")
    assert md is not None and md == (opened / "open.md").read_bytes()
    assert user.readlink(opened / "latest.md") == "open.md"
    assert os.listdir(opened / "branches") == [SECRET_BRANCH]  # root
    assert user.listing(opened / "branches") == []
    assert not user.stats(opened / "branches" / SECRET_BRANCH)

