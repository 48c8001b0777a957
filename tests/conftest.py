"""Shared test setup: keep real mounts from hanging or outliving the suite.

Mount helpers live in tests/mounting.py (`mounted()`); this file only
re-arms their hang watchdogs per test (a module can share one mount across
many tests) and checks at the end that no mount of ours was left behind.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mounting import LIVE, left_mounted

from clawfs.samplestore import SampleStore, generate


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
