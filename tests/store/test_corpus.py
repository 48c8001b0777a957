"""claw's order and `latest` on every store root in ../shared/corpus.

The table states, per store root and workspace label, the session claw's
`/resume latest` rule picks (first in claw's order with messages, SPEC
§2: within the workspace, belonging sessions only) and why. Where claw's
answer is random (legacy whole-file JSON gets "now" on every load) the SPEC
makes the file's mtime stand in; the corpus checkout's mtimes are
arbitrary, so those rows state the rule and the test applies it to the
mtimes on disk.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from clawfs.store.index import StoreIndex
from clawfs.store.roots import RootKind, make_root

from storegen import CORPUS

BY_MTIME = "by-mtime"
"""Expectation marker: legacy JSON files, ordered by mtime then id."""


@dataclass(frozen=True)
class Case:
    root: str
    latest: dict[str | None, str | None]
    """Workspace label -> entry name `latest` names (None: no latest)."""
    top: dict[str | None, str]
    """Workspace label -> first entry in claw's order (BY_MTIME: by the rule)."""
    why: str


CASES = [
    Case(
        "HalrnLi__APP_Version_Manager/.claw/sessions",
        {"HalrnLi__APP_Version_Manager": "session-1776322916830-0.jsonl"},
        {"HalrnLi__APP_Version_Manager": "session-1776322916830-0.jsonl"},
        "flat legacy file, no workspace_root: joins the project's workspace; only session",
    ),
    Case(
        "IsaacCarrilloOjeda__claw-code/rust/.claw/sessions",
        {"rust": "session-1776132977640-0.jsonl"},
        {"rust": "session-1776132977640-0.jsonl"},
        "greatest updated_at_ms (a stale meta, 1 message), raw Windows path fingerprint",
    ),
    Case(
        "Kalacks__claw-code-main/.claw/sessions",
        {"claw-code-main-132a374a": None, "claw-code-main-f12a3138": None},
        {
            "claw-code-main-132a374a": "session-1775833121376-1.jsonl",
            "claw-code-main-f12a3138": "session-1776049626710-17.jsonl",
        },
        "all sessions meta-only (0 messages): no latest; trailing backslash = other fp, "
        "same label, so both labels get -<fp>; stem != id file sorts by its inner id's times",
    ),
    Case(
        "Kalacks__claw-code-main/rust/dist/.claw/sessions",
        {"dist": None},
        {"dist": "session-1775811205109-1.jsonl"},
        "one meta-only session: no latest",
    ),
    Case(
        "LiamVisionary__claw-code-mobile/.claw/sessions",
        {"workspace": "session-1776114084341-0.jsonl"},
        {"workspace": "session-1776114084341-0.jsonl"},
        "live file's updated_at_ms is newer than its three rot copies'",
    ),
    Case(
        "LiamVisionary__claw-code-mobile@61e29d11/.claw/sessions",
        {"workspace": "session-1776114084341-0.jsonl"},
        {"workspace": "session-1776114084341-0.jsonl"},
        "live file newer than its rot copy (which has more messages)",
    ),
    Case(
        "Torstan__claw-code/rust/.claw/sessions",
        {"rust": "session-1776052111123-0.jsonl"},
        {"rust": "session-1776052111123-0.jsonl"},
        "greatest updated_at_ms, 1 message",
    ),
    Case(
        "VitalDreams__Manga-arr/.claw/sessions",
        {"manga-arr": "session-1784077392199-0.jsonl"},
        {"manga-arr": "session-1784077392199-0.jsonl"},
        "greatest updated_at_ms (stale meta: 83 messages under a creation-time meta)",
    ),
    Case(
        "WadeBalsamo__claw-code/scripts/.claw/sessions",
        {"scripts": "session-1778310220718-0.jsonl"},
        {"scripts": "session-1778310220718-0.jsonl"},
        "greatest updated_at_ms; orphan rot files are listed but far down",
    ),
    Case(
        "WadeBalsamo__claw-code@d28ceb93/scripts/.claw/sessions",
        {"scripts": None},
        {"scripts": "session-1778310220718-0.jsonl"},
        "workspace_root edited after writing: every session is foreign here, never a target "
        "(claw would drop them and fall back to other workspaces; the SPEC does not)",
    ),
    Case(
        "atlastrinity__claw-code/program/.claw/sessions",
        {"program": "session-1782398922571-0.jsonl"},
        {"program": "session-1782398922571-0.jsonl"},
        "only session",
    ),
    Case(
        "atlastrinity__claw-code/serena/.claw/sessions",
        {"serena": "session-1782479920155-0.jsonl"},
        {"serena": "session-1782479920155-0.jsonl"},
        "greatest updated_at_ms",
    ),
    Case(
        "chatfield-sh__claw-code/rust/.claw/sessions",
        {"rust": None},
        {"rust": "session-1775433921493-0.jsonl"},
        "one meta-only flat legacy file: no latest",
    ),
    Case(
        "dowlingwong__claw-code/rust/.claw/sessions",
        {"rust": "session-1775642749221-0.jsonl"},
        {"rust": "session-1775642749221-0.jsonl"},
        "greatest updated_at_ms",
    ),
    Case(
        "heinricitorgau__claw-code/rust/.claw/sessions",
        {"rust": "session-1775640055557-0.jsonl"},
        {"rust": "session-1775640663323-0.jsonl"},
        "the three newest sessions are empty and skipped; the fourth has a message",
    ),
    Case(
        "kl137754356__Frontier/claw-web-chat/backend/.claw/sessions",
        {
            "backend": "session-1780037086127-0.jsonl",
            "claw-code": "session-1779350180877-8.jsonl",
        },
        {
            "backend": "session-1780037086127-0.jsonl",
            "claw-code": "session-1779350180877-8.jsonl",
        },
        "two workspaces (verbatim \\\\?\\ fingerprint and raw one); greatest updated_at_ms each",
    ),
    Case(
        "tomo2222jp__claw-code/.claw/sessions",
        {"tomo2222jp__claw-code": "session-1775852673929-0.jsonl"},
        {"tomo2222jp__claw-code": "session-1775852673929-0.jsonl"},
        "no workspace_root (label from the project dir); greatest updated_at_ms",
    ),
    Case(
        "ultraworkers__claw-code/rust/.claw/sessions",
        {"rust": "session-1775386853666-0.jsonl"},
        {"rust": "session-1775386832313-0.jsonl"},
        "the stem != id file holds session-1775777421902-1 (newest, meta-only): first in "
        "order by its inner id's times but empty, so the next one with a message wins",
    ),
    Case(
        "ultraworkers__claw-code/rust/crates/rusty-claude-cli/.claw/sessions",
        {"rusty-claude-cli": None},
        {"rusty-claude-cli": "session-newer.jsonl"},
        "test artifact: meta-only, no latest",
    ),
    Case(
        "ultraworkers__claw-code@31163be3/rust/.claw/sessions",
        {"rust": "session-1775386832313-0.jsonl"},
        {"rust": "session-1775386832313-0.jsonl"},
        "the earlier content of the path: one message",
    ),
    Case(
        "fuyb999__claw-code/.clawd-dev/sessions",
        {"claw-code": "session-1777080014065-12.jsonl"},
        {"claw-code": "session-1777083500052-27.jsonl"},
        "data-dir layout; the two newest are meta-only, the third has 6 messages",
    ),
    Case(
        "fuyb999__claw-code/.clawd-mock/sessions",
        {"claw-code": "session-1776254288327-0.jsonl"},
        {"claw-code": "session-1776254288327-0.jsonl"},
        "data-dir layout; only session",
    ),
    Case(
        "ultraworkers__claw-code/.claude/sessions",
        {None: BY_MTIME},
        {None: BY_MTIME},
        "whole-file JSON without ids or times: claw gives random ids and now; we use the "
        "stem and the mtime, so newest mtime (then greatest stem) among non-empty files",
    ),
    Case(
        "ultraworkers__claw-code/rust/.claude/sessions",
        {None: BY_MTIME},
        {None: BY_MTIME},
        "as above",
    ),
]


