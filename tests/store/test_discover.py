"""Discovery of project stores (store/discover.py) and its memory (statefile.py).

Everything runs on a fake home in a temp directory; no mount is involved
except a small tmpfs standing in for "another filesystem".
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from clawfs.store import discover, statefile
from clawfs.store.discover import DiscoveryResult, Walker, skip_reason, walk

PROJECTS = ["p1", "a/p2", "a/b/p3", "a/b/c/p4"]
"""Projects at depth 1..4 below home: found with the default depth."""

TOO_DEEP = "a/b/c/d/p5"

DECOYS = [
    "node_modules/x",
    "p1/node_modules/y",
    "p1/.git/z",
    ".foo/proj",
    "p1/.venv/q",
    "venv/q",
    "rust/target/debug",
    "build/x",
    "dist/x",
    "py/__pycache__",
    "myenv",  # a virtualenv (pyvenv.cfg below), and so is everything in it
    "myenv/lib/proj",
    "claw/inside-mount",  # the mountpoint, excluded
]


def sessions(base: Path, rel: str) -> Path:
    return base / rel / ".claw" / "sessions"


def store(base: Path, rel: str) -> str:
    return str(sessions(base, rel))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home directory holding projects, decoys and symlink traps."""
    home = tmp_path / "home"
    outside = tmp_path / "outside"
    for rel in [*PROJECTS, TOO_DEEP, *DECOYS, "."]:
        sessions(home, rel).mkdir(parents=True)
    (home / "myenv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    sessions(outside, "proj").mkdir(parents=True)
    sessions(outside, "dot").mkdir(parents=True)
    (home / "loop").symlink_to(".")
    (home / "a" / "b" / "up").symlink_to("../..")
    (home / "linked").symlink_to(outside / "proj")
    (home / "dotlink").mkdir()
    (home / "dotlink" / ".claw").symlink_to(outside / "dot" / ".claw")
    (home / "sesslink" / ".claw").mkdir(parents=True)
    (home / "sesslink" / ".claw" / "sessions").symlink_to(sessions(outside, "proj"))
    (home / "clawfile").mkdir()
    (home / "clawfile" / ".claw").write_text("not a dir\n")
    (home / "nosessions" / ".claw").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    return home


def walk_home(home: Path, **kwargs: object) -> DiscoveryResult:
    """Walk the way a mount at ~/claw does: home, mountpoint excluded, global root known."""
    return walk(
        [os.path.expanduser("~")],
        exclude=[str(home / "claw")],
        known=[store(home, ".")],
        **kwargs,  # type: ignore[arg-type]
    )


def test_finds_projects_at_depth_1_to_4_and_nothing_else(home: Path) -> None:
    result = walk_home(home)
    assert sorted(result.roots) == sorted(store(home, p) for p in PROJECTS)
    assert result.known == [store(home, ".")]
    assert result.found_under == {str(home): result.roots}
    assert result.finished == [str(home)]
    assert not result.cut_short
    assert result.unreadable == 0


def test_decoys_symlinks_and_too_deep_are_not_found(home: Path) -> None:
    found = set(walk_home(home).roots)
    for rel in [*DECOYS, TOO_DEEP, "linked", "dotlink", "sesslink", "loop/p1"]:
        assert store(home, rel) not in found, rel
    assert not any("outside" in r for r in found)


def test_shallow_projects_are_reported_first(home: Path) -> None:
    seen: list[str] = []
    result = walk_home(home, on_found=seen.append)
    assert seen == result.roots
    depths = [len(Path(r).relative_to(home).parts) for r in seen]
    assert depths == sorted(depths) == [3, 4, 5, 6]


@pytest.mark.parametrize(
    ("depth", "expected"),
    [(0, []), (1, PROJECTS[:1]), (2, PROJECTS[:2]), (5, [*PROJECTS, TOO_DEEP])],
)
def test_depth_limit_is_respected(home: Path, depth: int, expected: list[str]) -> None:
    result = walk_home(home, max_depth=depth)
    assert sorted(result.roots) == sorted(store(home, p) for p in expected)
    assert result.known == [store(home, ".")]


def test_mountpoint_is_never_entered(home: Path) -> None:
    unexcluded = walk([str(home)])
    assert store(home, "claw/inside-mount") in unexcluded.roots
    assert store(home, "claw/inside-mount") not in walk_home(home).roots
    inside = walk([str(home / "claw" / "inside-mount")], exclude=[str(home / "claw")])
    assert inside.roots == [] and inside.dirs_visited == 0


def test_global_root_is_reported_unless_known(home: Path) -> None:
    result = walk([str(home)], max_depth=0)
    assert result.roots == [store(home, ".")]
    assert result.known == []


def test_other_filesystems_are_not_entered(home: Path) -> None:
    """A real tmpfs inside home; the fake-stat case is in test_skip_rules."""
    mnt = home / "mnt"
    mnt.mkdir()
    mount_tmpfs(mnt, "size=1m")
    try:
        sessions(mnt, "proj").mkdir(parents=True)
        assert store(mnt, "proj") not in walk_home(home).roots
        assert walk([str(mnt)]).roots == [store(mnt, "proj")]  # as a start it is walked
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
    assert not os.path.ismount(mnt)


def mount_tmpfs(path: Path, options: str) -> None:
    assert os.geteuid() == 0, "this test mounts a tmpfs and needs root (as in CI)"
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "clawfs-test", str(path)], check=True)


