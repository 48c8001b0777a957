"""`clawfs demo`: the Python half of `scripts/demo` (the shell half installs).

Mounts the user's own claw sessions when there are any, otherwise a
generated sample store, and prints commands to try with the real names of
this mount filled in.

    clawfs demo [MOUNTPOINT]      # default ~/claw

Every printed command works as printed: `clawfs` is named as the shell will
find it (the bare name when PATH leads to this installation, its full path
otherwise), and the mount is made by that same program.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from clawfs.cli.samplestore import SampleStore, generate
from clawfs.cli.storecheck import has_sessions
from clawfs.host import dirs, paths
from clawfs.host.mounts import mounts_at
from clawfs.mount.mountpoint import FSTYPE
from clawfs.store import discover
from clawfs.store.roots import RootKind, global_root_path, make_root

DISCOVERY_SECONDS = 3.0


def run_demo(given: Path | None) -> int:
    mountpoint = given.expanduser() if given is not None else Path(dirs.home(), "claw")
    mountpoint = Path(os.path.abspath(mountpoint))
    if not _prepare(mountpoint):
        return 1
    stores = real_stores(mountpoint)
    if stores:
        what = f"your claw sessions ({len(stores)} store(s), e.g. {_short(Path(stores[0]))})"
        args: list[str] = []
    else:
        sample = sample_store(dirs.data_dir() / "demo-store")
        what = f"a sample store (no claw sessions found on this machine): {_short(sample.base)}"
        args = sample.mount_args()
    done = subprocess.run(_clawfs("mount", str(mountpoint), *args), check=False)
    if done.returncode != 0:
        return done.returncode
    print(f"\nclawfs: mounted {what}\n        at {_short(mountpoint)}\n")
    print(tips(mountpoint))
    return 0


def _prepare(mountpoint: Path) -> bool:
    """An empty directory to mount on; an earlier demo's mount is replaced."""
    if any(e.fstype == FSTYPE for e in mounts_at(mountpoint)):
        print(f"clawfs: {_short(mountpoint)} is already a clawfs mount: remounting it")
        if subprocess.run(_clawfs("umount", str(mountpoint)), check=False).returncode != 0:
            return False
    if mountpoint.exists() and (not mountpoint.is_dir() or any(mountpoint.iterdir())):
        print(
            f"clawfs: {_short(mountpoint)} exists and is not an empty directory, so the demo "
            f"leaves it alone.\n        Give it another place: {_shown_clawfs()} demo /tmp/claw",
            file=sys.stderr,
        )
        return False
    mountpoint.mkdir(parents=True, exist_ok=True)
    return True


def real_stores(mountpoint: Path) -> list[str]:
    """Store roots of the user's that hold at least one session file.

    The global root, `./.claw/sessions`, then what a short discovery walk of
    the home directory finds (the mount itself will walk it properly).
    """
    candidates = [global_root_path(), os.path.join(os.getcwd(), ".claw", "sessions")]
    walked = discover.walk(
        [dirs.home()], exclude=[str(mountpoint)],
        deadline=time.monotonic() + DISCOVERY_SECONDS,
    )
    candidates += walked.roots
    unique = dict.fromkeys(os.path.realpath(c) for c in candidates)
    return [c for c in unique if has_sessions(make_root(c, RootKind.STORE, 0))]


def sample_store(base: Path) -> SampleStore:
    """The demo store: generated once, reused by later demos."""
    projects = base / "projects"
    if projects.is_dir():
        return SampleStore(base, sorted(p for p in projects.iterdir() if p.is_dir()))
    return generate(base)


def tips(mountpoint: Path) -> str:
    """What to try, with this mount's real names."""
    m = _short(mountpoint)
    showcase = _showcase(mountpoint)
    node = _fork_node(mountpoint / showcase / "forks")
    clawfs = _shown_clawfs()
    rows = [
        (f"cat {m}/latest", "the session `claw --resume` would pick"),
        (f"less {m}/latest.md", "the same session as Markdown: messages, tools, output"),
        (f"tail -f {m}/latest.md", "follow a running session as claw writes it"),
        (f"grep -rn '^error:' {m}/sessions/*/*.md", "tool output as lines (JSON hides them)"),
        (f"ls -l {m}/workspaces/", "one link per project"),
        ("ls -l $W/", "its sessions (.jsonl and .md), aliases, fork, index.tsv"),
        ("column -t -s $'\\t' $W/index.tsv", "a row per session, in claw's order"),
        ("tree $W/forks", "who forked whom"),
        ("ls -l $W/branches/", "the newest session of each branch"),
        ("getfattr -d $W/latest", "id, parent, branch, backing path ..."),
        (f"{clawfs} path $W/latest", "its file, for claw --resume"),
        (f"grep -l TODO {m}/sessions/*/*.json*", "search every session"),
        (f"echo my-branch > $W/forks/{node}/fork", "fork it as claw's /session fork would"),
        (f"cat $W/forks/{node}/fork", "the new session's name and path"),
    ]
    width = max(len(command) for command, _ in rows)
    lines = ["Try:", f"  W={m}/{showcase}"]
    lines += [f"  {command:<{width}}  # {why}" for command, why in rows]
    lines += ["", f"Unmount with:  {clawfs} umount {m}   (or: fusermount3 -u {m})"]
    if clawfs != "clawfs":
        lines += [f"(`clawfs` alone is not on your PATH: add {os.path.dirname(clawfs)} "
                  "to it, see the README)"]
    return "\n".join(lines)


def _showcase(mountpoint: Path) -> str:
    """The workspace the tips use: the sample's `webapp` (it has forks), else
    the one `latest` is in."""
    if os.path.lexists(mountpoint / "workspaces" / "webapp"):
        return "workspaces/webapp"
    latest = os.readlink(mountpoint / "latest") if os.path.lexists(mountpoint / "latest") else ""
    return "/".join(latest.split("/")[:2]) if latest else "sessions/<fingerprint>"


def _fork_node(forks: Path) -> str:
    """A top node of forks/, preferring one that has been forked already."""
    try:
        tops = sorted(os.listdir(forks))
    except OSError:
        return "<session>"
    with_children = [t for t in tops if any((forks / t / n).is_dir()
                                             for n in os.listdir(forks / t))]
    return (with_children or tops or ["<session>"])[0]


def _entry_point() -> Path:
    """This installation's `clawfs` program (beside the interpreter, in its venv)."""
    return Path(sys.executable).parent / "clawfs"


def _shown_clawfs() -> str:
    """How a printed command names clawfs: `clawfs` if PATH finds this one,
    else the link scripts/install made (`~/.local/bin/clawfs`), else the
    program itself."""
    entry = os.path.realpath(_entry_point())
    found = shutil.which("clawfs")
    if found is not None and os.path.realpath(found) == entry:
        return "clawfs"
    link = dirs.bin_dir() / "clawfs"
    if os.path.realpath(link) == entry:
        return _short(link)
    return _short(_entry_point())


def _clawfs(*args: str) -> list[str]:
    """Run this installation's clawfs. Never `python -m clawfs`: from a
    directory holding a folder named clawfs (the parent of a clone), that
    folder would shadow the installed package."""
    return [str(_entry_point()), *args]


def _short(path: Path) -> str:
    """`~/x` for paths under the home directory."""
    rest = paths.relative(str(path), dirs.home())
    return str(path) if rest is None else "~/" + (rest or ".")

