"""`ls -l` of a workspace costs no stat of its session files once they were
stat'ed (SPEC §7: within 3x of native; issue 16): a listing answers each
transcript and its `.md` from the stat kept of the version the index
holds, with the same attributes a fresh stat gives. Counted, not timed:
calls of the store's one stat and one open of a session file
(store/files.py), through the adapter's readdir, in a workspace of 20
sessions and of 200.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pyfuse3
import pytest
import trio
from pyfuse3 import EntryAttributes

from clawfs.mount import attrs, view
from clawfs.mount.fuse_ops import Operations
from clawfs.mount.inodes import ROOT_INODE
from clawfs.mount.view import View
from clawfs.store import files
from clawfs.store.index import StoreIndex
from clawfs.store.roots import RootKind, make_root

import storegen as sg

T0 = 1_760_000_000_000
ALIAS_ENDS = len(view.ALIASES) + len(view.MD_ALIASES)
"""The aliases in a workspace (`latest`, `latest.md` ...), each stat'ed at
its end (a link has the times of the file it ends at)."""

Fields = tuple[int, ...]


def fields(attr: EntryAttributes) -> Fields:
    return (attr.st_ino, attr.st_mode, attr.st_size, attr.st_blocks, attr.st_blksize,
            attr.st_atime_ns, attr.st_mtime_ns, attr.st_ctime_ns, attr.st_uid, attr.st_gid,
            int(attr.attr_timeout), int(attr.entry_timeout), attr.st_nlink)


class Store:
    """A workspace of `sessions` sessions, indexed, and the adapter over it,
    with the calls of files.lstat_regular and files.open_backing counted."""

    def __init__(self, base: Path, sessions: int, monkeypatch: pytest.MonkeyPatch) -> None:
        project = base / "proj"
        project.mkdir(parents=True)
        root = os.path.realpath(project)
        self.dir = sg.fp_dir(base / "store", root)
        for n in range(sessions):
            sg.write_session(self.dir, sg.make_session(f"session-{T0 + n}-0", messages=2,
                                                       updated_at_ms=T0 + n, workspace_root=root))
        self.index = StoreIndex([make_root(str(base / "store"), RootKind.STORE, 0)])
        self.index.scan()
        self.ops = Operations(View(self.index))
        self.stats: Counter[str] = Counter()
        self.opens: Counter[str] = Counter()
        lstat, open_backing = files.lstat_regular, files.open_backing

        def counted_lstat(path: str) -> os.stat_result:
            self.stats[path] += 1
            return lstat(path)

        def counted_open(path: str) -> files.BackingFile:
            self.opens[path] += 1
            return open_backing(path)

        monkeypatch.setattr(files, "lstat_regular", counted_lstat)
        monkeypatch.setattr(files, "open_backing", counted_open)
        self._monkeypatch = monkeypatch

    @property
    def fp(self) -> str:
        return self.dir.name

    def listing(self) -> dict[str, Fields]:
        """What one readdir of `sessions/<fp>` answers, by name; the counts
        start afresh."""
        self.stats.clear()
        self.opens.clear()
        got: dict[str, Fields] = {}

        def reply(token: object, name: bytes, attr: EntryAttributes, next_id: int) -> bool:
            got[os.fsdecode(name)] = fields(attr)
            return True

        async def scenario() -> None:
            sessions = await self.ops.lookup(ROOT_INODE, b"sessions", None)  # type: ignore[arg-type]
            ws = await self.ops.lookup(sessions.st_ino, self.fp.encode(), None)  # type: ignore[arg-type]
            fh = await self.ops.opendir(ws.st_ino, None)  # type: ignore[arg-type]
            await self.ops.readdir(fh, 0, None)  # type: ignore[arg-type]
            await self.ops.releasedir(fh)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(pyfuse3, "readdir_reply", reply)
            trio.run(scenario)
        return got

    def session_stats(self) -> int:
        """Stats of session files in the last listing."""
        return sum(n for path, n in self.stats.items() if path.startswith(str(self.dir)))


def transcripts(listed: dict[str, Fields]) -> list[str]:
    return [name for name in listed if name.startswith("session-") and name.endswith(".jsonl")]


@pytest.mark.parametrize("sessions", [20, 200])
def test_a_warm_listing_stats_no_session_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sessions: int
) -> None:
    store = Store(tmp_path, sessions, monkeypatch)
    cold = store.listing()
    assert len(transcripts(cold)) == sessions
    assert store.session_stats() <= sessions + ALIAS_ENDS  # one per transcript and .md
    warm = store.listing()
    assert warm == cold  # the same answers, inode numbers included
    # Only the aliases' ends (`latest`, `latest.md` ...: a link has the
    # times of the file it ends at), whatever the workspace's size; nothing opened.
    assert store.session_stats() <= ALIAS_ENDS
    assert sum(store.opens.values()) == 0


def test_what_a_listing_answers_is_what_a_fresh_stat_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path, 20, monkeypatch)
    store.listing()
    warm = store.listing()
    for name in transcripts(warm):
        st = os.lstat(store.dir / name)
        _, mode, size, blocks, blksize, _, mtime, ctime, *_ = warm[name]
        assert (mode & 0o7777, size, blocks, blksize, mtime, ctime) == (
            st.st_mode & 0o444, st.st_size, st.st_blocks, st.st_blksize, st.st_mtime_ns,
            st.st_ctime_ns)
        md = warm[name.removesuffix(".jsonl") + ".md"]
        assert md[1] == mode and md[6:8] == (mtime, ctime) and md[2] > 0


def test_a_changed_file_is_stat_again_and_shows_its_new_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path, 20, monkeypatch)
    before = store.listing()
    name = f"session-{T0 + 3}-0.jsonl"
    path = store.dir / name
    sg.append_message(path, sg.text_message("more"))
    os.chmod(path, 0o600)
    store.index.refresh_path(str(path))  # what the watcher does
    after = store.listing()
    assert store.stats[str(path)] == 1
    assert store.session_stats() <= 1 + ALIAS_ENDS
    assert after[name][2] == os.lstat(path).st_size > before[name][2]
    assert after[name][1] & 0o777 == 0o400
    assert after[name.removesuffix(".jsonl") + ".md"][2] > before[name.removesuffix(".jsonl")
                                                                  + ".md"][2]


def test_a_file_the_index_let_go_of_is_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path, 20, monkeypatch)
    store.listing()
    name = f"session-{T0 + 3}-0.jsonl"
    (store.dir / name).unlink()
    ws = store.index.workspace(store.fp)
    assert ws is not None
    listed = store.ops.view.entries(store.ops.view.resolve(("sessions", store.fp)))  # type: ignore[arg-type]
    assert name in [e.name for e in listed]  # in the snapshot a listing may have taken
    store.index.refresh_path(str(store.dir / name))
    assert name not in store.listing()


def test_a_stat_past_the_attribute_timeout_is_taken_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path, 20, monkeypatch)
    now = [1000.0]
    store.ops._attrs._kept = attrs.KeptStats(clock=lambda: now[0])
    store.listing()
    now[0] += attrs.LONG_ATTR_TIMEOUT - 1
    store.listing()
    assert store.session_stats() <= ALIAS_ENDS
    now[0] += 2
    store.listing()
    assert store.session_stats() >= 20  # the access time may have moved: asked again


def test_kept_stats_stay_bounded_by_what_was_stat_in_the_last_minute() -> None:
    now = [0.0]
    kept = attrs.KeptStats(clock=lambda: now[0])
    for n in range(50_000):  # 50,000 files, each stat'ed once
        kept.keep(os.stat_result((0o100644, n, 1, 1, 0, 0, 1, 0, 0, 0, 0.0, 0.0, 0.0,
                                  n, n, n, 4096, 8, 0)))
        now[0] += attrs.LONG_ATTR_TIMEOUT / 1000  # a thousand a minute
    assert len(kept._by_file) <= 2 * max(1000, attrs.KEPT_MIN) + 1



def _stat(n: int) -> os.stat_result:
    return os.stat_result((0o100644, n, 1, 1, 0, 0, 1, 0, 0, 0, 0.0, 0.0, 0.0,
                           n, n, n, 4096, 8, 0))


def _key(st: os.stat_result) -> tuple[int, int, int, int, int]:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def test_kept_stats_of_one_big_listing_go_a_minute_later() -> None:
    """One `ls -l` of 100,000 files must not keep its stats for good: the
    next stat a minute later drops every stat past its time."""
    now = [0.0]
    kept = attrs.KeptStats(clock=lambda: now[0])
    for n in range(3 * attrs.KEPT_MIN):  # one listing, at once
        kept.keep(_stat(n))
    assert kept.get(_key(_stat(1))) is not None
    now[0] += attrs.LONG_ATTR_TIMEOUT + 1
    kept.keep(_stat(10**6))
    assert len(kept._by_file) == 1
    assert kept.get(_key(_stat(1))) is None


def test_nothing_is_kept_when_nothing_reads_it() -> None:
    """With --allow-other a listing stats every entry afresh (per caller's
    rules): keeping their stats would only cost memory."""
    kept = attrs.KeptStats(keeping=False)
    kept.keep(_stat(7))
    assert kept.get(_key(_stat(7))) is None
    assert kept._by_file == {}


def _index_lookups(store: Store, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    asked: Counter[str] = Counter()
    real = StoreIndex.file

    def counted(index: StoreIndex, fp: str, name: str) -> object:
        asked[name] += 1
        return real(index, fp, name)

    monkeypatch.setattr(StoreIndex, "file", counted)
    return asked


@pytest.mark.parametrize("sessions", [20, 200])
def test_a_listing_of_an_unchanged_workspace_looks_up_no_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sessions: int
) -> None:
    """While the workspace's stamp is the one its listing was taken at, each
    entry holds the index's record: no look-up per entry. After a change,
    each entry is looked up again, and the changed file shows as it is."""
    store = Store(tmp_path, sessions, monkeypatch)
    first = store.listing()
    asked = _index_lookups(store, monkeypatch)
    assert store.listing() == first
    newest = max(transcripts(first)).removesuffix(".jsonl")
    assert {name.split(".")[0] for name in asked} == {newest}  # the aliases' end only
    name = transcripts(first)[0]
    with open(store.dir / name, "ab") as f:
        f.write(sg.render(sg.make_session("x", messages=1))[-1:])  # one byte more
    store.index.refresh_path(str(store.dir / name))
    asked.clear()
    after = store.listing()
    assert sum(asked.values()) >= sessions
    assert after[name][2] == first[name][2] + 1
