"""Discovery through real mounts and commands, on a fake home (SPEC §1, issue 7).

The fake home holds projects at depths 1, 2 and 4, the global store,
decoys in trees the walk skips (each newer than every real session, so a
decoy found would also steal `latest`), symlink loops, a link out of the
home and a tree deeper than the walk goes. Mounts run with NO store
options, as `clawfs mount ~/claw` does, with HOME, XDG_STATE_HOME and
CLAW_CONFIG_HOME pointing into the test's directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from clawfs.format import fingerprint

import storegen as sg
from mounting import (
    START_TIMEOUT,
    Mount,
    Sandbox,
    clawfs_command,
    mount_answers,
    unmounting,
    wait_until,
)

PROJECTS = {"p1": 1_000, "a/p2": 2_000, "a/b/c/p4": 5_000}
"""Project (relative to home) -> the time of its one session; p4 is the newest."""

GLOBAL_WS = "gws"
"""The workspace whose sessions sit in the global store `~/.claw/sessions`."""

DECOYS = [
    "node_modules/nm",
    "p1/.git/hidden",
    ".cache/cached",
    "venv/invenv",
    "build/built",
    "myenv/invirtualenv",  # myenv holds pyvenv.cfg
    "a/b/c/d/p5",  # one level too deep
    "deep/" + "/".join(["l"] * 40) + "/bottom",
]

DECOY_TIME = 9_000


def real(path: Path) -> str:
    return os.path.realpath(path)


def fp(path: Path) -> str:
    return fingerprint.fingerprint(real(path))


def add_project(project: Path, stamp: int, *, recorded: Path | None = None) -> Path:
    """`project/.claw/sessions/<fp>/s-<name>.jsonl`, one session of 2 messages."""
    ws = real(recorded or project)
    store = project / ".claw" / "sessions"
    session = sg.make_session(f"s-{project.name}", messages=2, workspace_root=ws,
                              created_at_ms=stamp, updated_at_ms=stamp)
    sg.write_session(sg.fp_dir(store, ws), session, mtime_ms=stamp)
    return store


def build_home(home: Path, outside: Path) -> None:
    for rel, stamp in PROJECTS.items():
        add_project(home / rel, stamp)
    gws = home / GLOBAL_WS
    gws.mkdir(parents=True)
    session = sg.make_session("s-global", messages=2, workspace_root=real(gws),
                              created_at_ms=3_000, updated_at_ms=3_000)
    sg.write_session(sg.fp_dir(home / ".claw" / "sessions", real(gws)), session,
                     mtime_ms=3_000)
    for rel in DECOYS:
        add_project(home / rel, DECOY_TIME)
    (home / "myenv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    add_project(outside / "linked", DECOY_TIME)
    (home / "loop").symlink_to(".")
    (home / "a" / "b" / "up").symlink_to("../..")
    (home / "linked").symlink_to(outside / "linked")


def expected_fps(home: Path, projects: list[str] | None = None) -> set[str]:
    rels = list(PROJECTS) if projects is None else projects
    return {fp(home / rel) for rel in rels} | {fp(home / GLOBAL_WS)}


def decoy_fps(home: Path, outside: Path) -> set[str]:
    return {fp(home / rel) for rel in DECOYS} | {fp(outside / "linked")}


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    box = Sandbox(tmp_path / "sandbox")
    box.env()  # creates home, state and cwd
    build_home(box.home, tmp_path / "outside")
    return box


def state_file(box: Sandbox) -> Path:
    return box.state / "clawfs" / "discovered.json"


def remembered(box: Sandbox) -> list[str]:
    data = json.loads(state_file(box).read_text())
    return sorted(data["starts"].get(real(box.home), []))


def stores(home: Path, rels: list[str]) -> list[str]:
    return sorted(real(home / rel / ".claw" / "sessions") for rel in rels)


@contextlib.contextmanager
def mounted_home(
    box: Sandbox, mountpoint: Path, log: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[Mount]:
    """`clawfs mount MOUNTPOINT ARGS` as a daemon in the sandbox, discovery on."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    mount = Mount(mountpoint, box, log)
    with unmounting(mount):
        done = subprocess.run(
            clawfs_command("mount", mountpoint, "--log-file", log, *args),
            env={**box.env(), **(env or {})}, cwd=box.cwd, stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=START_TIMEOUT, start_new_session=True,
            check=False,
        )
        assert done.returncode == 0, f"{done.stderr}\n{mount.log()}"
        with mount_answers(mount):
            yield mount


def listing(path: Path) -> set[str]:
    return set(os.listdir(path))


