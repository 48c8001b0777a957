"""`clawfs`: the command line (SPEC §1).

    clawfs mount MOUNTPOINT [store options] [-f] [--debug] [--log-file F] [--allow-other]
    clawfs umount MOUNTPOINT [--lazy]
    clawfs tree [store options]
    clawfs workspaces [store options] [--json]
    clawfs show REF [store options]

Store options are shared by every subcommand that reads a store, so they
are declared once (`add_store_options`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from clawfs import __version__
from clawfs.cli import logsetup
from clawfs.mount.mountpoint import MountError


def add_store_options(parser: argparse.ArgumentParser) -> None:
    """The options that say which store roots to read (SPEC §1)."""
    group = parser.add_argument_group("store options")
    group.add_argument(
        "--store", dest="stores", action="append", default=[], metavar="DIR",
        help="a store root: DIR/<fingerprint>/<session>.jsonl (repeatable)",
    )
    group.add_argument(
        "--workspace", dest="workspaces", action="append", default=[], metavar="DIR",
        help="a project: its store DIR/.claw/sessions (repeatable)",
    )
    group.add_argument(
        "--data-dir", dest="data_dirs", action="append", default=[], metavar="DIR",
        help="a claw data dir: its store DIR/sessions (repeatable)",
    )
    group.add_argument(
        "--discover", dest="discover_dirs", action="append", default=[], metavar="DIR",
        help="look for project stores below DIR instead of the home directory (repeatable)",
    )
    group.add_argument(
        "--no-discover", action="store_true",
        help="no discovery; with stores given above, no default stores either",
    )
    group.add_argument(
        "--discover-depth", type=_depth, default=None, metavar="N",
        help="how many directory levels discovery searches below each start",
    )


def _depth(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError("must be more than 0 and at most 3600")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clawfs",
        description="Mount claw's session store as a filesystem.",
    )
    parser.add_argument("--version", action="version", version=f"clawfs {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    mount = commands.add_parser(
        "mount", help="mount the store at MOUNTPOINT",
        description="Mount claw's sessions at MOUNTPOINT. Returns once the mount answers.",
    )
    mount.add_argument("mountpoint", type=Path, metavar="MOUNTPOINT")
    add_store_options(mount)
    mount.add_argument("-f", "--foreground", action="store_true",
                       help="stay in the foreground, log to stderr; Ctrl-C unmounts")
    mount.add_argument("--debug", action="store_true", help="log every FUSE request")
    mount.add_argument("--log-file", type=Path, metavar="FILE",
                       help="the daemon's log (default $XDG_STATE_HOME/clawfs/clawfs.log)")
    mount.add_argument("--allow-other", action="store_true",
                       help="let other users in (the kernel then checks file modes)")
    mount.add_argument("--poll-interval", type=_seconds, default=2.0, metavar="SECONDS",
                       help="how often stores on network or FUSE filesystems, which inotify "
                            "cannot watch, are polled (default 2)")

    umount = commands.add_parser("umount", help="unmount a clawfs mount")
    umount.add_argument("mountpoint", type=Path, metavar="MOUNTPOINT")
    umount.add_argument("--lazy", action="store_true",
                        help="detach now, finish when it is no longer busy")

    tree = commands.add_parser("tree", help="print each workspace's fork lineage, no mount")
    add_store_options(tree)

    workspaces = commands.add_parser(
        "workspaces", help="list the workspaces a mount would show, no mount",
        description="List each workspace: label, path, fingerprint, sessions, latest session.",
    )
    add_store_options(workspaces)
    workspaces.add_argument("--json", action="store_true", help="print JSON for scripts")

    show = commands.add_parser(
        "show", help="print a session as Markdown, no mount",
        description="Print a session as Markdown. REF: a file, an id, or latest (last, recent)"
        " as `claw --resume` finds it in the current directory. Reads the store options' roots"
        " (by default this directory's store and the global one); discovers only with --discover.",
    )
    show.add_argument("ref", metavar="REF")
    add_store_options(show)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "mount":
            from clawfs.cli.mount_cmd import run_mount

            return run_mount(args)
        if args.command == "umount":
            from clawfs.mount.mountpoint import unmount

            unmount(args.mountpoint, lazy=args.lazy)
            return 0
        # Discovery's progress and results, and any store problem, on stderr.
        logsetup.to_stderr(debug=False)
        if args.command == "workspaces":
            from clawfs.cli.workspaces_cmd import run_workspaces

            return run_workspaces(args)
        if args.command == "show":
            from clawfs.cli.show_cmd import run_show

            return run_show(args)
        from clawfs.cli.tree_cmd import run_tree

        return run_tree(args)
    except MountError as e:
        print(f"clawfs: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
