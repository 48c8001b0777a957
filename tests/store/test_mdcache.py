"""The Markdown cache (store/mdcache.py): sizes and titles per file version,
extended when a file only grew, started over otherwise, never stale; reads
of any range within the memory bound. Work is counted (bytes rendered), not timed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from clawfs.format import markdown
from clawfs.store import files, mdcache
from clawfs.store.files import FileKey
from clawfs.store.mdcache import KnownHere, MarkdownCache
from clawfs.store.versions import Rendered

import storegen as sg
from storegen import CORPUS

TORSTAN = (
    CORPUS / "Torstan__claw-code/rust/.claw/sessions/433010833d26c6d3"
    / "session-1775996322136-0.jsonl"
)


@pytest.fixture
def fed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Bytes fed to every MarkdownReader, one entry per feed."""
    counted: list[int] = []
    real = markdown.MarkdownReader.feed

    def feed(self: markdown.MarkdownReader, data: bytes) -> bytes:
        counted.append(len(data))
        return real(self, data)

    monkeypatch.setattr(markdown.MarkdownReader, "feed", feed)
    return counted


def session_file(tmp_path: Path, messages: int = 3, name: str = "s.jsonl") -> Path:
    session = sg.make_session("session-1776000000001-0", messages=messages)
    return sg.write_session(tmp_path, session, name=name)


def expected(path: Path) -> bytes:
    return markdown.render_bytes(path.read_bytes(), str(path), path.name)


def key_of(path: Path) -> FileKey:
    return files.file_key(os.stat(path))


def measured(cache: MarkdownCache, path: Path) -> Rendered:
    result = cache.measure(str(path))
    assert result is not None
    assert result[0] == key_of(path)
    return result[1]


def read_all(cache: MarkdownCache, path: Path, step: int = 4096) -> bytes:
    with files.open_backing(str(path)) as opened:
        out = b""
        while chunk := cache.read(opened.fd, opened.key, str(path), len(out), step):
            out += chunk
        return out


def test_measure_is_the_exact_size_and_title_and_is_kept_per_version(
    tmp_path: Path, fed: list[int]
) -> None:
    path = session_file(tmp_path)
    rendered = measured(MarkdownCache(), path)
    whole = expected(path)
    assert rendered == Rendered("message 0 of session-1776000000001-0", len(whole))
    cache = MarkdownCache()
    measured(cache, path)
    fed.clear()
    assert cache.known(str(path), key_of(path)) == rendered
    assert measured(cache, path) == rendered
    assert fed == []  # a known version is not rendered again


def test_a_grown_file_is_rendered_on_from_its_old_end(tmp_path: Path, fed: list[int]) -> None:
    path = session_file(tmp_path, messages=40)
    cache = MarkdownCache()
    measured(cache, path)
    sg.append_message(path, sg.text_message("one more"))
    measured(cache, path)  # seen before, same file: growing, so its reader is kept now
    old_size = path.stat().st_size
    sg.append_message(path, sg.text_message("and again", role="assistant"))
    whole = expected(path)
    fed.clear()
    rendered = measured(cache, path)
    assert sum(fed) == path.stat().st_size - old_size  # only the appended line
    assert rendered.size == len(whole)


def test_a_file_replaced_by_a_rename_starts_over(tmp_path: Path, fed: list[int]) -> None:
    path = session_file(tmp_path, messages=5)
    cache = MarkdownCache()
    measured(cache, path)
    sg.append_message(path, sg.text_message("grown"))
    measured(cache, path)  # kept now
    replacement = session_file(tmp_path, messages=7, name="new.jsonl")
    os.rename(replacement, path)  # claw's snapshot save
    whole = expected(path)
    fed.clear()
    rendered = measured(cache, path)
    assert sum(fed) == path.stat().st_size  # from the start
    assert rendered.size == len(whole)


