"""Where things live for this user: home, claw's config, clawfs's XDG directories.

The one reader of `HOME`, `CLAW_CONFIG_HOME` and the `XDG_*` variables.
Every function takes the environment as an optional mapping (default
`os.environ`) so tests can pass their own.

XDG base directories (XDG Base Directory Specification): a variable that is
unset, empty or *relative* is invalid and ignored, and the default under
the home directory is used instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

APP = "clawfs"
"""clawfs's subdirectory of each XDG base directory."""


def home(environ: Mapping[str, str] | None = None) -> str:
    """`$HOME`, else what `~` means for this user (the password database)."""
    env = os.environ if environ is None else environ
    return env.get("HOME") or os.path.expanduser("~")


def claw_config_home(environ: Mapping[str, str] | None = None) -> str:
    """claw's config home `G`: `$CLAW_CONFIG_HOME`, else `~/.claw`.

    As claw (runtime/config.rs `default_config_home`, claw-store-format.md
    §1), a relative value is used as it is. Two differences, on purpose: an
    empty value counts as unset (claw would take it as the current
    directory), and without `HOME` the user's home from the password
    database is used (claw would fall back to a relative `.claw`).
    claw's global store is `G/sessions`.
    """
    env = os.environ if environ is None else environ
    config_home = env.get("CLAW_CONFIG_HOME")
    if config_home:
        return config_home
    return os.path.join(home(env), ".claw")


def bin_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The user's own programs, `~/.local/bin` (the XDG spec names it; no
    variable moves it): where scripts/install links `clawfs`."""
    env = os.environ if environ is None else environ
    return Path(home(env), ".local", "bin")


def state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """clawfs's state (remembered discoveries, the daemon's log):
    `$XDG_STATE_HOME/clawfs`, else `~/.local/state/clawfs`."""
    return _xdg("XDG_STATE_HOME", (".local", "state"), environ) / APP


def data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """clawfs's data (the demo's sample store): `$XDG_DATA_HOME/clawfs`, else
    `~/.local/share/clawfs`."""
    return _xdg("XDG_DATA_HOME", (".local", "share"), environ) / APP


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """clawfs's caches, which may be deleted at any time: `$XDG_CACHE_HOME/clawfs`,
    else `~/.cache/clawfs`."""
    return _xdg("XDG_CACHE_HOME", (".cache",), environ) / APP


def _xdg(name: str, default: tuple[str, ...], environ: Mapping[str, str] | None) -> Path:
    """An XDG base directory: the variable when it is absolute, else `~/<default>`."""
    env = os.environ if environ is None else environ
    value = env.get(name, "")
    if os.path.isabs(value):
        return Path(value)
    return Path(home(env), *default)
