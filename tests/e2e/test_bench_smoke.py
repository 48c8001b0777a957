"""The bench must not rot: its generator writes loadable claw sessions, and a
small run of scripts/bench.py produces every SPEC §7 figure.

No timing thresholds here: the figures are only checked for being there and
sane (positive, finite, the right kind of number). The SPEC targets are the
bench's business (BENCHMARKS.md).
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from clawfs.format import session
from clawfs.format.fingerprint import fingerprint

from devtools import benchstore
from devtools.benchstore import SMOKE
from mounting import clawfs_mounts
from storegen import REPO

BENCH = REPO / "scripts" / "bench.py"


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def all_files(store: benchstore.BenchStore) -> list[Path]:
    return sorted(p for ws in store.workspaces for p in Path(ws.dir).iterdir())


def test_generated_store_is_claws_format_and_cached(tmp_path: Path) -> None:
    store = benchstore.ensure_store(SMOKE, tmp_path)
    files = all_files(store)
    assert len(files) == store.files >= SMOKE.sessions
    assert sum(p.stat().st_size for p in files) == store.bytes
    parents: dict[str, str] = {}
    loaded = {}
    for path in files:
        mtime_ms = path.stat().st_mtime_ns // 1_000_000
        s = session.load(path.read_bytes(), file_name=path.name, mtime_ms=mtime_ms)
        assert s.workspace_root is not None
        assert fingerprint(os.path.realpath(s.workspace_root)) == path.parent.name  # belongs
        loaded[path.name] = s
        if s.fork is not None:
            parents[s.session_id] = s.fork.parent_session_id
    assert store.big.sessions == round(SMOKE.sessions * SMOKE.big_share)
    assert len(store.workspaces) == SMOKE.workspaces + 1

    def depth(sid: str) -> int:
        return 0 if sid not in parents else 1 + depth(parents[sid])

    assert max(depth(sid) for sid in parents) >= 64  # deeper than the mount nests
    for k, size in enumerate(SMOKE.fork_sizes):
        role = store.roles[f"fork_{k}"]
        assert size <= role.size < size + 64 * 1024
        assert loaded[role.name].fork is None  # a root of forks/
    assert store.roles["large"].size >= SMOKE.large_size

    big = [loaded[p.name] for p in Path(store.big.dir).iterdir()]
    newest = max(big, key=lambda s: s.updated_at_ms)
    assert newest.messages == []  # `latest` has to skip it, as claw does

    again = benchstore.ensure_store(SMOKE, tmp_path)
    assert again == store  # from the manifest, not generated anew
    files[0].unlink()
    assert not benchstore.intact(store)
    again = benchstore.ensure_store(SMOKE, tmp_path)  # changed: generated anew
    assert files[0].exists() and benchstore.intact(again)


def test_bench_smoke_run_reports_every_figure(tmp_path: Path) -> None:
    bench = load_bench()
    cache = tmp_path / "cache"
    out = tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAW", "XDG_"))}
    env.update(HOME=str(tmp_path), XDG_STATE_HOME=str(tmp_path / "state"))
    done = subprocess.run(
        [sys.executable, str(BENCH), "--smoke", "--runs", "1", "--repeat", "1",
         "--no-drop-caches", "--settle-timeout", "60", "--change-min", "0", "--cache", str(cache),
         "--json", str(out)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert not [m for m in clawfs_mounts() if m.startswith(str(tmp_path))]
    report = json.loads(out.read_text())

    figures = report["figures"]
    assert set(figures) == set(bench.SPECS)
    for name, fig in figures.items():
        assert fig["errors"] == [], (name, fig["errors"])
        assert _sane(fig["clawfs"]), (name, fig)
        if bench.SPECS[name].twin != "-":
            assert _sane(fig["twin"]) and fig["ratio"] is not None, (name, fig)
        if bench.SPECS[name].alt_twin:
            assert _sane(fig["alt_twin"]), (name, fig)
    assert 1 < figures["daemon_peak_mem"]["clawfs"] < 4096
    assert figures["read_large_warm"]["clawfs"] > 0
    assert figures["cat_all_warm"]["per_file_ms"] is not None
    assert figures["cat_md_warm"]["per_file_ms"] is not None
    assert figures["remount_files_read"]["clawfs"] == 0  # the cache held every file
    assert figures["remount_files_read"]["samples"]["clawfs"] == [0, 0]  # warm and cold
    assert figures["cache_per_session"]["clawfs"] > 0
    for per_session in ("peak_per_session", "rss_per_session"):
        assert 1000 < figures[per_session]["clawfs"] < 4096e6 / SMOKE.sessions
    assert figures["visible_after_delete"]["samples"]["clawfs"]
    assert figures["cpu_fork"]["title"].startswith("daemon CPU per change: fork of ")
    assert report["checks"] == {"head_listing_agrees_with_claw_resolver": True,
                                "md_sizes_are_exact": True,
                                "root_latest_is_newest_of_all": True,
                                "store_unchanged_after_the_bench": True,
                                "ws_latest_is_claws_pick": True}
    assert "disabled" in report["cold"]
    assert report["machine"]["nproc"] >= 1

    # The bench removed what it created: the store is as generated.
    store = benchstore.load_manifest(cache / SMOKE.key())
    assert store is not None and len(all_files(store)) == store.files
    assert "clawfs bench" in done.stdout and "PASS" in done.stdout


def _sane(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value >= 0