def test_a_file_rewritten_in_place_is_never_served_stale(tmp_path: Path) -> None:
    path = session_file(tmp_path, messages=5)
    cache = MarkdownCache()
    measured(cache, path)
    sg.append_message(path, sg.text_message("x"))
    measured(cache, path)  # kept reader at the end
    data = path.read_bytes()
    # The same size, other bytes (a rewrite in place, not an append) ...
    path.write_bytes(data.replace(b"message 0", b"MESSAGE 0"))
    assert measured(cache, path).size == len(expected(path))
    assert read_all(cache, path) == expected(path)
    # ... and a rewrite that grew the file but changed its old end.
    sg.append_message(path, sg.text_message("y"))
    measured(cache, path)
    grown = path.read_bytes()
    cut = grown.rfind(b"\n", 0, len(grown) - 1) + 1
    path.write_bytes(grown[:cut - 3] + b"!!}\n" + grown[cut:] + grown[cut:])
    assert measured(cache, path).size == len(expected(path))
    assert read_all(cache, path) == expected(path)


def test_a_version_that_changed_while_rendering_is_not_remembered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = session_file(tmp_path, messages=5)
    cache = MarkdownCache()
    real = markdown.MarkdownReader.feed

    def feed_and_append(self: markdown.MarkdownReader, data: bytes) -> bytes:
        monkeypatch.setattr(markdown.MarkdownReader, "feed", real)
        sg.append_message(path, sg.text_message("meanwhile"))
        return real(self, data)

    before = key_of(path)
    monkeypatch.setattr(markdown.MarkdownReader, "feed", feed_and_append)
    assert cache.measure(str(path)) is None
    assert cache.known(str(path), before) is None
    assert measured(cache, path).size == len(expected(path))


