"""Capping the C allocator's arenas (host/malloc.py)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from clawfs.host import malloc


class FakeLibc:
    def __init__(self, answer: int) -> None:
        self.answer = answer
        self.calls: list[tuple[int, int]] = []

    def mallopt(self, param: int, value: int) -> int:
        self.calls.append((param, value))
        return self.answer


def test_asks_mallopt_for_the_arena_cap() -> None:
    libc = FakeLibc(1)
    assert malloc.limit_arenas(libc) is True
    assert libc.calls == [(malloc.M_ARENA_MAX, malloc.ARENAS)]


def test_a_refusal_is_reported() -> None:
    assert malloc.limit_arenas(FakeLibc(0)) is False


def test_a_libc_without_mallopt_is_left_alone() -> None:
    assert malloc.limit_arenas(object()) is False


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")
def test_glibc_takes_it() -> None:
    # In a process of its own: the cap would stay with the test process.
    code = "from clawfs.host import malloc; print(malloc.limit_arenas())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
