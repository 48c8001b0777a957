"""`clawfs`: the command line (SPEC §1).

    clawfs mount MOUNTPOINT [store options] [-o OPT[,OPT...]] [--read-only] [-f] ...
    clawfs SOURCE MOUNTPOINT -o OPT[,OPT...]     (how mount.fuse3 calls it: fstab)
    clawfs umount MOUNTPOINT [--lazy | --force]
    clawfs path FILE...
    clawfs tree [store options] [-v]
    clawfs workspaces [store options] [--json] [-v]
    clawfs show REF [store options]
    clawfs demo [MOUNTPOINT]

Store options are shared by every subcommand that reads a store, so they
are declared once (`add_store_options`). No option may be abbreviated
(`--stor` is not `--store`): an abbreviation that works today breaks the
day a second option starts with the same letters. A mistyped option gets
its subcommand's usage and the closest real option.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from clawfs import __version__
from clawfs.cli import logsetup, mountopts
from clawfs.mount.mountpoint import MountError

NO_SOURCE = "clawfs"
"""The SOURCE of the mount.fuse3 form that names no store (fstab's first field)."""


class Parser(argparse.ArgumentParser):
    """argparse without abbreviations, whose subcommands are found by name."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(**kwargs)

    def commands(self) -> dict[str, Parser]:
        """The subcommands' parsers by name."""
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                return {name: p for name, p in action.choices.items() if isinstance(p, Parser)}
        return {}

    def subcommand(self, name: str) -> Parser:
        """The parser of subcommand `name` (self when there is none)."""
        return self.commands().get(name, self)

    def unrecognized(self, extras: Sequence[str]) -> NoReturn:
        """Exit with this parser's usage, suggesting the closest option."""
        known = [s for action in self._actions for s in action.option_strings]
        hints = []
        for extra in extras:
            if extra.startswith("-"):
                close = difflib.get_close_matches(extra.partition("=")[0], known, n=1)
                if close:
                    hints.append(f"{extra}: did you mean {close[0]}?")
        message = "unrecognized arguments: " + " ".join(extras)
        self.error(message + (" (" + "; ".join(hints) + ")" if hints else ""))


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
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError("must be more than 0 and at most 3600")
    return value


def _verbose(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="say on stderr what discovery walks and finds")


MOUNT_DESCRIPTION = """\
Mount claw's sessions at MOUNTPOINT. Returns once the mount answers, so
`clawfs mount ~/claw && cat ~/claw/latest` needs no sleep. mount.fuse3
(/etc/fstab, mount -t fuse.clawfs) calls it as `clawfs SOURCE MOUNTPOINT -o
OPTIONS`, where SOURCE is a store directory (as --store) or the word clawfs
for none."""

OPTIONS_HELP = (
    "mount options, comma-separated, repeatable: store=DIR, workspace=DIR, data-dir=DIR, "
    "discover=DIR, discover-depth=N, no-discover, allow_other, ro, rw, log-file=FILE, "
    "debug, poll-interval=SECONDS, no-cache (the long options above); the kernel's generic flags "
    "(nosuid, nodev, noexec, noatime, relatime ...) are passed to FUSE, and mount(8)'s own "
    "(defaults, noauto, user, nofail, _netdev) accepted and dropped"
)


def build_parser() -> Parser:
    parser = Parser(
        prog="clawfs",
        description="Mount claw's session store as a filesystem.",
    )
    parser.add_argument("--version", action="version", version=f"clawfs {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    mount = commands.add_parser(
        "mount", help="mount the store at MOUNTPOINT", description=MOUNT_DESCRIPTION,
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
    mount.add_argument("--read-only", action="store_true",
                       help="a mount that can change nothing: the fork files answer EROFS")
    mount.add_argument("--no-cache", action="store_true",
                       help="neither read nor write the index cache (~/.cache/clawfs): "
                            "every file is read again, as on a first mount")
    mount.add_argument(
        "-o", dest="mount_options", action=mountopts.OptionsAction, metavar="OPT[,OPT...]",
        convert={"discover-depth": _depth, "log-file": Path, "poll-interval": _seconds},
        help=OPTIONS_HELP,
    )
    mount.set_defaults(kernel_flags=[])

    umount = commands.add_parser(
        "umount", help="unmount a clawfs mount",
        description="Unmount a clawfs mount (fusermount3 -u).",
    )
    umount.add_argument("mountpoint", type=Path, metavar="MOUNTPOINT")
    how = umount.add_mutually_exclusive_group()
    how.add_argument("--lazy", action="store_true",
                     help="detach now, finish when it is no longer busy")
    how.add_argument(
        "--force", action="store_true",
        help="abort the FUSE connection first, then unmount: programs hanging on a "
        "stopped or stuck daemon get an error at once (ECONNABORTED)",
    )

    path = commands.add_parser(
        "path", help="print the backing file of a session in a mount",
        description="Print the store file behind each FILE in a clawfs mount (an alias "
        "such as latest, a transcript, or a forks/ node), for "
        'claw --resume "$(clawfs path ~/claw/latest)".',
    )
    path.add_argument("paths", nargs="+", metavar="FILE")

    tree = commands.add_parser("tree", help="print each workspace's fork lineage, no mount")
    add_store_options(tree)
    _verbose(tree)

    workspaces = commands.add_parser(
        "workspaces", help="list the workspaces a mount would show, no mount",
        description="List each workspace: label, path, fingerprint, sessions, latest session.",
    )
    add_store_options(workspaces)
    workspaces.add_argument("--json", action="store_true", help="print JSON for scripts")
    _verbose(workspaces)

    show = commands.add_parser(
        "show", help="print a session as Markdown, no mount",
        description="Print a session as Markdown. REF: a file, an id, or latest (last, recent)"
        " as `claw --resume` finds it in the current directory. Reads the store options' roots"
        " (by default this directory's store and the global one); discovers only with --discover.",
    )
    show.add_argument("ref", metavar="REF")
    add_store_options(show)

    demo = commands.add_parser(
        "demo", help="mount your sessions (or a generated sample) and show what to try",
        description="Mount your claw sessions at MOUNTPOINT (default ~/claw), or a generated "
        "sample store when this machine has none, and print commands to try.",
    )
    demo.add_argument("mountpoint", type=Path, nargs="?", metavar="MOUNTPOINT")
    return parser


def helper_form(argv: Sequence[str], commands: Sequence[str]) -> list[str]:
    """mount.fuse3's `SOURCE MOUNTPOINT [-o OPTIONS]` as `mount MOUNTPOINT ...`.

    Anything whose first word is a command or an option is left as it is.
    """
    if len(argv) < 2 or argv[0].startswith("-") or argv[0] in commands:
        return list(argv)
    source, mountpoint, *rest = argv
    store = [] if source == NO_SOURCE else ["--store", source]
    return ["mount", mountpoint, *store, *rest]


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = build_parser()
    args, extras = parser.parse_known_args(helper_form(argv, list(parser.commands())))
    if extras:
        parser.subcommand(args.command).unrecognized(extras)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    try:
        if args.command == "mount":
            from clawfs.cli.mount_cmd import run_mount

            return run_mount(args)
        if args.command == "umount":
            from clawfs.mount.mountpoint import unmount

            unmount(args.mountpoint, lazy=args.lazy, force=args.force)
            return 0
        if args.command == "path":
            from clawfs.cli.path_cmd import run_path

            return run_path(args)
        if args.command == "demo":
            from clawfs.cli.demo import run_demo

            return run_demo(args.mountpoint)
        # Warnings always; discovery's progress only when asked or slow.
        verbose = getattr(args, "verbose", False)
        logsetup.to_stderr(
            debug=False, progress_after=0.0 if verbose else logsetup.SLOW_SECONDS
        )
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
