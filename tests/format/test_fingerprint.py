"""claw's workspace fingerprint (claw-store-format §2)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from clawfs.format import fingerprint as fingerprinting
from clawfs.format.fingerprint import fingerprint, fingerprint_candidates, is_windows_path


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/tmp/worktree-alpha", "ae5cd9e2efd7ae18"),
        ("/home/user/project", "f8a71a04e8340307"),
        ("/home/jos\u00e9/\u043f\u0440\u043e\u0435\u043a\u0442", "1eac76e64f0b6bb3"),
        ("/home/jose\u0301/\u043f\u0440\u043e\u0435\u043a\u0442", "68e60f31c79bdb93"),
        (b"/tmp/caf\xe9", "f957be0b86d1aaf3"),
        ("", "cbf29ce484222325"),
        ("a", "af63dc4c8601ec8c"),
        ("/home/runner/workspace", "7822b0d4410230b2"),
        ("C:\\temp\\claw-code", "6c0378466f2aaa39"),
        ("E:\\360Downloads\\claw-code-main\\", "132a374a7724e52f"),
        ("\\\\?\\D:\\AI_LLM\\LLM\\claw-code\\claw-code", "5164cb7331ea241d"),
    ],
)
def test_vectors_from_the_format_doc(path: str | bytes, expected: str) -> None:
    assert fingerprint(path) == expected


@pytest.mark.parametrize(
    ("raw", "lossy"),
    [
        # One U+FFFD per maximal subpart, as Rust's from_utf8_lossy.
        (b"\xf0\x9f\x98", "\ufffd"),
        (b"\xe2\x82A", "\ufffdA"),
        (b"\xed\xa0\x80", "\ufffd\ufffd\ufffd"),
        (b"\xc0\xaf", "\ufffd\ufffd"),
        (b"\xf4\x90\x80\x80", "\ufffd\ufffd\ufffd\ufffd"),
        (b"\xff/x", "\ufffd/x"),
    ],
)
def test_invalid_utf8_is_replaced_per_maximal_subpart(raw: bytes, lossy: str) -> None:
    assert fingerprint(b"/p/" + raw) == fingerprint("/p/" + lossy)


def test_surrogate_escaped_str_hashes_like_its_bytes() -> None:
    raw = b"/tmp/caf\xe9"
    assert fingerprint(os.fsdecode(raw)) == fingerprint(raw) == "f957be0b86d1aaf3"


def test_lone_surrogate_outside_escape_range_becomes_replacement() -> None:
    assert fingerprint("/p/\ud800") == fingerprint("/p/\ufffd")


def test_no_normalization_of_separators_or_case() -> None:
    assert fingerprint("/a/b") != fingerprint("/a/b/")
    assert fingerprint("/A") != fingerprint("/a")


def test_posix_candidates_are_raw_and_canonical(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    assert fingerprint_candidates(str(link)) == {
        fingerprint(str(link)),
        fingerprint(os.path.realpath(real)),
    }


def test_missing_posix_path_hashes_raw(tmp_path: Path) -> None:
    missing = str(tmp_path / "gone")
    assert fingerprint_candidates(missing) == {fingerprint(missing)}


def test_windows_candidates_cover_pre_and_post_151() -> None:
    frontier = fingerprint_candidates("D:\\AI_LLM\\LLM\\claw-code\\claw-code")
    assert "5164cb7331ea241d" in frontier  # post-#151: \\?\ + path
    kalacks = fingerprint_candidates("E:\\360Downloads\\claw-code-main\\")
    assert "132a374a7724e52f" in kalacks  # pre-#151: raw, trailing backslash
    assert fingerprint("\\\\?\\E:\\360Downloads\\claw-code-main") in kalacks


def test_unc_paths_get_the_verbatim_unc_form() -> None:
    assert is_windows_path("\\\\server\\share\\p")
    assert fingerprint("\\\\?\\UNC\\server\\share\\p") in fingerprint_candidates(
        "\\\\server\\share\\p"
    )


def test_windows_drive_root_keeps_its_separator() -> None:
    assert fingerprint("\\\\?\\C:\\") in fingerprint_candidates("C:\\")
    assert fingerprint("\\\\?\\C:") not in fingerprint_candidates("C:\\")


def test_windows_forward_slashes_canonicalize_to_backslashes() -> None:
    assert fingerprint("\\\\?\\C:\\temp\\x") in fingerprint_candidates("C:/temp/x/")


def test_a_canonicalization_that_does_not_come_back_waits_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A recorded root on a filesystem that never answers (realpath blocks
    here until released): its canonical form fails after CANONICAL_WAIT
    (claw's fallback, the raw path, is hashed), later ones fail at once
    without another thread held, and all works again once it comes back."""
    release = threading.Event()
    calls: list[str] = []
    realpath = os.path.realpath

    def blocking(path: str, *, strict: bool = False) -> str:
        calls.append(path)
        if path.startswith("/stalled"):
            release.wait(30)
        return realpath(path, strict=strict)

    monkeypatch.setattr(fingerprinting, "CANONICAL_WAIT", 0.2)
    monkeypatch.setattr(fingerprinting, "canonical", fingerprinting._Canonical())
    monkeypatch.setattr(os.path, "realpath", blocking)
    try:
        assert fingerprint_candidates("/stalled/project") == {
            fingerprint("/stalled/project")}
        assert fingerprinting.canonical(str(tmp_path)) is None  # not asked: one is held
        assert calls == ["/stalled/project"]
    finally:
        release.set()
    for _ in range(100):  # the held one comes back
        if fingerprinting.canonical(str(tmp_path)) is not None:
            break
        threading.Event().wait(0.05)
    assert fingerprinting.canonical(str(tmp_path)) == realpath(tmp_path)
