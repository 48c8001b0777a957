#!/usr/bin/env python3
"""Generate clawfs's man page and its bash and zsh completion from the parser.

    .venv/bin/python scripts/gendocs.py            # rewrite the files under scripts/share/
    .venv/bin/python scripts/gendocs.py --check    # exit 1, naming them, if any is stale

The options are written once, in clawfs/cli/main.py; these files are
derived from that parser by maintained tools, argparse-manpage (the man
page) and shtab (the completions), so they cannot drift from it:
tests/cli/test_docs.py regenerates them and fails when the checked-in copy
differs. Both tools are needed only here (the `test` extra, pinned so that
a regeneration gives the same bytes everywhere), not by an installed
clawfs. The files ship in the wheel under `share/` (pyproject.toml
`data-files`), and scripts/lib/setup.sh links them into ~/.local/share.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import shtab
from argparse_manpage.manpage import Manpage

from clawfs import __version__
from clawfs.cli.main import build_parser

SHARE = Path(__file__).resolve().parent / "share"
MAN_PAGE = SHARE / "man" / "man1" / "clawfs.1"
BASH = SHARE / "bash-completion" / "completions" / "clawfs"
ZSH = SHARE / "zsh" / "site-functions" / "_clawfs"

# Extra sections of the man page, in roff: what the parser cannot say.
EXAMPLES = r"""
.nf
clawfs mount ~/claw && cat ~/claw/latest
grep \-l TODO ~/claw/sessions/*/*.json*
echo bugfix > ~/claw/sessions/<fp>/forks/<id>/fork
claw \-\-resume "$(clawfs path ~/claw/latest)"
clawfs mount \-o ro,store=/srv/claw/sessions /mnt/claw
mount \-t fuse.clawfs /home/me/proj/.claw/sessions /home/me/claw \-o allow_other
clawfs umount \-\-force ~/claw
.fi
"""

FSTAB = r"""
mount.fuse3 runs
.B clawfs SOURCE MOUNTPOINT \-o OPTIONS
for an fstab line of type fuse.clawfs, SOURCE being a store directory (as
\-\-store) or the word clawfs for none; every long option of mount has an
\-o form:
.PP
.nf
/home/me/proj/.claw/sessions  /home/me/claw  fuse.clawfs  noauto,no\-discover  0  0
clawfs  /home/me/claw  fuse.clawfs  noauto,workspace=/home/me/proj,ro  0  0
.fi
.PP
mount(8) gives the helper neither the caller's PATH nor HOME: clawfs must be
found in the standard PATH (e.g. /usr/local/bin), and the stores should be
named with store=, workspace= or data\-dir=.
"""

FILES = r"""
.TP
.I $XDG_STATE_HOME/clawfs/clawfs.log
The daemon's log (else ~/.local/state/clawfs/clawfs.log): a failed fork's
reason, warnings about the store options, every request under \-\-debug.
.TP
.I $XDG_STATE_HOME/clawfs/discovered.json
The project stores discovery found, shown at once by the next mount.
.TP
.I $CLAW_CONFIG_HOME/sessions
claw's global store (else ~/.claw/sessions), served unless \-\-no\-discover.
"""

ENVIRONMENT = r"""
.TP
.B CLAW_CONFIG_HOME
claw's configuration directory (default ~/.claw).
.TP
.B XDG_STATE_HOME
Where the log and discovery's memory go (default ~/.local/state).
.TP
.B CLAWFS_DISCOVER_INTERVAL
Seconds between two discovery walks of a mount (default 600; 0 walks once).
.TP
.B CLAWFS_FORCE_POLLING
1: poll the store every second instead of using inotify.
.TP
.B NOTIFY_SOCKET
Set by systemd: a foreground mount sends READY=1 once it answers.
"""

EXIT_STATUS = r"""
0 on success; 1 with a one\-line reason and its fix on stderr (a refused
mount, a path with no backing file); 2 for a usage error.
"""

SEE_ALSO = r"""
.BR fusermount3 (1),
.BR mount.fuse3 (8),
.BR fstab (5),
.BR findmnt (8),
.BR getfattr (1)
"""

SECTIONS = (
    ("examples", EXAMPLES),
    ("fstab", FSTAB),
    ("files", FILES),
    ("environment", ENVIRONMENT),
    ("exit status", EXIT_STATUS),
    ("see also", SEE_ALSO),
)

COMPLETE_BY_METAVAR = {
    "DIR": shtab.DIRECTORY,
    "MOUNTPOINT": shtab.DIRECTORY,
    "FILE": shtab.FILE,
}
"""What a shell completes for an argument, by its metavar."""


def parser() -> argparse.ArgumentParser:
    """clawfs's parser, its path arguments marked for completion."""
    built = build_parser()
    for sub in [built, *built.commands().values()]:
        for action in sub._actions:
            complete = COMPLETE_BY_METAVAR.get(str(action.metavar))
            if complete is not None:
                action.complete = complete  # type: ignore[attr-defined]
    return built


@contextlib.contextmanager
def wide_terminal() -> Iterator[None]:
    """argparse wraps text to the terminal's width (COLUMNS): a fixed, wide
    one makes the output the same everywhere and leaves the filling to man."""
    before = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "1000"
    try:
        yield
    finally:
        if before is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = before


def man_page() -> str:
    with wide_terminal():
        page = Manpage(parser())
        page.description = "mount claw's session store as a filesystem"
        page.source = f"clawfs {__version__}"
        page.manual = "User Commands"
        page.date = ""  # no build date: the page must regenerate byte for byte
        for heading, content in SECTIONS:
            page.add_section(heading, ">", content.strip())
        return str(page)


def bash_completion() -> str:
    with wide_terminal():
        return str(shtab.complete(parser(), shell="bash"))


def zsh_completion() -> str:
    with wide_terminal():
        return str(shtab.complete(parser(), shell="zsh"))


OUTPUTS: dict[Path, Callable[[], str]] = {
    MAN_PAGE: man_page,
    BASH: bash_completion,
    ZSH: zsh_completion,
}


def stale() -> list[Path]:
    """The generated files whose content is not what the parser gives now."""
    return [
        path for path, make in OUTPUTS.items()
        if not path.exists() or path.read_text(encoding="utf-8") != make()
    ]


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        old = stale()
        for path in old:
            print(f"stale: {path} (run scripts/gendocs.py)", file=sys.stderr)
        return 1 if old else 0
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    for path, make in OUTPUTS.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(make(), encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
