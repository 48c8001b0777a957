"""The demo's sample store: claw's format, and the lineage it promises."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from clawfs.cli.samplestore import SampleStore, generate
from clawfs.format.fingerprint import fingerprint
from clawfs.format.session import Session, load
from clawfs.format.snapshot import render_snapshot

NOW_MS = 1_800_000_000_000


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleStore:
    return generate(tmp_path_factory.mktemp("sample"), now_ms=NOW_MS)


def loaded(path: Path) -> Session:
    mtime_ms = os.stat(path).st_mtime_ns // 1_000_000
    return load(path.read_bytes(), file_name=path.name, mtime_ms=mtime_ms)


def test_every_file_loads_with_the_format_layer(sample: SampleStore) -> None:
    assert len(sample.files) == 9
    for path in sample.files.values():
        loaded(path)


def test_jsonl_files_are_exactly_what_claw_would_save(sample: SampleStore) -> None:
    for short, path in sample.files.items():
        if path.suffix == ".jsonl":
            assert render_snapshot(loaded(path)) == path.read_bytes(), short


def test_files_sit_in_their_workspace_fingerprint_dir(sample: SampleStore) -> None:
    for short, path in sample.files.items():
        if short == "legacy":
            assert path.parent.name == "sessions" and path.suffix == ".json"
            continue
        session = loaded(path)
        assert session.workspace_root is not None
        assert path.parent.name == fingerprint(os.path.realpath(session.workspace_root))
        assert path.name == f"{session.session_id}.jsonl"


def test_lineage_is_the_intended_one(sample: SampleStore) -> None:
    s = {short: loaded(path) for short, path in sample.files.items()}
    parents = {
        short: (x.fork.parent_session_id, x.fork.branch_name)
        for short, x in s.items() if x.fork is not None
    }
    assert parents == {
        "oauth": (s["login"].session_id, "oauth"),
        "oauth-tests": (s["oauth"].session_id, "oauth-tests"),
        "bugfix": (s["login"].session_id, "bugfix"),
    }


def test_aliases_have_known_answers(sample: SampleStore) -> None:
    """Newest non-empty session: `notes` overall; in webapp the fork `bugfix`,
    since the newer meta-only session is skipped, as claw skips it."""
    s = {short: loaded(path) for short, path in sample.files.items()}
    assert s["empty"].messages == []
    non_empty = [short for short, x in s.items() if x.messages]
    assert max(non_empty, key=lambda short: s[short].updated_at_ms) == "ideas"
    webapp = [k for k in non_empty if sample.files[k].is_relative_to(sample.projects[0])]
    assert max(webapp, key=lambda short: s[short].updated_at_ms) == "bugfix"
    assert s["empty"].updated_at_ms > s["bugfix"].updated_at_ms


def test_mtimes_match_updated_at(sample: SampleStore) -> None:
    for short, path in sample.files.items():
        if short != "legacy":
            assert os.stat(path).st_mtime_ns // 1_000_000 == loaded(path).updated_at_ms


def test_mount_args_name_each_project(sample: SampleStore) -> None:
    args = sample.mount_args()
    assert args[0] == "--no-discover"
    assert args[1:] == [a for p in sample.projects for a in ("--workspace", str(p))]
