"""Store roots: the directories whose `<fp>/` subdirectories hold sessions.

A root comes from the command line (`--store`, `--workspace`, `--data-dir`),
from the defaults (`./.claw/sessions`, the global `$CLAW_CONFIG_HOME/sessions`)
or from discovery. Roots are deduplicated by real path, and their order is
their *precedence*: when two roots hold the same file name for one
workspace, the earlier keeps the name and the later gets a suffix (SPEC §1).
"""

from __future__ import annotations

import enum
import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from clawfs.format import session
from clawfs.host import dirs


class RootKind(enum.Enum):
    """Where a root came from; decides its precedence band."""

    STORE = "store"
    WORKSPACE = "workspace"
    DATA_DIR = "data-dir"
    LOCAL = "local"
    GLOBAL = "global"
    DISCOVERED = "discovered"


@dataclass(frozen=True, slots=True)
class Root:
    """One store root. Lower `precedence` wins a name clash."""

    path: str
    realpath: str
    kind: RootKind
    precedence: int
    owner: str | None = None
    """The project `P` of a `P/.claw/sessions` root, canonical (`owner_dir`)."""

    @property
    def suffix(self) -> str:
        """`~<8 hex>`: what a clashing name from this root is tagged with."""
        return "~" + hashlib.sha256(os.fsencode(self.realpath)).hexdigest()[:8]

    def owner_dir(self) -> str | None:
        """The project a `<P>/.claw/sessions` root belongs to (`P`, canonical),
        else None: claw's workspace when it runs in `P`.

        Legacy flat files without a recorded root join that project's
        workspace, it names the workspace when no file does, a relative
        recorded root is resolved against it, and a session that records no
        root belongs only where its canonical path lies in it (SPEC §2).
        """
        return self.owner


def make_root(path: str, kind: RootKind, precedence: int) -> Root:
    """A root for `path`; it need not exist yet (it is watched until it does)."""
    absolute = os.path.abspath(os.path.expanduser(path))
    real = os.path.realpath(absolute)
    return Root(absolute, real, kind, precedence, _owner(absolute, real))


def _owner(absolute: str, real: str) -> str | None:
    """`P` of a root named `P/.claw/sessions` (as given: claw works in `P`,
    wherever its `.claw/sessions` links to), else of its real path; canonical."""
    for candidate in (absolute, real):
        parent, name = os.path.split(candidate)
        grand, claw = os.path.split(parent)
        if name == "sessions" and claw == ".claw" and grand:
            return os.path.realpath(grand)
    return None


def global_root_path(env: Mapping[str, str] | None = None) -> str:
    """claw's global root: `$CLAW_CONFIG_HOME/sessions`, else `~/.claw/sessions`."""
    return os.path.join(dirs.claw_config_home(env), "sessions")


def build_roots(
    *,
    stores: Sequence[str] = (),
    workspaces: Sequence[str] = (),
    data_dirs: Sequence[str] = (),
    defaults: bool = True,
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
) -> list[Root]:
    """The roots named by store options, in precedence order, deduplicated.

    Explicit roots come first (`--store`, then `--workspace`, then
    `--data-dir`, each in the order given), then with `defaults` the local
    `./.claw/sessions` and the global root. A real path seen before is
    dropped, so the first mention keeps its precedence.
    """
    here = os.getcwd() if cwd is None else cwd
    wanted: list[tuple[str, RootKind]] = []
    wanted += [(path, RootKind.STORE) for path in stores]
    wanted += [(os.path.join(path, ".claw", "sessions"), RootKind.WORKSPACE) for path in workspaces]
    wanted += [(os.path.join(path, "sessions"), RootKind.DATA_DIR) for path in data_dirs]
    if defaults:
        wanted.append((os.path.join(here, ".claw", "sessions"), RootKind.LOCAL))
        wanted.append((global_root_path(env), RootKind.GLOBAL))
    roots: list[Root] = []
    for path in wanted:
        add_unique(roots, make_root(os.path.join(here, path[0]), path[1], len(roots)))
    return roots


def add_unique(roots: list[Root], root: Root) -> bool:
    """Append `root` unless a root with its real path is already there."""
    if any(known.realpath == root.realpath for known in roots):
        return False
    roots.append(root)
    return True


def roots_from_args(args: object, *, cwd: str | None = None) -> list[Root]:
    """Roots from an argparse namespace with `stores`, `workspaces`, `data_dirs`.

    Without any explicit root the defaults are used even under
    `--no-discover` (otherwise there would be nothing to show); with
    explicit roots, `--no-discover` leaves the defaults out, which is what
    tests need to stay off the machine's real stores.
    """
    stores = _strings(getattr(args, "stores", None))
    workspaces = _strings(getattr(args, "workspaces", None))
    data_dirs = _strings(getattr(args, "data_dirs", None))
    explicit = bool(stores or workspaces or data_dirs)
    no_discover = bool(getattr(args, "no_discover", False))
    return build_roots(
        stores=stores,
        workspaces=workspaces,
        data_dirs=data_dirs,
        defaults=not (explicit and no_discover),
        cwd=cwd,
    )


def _strings(value: Iterable[str] | None) -> list[str]:
    return [] if value is None else list(value)


def suffixed_name(file_name: str, root: Root) -> str:
    """`<stem>~<8 hex>.<ext>`: the name of a file that lost a clash."""
    stem = session.file_stem(file_name)
    return stem + root.suffix + file_name[len(stem) :]
