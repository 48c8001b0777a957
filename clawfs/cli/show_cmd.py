"""`clawfs show REF`: one session as Markdown on stdout, no mount (SPEC §8).

REF is a file, an id, or `latest` (`last`, `recent`), resolved as
`claw --resume REF` resolves it in the current directory
(store/references.py). The Markdown is the mount's (format/markdown.py),
written as it is rendered, so `clawfs show latest | less` starts at once
and a closed pipe ends it quietly.

Store options say which roots are read. Discovery runs only for a
`--discover DIR` given: claw resolves a reference in the current
directory's store and the global root, which are the default roots, and
walking the home directory would only make `show` slow. Nothing on this
path imports pyfuse3, so it works on a machine without FUSE.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator

from clawfs.format import markdown, printable
from clawfs.store import files, references
from clawfs.store.index import StoreIndex
from clawfs.store.roots import Root, roots_from_args

READ_CHUNK = 1 << 20
SIGPIPE_STATUS = 128 + 13
"""What a shell reports for a command a closed pipe ended."""


def run_show(args: argparse.Namespace) -> int:
    """Entry for the `show` subcommand: `ref` and the store options."""
    cwd = os.getcwd()
    reference: str = args.ref
    path = references.direct_path(reference, cwd)
    file_name = None
    if path is None:
        index = StoreIndex(_roots(args))
        index.scan()
        try:
            found = references.resolve(index, reference, cwd)
        except references.ReferenceError as e:
            print(f"clawfs: {e}", file=sys.stderr)
            return 1
        if found.elsewhere and found.file is not None:
            origin = found.file.workspace_root or found.file.directory
            print("clawfs: note: a session from a different workspace (origin: "
                  f"{printable.shown(origin)})", file=sys.stderr)
        path = found.path
        file_name = None if found.file is None else found.file.file_name
    return _show(path, file_name)


def _roots(args: argparse.Namespace) -> list[Root]:
    roots = roots_from_args(args)
    if not getattr(args, "discover_dirs", None):
        return roots
    from clawfs.live import rediscovery

    return rediscovery.discover_now(roots, rediscovery.settings_from_args(args))


def _show(path: str, file_name: str | None) -> int:
    real = os.path.realpath(path)  # a path the user gave may be a link; the file is read safely
    try:
        backing = files.open_backing(real)
    except OSError as e:
        print(f"clawfs: {printable.shown(path)}: {e.strerror}", file=sys.stderr)
        return 1
    with backing:
        return _write(markdown.render_file(_chunks(backing.fd), real, file_name), path)


def _chunks(fd: int) -> Iterator[bytes]:
    while chunk := os.read(fd, READ_CHUNK):
        yield chunk


def _write(pieces: Iterator[bytes], path: str) -> int:
    """Write every piece to fd 1 with `os.write`: Python's buffered stdout
    drops the rest of a large write the pipe took only part of (and reports
    success) when the reader goes away, so nothing would tell us."""
    sys.stdout.flush()
    out = sys.stdout.fileno()
    try:
        for piece in pieces:
            view = memoryview(piece)
            while view:
                view = view[os.write(out, view) :]
    except BrokenPipeError:
        # The reader is gone (`| head`): stop quietly, as a SIGPIPE would.
        os.dup2(os.open(os.devnull, os.O_WRONLY), out)
        return SIGPIPE_STATUS
    except OSError as e:
        print(f"clawfs: {printable.shown(path)}: {e.strerror}", file=sys.stderr)
        return 1
    return 0
