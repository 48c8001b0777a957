"""The one reader of HOME, CLAW_CONFIG_HOME and the XDG directories (host/dirs.py)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from clawfs.cli import logsetup
from clawfs.host import dirs
from clawfs.store import statefile
from clawfs.store.roots import global_root_path

XDG: list[tuple[Callable[..., Path], str, str]] = [
    (dirs.state_dir, "XDG_STATE_HOME", "/h/.local/state/clawfs"),
    (dirs.data_dir, "XDG_DATA_HOME", "/h/.local/share/clawfs"),
    (dirs.cache_dir, "XDG_CACHE_HOME", "/h/.cache/clawfs"),
]


def test_home_is_home_else_the_users_home() -> None:
    assert dirs.home({"HOME": "/h"}) == "/h"
    assert dirs.home({}) == os.path.expanduser("~")
    assert dirs.home({"HOME": ""}) == os.path.expanduser("~")


def test_claw_config_home_as_claw_finds_it() -> None:
    assert dirs.claw_config_home({"CLAW_CONFIG_HOME": "/c", "HOME": "/h"}) == "/c"
    assert dirs.claw_config_home({"CLAW_CONFIG_HOME": "rel", "HOME": "/h"}) == "rel"
    assert dirs.claw_config_home({"CLAW_CONFIG_HOME": "", "HOME": "/h"}) == "/h/.claw"
    assert dirs.claw_config_home({"HOME": "/h"}) == "/h/.claw"
    assert global_root_path({"HOME": "/h"}) == "/h/.claw/sessions"


@pytest.mark.parametrize(("where", "variable", "default"), XDG)
def test_xdg_directory_follows_an_absolute_variable(
    where: Callable[..., Path], variable: str, default: str, tmp_path: Path
) -> None:
    assert where({variable: str(tmp_path), "HOME": "/h"}) == tmp_path / "clawfs"
    assert where({"HOME": "/h"}) == Path(default)


@pytest.mark.parametrize(("where", "variable", "default"), XDG)
@pytest.mark.parametrize("invalid", ["", "relative/dir", "./x"])
def test_a_relative_xdg_variable_is_invalid_and_ignored(
    where: Callable[..., Path], variable: str, default: str, invalid: str
) -> None:
    assert where({variable: invalid, "HOME": "/h"}) == Path(default)


def test_defaults_read_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/someone")
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.delenv("CLAW_CONFIG_HOME", raising=False)
    assert dirs.home() == "/home/someone"
    assert dirs.claw_config_home() == "/home/someone/.claw"
    assert logsetup.default_log_file() == Path("/home/someone/.local/state/clawfs/clawfs.log")
    assert statefile.default_path() == Path("/home/someone/.local/state/clawfs/discovered.json")
    monkeypatch.setenv("XDG_CACHE_HOME", "/var/cache/me")
    assert dirs.cache_dir() == Path("/var/cache/me/clawfs")
