"""Store options that probably do not say what the user meant, and the fix.

`--store` takes a directory of `<fingerprint>/<session>.jsonl` (SPEC §1),
which is easy to get wrong: the project directory, or its `.claw`, instead
of `.claw/sessions`. A mount of such a root succeeds (a root that does not
exist yet is watched, SPEC §1) and `cat latest` then fails much later with
a bare ENOENT, so the commands say it at once: a warning on stderr and in
the log, naming the option the user probably wanted. A mount, `tree` or
`workspaces` that finds no session at all says where it looked.

These are warnings, not refusals: an empty store is fine for a mount that
waits for claw to write its first session.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable

from clawfs.store import scan
from clawfs.store.roots import Root, RootKind, make_root

log = logging.getLogger("clawfs")

CLAW_DIR = ".claw"
SESSIONS = "sessions"


def has_sessions(root: Root) -> bool:
    """A session file in `root` as the index reads it: flat, or in a fingerprint dir."""
    listing = scan.read_root(root)
    return bool(listing.flat) or any(
        scan.read_fp_dir(root, fp, directory) for fp, directory in listing.fp_dirs
    )


def store_problem(path: str) -> str | None:
    """What is wrong with `--store path`, with the fix; None when it looks right."""
    absolute = os.path.abspath(os.path.expanduser(path))
    if not os.path.isdir(absolute):
        if os.path.lexists(absolute):
            return f"--store {path}: not a directory (give the directory that holds the sessions)"
        return (
            f"--store {path}: no such directory (it is watched and shows once claw creates "
            "it; check the path)"
        )
    root = make_root(absolute, RootKind.STORE, 0)
    if has_sessions(root):
        return None
    project_store = os.path.join(absolute, CLAW_DIR, SESSIONS)
    if os.path.isdir(project_store):
        return (
            f"--store {path} is a project directory, not a session store: "
            f"did you mean --workspace {path}?"
        )
    if os.path.basename(absolute.rstrip("/")) == CLAW_DIR and os.path.isdir(
        os.path.join(absolute, SESSIONS)
    ):
        return (
            f"--store {path} is claw's {CLAW_DIR} directory: did you mean "
            f"--store {os.path.join(path, SESSIONS)} (or --data-dir {path})?"
        )
    if absolute.endswith(os.sep + os.path.join(CLAW_DIR, SESSIONS)):
        return (
            f"--store {path} holds no claw sessions yet (it is watched: they show as "
            "claw writes them)"
        )
    return (
        f"--store {path} holds no claw sessions (looked for <fingerprint>/*.jsonl and "
        "*.jsonl in it; claw keeps a project's sessions in PROJECT/.claw/sessions: "
        "--workspace PROJECT)"
    )


def warn_about_stores(stores: Iterable[str]) -> None:
    """Log a warning for each `--store` that looks wrong (stderr and log)."""
    for path in stores:
        problem = store_problem(path)
        if problem is not None:
            log.warning("%s", problem)


def warn_if_empty(roots: Iterable[Root], workspaces: int, discovering: bool) -> None:
    """A command that found no session at all says where it looked."""
    if workspaces:
        return
    looked = ", ".join(root.path for root in roots) or "no store root"
    more = "; discovery keeps looking" if discovering else ""
    log.warning(
        "no claw sessions found (looked in %s%s): give the store with --store, "
        "--workspace or --data-dir",
        looked,
        more,
    )
