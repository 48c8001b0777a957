"""The watcher against real directories, without a mount.

Most tests feed the changes to a `Mirror`: a stand-in for the index that
learns about the store only from the changes (plus one scan after the
watcher started, as the module docstring asks of a consumer). The mirror
matching the disk afterwards shows the changes were enough, whatever their
exact shape; a few tests also check the shape.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trio
from inotify_simple import Event as InotifyEvent
from inotify_simple import INotify, flags

from clawfs.live import watcher as watcher_mod
from clawfs.live.changes import RESCAN, Batcher, Change
from clawfs.live.watcher import InotifyTree, Watcher
from clawfs.store.scan import FINGERPRINT_DIR, is_session_name

FP = "7822b0d4410230b2"
FP2 = "ae5cd9e2efd7ae18"
LINE = b'{"message":{"blocks":[{"text":"hi","type":"text"}],"role":"user"},"type":"message"}\n'
META = b'{"session_id":"s","type":"session_meta","updated_at_ms":1,"version":1}\n'

Files = dict[str, tuple[int, int, int]]


def truth(roots: list[str]) -> Files:
    """Session files on disk, where claw looks: in each root and its fingerprint dirs."""
    files: Files = {}
    for root in roots:
        if not os.path.isdir(root):
            continue
        for name in os.listdir(root):
            path = os.path.join(root, name)
            if os.path.isdir(path) and not os.path.islink(path):
                if not FINGERPRINT_DIR.fullmatch(name):
                    continue
                for sub in os.listdir(path):
                    _record(files, os.path.join(path, sub))
            else:
                _record(files, path)
    return files


def _record(files: Files, path: str) -> None:
    if not is_session_name(os.path.basename(path)):
        return
    try:
        st = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return
    files[path] = (st.st_ino, st.st_size, st.st_mtime_ns)


class Mirror:
    """Keeps `files` up to date from changes alone."""

    def __init__(self, roots: list[str]) -> None:
        self.roots = roots
        self.files: Files = {}
        self.batches: list[list[Change]] = []

    def __call__(self, batch: list[Change]) -> None:
        self.batches.append(batch)
        for change in batch:
            if change.kind == "rescan":
                self.files = truth(self.roots)
            elif change.kind == "dir":
                self._relist(change.path)
            else:
                self.files.pop(change.path, None)
                _record(self.files, change.path)

    def _relist(self, path: str) -> None:
        for known in [p for p in self.files if os.path.dirname(p) == path]:
            del self.files[known]
        if os.path.isdir(path):
            for name in os.listdir(path):
                if not os.path.isdir(os.path.join(path, name)):
                    _record(self.files, os.path.join(path, name))

    @property
    def changes(self) -> list[Change]:
        return [c for batch in self.batches for c in batch]


async def settle(mirror: Mirror, until: Callable[[], bool] = lambda: True) -> None:
    """Wait (generously) until the mirror matches the disk and `until()` holds."""
    with trio.move_on_after(10):
        while mirror.files != truth(mirror.roots) or not until():
            await trio.sleep(0.01)
    assert mirror.files == truth(mirror.roots)
    assert until(), mirror.changes


Body = Callable[[Watcher, Mirror], Awaitable[None]]


def watch(roots: list[Path], body: Body, **options: Any) -> Watcher:
    """Run `body` while a watcher on `roots` feeds a mirror; return the watcher."""
    paths = [str(r) for r in roots]
    mirror = Mirror(paths)
    w = Watcher(paths, mirror, **options)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(w.run)
            mirror.files = truth(paths)  # the consumer's scan, after start
            with trio.fail_after(60):
                await body(w, mirror)
            w.close()

    trio.run(main)
    return w


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A root with one fingerprint dir holding one session."""
    root = tmp_path / "sessions"
    (root / FP).mkdir(parents=True)
    (root / FP / "session-1-0.jsonl").write_bytes(META + LINE)
    return root


