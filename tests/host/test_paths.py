"""The one "path inside a directory" test (host/paths.py)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

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


# --- resolve_inside: real paths without a step outside ----------------------------------


def _watching(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every path lstat'ed or read as a link from now on."""
    touched: list[str] = []
    lstat, readlink = os.lstat, os.readlink

    def watched_lstat(path: str) -> os.stat_result:
        touched.append(path)
        return lstat(path)

    def watched_readlink(path: str) -> str:
        touched.append(path)
        return readlink(path)

    monkeypatch.setattr(os, "lstat", watched_lstat)
    monkeypatch.setattr(os, "readlink", watched_readlink)
    return touched


def _root(tmp_path: Path) -> str:
    """A real root holding `fp/target.jsonl` and an empty `fp/sub/`."""
    root = os.path.realpath(tmp_path / "root")
    os.makedirs(f"{root}/fp/sub")
    Path(f"{root}/fp/target.jsonl").write_text("x")
    return root


def test_resolve_inside_follows_links_as_the_kernel_does(tmp_path: Path) -> None:
    root = _root(tmp_path)
    os.symlink("target.jsonl", f"{root}/fp/alias.jsonl")
    os.symlink("fp", f"{root}/linked")
    os.symlink("../linked/alias.jsonl", f"{root}/fp/chain.jsonl")
    os.symlink(f"{root}/fp/target.jsonl", f"{root}/fp/absolute.jsonl")
    os.symlink("sub/../target.jsonl", f"{root}/fp/up.jsonl")
    for name in ("alias", "chain", "absolute", "up"):
        assert paths.resolve_inside(f"{root}/fp/{name}.jsonl", root) == f"{root}/fp/target.jsonl"
    assert paths.resolve_inside(f"{root}/linked/target.jsonl", root) == f"{root}/fp/target.jsonl"


def test_resolve_inside_fails_where_the_kernel_fails(tmp_path: Path) -> None:
    """`missing/..` names nothing (realpath took it for its parent); a loop
    is ELOOP; a file taken for a directory ENOTDIR."""
    root = _root(tmp_path)
    os.symlink("missing/../target.jsonl", f"{root}/fp/dots.jsonl")
    os.symlink("gone.jsonl", f"{root}/fp/dangling.jsonl")
    os.symlink("loop.jsonl", f"{root}/fp/loop.jsonl")
    os.symlink("target.jsonl/x", f"{root}/fp/notdir.jsonl")
    dots = paths.resolve_inside(f"{root}/fp/dots.jsonl", root)
    assert dots == f"{root}/fp/missing/../target.jsonl" and not os.path.lexists(dots)
    assert paths.resolve_inside(f"{root}/fp/dangling.jsonl", root) == f"{root}/fp/gone.jsonl"
    with pytest.raises(OSError) as loop:
        paths.resolve_inside(f"{root}/fp/loop.jsonl", root)
    assert loop.value.errno == errno.ELOOP
    with pytest.raises(OSError) as notdir:
        paths.resolve_inside(f"{root}/fp/notdir.jsonl", root)
    assert notdir.value.errno == errno.ENOTDIR


def test_resolve_inside_never_steps_outside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A link out (relative, by `..`, absolute, through a directory link, or
    to a name of the root's own path written another way) is refused before
    anything outside is lstat'ed or read: a path on a filesystem that never
    answers would stall the caller."""
    root = _root(tmp_path)
    outside = os.path.realpath(tmp_path / "outside")
    os.makedirs(outside)
    Path(f"{outside}/x.jsonl").write_text("x")
    os.symlink(f"{outside}/x.jsonl", f"{root}/fp/absolute.jsonl")
    os.symlink("../../outside/x.jsonl", f"{root}/fp/up.jsonl")
    os.symlink(outside, f"{root}/out")
    os.symlink("../out/x.jsonl", f"{root}/fp/through.jsonl")
    os.symlink(f"{root}/../root/fp/x.jsonl", f"{root}/fp/roundabout.jsonl")
    touched = _watching(monkeypatch)
    for name in ("absolute", "up", "through", "roundabout"):
        assert paths.resolve_inside(f"{root}/fp/{name}.jsonl", root) is None, name
    assert touched and all(paths.below(path, root) for path in touched), touched
    assert paths.resolve_inside(f"{outside}/x.jsonl", root) is None
