"""membership.decide: both decisions about a recorded root from one
canonicalization, the same as asked one at a time."""

from __future__ import annotations

from pathlib import Path

import pytest

from clawfs.format import fingerprint
from clawfs.store import membership


@pytest.mark.parametrize("kind", ["real", "link", "missing", "windows", "unc", "relative"])
def test_decide_answers_as_the_two_rules_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    root = {
        "real": str(real), "link": str(tmp_path / "link"), "missing": str(tmp_path / "gone"),
        "windows": "D:\\proj\\", "unc": "\\\\server\\share\\p", "relative": "sub/../real",
    }[kind]
    monkeypatch.chdir(tmp_path)
    expected = (frozenset(fingerprint.fingerprint_candidates(root)),
                membership.preferred_fingerprint(root))
    calls = _count_canonical(monkeypatch)
    assert membership.decide(root) == expected
    assert len(calls) == (0 if kind in ("windows", "unc") else 1)


def _count_canonical(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths `fingerprint.canonical` is asked for from now on (a realpath
    in a thread each)."""
    calls: list[str] = []
    canonical = fingerprint.canonical

    def counted(path: str) -> str | None:
        calls.append(path)
        return canonical(path)

    monkeypatch.setattr(fingerprint, "canonical", counted)
    return calls


def test_a_root_recorded_as_its_directory_is_named_belongs_without_a_realpath(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A remount asks whether each recorded root belongs; one whose raw form
    names the directory belongs whatever its canonical form (a candidate
    always), so it is not canonicalized; any other still is."""
    from clawfs.store.commits import Commits
    from clawfs.store.problems import Problems
    from clawfs.store.roots import RootKind, make_root
    from clawfs.store.unsaved import Unsaved

    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    store = make_root(str(tmp_path / "store"), RootKind.STORE, 0)
    commits = Commits([store], Unsaved(None), Problems(), lambda fps: None)
    calls = _count_canonical(monkeypatch)
    link, claimed = str(tmp_path / "link"), str(tmp_path / "claimed")
    as_named = commits.belonging(fingerprint.fingerprint(link), store, "/d")
    assert as_named(link, "a.jsonl") and as_named(link, "b.jsonl")
    assert calls == []
    by_real = commits.belonging(fingerprint.fingerprint(str(real)), store, "/d")
    assert by_real(link, "a.jsonl") and not by_real(claimed, "a.jsonl")
    assert calls == [link, claimed]
    for fp in (fingerprint.fingerprint(link), fingerprint.fingerprint(str(real)), "0" * 16):
        for recorded in (link, claimed):
            expected = fp in membership.Membership().candidates(recorded)
            assert commits.belonging(fp, store, "/d")(recorded, "a.jsonl") is expected
