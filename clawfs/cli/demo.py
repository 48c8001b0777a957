"""The Python half of `scripts/demo` (the shell half installs what is needed).

Mounts the user's own claw sessions when there are any, otherwise a
generated sample store, and prints commands to try with the real names of
this mount filled in.

    python -m clawfs.demo [MOUNTPOINT]      # default ~/claw
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from clawfs.cli.samplestore import SampleStore, generate
from clawfs.host import dirs, paths
from clawfs.host.mounts import mounts_at
from clawfs.mount.mountpoint import FSTYPE
from clawfs.store import discover, scan
from clawfs.store.roots import global_root_path

DISCOVERY_SECONDS = 3.0


def main(argv: list[str]) -> int:
    mountpoint = Path(argv[0]).expanduser() if argv else Path(dirs.home(), "claw")
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
            f"leaves it alone.\n        Give it another place: scripts/demo /tmp/claw",
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
    return [c for c in dict.fromkeys(os.path.realpath(c) for c in candidates) if _has_sessions(c)]


def _has_sessions(root: str) -> bool:
    """A session file directly in `root` or one level down (claw's layout)."""
    try:
        with os.scandir(root) as entries:
            for entry in entries:
                if entry.is_file() and scan.is_session_name(entry.name):
                    return True
                if entry.is_dir(follow_symlinks=False) and any(
                    scan.is_session_name(name) for name in os.listdir(entry.path)
                ):
                    return True
    except OSError:
        return False
    return False


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
    clawfs = _short(Path(sys.executable).parent / "clawfs")
    rows = [
        (f"cat {m}/latest", "the session `claw --resume` would pick"),
        (f"ls -l {m}/workspaces/", "one link per project"),
        ("ls -l $W/", "its sessions, aliases, fork, index.tsv"),
        ("column -t -s $'\\t' $W/index.tsv", "a row per session, in claw's order"),
        ("tree $W/forks", "who forked whom"),
        ("getfattr -d $W/latest", "id, parent, branch, backing path ..."),
        (f"grep -l TODO {m}/sessions/*/*.jsonl", "search every session"),
        (f"echo my-branch > $W/forks/{node}/fork", "fork it as claw's /session fork would"),
        (f"cat $W/forks/{node}/fork", "the new session's name and path"),
    ]
    width = max(len(command) for command, _ in rows)
    lines = ["Try:", f"  W={m}/{showcase}"]
    lines += [f"  {command:<{width}}  # {why}" for command, why in rows]
    lines += ["", f"Unmount with:  {clawfs} umount {m}   (or: fusermount3 -u {m})"]
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


def _clawfs(*args: str) -> list[str]:
    return [sys.executable, "-m", "clawfs", *args]


def _short(path: Path) -> str:
    """`~/x` for paths under the home directory."""
    rest = paths.relative(str(path), dirs.home())
    return str(path) if rest is None else "~/" + (rest or ".")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
