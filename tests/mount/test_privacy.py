"""What each user sees through an --allow-other mount (mount/privacy.py and
the view's `who`), without a mount: a real store on disk, its modes set as
root, and another user as a value (`Caller`), so nobody needs to exist.
Through a real mount, with a real second user: tests/e2e/test_trust_privacy.py.

The store (under a 0755 base, so the rule sees a reachable path):

```
near/  a --store root, 0755       far/  a --store root, 0755
  P/ 0755  open.jsonl 0644           P/ 0700  hidden.jsonl 0644 (newest)
           secret.jsonl 0600 (fork of open, newer than open)
  Q/ 0755  q.jsonl 0600  (workspace "proj", label from a file it cannot read)
  R/ 0755  r.jsonl 0644  (workspace "proj" too: a collision only root sees)
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
from clawfs.mount import control, render
from clawfs.mount.privacy import Viewer, Viewers
from clawfs.mount.view import ALIASES, MD_ALIASES, Entry, EntryKind, View
from clawfs.store.access import Access, Caller, Mode
from clawfs.store.index import StoreIndex
from clawfs.store.roots import RootKind, make_root

import storegen as sg

T0 = 1_780_000_000_000
P_ROOT, Q_ROOT, R_ROOT = "/srv/p-project", "/srv/q/proj", "/srv/r/proj"
P, Q, R = fingerprint(P_ROOT), fingerprint(Q_ROOT), fingerprint(R_ROOT)
OTHER = Caller.of(4242, 4242)


@dataclass
class Store:
    view: View
    index: StoreIndex
    rules: Access
    near: Path
    far: Path

    def viewer(self, caller: Caller = OTHER) -> Viewer:
        viewer = self.view.viewers.of(caller.uid, caller.gid, 0)
        assert viewer is not None
        return viewer

    def entry(self, *key: str, who: Viewer | None = None) -> Entry | None:
        return self.view.resolve(key, who)

    def names(self, *key: str, who: Viewer | None = None) -> list[str]:
        parent = self.entry(*key)
        assert parent is not None
        return [e.name for e in self.view.entries(parent, who)]


def _session(directory: Path, sid: str, root: str, mode: int, mtime: int,
             parent: str | None = None) -> None:
    path = sg.write_session(directory, sg.make_session(sid, messages=1, workspace_root=root,
                                                       updated_at_ms=mtime, parent=parent),
                            mtime_ms=mtime)
    path.chmod(mode)


@pytest.fixture
def store() -> Iterator[Store]:
    base = Path(tempfile.mkdtemp(prefix="clawfs-privacy-", dir="/tmp"))
    try:
        base.chmod(0o755)
        near, far = base / "near", base / "far"
        _session(sg.fp_dir(near, P_ROOT), "open", P_ROOT, 0o644, T0)
        _session(sg.fp_dir(near, P_ROOT), "secret", P_ROOT, 0o600, T0 + 1, parent="open")
        _session(sg.fp_dir(far, P_ROOT), "hidden", P_ROOT, 0o644, T0 + 2)
        (far / P).chmod(0o700)
        _session(sg.fp_dir(near, Q_ROOT), "q", Q_ROOT, 0o600, T0 - 100)
        _session(sg.fp_dir(near, R_ROOT), "r", R_ROOT, 0o644, T0 - 100)
        for root in (near, far):
            root.chmod(0o755)
        index = StoreIndex([make_root(str(near), RootKind.STORE, 0),
                            make_root(str(far), RootKind.STORE, 1)])
        index.scan()
        rules = Access(Caller.of(0, 0))
        yield Store(View(index, rules), index, rules, near, far)
    finally:
        shutil.rmtree(base)


def test_the_mounting_user_and_root_are_never_filtered(store: Store) -> None:
    assert store.view.viewers.of(0, 0, 0) is None
    assert Viewers(store.index, None).of(4242, 4242, 0) is None  # no --allow-other
    mounting = Access(Caller.of(1000, 1000))
    assert Viewers(store.index, mounting).of(1000, 1000, 0) is None
    assert store.names("sessions", P) == [
        *ALIASES, *MD_ALIASES, "fork", "index.tsv", "forks", "branches",
        "hidden.jsonl", "hidden.md", "secret.jsonl", "secret.md", "open.jsonl", "open.md",
    ]


def test_a_merged_directory_lists_only_the_names_the_caller_could_list(store: Store) -> None:
    who = store.viewer()
    assert store.names("sessions", P, who=who) == [
        *ALIASES, *MD_ALIASES, "fork", "index.tsv", "forks", "branches",
        "secret.jsonl", "secret.md", "open.jsonl", "open.md",
    ]
    for name in ("hidden.jsonl", "hidden.md"):
        assert store.entry("sessions", P, name, who=who) is None
        hidden = store.entry("sessions", P, name)
        assert hidden is not None and not store.view.shared(hidden)  # looked up per caller
    assert store.view.shown(store.entry("sessions", P)) is None  # type: ignore[arg-type]


def test_aliases_among_the_sessions_the_caller_knows(store: Store) -> None:
    who = store.viewer()
    mine = store.entry("sessions", P, "latest")
    theirs = store.entry("sessions", P, "latest", who=who)
    assert mine is not None and mine.target == "hidden.jsonl"
    assert theirs is not None and theirs.target == "open.jsonl"  # secret: unreadable
    assert not store.view.shared(mine)
    md = store.entry("sessions", P, "latest.md", who=who)
    assert md is not None and md.target == "open.md" and not store.view.shared(md)
    root = store.entry("latest", who=who)
    assert root is not None and root.target == f"sessions/{P}/open.jsonl"
    root_md = store.entry("latest.md", who=who)
    assert root_md is not None and root_md.target == f"sessions/{P}/open.md"
    os.chmod(store.near / P / "open.jsonl", 0o600)  # now it knows none of them
    fresh = View(store.index, Access(Caller.of(0, 0)))  # nothing kept from before the chmod
    again = fresh.viewers.of(OTHER.uid, OTHER.gid, 0)
    assert fresh.resolve(("sessions", P, "latest"), again) is None
    assert fresh.resolve(("latest",), again) is not None  # r.jsonl, elsewhere


def test_index_tsv_and_xattrs_only_for_sessions_the_caller_knows(store: Store) -> None:
    who = store.viewer()
    tsv = store.entry("sessions", P, "index.tsv")
    assert tsv is not None
    rows = [r.split(b"\t")[0] for r in render.generate(store.index, tsv, who).splitlines()[1:]]
    assert rows == [b"open.jsonl"]
    assert len(render.generate(store.index, tsv).splitlines()) == 4  # header + 3 for root
    secret = store.entry("sessions", P, "secret.jsonl")
    opened = store.entry("sessions", P, "open.jsonl")
    assert secret is not None and opened is not None
    assert render.xattrs(store.index, secret, who) == {}
    assert render.xattr(store.index, secret, render.PATH_XATTR, who) is None
    assert render.cached_xattrs(store.index, secret, who) == {}
    assert render.xattrs(store.index, opened, who)["user.claw.session_id"] == b"open"
    assert render.xattrs(store.index, secret)["user.claw.session_id"] == b"secret"


def test_labels_from_what_the_caller_knows_collisions_among_its_own(store: Store) -> None:
    who = store.viewer()
    assert set(store.index.labels().values()) == {"p-project", f"proj-{Q[:8]}", f"proj-{R[:8]}"}
    assert who.labels() == {P: "p-project", R: "proj"}  # q.jsonl says "proj": not its to read
    link = store.entry("workspaces", "proj", who=who)
    assert link is not None and link.target == f"../sessions/{R}"
    assert store.entry("workspaces", f"proj-{Q[:8]}", who=who) is None
    assert store.names("workspaces", who=who) == ["p-project", "proj"]


def test_forks_show_nodes_of_sessions_the_caller_knows(store: Store) -> None:
    who = store.viewer()
    assert store.names("sessions", P, "forks", "open") == [
        "fork", "session.jsonl", "session.md", "secret",
    ]
    assert store.names("sessions", P, "forks", "open", who=who) == [
        "fork", "session.jsonl", "session.md",
    ]
    assert store.entry("sessions", P, "forks", "open", "secret", who=who) is None
    assert store.entry("sessions", P, "forks", "open", "secret", "fork", who=who) is None
    assert store.entry("sessions", P, "forks", "open", "fork", who=who) is not None
    assert store.names("sessions", P, "forks", who=who) == ["open"]  # hidden: not listable
    node = store.entry("sessions", P, "forks", "open", "secret")
    assert node is not None and not store.view.shared(node)
    shown = store.view.shown(node)
    assert shown is not None and shown.bits == 0o500  # secret.jsonl 0600 -> r-x for root


def test_branches_of_sessions_the_caller_knows(store: Store) -> None:
    """A branch name is in the file that carries it: secret.jsonl's is not the caller's."""
    directory = store.near / P
    sg.write_session(directory, sg.make_session("topic", messages=1, workspace_root=P_ROOT,
                                                parent="open", branch="public-topic",
                                                updated_at_ms=T0 + 3), mtime_ms=T0 + 3)
    sg.write_session(directory, sg.make_session("private", messages=1, workspace_root=P_ROOT,
                                                parent="open", branch="private-topic",
                                                updated_at_ms=T0 + 4), mtime_ms=T0 + 4)
    (directory / "topic.jsonl").chmod(0o644)
    (directory / "private.jsonl").chmod(0o600)
    store.index.scan()
    who = store.viewer()
    assert store.names("sessions", P, "branches") == ["private-topic", "public-topic"]
    assert store.names("sessions", P, "branches", who=who) == ["public-topic"]
    assert store.entry("sessions", P, "branches", "private-topic", who=who) is None
    link = store.entry("sessions", P, "branches", "public-topic", who=who)
    assert link is not None and link.target == "../topic.jsonl"
    assert not store.view.shared(link)
    assert store.names("sessions", P, "branches") == ["private-topic", "public-topic"]  # kept


def test_what_entries_report(store: Store) -> None:
    uid, gid = os.getuid(), os.getgid()
    q_dir = store.entry("sessions", Q)
    assert q_dir is not None and store.view.shown(q_dir) == Mode(uid, gid, 0o555)
    q = store.entry("sessions", Q, "q.jsonl")
    assert q is not None and store.view.shown(q) == Mode(uid, gid, 0o400)
    q_md = store.entry("sessions", Q, "q.md")
    assert q_md is not None and store.view.shown(q_md) == Mode(uid, gid, 0o400)
    assert store.view.shared(q) and store.view.shared(q_dir)  # one directory; a public root
    os.chmod(store.near / Q, 0o700)
    rules = Access(Caller.of(0, 0))
    assert View(store.index, rules).shown(q_dir) == Mode(uid, gid, 0o500)
    assert View(store.index).shown(q) is None  # no other users: the mount's own modes


def test_a_workspace_the_caller_cannot_see(store: Store) -> None:
    os.chmod(store.far, 0o700)  # now only root may list the far root
    who = View(store.index, Access(Caller.of(0, 0))).viewers.of(OTHER.uid, OTHER.gid, 0)
    assert who is not None
    assert who.sees_workspace(P)  # near still holds it
    shutil.rmtree(store.near / P)
    store.index.scan()
    view = View(store.index, Access(Caller.of(0, 0)))
    who = view.viewers.of(OTHER.uid, OTHER.gid, 0)
    assert who is not None and not who.sees_workspace(P)
    assert view.resolve(("sessions", P), who) is None
    assert P not in [e.name for e in view.entries(view.root(), who)]


def test_a_fork_result_is_shown_to_whoever_may_know_the_fork(store: Store) -> None:
    who = store.viewer()
    fork_file = Entry(("sessions", P, "fork"), EntryKind.CONTROL, "fork")
    controls = control.ControlFiles(store.view)
    writer = control.Handle(fork_file)
    controls.remember(writer, b"made.jsonl\t\t/x/made.jsonl\n", str(store.near / P / "open.jsonl"))
    assert controls.read(control.Handle(fork_file, who), 0, 100).startswith(b"made.jsonl")
    controls.remember(writer, b"secret\n", str(store.near / P / "secret.jsonl"))
    assert controls.read(control.Handle(fork_file, who), 0, 100) == b""
    assert controls.read(control.Handle(fork_file), 0, 100) == b"secret\n"
    controls.remember(writer, b"error: no space\n", None)
    assert controls.read(control.Handle(fork_file, who), 0, 100) == b""
    own = control.Handle(fork_file, who)
    controls.remember(own, b"error: mine\n", None)
    assert controls.read(control.Handle(fork_file, who), 0, 100) == b"error: mine\n"


def test_supplementary_groups_come_from_proc_and_are_kept_a_moment(store: Store) -> None:
    asked: list[int] = []
    now = [0.0]

    def groups_of(pid: int) -> frozenset[int]:
        asked.append(pid)
        return frozenset({777})

    viewers = Viewers(store.index, store.rules, groups_of=groups_of, clock=lambda: now[0])
    first = viewers.of(4242, 4242, 99)
    assert first is not None and first.caller == Caller(4242, 4242, frozenset({4242, 777}))
    assert viewers.of(4242, 4242, 99) is first and asked == [99]
    now[0] = 5.0
    assert viewers.of(4242, 4242, 99) is first and asked == [99, 99]
