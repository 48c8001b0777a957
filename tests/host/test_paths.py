"""The one "path inside a directory" test (host/paths.py)."""

from __future__ import annotations

import pytest

from clawfs.host import paths


@pytest.mark.parametrize(
    ("path", "directory", "rest"),
    [
        ("/a/b", "/a/b", ""),
        ("/a/b/c", "/a/b", "c"),
        ("/a/b/c/d", "/a/b", "c/d"),
        ("/a/b/c", "/a/b/", "c"),
        ("/a/b", "/a/b/", ""),
        ("/a/bc", "/a/b", None),  # a sibling sharing a prefix is not inside
        ("/a", "/a/b", None),
        ("/x", "/", "x"),
        ("/", "/", ""),
        ("relative/x", "relative", "x"),
    ],
)
def test_relative(path: str, directory: str, rest: str | None) -> None:
    assert paths.relative(path, directory) == rest
    assert paths.inside(path, directory) is (rest is not None)
    assert paths.below(path, directory) is bool(rest)


def test_overlap_goes_both_ways() -> None:
    assert paths.overlap("/m", "/m")
    assert paths.overlap("/m/store", "/m")
    assert paths.overlap("/m", "/m/store")
    assert not paths.overlap("/m2", "/m")
    assert not paths.overlap("/a", "/b")