def claw_save(path: Path, data: bytes, counter: int = 0) -> None:
    """claw's snapshot save: write a temp file beside it, rename it over."""
    tmp = path.with_name(f"{path.name}.tmp-1776000000000-{counter}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# --- inotify mode -----------------------------------------------------------


def test_new_file_is_reported(store: Path) -> None:
    new = store / FP / "session-2-1.jsonl"

    async def body(w: Watcher, m: Mirror) -> None:
        new.write_bytes(META)
        await settle(m, lambda: Change("file", str(new)) in m.changes)

    w = watch([store], body)
    assert w.mode == "inotify"


def test_append_is_reported(store: Path) -> None:
    path = store / FP / "session-1-0.jsonl"

    async def body(w: Watcher, m: Mirror) -> None:
        with open(path, "ab") as f:
            f.write(LINE)
        await settle(m, lambda: Change("file", str(path)) in m.changes)
        assert m.files[str(path)][1] == len(META) + 2 * len(LINE)

    watch([store], body)


def test_appends_in_one_window_are_one_change(store: Path) -> None:
    path = store / FP / "session-1-0.jsonl"

    async def body(w: Watcher, m: Mirror) -> None:
        with open(path, "ab", buffering=0) as f:
            for _ in range(50):
                f.write(LINE)
        await settle(m, lambda: Change("file", str(path)) in m.changes)
        assert m.changes.count(Change("file", str(path))) < 50

    watch([store], body, coalesce_s=0.05)


def test_claw_save_reports_the_session_not_the_temp_file(store: Path) -> None:
    path = store / FP / "session-1-0.jsonl"

    async def body(w: Watcher, m: Mirror) -> None:
        claw_save(path, META + LINE + LINE)
        await settle(m, lambda: Change("file", str(path)) in m.changes)
        assert all(".tmp-" not in c.path for c in m.changes)

    watch([store], body)


def test_rotation_is_reported(store: Path) -> None:
    path = store / FP / "session-1-0.jsonl"
    old_rot = store / FP / "session-1-0.rot-1000.jsonl"
    old_rot.write_bytes(META)
    new_rot = store / FP / "session-1-0.rot-2000.jsonl"

    async def body(w: Watcher, m: Mirror) -> None:
        # claw's save of a big file: rotate, save by rename, trim old rot files
        os.rename(path, new_rot)
        claw_save(path, META + LINE)
        old_rot.unlink()
        expected = {Change("file", str(p)) for p in (path, new_rot, old_rot)}
        await settle(m, lambda: expected <= set(m.changes))

    watch([store], body)


def test_delete_is_reported(store: Path) -> None:
    path = store / FP / "session-1-0.jsonl"

    async def body(w: Watcher, m: Mirror) -> None:
        path.unlink()
        await settle(m, lambda: Change("file", str(path)) in m.changes)
        assert str(path) not in m.files

    watch([store], body)


def test_temp_and_backup_files_are_silent(store: Path) -> None:
    marker = store / FP / "marker.jsonl"

    async def body(w: Watcher, m: Mirror) -> None:
        (store / FP / "a.jsonl.tmp-1776000000000-3").write_bytes(META)
        (store / FP / "a.jsonl.before-clear-1776000000000.bak").write_bytes(META)
        (store / FP / "notes.txt").write_bytes(b"x")
        marker.write_bytes(META)  # events arrive in order: when this is in, so are the others
        await settle(m, lambda: Change("file", str(marker)) in m.changes)
        assert m.changes == [Change("file", str(marker))] * len(m.changes)

    watch([store], body)


def test_legacy_flat_file_in_root_is_reported(store: Path) -> None:
    legacy = store / "session-1775000000000.json"

    async def body(w: Watcher, m: Mirror) -> None:
        legacy.write_bytes(b'{"messages":[],"version":1}')
        await settle(m, lambda: Change("file", str(legacy)) in m.changes)

    watch([store], body)


def test_new_fingerprint_dir_with_a_file_written_at_once(store: Path) -> None:
    fp2 = store / FP2
    first, later = fp2 / "session-5-0.jsonl", fp2 / "session-6-0.jsonl"

    async def body(w: Watcher, m: Mirror) -> None:
        # No await between the two: the file exists before the watcher can
        # watch the new directory, so no inotify event names it.
        fp2.mkdir()
        first.write_bytes(META)
        await settle(m, lambda: Change("dir", str(fp2)) in m.changes)
        assert str(first) in m.files
        later.write_bytes(META)  # the new directory is watched now
        await settle(m, lambda: Change("file", str(later)) in m.changes)

    watch([store], body)


def test_removed_fingerprint_dir_then_recreated(store: Path) -> None:
    fp = store / FP

    async def body(w: Watcher, m: Mirror) -> None:
        shutil.rmtree(fp)
        await settle(m, lambda: Change("dir", str(fp)) in m.changes)
        assert m.files == {}
        fp.mkdir()
        await settle(m, lambda: m.changes.count(Change("dir", str(fp))) >= 2)
        (fp / "again.jsonl").write_bytes(META)
        await settle(m, lambda: Change("file", str(fp / "again.jsonl")) in m.changes)

    watch([store], body)


def test_fingerprint_dir_renamed_within_root(store: Path) -> None:
    old, new = store / FP, store / FP2

    async def body(w: Watcher, m: Mirror) -> None:
        os.rename(old, new)
        await settle(
            m, lambda: {Change("dir", str(old)), Change("dir", str(new))} <= set(m.changes)
        )
        (new / "after.jsonl").write_bytes(META)
        await settle(m, lambda: Change("file", str(new / "after.jsonl")) in m.changes)
        assert not any(c.path.startswith(str(old) + "/") for c in m.changes)

    watch([store], body)


def test_a_directory_that_is_no_fingerprint_is_not_watched(store: Path) -> None:
    """The index reads only 16-hex directories in a root (scan.py); the watcher
    spends no watch or change on others."""

    async def body(w: Watcher, m: Mirror) -> None:
        assert w.mode == "inotify"
        (store / "notes").mkdir()
        (store / "notes" / "n.jsonl").write_bytes(META)
        marker = store / FP / "marker.jsonl"
        marker.write_bytes(META)  # changes come in order: this one last
        await settle(m, lambda: Change("file", str(marker)) in m.changes)
        assert all("notes" not in c.path for c in m.changes), m.changes
        assert w._tree is not None and str(store / "notes") not in w._tree._watches

    watch([store], body)


def test_root_created_after_start_with_missing_parents(tmp_path: Path) -> None:
    root = tmp_path / "home" / ".claw" / "sessions"  # 3 levels to tmp_path
    session = root / FP / "session-1-0.jsonl"

    async def body(w: Watcher, m: Mirror) -> None:
        session.parent.mkdir(parents=True)  # all at once: the watch must catch up
        session.write_bytes(META)
        await settle(m, lambda: Change("dir", str(root)) in m.changes)
        assert str(session) in m.files
        (root / FP / "second.jsonl").write_bytes(META)
        await settle(m, lambda: Change("file", str(root / FP / "second.jsonl")) in m.changes)

    watch([root], body)


def test_root_created_one_level_at_a_time(tmp_path: Path) -> None:
    root = tmp_path / "a" / "b" / "sessions"

    async def body(w: Watcher, m: Mirror) -> None:
        for path in (tmp_path / "a", tmp_path / "a" / "b", root, root / FP):
            path.mkdir()
            await trio.sleep(0.05)
        (root / FP / "s.jsonl").write_bytes(META)
        await settle(m, lambda: Change("file", str(root / FP / "s.jsonl")) in m.changes)
        assert Change("dir", str(root)) in m.changes

    watch([root], body)


def test_root_beyond_the_ancestor_bound_is_retried(tmp_path: Path) -> None:
    root = tmp_path / "a" / "b" / "c" / "sessions"

    async def body(w: Watcher, m: Mirror) -> None:
        (root / FP).mkdir(parents=True)
        (root / FP / "s.jsonl").write_bytes(META)
        await settle(m, lambda: Change("dir", str(root)) in m.changes)
        (root / FP / "t.jsonl").write_bytes(META)
        await settle(m, lambda: Change("file", str(root / FP / "t.jsonl")) in m.changes)

    watch([root], body, ancestor_levels=1, poll_interval_s=0.1)


def test_root_removed_then_recreated(store: Path) -> None:
    async def body(w: Watcher, m: Mirror) -> None:
        shutil.rmtree(store)
        await settle(m, lambda: Change("dir", str(store)) in m.changes)
        assert m.files == {}
        (store / FP2).mkdir(parents=True)
        (store / FP2 / "s.jsonl").write_bytes(META)
        await settle(m, lambda: str(store / FP2 / "s.jsonl") in m.files)

    watch([store], body)


def test_root_moved_away_and_replaced(store: Path) -> None:
    async def body(w: Watcher, m: Mirror) -> None:
        os.rename(store, store.with_name("old-sessions"))
        (store / FP2).mkdir(parents=True)
        (store / FP2 / "s.jsonl").write_bytes(META)
        await settle(m, lambda: str(store / FP2 / "s.jsonl") in m.files)
        # nothing from the old directory, which still exists elsewhere
        (store.with_name("old-sessions") / FP / "ghost.jsonl").write_bytes(META)
        (store / FP2 / "t.jsonl").write_bytes(META)
        await settle(m, lambda: str(store / FP2 / "t.jsonl") in m.files)
        assert not any("ghost" in c.path for c in m.changes)

    watch([store], body)


def test_add_root_while_running(store: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    (other / FP2).mkdir(parents=True)

    async def body(w: Watcher, m: Mirror) -> None:
        w.add_root(other)
        m.roots.append(str(other))
        (other / FP2 / "early.jsonl").write_bytes(META)  # before the watch is in place
        # Once watched, the root is reported whole: what was written before shows.
        await settle(m, lambda: Change("dir", str(other / FP2)) in m.changes)
        (other / FP2 / "s.jsonl").write_bytes(META)
        await settle(m, lambda: Change("file", str(other / FP2 / "s.jsonl")) in m.changes)

    watch([store], body)


def test_burst_of_1000_files_comes_in_few_bounded_batches(store: Path) -> None:
    fp = store / FP

    async def body(w: Watcher, m: Mirror) -> None:
        for i in range(1000):
            (fp / f"session-{i}-0.jsonl").write_bytes(META)
        await settle(m)
        assert len(m.batches) <= 100
        for batch in m.batches:
            assert len(batch) == len(set(batch))
            assert sum(c.kind == "file" for c in batch) <= 64

    watch([store], body, coalesce_s=0.05, dir_threshold=64)


def test_sweep_emits_rescan(store: Path) -> None:
    async def body(w: Watcher, m: Mirror) -> None:
        await settle(m, lambda: [RESCAN] in m.batches)

    watch([store], body, sweep_interval_s=0.2)


def test_the_sweep_waits_longer_when_a_rescan_costs_more(store: Path) -> None:
    """A rescan stats every session file (~1 s at 100,000 local sessions,
    far more on a file server): the safety sweep's period grows with that
    cost, so rescans take at most SWEEP_DUTY of the time."""

    async def body(w: Watcher, m: Mirror) -> None:
        w.pace_sweep(0.2)  # a rescan took 0.2 s: the next sweep is 20 s away
        await trio.sleep(1.0)  # ten periods of 0.1 s
        assert [RESCAN] not in m.batches  # unpaced: ten (test_sweep_emits_rescan)

    watch([store], body, sweep_interval_s=0.1)


def test_sweep_wait() -> None:
    assert watcher_mod.sweep_wait(60.0, 0.3) == 60.0  # 20,000 local sessions
    assert watcher_mod.sweep_wait(60.0, 1.2) == pytest.approx(1.2 / watcher_mod.SWEEP_DUTY)
    assert watcher_mod.sweep_wait(60.0, 0.0) == 60.0


def test_a_failing_consumer_does_not_stop_the_watcher(
    store: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = store / FP / "first.jsonl", store / FP / "second.jsonl"
    seen: list[Change] = []

    def consumer(batch: list[Change]) -> None:
        seen.extend(batch)
        if Change("file", str(first)) in batch:
            raise RuntimeError("consumer bug")

    async def main() -> None:
        w = Watcher([store], consumer)
        async with trio.open_nursery() as nursery:
            await nursery.start(w.run)
            first.write_bytes(META)
            with trio.fail_after(10):
                while Change("file", str(first)) not in seen:
                    await trio.sleep(0.01)
                second.write_bytes(META)
                while Change("file", str(second)) not in seen:
                    await trio.sleep(0.01)
            w.close()

    trio.run(main)
    assert "consumer bug" in caplog.text


def test_close_ends_run(store: Path) -> None:
    async def body(w: Watcher, m: Mirror) -> None:
        w.close()  # watch() closes again: harmless

    watch([store], body)  # returning at all is the check
    assert truth([str(store)])


# --- the event handler on its own -------------------------------------------


def drain(tree: InotifyTree) -> list[Any]:
    events: list[Any] = []
    while new := tree.read():
        events += new
    return events


def test_burst_read_at_once_collapses_into_one_dir_change(store: Path) -> None:
    out = Batcher(dir_threshold=64)
    tree = InotifyTree(INotify(nonblocking=True), out)
    try:
        tree.add_root(str(store), announce=False)
        for i in range(1000):
            (store / FP / f"s-{i}.jsonl").write_bytes(META)
        tree.handle(drain(tree))
        assert out.take() == [Change("dir", str(store / FP))]
    finally:
        tree.close()


def test_queue_overflow_rescans_and_rewatches(store: Path) -> None:
    out = Batcher()
    tree = InotifyTree(INotify(nonblocking=True), out)
    try:
        tree.add_root(str(store), announce=False)
        (store / FP2).mkdir()
        drain(tree)  # these events are "lost": FP2 is not watched yet
        tree.handle([InotifyEvent(wd=-1, mask=flags.Q_OVERFLOW, cookie=0, name="")])
        assert out.take() == [RESCAN]
        (store / FP2 / "s.jsonl").write_bytes(META)
        tree.handle(drain(tree))
        assert out.take() == [Change("file", str(store / FP2 / "s.jsonl"))]
    finally:
        tree.close()


class RacingINotify(INotify):  # type: ignore[misc]
    """Creates `root` just before watching its parent: the creation that the
    failed attempt on `root` missed and the new watch cannot see."""

    root = ""

    def add_watch(self, path: str, mask: int) -> int:
        if path == os.path.dirname(self.root) and not os.path.exists(self.root):
            os.mkdir(self.root)
        return int(super().add_watch(path, mask))


def test_root_created_while_its_parent_watch_is_being_added(tmp_path: Path) -> None:
    out = Batcher()
    racing = RacingINotify(nonblocking=True)
    racing.root = str(tmp_path / "sessions")
    tree = InotifyTree(racing, out)
    try:
        tree.add_root(racing.root, announce=True)
        assert out.take() == [Change("dir", racing.root)]
        (tmp_path / "sessions" / "s.json").write_bytes(META)
        tree.handle(drain(tree))
        assert out.take() == [Change("file", str(tmp_path / "sessions" / "s.json"))]
    finally:
        tree.close()


def kernel_watch_count(tree: InotifyTree) -> int:
    """Watches the kernel holds for this inotify fd (one fdinfo line each)."""
    with open(f"/proc/self/fdinfo/{tree.fileno()}") as f:
        return sum(line.startswith("inotify wd:") for line in f)


def test_ancestor_watches_are_dropped_once_the_root_exists(tmp_path: Path) -> None:
    root = tmp_path / "a" / "b" / "sessions"
    out = Batcher()
    tree = InotifyTree(INotify(nonblocking=True), out)
    try:
        tree.add_root(str(root), announce=False)
        assert kernel_watch_count(tree) == 1  # tmp_path, waiting for "a"
        for path in (tmp_path / "a", tmp_path / "a" / "b", root, root / FP):
            path.mkdir()
            tree.handle(drain(tree))
        tree.handle(drain(tree))
        assert out.take() == [Change("dir", str(root)), Change("dir", str(root / FP))]
        assert kernel_watch_count(tree) == 2  # the root and its fingerprint dir
    finally:
        tree.close()


def test_batcher_dedupes_and_collapses() -> None:
    b = Batcher(dir_threshold=2)
    for change in [
        Change("file", "/r/a/1.jsonl"),
        Change("file", "/r/a/1.jsonl"),
        Change("file", "/r/b/1.jsonl"),
        Change("file", "/r/b/2.jsonl"),
        Change("file", "/r/b/3.jsonl"),
        Change("dir", "/r/c"),
        Change("file", "/r/c/1.jsonl"),
        Change("file", "/r/x.json"),
    ]:
        b.add(change)
    assert b.take() == [
        Change("file", "/r/a/1.jsonl"),
        Change("dir", "/r/b"),
        Change("dir", "/r/c"),
        Change("file", "/r/x.json"),
    ]
    assert not b
    b.add(Change("file", "/r/a/1.jsonl"))
    b.add(RESCAN)
    assert b.take() == [RESCAN]


def test_session_names_follow_claw() -> None:
    assert is_session_name("session-1-0.jsonl")
    assert is_session_name("s.rot-1776000000000.jsonl")
    assert is_session_name("session-1775000000000.json")
    assert is_session_name("..jsonl")
    assert not is_session_name(".jsonl")
    assert not is_session_name("s.jsonl.tmp-1776000000000-5")
    assert not is_session_name("s.jsonl.before-clear-1776000000000.bak")
    assert not is_session_name("s.JSONL")
    assert not is_session_name(FP)


# --- polling ------------------------------------------------------------------


def test_polling_reports_the_same_kinds_of_change(store: Path, tmp_path: Path) -> None:
    path = store / FP / "session-1-0.jsonl"
    late_root = tmp_path / "late" / "sessions"

    async def body(w: Watcher, m: Mirror) -> None:
        assert w.mode == "polling"
        new = store / FP / "new.jsonl"
        new.write_bytes(META)
        await settle(m, lambda: Change("file", str(new)) in m.changes)
        with open(path, "ab") as f:
            f.write(LINE)
        await settle(m)
        claw_save(path, META)  # a rewrite: new inode, new size
        await settle(m)
        new.unlink()
        await settle(m, lambda: str(new) not in m.files)
        (store / FP2).mkdir()
        (store / FP2 / "s.jsonl").write_bytes(META)
        await settle(m, lambda: Change("dir", str(store / FP2)) in m.changes)
        (late_root / FP).mkdir(parents=True)
        (late_root / FP / "s.jsonl").write_bytes(META)
        await settle(m, lambda: Change("dir", str(late_root)) in m.changes)
        shutil.rmtree(store / FP2)
        await settle(m, lambda: str(store / FP2 / "s.jsonl") not in m.files)
        assert {c.kind for c in m.changes} <= {"file", "dir"}
        assert all(".tmp-" not in c.path for c in m.changes)

    watch([store, late_root], body, force_polling=True, poll_interval_s=0.05)


def test_roots_on_shared_filesystems_are_polled_and_the_others_keep_inotify(
    store: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    remote = tmp_path / "remote" / "sessions"
    (remote / FP).mkdir(parents=True)
    late_remote = tmp_path / "late-remote"
    late_local = tmp_path / "late-local"
    for root in (late_remote, late_local):
        (root / FP).mkdir(parents=True)
        (root / FP / "old.jsonl").write_bytes(META)

    def reason(root: str) -> str | None:
        return "nfs" if "remote" in root else None

    async def body(w: Watcher, m: Mirror) -> None:
        assert w.mode == "inotify+polling"
        assert w.polled() == [str(remote)]
        (remote / FP / "r.jsonl").write_bytes(META)
        (store / FP / "l.jsonl").write_bytes(META)
        await settle(m, lambda: str(remote / FP / "r.jsonl") in m.files)
        w.add_root(late_remote)
        w.add_root(late_local)
        m.roots += [str(late_remote), str(late_local)]
        # Each added root is reported whole once it is watched.
        await settle(m, lambda: {Change("dir", str(late_remote / FP)),
                                 Change("dir", str(late_local / FP))} <= set(m.changes))
        assert w.polled() == [str(remote), str(late_remote)]
        (late_remote / FP / "n.jsonl").write_bytes(META)
        (late_local / FP / "n.jsonl").write_bytes(META)
        await settle(m, lambda: str(late_remote / FP / "n.jsonl") in m.files
                     and str(late_local / FP / "n.jsonl") in m.files)

    with caplog.at_level(logging.INFO, logger="clawfs.live.watcher"):
        watch([store, remote], body, poll_reason=reason, poll_interval_s=0.05)
    polled = [r.getMessage() for r in caplog.records if r.getMessage().startswith("polling")]
    assert polled == [
        f"polling {remote} every 0.1 s: it is on nfs, where inotify does not see other "
        "machines' writes",
        f"polling {late_remote} every 0.1 s: it is on nfs, where inotify does not see other "
        "machines' writes",
    ]


def test_a_local_root_added_to_polled_ones_gets_inotify(tmp_path: Path) -> None:
    remote, local = tmp_path / "remote", tmp_path / "local"
    (remote / FP).mkdir(parents=True)
    (local / FP).mkdir(parents=True)

    async def body(w: Watcher, m: Mirror) -> None:
        assert w.mode == "polling"
        w.add_root(local)
        m.roots.append(str(local))
        await settle(m, lambda: w.mode == "inotify+polling")
        assert w.polled() == [str(remote)]
        (local / FP / "s.jsonl").write_bytes(META)
        await settle(m, lambda: str(local / FP / "s.jsonl") in m.files)

    watch([remote], body, poll_reason=lambda root: "nfs" if "remote" in root else None)


def test_falls_back_to_polling_when_inotify_is_unavailable(
    store: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def no_inotify(**kwargs: Any) -> INotify:
        raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))

    monkeypatch.setattr(watcher_mod, "INotify", no_inotify)
    new = store / FP / "new.jsonl"

    async def body(w: Watcher, m: Mirror) -> None:
        new.write_bytes(META)
        await settle(m, lambda: Change("file", str(new)) in m.changes)

    with caplog.at_level(logging.WARNING, logger="clawfs.live.watcher"):
        w = watch([store], body, poll_interval_s=0.05)
    assert w.mode == "polling"
    assert "inotify unavailable" in caplog.text and "polling" in caplog.text


class LimitedINotify(INotify):  # type: ignore[misc]
    """An inotify whose watch limit is two watches (the root and FP)."""

    def add_watch(self, path: str, mask: int) -> int:
        if os.path.basename(path) not in (FP, "sessions"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return int(super().add_watch(path, mask))


def test_falls_back_to_polling_when_the_watch_limit_is_reached(
    store: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(watcher_mod, "INotify", LimitedINotify)

    async def body(w: Watcher, m: Mirror) -> None:
        assert w.mode == "inotify"
        (store / FP2).mkdir()  # one watch too many
        await settle(m, lambda: w.mode == "polling" and [RESCAN] in m.batches)
        (store / FP2 / "s.jsonl").write_bytes(META)
        await settle(m, lambda: Change("file", str(store / FP2 / "s.jsonl")) in m.changes)

    with caplog.at_level(logging.WARNING, logger="clawfs.live.watcher"):
        watch([store], body, poll_interval_s=0.05)
    assert "watch limit reached" in caplog.text