@dataclass
class FakeEntry:
    name: str
    path: str
    dev: int = 1

    def stat(self, *, follow_symlinks: bool = True) -> os.stat_result:
        assert not follow_symlinks
        return os.stat_result((0o40755, 1, self.dev, 2, 0, 0, 0, 0, 0, 0))


class NoStatEntry(FakeEntry):
    def stat(self, *, follow_symlinks: bool = True) -> os.stat_result:
        raise AssertionError("a skip decided by name or path must not stat")


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        (FakeEntry("proj", "/h/proj"), None),
        (FakeEntry("out", "/h/out"), None),
        (FakeEntry("proj", "/h/proj", dev=2), "other filesystem"),
        (NoStatEntry(".git", "/h/.git"), "hidden"),
        (NoStatEntry(".claw", "/h/.claw"), "hidden"),
        (NoStatEntry(".venv", "/h/.venv"), "hidden"),
        (NoStatEntry("node_modules", "/h/node_modules"), "heavy"),
        (NoStatEntry("target", "/h/target"), "heavy"),
        (NoStatEntry("claw", "/h/claw"), "excluded"),
    ],
)
def test_skip_rules(entry: FakeEntry, reason: str | None) -> None:
    assert skip_reason(entry, device=1, exclude={"/h/claw"}) == reason


def test_several_starts_dedup_and_report_per_start(home: Path, tmp_path: Path) -> None:
    extra = tmp_path / "data"
    sessions(extra, "x/proj").mkdir(parents=True)
    missing = tmp_path / "missing"
    result = walk([str(home / "a"), str(home), str(extra), str(missing), str(home)])
    below_a = ["a/p2", "a/b/p3", "a/b/c/p4", TOO_DEEP]  # a/b/c/d/p5 is depth 4 below a
    assert sorted(result.found_under[str(home / "a")]) == sorted(store(home, p) for p in below_a)
    assert result.found_under[str(extra)] == [store(extra, "x/proj")]
    assert result.found_under[str(missing)] == []
    assert len(result.roots) == len(set(result.roots))
    assert result.finished == [str(home / "a"), str(home), str(extra), str(missing)]
    assert result.unreadable == 1


def test_symlinked_start_is_resolved(home: Path, tmp_path: Path) -> None:
    (tmp_path / "homelink").symlink_to(home)
    result = walk([str(tmp_path / "homelink")], known=[store(home, ".")])
    assert result.finished == [str(home)]
    assert store(home, "p1") in result.roots


def test_deadline_and_stop_cut_the_walk_short(home: Path) -> None:
    late = walk_home(home, deadline=time.monotonic() - 1)
    assert late.cut_short and late.roots == [] and late.finished == []
    stop = threading.Event()
    stop.set()
    stopped = walk_home(home, stop=stop)
    assert stopped.cut_short and stopped.dirs_visited == 0


