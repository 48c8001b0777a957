"""Issue 9, lineage extremes through a real mount: a fork chain 1,000 deep,
a session with 1,000 forks, and parent ids that loop. `forks/` stays
walkable by ordinary tools (os.fwalk, `tree`, `ls -R`) with the 64-level
continuation rule, no path outgrows PATH_MAX, and `clawfs tree` prints it
all. Bounds are generous hang bounds, not timings.
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from clawfs.format.fingerprint import fingerprint
from clawfs.store.lineage import MAX_DEPTH

import storegen as sg
from mounting import Mount, Sandbox, mounted

T0 = 1_750_000_000_000
N = 1000
CHAIN = "/srv/hardening-chain"
FAN = "/srv/hardening-fan"
LOOP = "/srv/hardening-loop"


def sid(prefix: str, n: int) -> str:
    return f"{prefix}{n:04d}"


def build(root: Path) -> None:
    chain = sg.fp_dir(root, CHAIN)
    for n in range(N):
        parent = None if n == 0 else sid("c", n - 1)
        sg.write_session(chain, sg.make_session(sid("c", n), parent=parent, workspace_root=CHAIN,
                                                updated_at_ms=T0 + n), mtime_ms=T0 + n)
    fan = sg.fp_dir(root, FAN)
    sg.write_session(fan, sg.make_session("trunk", workspace_root=FAN), mtime_ms=T0)
    for n in range(N):
        sg.write_session(fan, sg.make_session(sid("f", n), parent="trunk", workspace_root=FAN,
                                              branch=f"b{n}", updated_at_ms=T0 + n),
                         mtime_ms=T0 + n)
    loop = sg.fp_dir(root, LOOP)
    for me, parent in [("l-a", "l-c"), ("l-b", "l-a"), ("l-c", "l-b"), ("l-self", "l-self"),
                       ("l-child", "l-b")]:
        sg.write_session(loop, sg.make_session(me, parent=parent, workspace_root=LOOP))


@pytest.fixture(scope="module")
def lineage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Mount, Path]]:
    base = tmp_path_factory.mktemp("hardening-lineage")
    build(base / "store")
    with mounted([base / "store"], tmp=base) as m:
        yield m, base / "store"


def forks(m: Mount, workspace: str) -> Path:
    return m.path / "sessions" / fingerprint(workspace) / "forks"


def walk(top: Path) -> tuple[list[str], int, list[OSError]]:
    """os.fwalk (never follows links): node directory names, longest path, errors.

    fwalk lists links to directories with the directories (and does not
    enter them): those are continuation links, left out here.
    """
    names: list[str] = []
    errors: list[OSError] = []
    longest = 0
    for dirpath, dirnames, filenames, fd in os.fwalk(top, onerror=errors.append):
        names += [d for d in dirnames
                  if not stat.S_ISLNK(os.stat(d, dir_fd=fd, follow_symlinks=False).st_mode)]
        for name in filenames:
            longest = max(longest, len(os.fsencode(os.path.join(dirpath, name))))
    return names, longest, errors


def test_chain_1000_deep_walks_with_continuations(lineage: tuple[Mount, Path]) -> None:
    m, _ = lineage
    top = forks(m, CHAIN)
    names, longest, errors = walk(top)
    assert errors == []
    assert sorted(names) == [sid("c", n) for n in range(N)], "each session one directory"
    assert longest < 4096
    assert sorted(os.listdir(top)) == [sid("c", n) for n in range(0, N, MAX_DEPTH)]
    deepest = top.joinpath(*[sid("c", n) for n in range(MAX_DEPTH)])
    link = deepest / sid("c", MAX_DEPTH)
    assert link.is_symlink()
    assert os.path.realpath(link) == str(top / sid("c", MAX_DEPTH))
    assert os.readlink(deepest / "session.jsonl").endswith(f"{sid('c', MAX_DEPTH - 1)}.jsonl")
    assert (deepest / "session.jsonl").read_bytes().startswith(b'{"created_at_ms"')


def test_tree_and_ls_walk_the_chain(lineage: tuple[Mount, Path]) -> None:
    m, _ = lineage
    tree = subprocess.run(["tree", "--noreport", "-d", forks(m, CHAIN)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert tree.returncode == 0, tree.stderr
    listed = {line.rsplit(" ", 1)[-1] for line in tree.stdout.splitlines()[1:]}
    assert {sid("c", n) for n in range(N)} <= listed
    ls = subprocess.run(["ls", "-lR", forks(m, CHAIN)], capture_output=True, timeout=120,
                        check=False)
    assert ls.returncode == 0, ls.stderr


def test_session_with_1000_forks(lineage: tuple[Mount, Path]) -> None:
    m, _ = lineage
    top = forks(m, FAN)
    assert os.listdir(top) == ["trunk"]
    children = [e for e in os.scandir(top / "trunk") if e.is_dir(follow_symlinks=False)]
    assert sorted(e.name for e in children) == [sid("f", n) for n in range(N)]
    newest = top / "trunk" / sid("f", N - 1)
    assert os.getxattr(newest / "session.jsonl", "user.claw.branch_name") == f"b{N - 1}".encode()
    names, _, errors = walk(top)
    assert errors == [] and len(names) == N + 1


def test_parent_cycles_are_broken_not_followed(lineage: tuple[Mount, Path]) -> None:
    m, _ = lineage
    top = forks(m, LOOP)
    assert {"l-a", "l-b", "l-c", "l-self"} <= set(os.listdir(top))
    names, _, errors = walk(top)
    assert errors == []
    assert sorted(names) == ["l-a", "l-b", "l-c", "l-child", "l-self"]
    tree = subprocess.run(["tree", "-l", top], capture_output=True, text=True, timeout=60,
                          check=False)
    assert tree.returncode == 0, tree.stderr  # -l follows links: still finite


def test_clawfs_tree_prints_the_extremes(lineage: tuple[Mount, Path], tmp_path: Path) -> None:
    _, root = lineage
    done = Sandbox(tmp_path).run("tree", "--store", root, "--no-discover", timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    chain = [line.lstrip().split()[0] for line in lines
             if line.lstrip().startswith("c") and "continued at top" not in line]
    assert sorted(chain) == [sid("c", n) for n in range(N)]  # each node once
    continued = [line for line in lines if "continued at top" in line]
    assert len(continued) == (N - 1) // MAX_DEPTH
    assert sum(line.lstrip().startswith("f") for line in lines) == N
    assert sum(line.lstrip().startswith("l-") for line in lines) == 5
