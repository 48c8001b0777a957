"""A version as the index keeps it (versions.py): what goes in comes out,
packed; the session id is kept only when it is not the file's stem."""

from __future__ import annotations

from clawfs.format.head import Head
from clawfs.format.summary import Summary
from clawfs.store.files import FileKey
from clawfs.store.versions import Rendered, Version

KEY = FileKey((1 << 64) - 1, (1 << 63) + 7, 12_345, 1_776_000_000_123_456_789, -5)


def test_a_head_comes_back_whole() -> None:
    head = Head(True, "session-1", 11, 12, "session-0", "bugfix", "claude", "/p", True, 16384)
    version = Version.of(KEY, head, None, "session-1", rendered=Rendered("Title", 9))
    assert version.key == KEY and version.same_as(KEY)
    assert not version.same_as(KEY._replace(ctime_ns=0))
    back = version.head("session-1")
    assert back == head and back is not None and back.scanned == 16384
    assert version.session_id is None  # the stem: not kept
    assert version.summary("session-1") is None and not version.loaded
    assert version.updated_at_ms == 12 and version.workspace_root == "/p"
    assert version.rendered == Rendered("Title", 9)


def test_a_load_replaces_the_head() -> None:
    summary = Summary("other", 21, 22, 23, None, None, "claude", "/p", "bad line 3")
    version = Version.of(KEY, Head(True, "x", 1, 2), summary, "stem")
    assert version.loaded and version.head("stem") is None
    assert version.summary("stem") == summary and version.session_id == "other"
    assert not version.loaded_before or version.loaded
    assert Version.of(KEY, None, summary, "stem").loaded_before  # loaded: so it was


def test_a_head_without_created_at_and_a_file_loaded_before() -> None:
    head = Head(True, "s", None, 5, scanned=3)
    version = Version.of(KEY, head, None, "s")
    assert version.head("s") == head and not version.loaded_before
    assert version.loaded_once().loaded_before and version.loaded_once().head("s") == head


def test_the_same_texts_are_one_tuple() -> None:
    a = Version.of(KEY, Head(True, "a", 1, 2, model="m", workspace_root="/p"), None, "a")
    b = Version.of(KEY, Head(True, "b", 1, 2, model="m", workspace_root="/p"), None, "b")
    assert a.texts is b.texts