def _all_store_roots() -> set[str]:
    """Every directory in the corpus that holds sessions the way a root does."""
    found = set()
    for dirpath, _dirs, files in os.walk(CORPUS):
        if any(name.endswith((".jsonl", ".json")) for name in files):
            path = Path(dirpath)
            root = path.parent if len(path.name) == 16 and path.name.isalnum() else path
            found.add(str(root.relative_to(CORPUS)))
    return found


def test_table_covers_every_store_root() -> None:
    assert _all_store_roots() == {case.root for case in CASES}


def _by_mtime(directory: Path, only_nonempty: bool) -> str:
    """The rule for legacy JSON: newest mtime (ms), then greatest id (= stem)."""
    best: tuple[int, str] | None = None
    for path in directory.iterdir():
        if only_nonempty and b'"blocks"' not in path.read_bytes():
            continue
        key = (path.stat().st_mtime_ns // 1_000_000, path.stem)
        if best is None or key > best:
            best = key
    assert best is not None
    return best[1] + ".json"


@pytest.mark.parametrize("case", CASES, ids=[case.root for case in CASES])
def test_order_and_latest(case: Case) -> None:
    index = StoreIndex([make_root(str(CORPUS / case.root), RootKind.STORE, 0)])
    index.scan()
    by_label = {ws.label: ws for ws in index.workspaces()}
    assert set(by_label) == set(case.latest), case.why
    for label, expected in case.latest.items():
        fp = by_label[label].fp
        if expected == BY_MTIME:
            expected = _by_mtime(CORPUS / case.root, only_nonempty=True)
        got = index.latest(fp)
        assert (got.name if got else None) == expected, case.why
        loaded = index.loaded(fp)
        top = case.top[label]
        if top == BY_MTIME:
            top = _by_mtime(CORPUS / case.root, only_nonempty=False)
        assert loaded[0][0].name == top, case.why
        keys = [(s.updated_at_ms, sf.mtime_ms, s.session_id.encode()) for sf, s in loaded]
        assert keys == sorted(keys, reverse=True), "claw's order: updated, mtime, id descending"
        # Head order (before any full load) agrees with the true order here.
        fresh = StoreIndex([make_root(str(CORPUS / case.root), RootKind.STORE, 0)])
        fresh.scan()
        head_order = [sf.name for sf in (fresh.workspace(fp) or by_label[label]).ordered]
        assert head_order == [sf.name for sf, _ in loaded]


def test_global_latest_merges_workspaces() -> None:
    root = "kl137754356__Frontier/claw-web-chat/backend/.claw/sessions"
    index = StoreIndex([make_root(str(CORPUS / root), RootKind.STORE, 0)])
    index.scan()
    got = index.global_latest()
    assert got is not None
    # backend's latest has updated_at_ms 1780042092600, claw-code's 1779350192744.
    assert (got.fp, got.name) == ("c689a366f52ab4ed", "session-1780037086127-0.jsonl")


def test_all_corpus_roots_in_one_index() -> None:
    """Every corpus store as one mount: the root alias is the newest of all answers."""
    roots = [
        make_root(str(CORPUS / case.root), RootKind.STORE, n) for n, case in enumerate(CASES)
    ]
    index = StoreIndex(roots)
    index.scan()
    answers = [index.latest(ws.fp) for ws in index.workspaces()]
    best = min((sf for sf in answers if sf is not None), key=lambda sf: sf.sort_key)
    assert index.global_latest() == best
    # Same workspace fingerprint from two roots (LiamVisionary and its older copy):
    # the same file name shows once plainly and once with the later root's suffix.
    liam = index.workspace("7822b0d4410230b2")
    assert liam is not None
    names = set(liam.files)
    assert "session-1776114084341-0.jsonl" in names
    suffixed = [n for n in names if n.startswith("session-1776114084341-0~")]
    assert len(suffixed) == 1 and suffixed[0].endswith(".jsonl")