def test_every_range_reads_as_the_rendering(tmp_path: Path) -> None:
    data = TORSTAN.read_bytes()
    path = sg.write_bytes(tmp_path, TORSTAN.name, data)
    whole = expected(path)
    cache = MarkdownCache()
    with files.open_backing(str(path)) as opened:
        for off, size in [(0, 10), (len(whole) - 5, 100), (100, 70_000), (len(whole), 10),
                          (3, 131072), (len(whole) // 2, 4096), (0, len(whole) + 1)]:
            got = cache.read(opened.fd, opened.key, str(path), off, size)
            assert got == whole[off : off + size], (off, size)
    assert read_all(cache, path, step=65536) == whole
    title = whole.split(b"\n", 1)[0].decode()[2:]
    assert cache.known(str(path), key_of(path)) == Rendered(title, len(whole))


def big_session(tmp_path: Path, megabytes: int) -> Path:
    """A session whose rendering is several windows long."""
    body = [sg.text_message(f"turn {n} " + "x" * 4000) for n in range(megabytes * 250)]
    return sg.write_session(tmp_path, sg.make_session("session-1776000000001-0", messages=body))


def test_a_sequential_read_of_a_big_session_renders_it_once_within_the_window(
    tmp_path: Path, fed: list[int]
) -> None:
    path = big_session(tmp_path, 8)
    whole = expected(path)
    assert len(whole) > 3 * mdcache.WINDOW_BYTES
    cache = MarkdownCache()
    fed.clear()
    with files.open_backing(str(path)) as opened:
        out = bytearray()
        while chunk := cache.read(opened.fd, opened.key, str(path), len(out), 131072):
            out += chunk
            kept = sum(feed.cost for feed in cache._feeds.values())
            assert kept <= mdcache.WINDOW_BYTES + mdcache.BEHIND_BYTES + 2 * mdcache.READ_CHUNK \
                + mdcache.READER_COST + 131072
    assert bytes(out) == whole
    assert sum(fed) == path.stat().st_size  # every byte rendered once


def test_a_read_behind_the_window_renders_from_the_start_again(
    tmp_path: Path, fed: list[int]
) -> None:
    path = big_session(tmp_path, 8)
    whole = expected(path)
    cache = MarkdownCache()
    with files.open_backing(str(path)) as opened:
        end = len(whole) - 10
        assert cache.read(opened.fd, opened.key, str(path), end, 10) == whole[end:]
        fed.clear()
        assert cache.read(opened.fd, opened.key, str(path), 5, 10) == whole[5:15]
        assert 0 < sum(fed) <= 2 * mdcache.READ_CHUNK  # only as far as the range


def test_read_cached_answers_only_from_what_is_at_hand(tmp_path: Path) -> None:
    path = session_file(tmp_path, messages=30)
    whole = expected(path)
    cache = MarkdownCache()
    key = key_of(path)
    assert cache.read_cached(key, str(path), 0, 4096) is None
    read_all(cache, path)
    assert cache.read_cached(key, str(path), 0, 4096) == whole[:4096]
    assert cache.read_cached(key, str(path), 100, 1 << 20) == whole[100:]
    sg.append_message(path, sg.text_message("more"))
    assert cache.read_cached(key_of(path), str(path), 0, 10) is None  # another version


def test_tail_after_an_append_reads_the_new_end(tmp_path: Path, fed: list[int]) -> None:
    path = session_file(tmp_path, messages=30)
    cache = MarkdownCache()
    old = read_all(cache, path)
    sg.append_message(path, sg.text_message("appended", role="assistant"))
    whole = expected(path)
    fed.clear()
    new_size = measured(cache, path).size
    assert sum(fed) == path.stat().st_size - len(path.read_bytes().rsplit(b"\n", 2)[0]) - 1
    assert new_size == len(whole) > len(old)
    with files.open_backing(str(path)) as opened:
        page = len(old) // 4096 * 4096
        got = cache.read_cached(opened.key, str(path), page, 1 << 20)
    assert got == whole[page:] and b"appended" in got


def test_kept_renderings_stay_within_the_bound(tmp_path: Path) -> None:
    cache = MarkdownCache()
    for n in range(mdcache.MAX_KEPT + 20):
        read_all(cache, session_file(tmp_path, messages=3, name=f"s{n}.jsonl"))
        assert len(cache._feeds) <= mdcache.MAX_KEPT
        assert sum(feed.cost for feed in cache._feeds.values()) <= mdcache.RENDERED_BYTES


def test_title_reads_only_what_it_takes(tmp_path: Path, fed: list[int]) -> None:
    path = big_session(tmp_path, 4)
    cache = MarkdownCache()
    fed.clear()
    assert cache.title(str(path)) == "turn 0 " + "x" * 73 + "…"
    assert sum(fed) <= mdcache.READ_CHUNK
    known = cache.known(str(path), key_of(path))
    assert known is not None and known.size is None  # the title only
    assert measured(cache, path).size == len(expected(path))
    assert cache.title(str(path)) == "turn 0 " + "x" * 73 + "…"


@pytest.mark.parametrize("data", [b"", b"garbage\n", b"\xff\xfe\n", sg.legacy_json()])
def test_bad_and_empty_files_measure_and_read(tmp_path: Path, data: bytes) -> None:
    path = sg.write_bytes(tmp_path, "bad.jsonl", data)
    cache = MarkdownCache()
    whole = expected(path)
    assert whole.startswith(b"# ")
    assert measured(cache, path).size == len(whole)
    assert read_all(cache, path) == whole
    assert cache.title(str(path)) == whole.split(b"\n", 1)[0].decode()[2:]


def test_retain_forgets_files_no_longer_in_the_store(tmp_path: Path) -> None:
    cache = MarkdownCache()
    paths = [session_file(tmp_path, name=f"{n}.jsonl") for n in range(3)]
    for path in paths:
        read_all(cache, path)
    cache.retain(lambda path: path == str(paths[0]))
    assert [cache.known(str(p), key_of(p)) is not None for p in paths] == [True, False, False]
    assert list(cache._feeds) == [str(paths[0])]


def test_what_is_known_elsewhere_is_not_rendered_again(
    tmp_path: Path, fed: list[int]
) -> None:
    """Sizes and titles live where `Known` keeps them (the index's records,
    which the index cache keeps across mounts): a second cache over the
    same store of them renders nothing."""
    path = session_file(tmp_path)
    known = KnownHere()
    first = MarkdownCache(known)
    measured(first, path)
    second = MarkdownCache(known)
    fed.clear()
    assert measured(second, path) == measured(first, path)
    assert fed == []
