"""Fixtures shared by the store's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from clawfs.store import files


@pytest.fixture
def opens(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The paths of every session file opened, in order: counted at
    `files.open_backing`, the one way clawfs opens a session file (heads,
    loads and reads all go through it)."""
    seen: list[str] = []
    real = files.open_backing

    def counting(path: str) -> files.BackingFile:
        seen.append(path)
        return real(path)

    monkeypatch.setattr(files, "open_backing", counting)
    yield seen
