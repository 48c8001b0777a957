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
    calls: list[str] = []
    canonical = fingerprint.canonical

    def counted(path: str) -> str | None:
        calls.append(path)
        return canonical(path)

    monkeypatch.setattr(fingerprint, "canonical", counted)
    assert membership.decide(root) == expected
    assert len(calls) == (0 if kind in ("windows", "unc") else 1)