def test_first_mount_finds_exactly_the_projects(sandbox: Sandbox, tmp_path: Path) -> None:
    home = sandbox.home
    mnt = home / "claw"  # inside the walked home: the walk must leave it alone
    with mounted_home(sandbox, mnt, tmp_path / "1.log", "--debug") as m:
        # Right after `mount` returned: nothing was remembered, so it waited.
        assert os.readlink(mnt / "latest") == f"sessions/{fp(home / 'a/b/c/p4')}/s-p4.jsonl"
        assert listing(mnt / "sessions") == expected_fps(home)
        assert listing(mnt / "workspaces") == {"p1", "p2", "p4", GLOBAL_WS}
        assert not listing(mnt / "sessions") & decoy_fps(home, tmp_path / "outside")
        text = m.log()
    before_ready = text[: text.index("ready: serving")]
    assert "discovery: done" in before_ready
    # No FUSE request reached the daemon before it was ready: the walk, which
    # ran first, never stat()ed or listed the mount.
    assert "clawfs.mount.fuse_ops" not in before_ready
    assert remembered(sandbox) == stores(home, list(PROJECTS))


def test_remembered_roots_show_at_once_and_gone_ones_are_forgotten(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    home = sandbox.home
    with mounted_home(sandbox, tmp_path / "mnt1", tmp_path / "1.log"):
        pass
    assert remembered(sandbox) == stores(home, list(PROJECTS))
    shutil.rmtree(home / "a" / "p2" / ".claw")
    # A store the walk cannot find (outside the home), but remembered: it shows
    # on the next mount before any walk, and the walk then forgets it.
    elsewhere = add_project(tmp_path / "elsewhere" / "far", 4_000)
    data = json.loads(state_file(sandbox).read_text())
    data["starts"][real(home)].append(real(elsewhere))
    state_file(sandbox).write_text(json.dumps(data))

    mnt = tmp_path / "mnt2"
    with mounted_home(sandbox, mnt, tmp_path / "2.log") as m:
        want = expected_fps(home, ["p1", "a/b/c/p4"]) | {fp(tmp_path / "elsewhere" / "far")}
        assert listing(mnt / "sessions") == want
        wait_until(lambda: real(elsewhere) not in remembered(sandbox), 15, "a finished walk")
        assert remembered(sandbox) == stores(home, ["p1", "a/b/c/p4"])
        assert f"discovery: forgetting {real(elsewhere)}" in m.log()
        assert "forgetting" in m.log()


def test_a_project_created_after_the_mount_appears(sandbox: Sandbox, tmp_path: Path) -> None:
    home = sandbox.home
    mnt = tmp_path / "mnt"
    target = home / "later" / "newproj"
    with mounted_home(sandbox, mnt, tmp_path / "1.log",
                      env={"CLAWFS_DISCOVER_INTERVAL": "0.2"}):
        assert fp(home / "later") not in listing(mnt / "sessions")
        # Built aside and moved in whole, so the walk never sees it half made.
        staging = tmp_path / "staging" / "newproj"
        target.parent.mkdir()
        add_project(staging, 7_000, recorded=target)
        staging.rename(target)
        new_fp = fp(target)
        wait_until(lambda: new_fp in listing(mnt / "sessions"), 15, "the re-walk")
        assert "newproj" in listing(mnt / "workspaces")
        assert os.readlink(mnt / "latest") == f"sessions/{new_fp}/s-newproj.jsonl"
        wait_until(lambda: real(target / ".claw/sessions") in remembered(sandbox), 15,
                   "the state file")


def test_explicit_roots_win_and_merge_with_discovered(sandbox: Sandbox, tmp_path: Path) -> None:
    home = sandbox.home
    # An explicit store with a file of the same name in p1's workspace.
    explicit = tmp_path / "explicit"
    clash = sg.make_session("s-p1", messages=5, workspace_root=real(home / "p1"),
                            created_at_ms=1_500, updated_at_ms=1_500)
    sg.write_session(sg.fp_dir(explicit, real(home / "p1")), clash, mtime_ms=1_500)
    mnt = tmp_path / "mnt"
    args = ["--store", str(explicit), "--workspace", str(home / "a" / "p2")]
    with mounted_home(sandbox, mnt, tmp_path / "1.log", *args):
        assert listing(mnt / "sessions") == expected_fps(home)
        p1 = mnt / "sessions" / fp(home / "p1")
        suffix = hashlib.sha256(os.fsencode(real(home / "p1/.claw/sessions"))).hexdigest()[:8]
        transcripts = {n for n in listing(p1) if n.endswith(".jsonl")}
        assert transcripts == {"s-p1.jsonl", f"s-p1~{suffix}.jsonl"}
        assert (p1 / "s-p1.jsonl").read_bytes() == sg.render(clash)
        # Given explicitly and discovered: one root, no suffixed twin.
        p2 = mnt / "sessions" / fp(home / "a/p2")
        assert {n for n in listing(p2) if n.endswith(".jsonl")} == {"s-p2.jsonl"}


def test_no_discover_mounts_the_default_roots_only(sandbox: Sandbox, tmp_path: Path) -> None:
    mnt = tmp_path / "mnt"
    with mounted_home(sandbox, mnt, tmp_path / "1.log", "--no-discover"):
        assert listing(mnt / "sessions") == {fp(sandbox.home / GLOBAL_WS)}
    assert not state_file(sandbox).exists()


def rows(box: Sandbox, *args: str) -> list[dict[str, object]]:
    done = box.run("workspaces", "--json", *args)
    assert done.returncode == 0, done.stderr
    parsed = json.loads(done.stdout)
    assert isinstance(parsed, list)
    return parsed


def test_workspaces_table(sandbox: Sandbox) -> None:
    home = sandbox.home
    done = sandbox.run("workspaces", "-v")  # -v: discovery's progress on stderr
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["LABEL", "PATH", "FINGERPRINT", "SESSIONS", "LATEST"]
    body = [line.split() for line in lines[1:]]
    assert body == [
        [GLOBAL_WS, real(home / GLOBAL_WS), fp(home / GLOBAL_WS), "1", "s-global.jsonl"],
        ["p1", real(home / "p1"), fp(home / "p1"), "1", "s-p1.jsonl"],
        ["p2", real(home / "a/p2"), fp(home / "a/p2"), "1", "s-p2.jsonl"],
        ["p4", real(home / "a/b/c/p4"), fp(home / "a/b/c/p4"), "1", "s-p4.jsonl"],
    ]
    # Aligned: every column starts where its header does.
    header = lines[0]
    for line, (label, path, print_, count, latest) in zip(lines[1:], body, strict=True):
        assert line.startswith(label + " ")
        assert line.index(" " + path + " ") + 1 == header.index("PATH")
        assert line.index(" " + print_ + " ") + 1 == header.index("FINGERPRINT")
        assert line.index(" " + count + " ") + 1 + len(count) == header.index("SESSIONS") + 8
        assert line.endswith(" " + latest) and line.index(latest) == header.index("LATEST")
    assert "discovery: walking" in done.stderr
    assert f"discovery: found {real(home / 'p1/.claw/sessions')}" in done.stderr
    assert "discovery: done" in done.stderr
    assert remembered(sandbox) == stores(home, list(PROJECTS))


def test_workspaces_json_and_discovery_options(sandbox: Sandbox, tmp_path: Path) -> None:
    home = sandbox.home
    found = rows(sandbox)
    assert {r["fingerprint"] for r in found} == expected_fps(home)
    p4 = next(r for r in found if r["label"] == "p4")
    assert p4 == {
        "label": "p4", "path": real(home / "a/b/c/p4"), "fingerprint": fp(home / "a/b/c/p4"),
        "sessions": 1, "latest": "s-p4.jsonl",
        "latest_path": real(home / "a/b/c/p4/.claw/sessions") + f"/{p4['fingerprint']}/s-p4.jsonl",
    }
    # From a/ the depth bound starts lower: a/b/c/d/p5 is 4 levels down.
    below_a = {r["label"] for r in rows(sandbox, "--discover", str(home / "a"))}
    assert below_a == {"p2", "p4", "p5", GLOBAL_WS}
    shallow = {r["label"] for r in rows(sandbox, "--discover-depth", "1")}
    assert shallow == {"p1", GLOBAL_WS}
    off = {r["label"] for r in rows(sandbox, "--no-discover")}
    assert off == {GLOBAL_WS}
    # Deeper than the default finds the depth-5 project, and still no skipped tree.
    deeper = {r["label"] for r in rows(sandbox, "--discover-depth", "5")}
    assert deeper == {"p1", "p2", "p4", "p5", GLOBAL_WS}


def test_tree_discovers_too(sandbox: Sandbox) -> None:
    home = sandbox.home
    done = sandbox.run("tree", "-v")
    assert done.returncode == 0, done.stderr
    headers = [line for line in done.stdout.splitlines() if not line.startswith(" ")]
    workspaces = [("p1", "p1"), ("p2", "a/p2"), ("p4", "a/b/c/p4"), ("global", GLOBAL_WS)]
    assert sorted(headers) == sorted(
        f"{rel.rsplit('/', 1)[-1]}  {fp(home / rel)}  1 session  latest: s-{name}.jsonl"
        for name, rel in workspaces
    )
    assert "discovery: done" in done.stderr
