"""LiveStore without a mount: watcher -> index -> callback, and roots added at
runtime from any thread. (Through a real mount: tests/test_mount_freshness.py.)"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

import trio

from clawfs.live.livestore import Changes, LiveStore
from clawfs.live.watcher import Change
from clawfs.store.index import PathChange, StoreIndex
from clawfs.store.roots import RootKind, make_root

from storegen import fp_dir, make_session, write_session

SOON = 5.0


class Recorder:
    """The `on_changed` callback: remembers what it was told."""

    def __init__(self) -> None:
        self.calls: list[Changes] = []

    async def __call__(self, changes: Changes) -> None:
        self.calls.append(changes)

    def told(self, fp: str) -> bool:
        return any(c is None or fp in c for c in self.calls)


def workspace(base: Path, name: str, root: Path) -> tuple[Path, str]:
    project = base / name
    project.mkdir(parents=True, exist_ok=True)
    directory = fp_dir(root, os.path.realpath(project))
    return directory, directory.name


def save(directory: Path, sid: str, messages: int = 1) -> Path:
    return write_session(directory, make_session(sid, messages=messages))


def index_of(*roots: Path) -> StoreIndex:
    index = StoreIndex(
        [make_root(str(r), RootKind.STORE, n) for n, r in enumerate(roots)]
    )
    index.scan()
    return index


async def until(check: Callable[[], bool]) -> None:
    with trio.fail_after(SOON):
        while not check():
            await trio.sleep(0.01)


def run_live(live: LiveStore, body: Callable[[], Awaitable[None]]) -> None:
    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(live.run)
            await body()
            nursery.cancel_scope.cancel()

    trio.run(main)


def test_changes_reach_the_index_and_the_callback(tmp_path: Path) -> None:
    root = tmp_path / "store"
    directory, fp = workspace(tmp_path, "p", root)
    save(directory, "session-a")
    index = index_of(root)
    told = Recorder()
    live = LiveStore(index, told)

    async def body() -> None:
        assert live.watcher.mode == "inotify"
        told.calls.clear()
        save(directory, "session-b")
        await until(lambda: index.file(fp, "session-b.jsonl") is not None and told.told(fp))
        (directory / "session-a.jsonl").unlink()
        await until(lambda: index.file(fp, "session-a.jsonl") is None)

    run_live(live, body)


def test_a_change_before_the_watcher_started_is_caught(tmp_path: Path) -> None:
    root = tmp_path / "store"
    directory, fp = workspace(tmp_path, "p", root)
    index = index_of(root)
    save(directory, "session-late")  # after the index was built, before watching
    live = LiveStore(index, Recorder())

    async def body() -> None:
        await until(lambda: index.file(fp, "session-late.jsonl") is not None)

    run_live(live, body)


def test_armed_before_the_scan_a_change_before_running_is_caught_without_a_rescan(
    tmp_path: Path,
) -> None:
    """A mount arms the watcher, scans, forks, and only then runs it: a file
    written, another appended to, between the scan and `run` are seen from
    what the kernel queued meanwhile, with no rescan of the whole store."""
    root = tmp_path / "store"
    directory, fp = workspace(tmp_path, "p", root)
    grown = save(directory, "session-grown")
    index = StoreIndex([make_root(str(root), RootKind.STORE, 0)])
    applied: list[str] = []
    apply = index.apply

    def counting(changes: Iterable[PathChange]) -> set[str]:
        batch = list(changes)
        applied.extend(c.kind for c in batch)
        return apply(batch)

    index.apply = counting  # type: ignore[method-assign]
    live = LiveStore(index, Recorder())
    live.arm()
    index.scan()
    before = index.file(fp, "session-grown.jsonl")
    assert before is not None
    save(directory, "session-late")  # after the scan, before the watcher runs
    with grown.open("a", encoding="utf-8") as f:
        f.write(grown.read_text(encoding="utf-8").splitlines()[-1] + "\n")

    async def body() -> None:
        assert live.watcher.armed_for_all
        await until(lambda: index.file(fp, "session-late.jsonl") is not None)
        await until(lambda: index.file(fp, "session-grown.jsonl") != before)

    run_live(live, body)
    now = index.file(fp, "session-grown.jsonl")
    assert now is not None and now.key.size > before.key.size
    assert "rescan" not in applied


def test_armed_but_polled_the_first_rescan_still_catches_up(tmp_path: Path) -> None:
    """A polled root takes its first listing once the watcher runs, after
    the scan: the rescan is what catches a change made in between."""
    root = tmp_path / "store"
    directory, fp = workspace(tmp_path, "p", root)
    index = StoreIndex([make_root(str(root), RootKind.STORE, 0)])
    live = LiveStore(index, Recorder(), force_polling=True, poll_interval_s=0.05)
    live.arm()
    index.scan()
    save(directory, "session-late")

    async def body() -> None:
        assert not live.watcher.armed_for_all
        await until(lambda: index.file(fp, "session-late.jsonl") is not None)

    run_live(live, body)


def test_a_rescan_paces_the_safety_sweep_by_what_it_cost(tmp_path: Path) -> None:
    """The store's rescan (the safety sweep's work) is timed and the
    watcher told, so its next sweep waits in proportion (watcher.py)."""
    root = tmp_path / "store"
    directory, _ = workspace(tmp_path, "p", root)
    save(directory, "session-a")
    index = index_of(root)
    costs: list[float] = []
    live = LiveStore(index, Recorder(), sweep_interval_s=0.05)

    def paced(cost_s: float) -> None:
        costs.append(cost_s)

    live.watcher.pace_sweep = paced  # type: ignore[method-assign]

    async def body() -> None:
        await until(lambda: len(costs) >= 2)

    run_live(live, body)
    assert all(0.0 < cost < SOON for cost in costs)


def test_add_root_from_another_thread_returns_once_indexed(tmp_path: Path) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    save(workspace(tmp_path, "p", first)[0], "session-a")
    directory, fp = workspace(tmp_path, "q", second)
    save(directory, "session-q")
    index = index_of(first)
    told = Recorder()
    live = LiveStore(index, told)

    async def body() -> None:
        root = make_root(str(second), RootKind.DISCOVERED, 5)
        await trio.to_thread.run_sync(live.add_root, root)
        assert index.file(fp, "session-q.jsonl") is not None
        assert told.told(fp)
        save(directory, "session-q2")  # watched from now on
        await until(lambda: index.file(fp, "session-q2.jsonl") is not None)
        await trio.to_thread.run_sync(live.add_root, str(second))  # known: ignored
        assert [r.realpath for r in index.roots].count(os.path.realpath(second)) == 1

    run_live(live, body)


def test_add_root_before_running_and_on_the_trio_thread(tmp_path: Path) -> None:
    roots = [tmp_path / name for name in ("one", "two", "three")]
    dirs = [workspace(tmp_path, f"p{n}", root) for n, root in enumerate(roots)]
    for n, (directory, _) in enumerate(dirs):
        save(directory, f"session-{n}")
    index = index_of(roots[0])
    live = LiveStore(index, Recorder())
    live.add_root(str(roots[1]))  # before trio runs: indexed at once
    assert index.file(dirs[1][1], "session-1.jsonl") is not None

    async def body() -> None:
        live.add_root(str(roots[2]))  # on the trio thread: indexed in the background
        await until(lambda: index.file(dirs[2][1], "session-2.jsonl") is not None)
        for n, (directory, fp) in enumerate(dirs):
            save(directory, f"session-new{n}")

            def indexed(fp: str = fp, n: int = n) -> bool:
                return index.file(fp, f"session-new{n}.jsonl") is not None

            await until(indexed)

    run_live(live, body)


def test_a_burst_is_applied_in_few_batches_without_a_rescan(tmp_path: Path) -> None:
    root = tmp_path / "store"
    directory, fp = workspace(tmp_path, "p", root)
    index = index_of(root)
    applied: list[list[Change]] = []
    apply = index.apply

    def counting(changes: Iterable[PathChange]) -> set[str]:
        batch = list(changes)
        applied.append([Change(c.kind, c.path) for c in batch])  # type: ignore[arg-type]
        return apply(batch)

    index.apply = counting  # type: ignore[method-assign]
    live = LiveStore(index, Recorder())

    async def body() -> None:
        await until(lambda: len(applied) == 1)  # the rescan after the watches are in place
        for n in range(1000):
            save(directory, f"session-{n:04d}", messages=0)
        await until(lambda: len(index.workspace(fp).files) == 1000)  # type: ignore[union-attr]

    run_live(live, body)
    assert len(applied) < 200
    assert sum(c.kind == "rescan" for batch in applied for c in batch) == 1


def test_forced_polling(tmp_path: Path) -> None:
    root = tmp_path / "store"
    directory, fp = workspace(tmp_path, "p", root)
    index = index_of(root)
    live = LiveStore(index, Recorder(), force_polling=True, poll_interval_s=0.05)

    async def body() -> None:
        assert live.watcher.mode == "polling"
        save(directory, "session-p")
        await until(lambda: index.file(fp, "session-p.jsonl") is not None)

    run_live(live, body)
