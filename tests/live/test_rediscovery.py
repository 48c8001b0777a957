"""How the commands use discovery (live/rediscovery.py), without a mount.

The walk itself is tested in test_discover.py; a mount with discovery in
tests/e2e/test_discovery.py.
"""

from __future__ import annotations

import argparse
import os
import threading
from pathlib import Path

import pytest

from clawfs.live import rediscovery as discovery
from clawfs.live.rediscovery import Rediscovery, Settings
from clawfs.store import statefile
from clawfs.store.roots import RootKind, build_roots, make_root

from mounting import wait_until


def project(base: Path, rel: str) -> str:
    path = base / rel / ".claw" / "sessions"
    path.mkdir(parents=True)
    return os.path.realpath(path)


def args(**given: object) -> argparse.Namespace:
    values: dict[str, object] = dict(
        stores=[], workspaces=[], data_dirs=[], discover_dirs=[], no_discover=False,
        discover_depth=None,
    )
    values.update(given)
    return argparse.Namespace(**values)


ENV = {"HOME": "/h", "CLAW_CONFIG_HOME": "/h/.config/claw"}


def test_settings_default_to_the_home_directory() -> None:
    settings = discovery.settings_from_args(args(), environ=ENV)
    assert settings is not None
    assert settings.starts == ["/h"]
    assert settings.depth == 4
    assert settings.known == [os.path.realpath("/h/.config/claw/sessions")]
    assert settings.interval == discovery.DEFAULT_INTERVAL


def test_settings_from_options_and_environment() -> None:
    env = {**ENV, discovery.INTERVAL_ENV: "0.5"}
    given = args(discover_dirs=["/data", "/srv"], discover_depth=2)
    settings = discovery.settings_from_args(given, mountpoint="/h/claw", environ=env)
    assert settings is not None
    assert settings.starts == ["/data", "/srv"]
    assert settings.depth == 2
    assert settings.interval == 0.5
    assert "/h/claw" in settings.exclude


@pytest.mark.parametrize(("text", "seconds"), [("0", 0.0), ("-3", 0.0), ("soon", 600.0)])
def test_interval_values(text: str, seconds: float) -> None:
    settings = discovery.settings_from_args(args(), environ={**ENV, discovery.INTERVAL_ENV: text})
    assert settings is not None and settings.interval == seconds


def test_no_discover_means_no_settings() -> None:
    assert discovery.settings_from_args(args(no_discover=True), environ=ENV) is None


def test_a_start_inside_the_mountpoint_is_dropped_one_holding_it_is_kept() -> None:
    given = args(discover_dirs=["/h", "/h/claw/sessions", "/h/claw"])
    settings = discovery.settings_from_args(given, mountpoint="/h/claw", environ=ENV)
    assert settings is not None and settings.starts == ["/h"]


def test_remembered_roots_come_last_deduplicated_and_clear_of_the_mount(tmp_path: Path) -> None:
    a, b = project(tmp_path, "a"), project(tmp_path, "b")
    roots = build_roots(workspaces=[str(tmp_path / "a")], defaults=False, cwd=str(tmp_path))
    merged = discovery.with_remembered(
        roots, [a, b, str(tmp_path / "mnt" / "x"), str(tmp_path)], exclude=[str(tmp_path / "mnt")]
    )
    assert [(r.realpath, r.kind) for r in merged] == [
        (a, RootKind.WORKSPACE), (b, RootKind.DISCOVERED)
    ]
    assert [r.precedence for r in merged] == [0, 1]


def settings_for(tmp_path: Path, **kwargs: object) -> Settings:
    values: dict[str, object] = dict(
        starts=[str(tmp_path / "home")], state_file=tmp_path / "state.json", interval=0.0
    )
    values.update(kwargs)
    return Settings(**values)  # type: ignore[arg-type]


def test_discover_now_remembers_and_forgets(tmp_path: Path) -> None:
    home = tmp_path / "home"
    a, b = project(home, "a"), project(home, "x/b")
    settings = settings_for(tmp_path)
    roots = discovery.discover_now([], settings)
    assert [r.realpath for r in roots] == [a, b]
    assert statefile.load(settings.state_file).roots_for(settings.starts) == [a, b]
    os.rename(home / "x", home / ".x")  # into a skipped tree: a finished walk forgets it
    assert [r.realpath for r in discovery.discover_now([], settings)] == [a]


def test_discover_now_cut_short_keeps_what_was_remembered(tmp_path: Path) -> None:
    home = tmp_path / "home"
    a = project(home, "a")
    settings = settings_for(tmp_path)
    discovery.discover_now([], settings)
    cut = settings_for(tmp_path, walk_seconds=0.0)
    project(home, "later")
    assert [r.realpath for r in discovery.discover_now([], cut)] == [a]


def test_rediscovery_walks_again_and_adds_each_store_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    a = project(home, "a")
    added: list[str] = []
    seen_b = threading.Event()

    def add_root(path: str) -> None:
        added.append(path)
        if path.endswith("/b/.claw/sessions"):
            seen_b.set()

    settings = settings_for(tmp_path, interval=0.05)
    finder = Rediscovery(settings, statefile.Remembered(), add_root).start()
    try:
        assert finder.wait_first(10)
        assert added == [a]
        b = project(home, "b")
        assert seen_b.wait(10)
        def remembered() -> list[str]:
            return sorted(statefile.load(settings.state_file).roots_for(settings.starts))

        wait_until(lambda: remembered() == [a, b], 10, "the state file")
    finally:
        finder.stop()
    assert added == [a, b]
    assert finder.walks >= 2


def test_rediscovery_skips_served_roots_and_survives_a_failing_add(tmp_path: Path) -> None:
    home = tmp_path / "home"
    a, b = project(home, "a"), project(home, "b")
    calls: list[str] = []

    def add_root(path: str) -> None:
        calls.append(path)
        raise RuntimeError("boom")

    served = [make_root(a, RootKind.WORKSPACE, 0).realpath]
    finder = Rediscovery(settings_for(tmp_path), statefile.Remembered(), add_root, served)
    finder.start()
    assert finder.wait_first(10)
    assert calls == [b]


def test_mount_discovery_waits_for_a_first_walk_that_ends_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first walk may end before `start` returns (a tiny home, a busy
    machine): whether to wait is decided by what was remembered before it."""
    home = tmp_path / "home"
    project(home, "a")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("CLAW_CONFIG_HOME", str(home / ".claw"))
    started = Rediscovery.start

    def walked_at_once(self: Rediscovery) -> Rediscovery:
        started(self)
        assert self.wait_first(10)
        return self

    monkeypatch.setattr(Rediscovery, "start", walked_at_once)
    first = discovery.MountDiscovery(args(), str(tmp_path / "mnt"), [])
    assert first.start(lambda path: None) is not None
    first.stop()


def test_mount_discovery_waits_only_when_nothing_is_remembered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    project(home, "a")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("CLAW_CONFIG_HOME", str(home / ".claw"))
    mnt = str(tmp_path / "mnt")
    first = discovery.MountDiscovery(args(), mnt, [])
    assert first.roots == []
    assert first.start(lambda path: None) is not None
    assert first.rediscovery is not None and first.rediscovery.wait_first(10)
    first.stop()
    second = discovery.MountDiscovery(args(), mnt, [])
    assert [r.kind for r in second.roots] == [RootKind.DISCOVERED]
    assert second.start(lambda path: None) is None
    second.stop()
    off = discovery.MountDiscovery(args(no_discover=True), mnt, [])
    assert off.start(lambda path: None) is None and off.rediscovery is None
