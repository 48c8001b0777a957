"""Shared test setup: mark the real-mount tests, keep real mounts from hanging
or outliving the suite.

Tests mirror the package's layers (tests/format, store, live, mount, cli);
everything that needs a kernel mount is in tests/e2e and gets the `mount`
marker here, so `pytest -m "not mount"` runs the pure tests alone.

Mount helpers live in tests/mounting.py (`mounted()`); this file re-arms
their hang watchdogs per test (a module can share one mount across many
tests) and checks at the end that no mount of ours was left behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from clawfs.cli.samplestore import SampleStore, generate

from mounting import LIVE, left_mounted

E2E = Path(__file__).parent / "e2e"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(E2E):
            item.add_marker(pytest.mark.mount)


@pytest.fixture(autouse=True)
def _rearm_mount_watchdogs() -> Iterator[None]:
    """Each test gets the full hang budget on mounts shared by its module."""
    for mount in list(LIVE):
        if mount.watchdog is not None:
            mount.watchdog.arm(mount.hang_timeout)
    yield


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleStore:
    """The demo's sample store, one per test module (modules may override it)."""
    return generate(tmp_path_factory.mktemp("sample"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    left = left_mounted()
    if left:
        print(f"\nclawfs mounts left behind: {left}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
