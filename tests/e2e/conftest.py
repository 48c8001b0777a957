"""Fixtures the real-mount tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from following import Tail


@pytest.fixture
def tails() -> Iterator[list[Tail]]:
    """`tail` processes a test starts, killed when it ends."""
    running: list[Tail] = []
    yield running
    for tail in running:
        tail.close()