def test_unreadable_directory_is_counted_not_fatal(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Root reads a mode-0 directory anyway, so the refusal is simulated."""
    real_scandir = os.scandir

    def refuse_a(path: str) -> object:
        if path == str(home / "a"):
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", refuse_a)
    result = walk([str(home)])
    assert store(home, "p1") in result.roots
    assert not any(r.startswith(str(home / "a") + "/") for r in result.roots)
    assert result.unreadable == 1 and result.finished == [str(home)]


def test_walker_runs_in_a_thread_and_logs(home: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="clawfs.store.discover")
    threads: list[str] = []
    walker = Walker(
        [str(home)],
        exclude=[str(home / "claw")],
        known=[store(home, ".")],
        on_found=lambda root: threads.append(threading.current_thread().name),
    ).start()
    assert walker.wait(10)
    assert walker.done and walker.error is None and walker.result is not None
    assert sorted(walker.result.roots) == sorted(store(home, p) for p in PROJECTS)
    assert threads == ["clawfs-discover"] * len(PROJECTS)
    assert f"discovery: found {store(home, 'p1')}" in caplog.text
    assert "discovery: done in" in caplog.text


def test_walker_survives_a_failing_callback(home: Path) -> None:
    def boom(root: str) -> None:
        raise RuntimeError("callback failed")

    walker = Walker([str(home)], on_found=boom).start()
    assert walker.wait(10)
    assert isinstance(walker.error, RuntimeError)


def test_walker_stop(home: Path) -> None:
    entered, gate = threading.Event(), threading.Event()

    def hold(root: str) -> None:
        entered.set()
        gate.wait(10)

    walker = Walker([str(home)], on_found=hold).start()
    assert entered.wait(10)  # the walk is inside its first find, with more to go
    walker.stop()
    gate.set()
    assert walker.wait(10)
    assert walker.result is not None and walker.result.cut_short
    assert walker.result.finished == []


# --- statefile ---------------------------------------------------------------


def test_default_path_uses_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert statefile.default_path() == tmp_path / "clawfs" / statefile.FILE_NAME


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    return statefile.default_path()


def test_round_trip_after_a_walk(home: Path, state: Path) -> None:
    result = walk_home(home)
    remembered = statefile.Remembered()
    remembered.update(result.found_under, result.finished)
    assert statefile.save(remembered)
    assert state.is_file()
    assert [p.name for p in state.parent.iterdir()] == [statefile.FILE_NAME]  # no temp left
    loaded = statefile.load()
    assert loaded == remembered
    assert loaded.walked([str(home)]) and not loaded.walked([str(home), "/elsewhere"])
    assert loaded.roots_for([str(home)]) == result.roots
    assert loaded.roots_for(["/elsewhere"]) == []


def test_missing_file_is_empty_with_a_log_line(
    state: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="clawfs.store.statefile")
    loaded = statefile.load()
    assert loaded.starts == {} and not loaded.walked(["/"])
    assert "nothing remembered yet" in caplog.text


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        "",
        "[]",
        '{"version": 2, "starts": {}}',
        '{"version": 1, "starts": []}',
        '{"version": 1, "starts": {"/h": "/h/.claw/sessions"}}',
        '{"version": 1, "starts": {"/h": [1]}}',
    ],
)
def test_corrupt_file_is_ignored_with_a_log_line(
    state: Path, caplog: pytest.LogCaptureFixture, text: str
) -> None:
    state.parent.mkdir(parents=True)
    state.write_text(text)
    assert statefile.load() == statefile.Remembered()
    assert "is corrupt, ignoring it" in caplog.text
    assert statefile.save(statefile.Remembered({"/h": []}))  # and it is replaced
    assert statefile.load().starts == {"/h": []}


def test_non_utf8_file_is_ignored(state: Path, caplog: pytest.LogCaptureFixture) -> None:
    state.parent.mkdir(parents=True)
    state.write_bytes(b'{"version": 1, "starts": {"\xff": []}}')
    assert statefile.load() == statefile.Remembered()
    assert "cannot read" in caplog.text


def test_vanished_roots_are_forgotten(
    home: Path, state: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="clawfs.store.statefile")
    kept, gone = store(home, "p1"), store(home, "a/p2")
    statefile.save(statefile.Remembered({str(home): [kept, gone, "relative/x"]}))
    shutil.rmtree(home / "a")
    assert statefile.load().starts == {str(home): [kept]}
    assert f"forgetting {gone}" in caplog.text


def test_update_replaces_finished_starts_and_merges_cut_short_ones() -> None:
    remembered = statefile.Remembered({"/h": ["/h/old"], "/d": ["/d/old"], "/x": ["/x/a"]})
    remembered.update({"/h": ["/h/new"], "/d": ["/d/new", "/d/old"], "/n": []}, ["/h", "/n"])
    assert remembered.starts == {
        "/h": ["/h/new"],  # finished: exactly what the walk found
        "/d": ["/d/old", "/d/new"],  # cut short: what it found is added
        "/x": ["/x/a"],  # not walked this time: kept
        "/n": [],  # walked, empty: remembered as walked
    }


def test_non_utf8_paths_survive(tmp_path: Path, state: Path) -> None:
    odd = os.fsdecode(str(tmp_path).encode() + b"/caf\xe9")
    os.mkdir(odd)
    statefile.save(statefile.Remembered({str(tmp_path): [odd]}))
    assert statefile.load().starts == {str(tmp_path): [odd]}


def test_save_failure_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert not statefile.save(statefile.Remembered(), blocker / "sub" / statefile.FILE_NAME)
    assert "cannot save" in caplog.text
    target = tmp_path / "ro" / statefile.FILE_NAME
    target.parent.mkdir()
    target.parent.chmod(0o500)
    try:
        ok = statefile.save(statefile.Remembered(), target)
        assert ok == (os.geteuid() == 0)  # root writes anyway
        assert [p.name for p in target.parent.iterdir()] == ([target.name] if ok else [])
    finally:
        target.parent.chmod(0o700)


def test_state_file_is_plain_json(state: Path) -> None:
    statefile.save(statefile.Remembered({"/h": ["/h/p/.claw/sessions"]}))
    assert json.loads(state.read_text()) == {
        "version": 1,
        "starts": {"/h": ["/h/p/.claw/sessions"]},
    }


# --- a big tree ----------------------------------------------------------------

FANOUT = (10, 10, 10, 100)
"""Directories per level: 10 + 100 + 1,000 + 100,000 = 101,110, all within depth 4."""


@pytest.fixture(scope="module")
def big_tree(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[str]]]:
    """101,110 directories on a private tmpfs.

    On tmpfs they are made in a fraction of a second and gone with the
    unmount; on a busy disk making and removing them takes 5-15 s.
    """
    mnt = tmp_path_factory.mktemp("big")
    mount_tmpfs(mnt, "size=64m")
    try:
        began = time.monotonic()
        level = [str(mnt)]
        for width in FANOUT:
            level = [make_dir(f"{parent}/d{i}") for parent in level for i in range(width)]
        planted = [level[0], level[len(level) // 2], level[-1]]
        for leaf in planted:
            os.makedirs(f"{leaf}/.claw/sessions")
        print(f"\nbuilt {sum_fanout()} directories in {time.monotonic() - began:.2f}s")
        yield mnt, [f"{leaf}/.claw/sessions" for leaf in planted]
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def make_dir(path: str) -> str:
    os.mkdir(path)
    return path


def sum_fanout() -> int:
    total, width = 0, 1
    for n in FANOUT:
        width *= n
        total += width
    return total


def test_walks_100k_directories(
    big_tree: tuple[Path, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Linear work, counted rather than timed: each directory is listed once."""
    root, planted = big_tree
    listed: list[str] = []
    real_scandir = os.scandir

    def counting_scandir(path: str) -> Iterator[os.DirEntry[str]]:
        listed.append(path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", counting_scandir)
    result = walk([str(root)])
    monkeypatch.undo()
    print(f"\nwalked {result.dirs_visited} directories in {result.seconds:.2f}s")
    assert sorted(result.roots) == sorted(planted)
    assert result.dirs_visited == sum_fanout() + 1
    assert len(listed) == len(set(listed)) == result.dirs_visited
    assert result.finished == [str(root)] and not result.cut_short


def test_stop_cuts_a_big_walk_short(big_tree: tuple[Path, list[str]]) -> None:
    root, _ = big_tree
    stop = threading.Event()
    result = walk([str(root)], stop=stop, on_progress=lambda n, path: stop.set())
    assert result.cut_short and result.finished == []
    assert result.dirs_visited == discover.PROGRESS_EVERY  # stops before the next directory
    assert result.dirs_visited < sum_fanout()


def test_a_passed_deadline_visits_nothing(big_tree: tuple[Path, list[str]]) -> None:
    root, _ = big_tree
    result = walk([str(root)], deadline=time.monotonic() - 1)
    assert result.cut_short and result.dirs_visited == 0 and result.finished == []


def test_progress_is_reported(big_tree: tuple[Path, list[str]]) -> None:
    root, _ = big_tree
    calls: list[int] = []
    result = walk([str(root)], max_depth=3, on_progress=lambda n, path: calls.append(n))
    assert result.dirs_visited == 1111
    assert calls == [discover.PROGRESS_EVERY]
