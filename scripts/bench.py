#!/usr/bin/env python3
"""Measure clawfs against its native twin on the SPEC §7 bench store.

    .venv/bin/python scripts/bench.py                     # 20,000 sessions, ~1 GB, 3 runs
    .venv/bin/python scripts/bench.py --sessions 100000 --json bench.json
    .venv/bin/python scripts/bench.py --smoke --runs 1    # a few hundred small sessions

The store is generated once per set of parameters (scripts/devtools/benchstore.py)
and cached under --cache. Each run mounts it with discovery off and
measures every SPEC §7 figure on the mount and on its native twin, in the
same run, so both see the same machine load:

* mount ready: `clawfs mount` until it returns (it returns once the mount
  answers); twin: reading and parsing the head of every session file,
  the least any index has to do. Measured for the first-ever mount (cold,
  no index cache), for a `--no-cache` mount (warm), and for the remount
  with the cache present (warm and cold; alt twin: listing and `stat` of
  every file, the least a cached index has to do), with the session files
  the remount read (its log's tally: none when nothing changed) and how
  long each daemon stays busy after it answers.
* memory: the daemons' peak, and per session: the peak, the RSS of the
  idle remount, the index cache's bytes on disk.
* first / later `readlink latest`: twins are claw's own resolver in Python
  (list the workspace, parse every line of every file, claw's order and
  empty-skip) and the head-only listing (first line of each file only).
* `ls -l` of the big workspace (its `.md` siblings included) vs its backing
  directory; reading the large transcript (`cat`); reading all transcripts
  (`cat`, `grep -c`) with the cost per file; fork through the control file
  vs copying the file; how long a session saved claw-style into the
  backing store takes to show through the mount (vs a native `stat`), also
  right after a deletion; the daemon's CPU for one change (a new session,
  a deletion, a fork of a small session).
* The Markdown view (SPEC §8): render throughput in MB of JSONL per second
  (twin: claw's load of the same bytes, in this process); `cat` of every
  `.md` (twin: `cat` of the backing files) and `grep -c` over every `.md`
  (twin: the same over every `.jsonl` through the mount), with the cost per
  file.

"Cold" means after `sync; echo 3 > /proc/sys/vm/drop_caches`, done before
the native and the mount measurement alike (the table says when the
machine refused it). Medians over the runs are reported, with the ratio to
the twin and a pass/fail mark against the SPEC target. Whatever happens
(Ctrl-C included), the mount is unmounted and the files the bench created
in the store are removed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clawfs.format import markdown  # noqa: E402
from clawfs.format.session import JsonlReader, LoadError, Session, new_session_id  # noqa: E402
from clawfs.format.snapshot import render_snapshot  # noqa: E402
from clawfs.mount.view import markdown_name  # noqa: E402

from devtools import (
    benchstore,  # noqa: E402
    mountctl,  # noqa: E402
)
from devtools.benchstore import BenchParams, BenchStore  # noqa: E402

HEAD_BYTES = 16 * 1024
GREP_PATTERN = '"type":"message"'
MD_GREP_PATTERN = "tool result"
"""What `grep -c` looks for in the `.md` files and, as their twin, in the
`.jsonl` files through the mount (a line count over all of each file)."""
RENDER_SAMPLE_BYTES = 64 << 20
"""JSONL bytes the render throughput is measured over (the big workspace's
files by name, up to this much)."""
SIZE_CHECKS = 500
"""`.md` files whose `st_size` is checked against the bytes read."""
READY = re.compile(r"ready: serving .* \(pid (\d+)\)")
INDEXED = re.compile(r"indexed .* in [\d.]+ s: ([\d,]+) from the index cache, ([\d,]+) read")
"""What `clawfs mount` logs once it has indexed: files taken from the cache, files read."""
CLK_TCK = os.sysconf("SC_CLK_TCK")
MOUNT_TIMEOUT = 600.0
FORK_SETTLE_S = 1.0
"""Seconds the mount gets to take in the deletion of a timed fork (its clean-up)."""
CHANGE_QUIET_S = 1.0
"""Idle seconds after a change that end its CPU count."""
CHANGE_MIN_S = 5.5
"""Seconds a change's CPU count lasts at least: the daemon writes what it
learned to the index cache every 5 s (live/saving.py), part of the change's cost."""
SMALL_FORK_BYTES = 64 * 1024
"""At most the size of the session forked for the per-change CPU figure: a
small one, so the figure is the index's work, not the writing of a big fork."""

# -- figures ------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """A SPEC §7 target: `kind` is le (clawfs value), ratio_le / ratio_ge
    (clawfs over twin), per_file_le (extra ms per file) or info."""

    kind: str
    value: float = 0.0

    def text(self, unit: str) -> str:
        if self.kind == "le":
            return f"<= {_num(self.value)} {unit}"
        if self.kind == "ratio_le":
            return f"<= {_num(self.value)}x twin"
        if self.kind == "ratio_ge":
            return f">= {_num(self.value)}x twin"
        if self.kind == "per_file_le":
            return f"+{_num(self.value)} ms/file"
        return "report"


@dataclass(frozen=True)
class Spec:
    name: str
    title: str
    unit: str
    rule: Rule
    twin: str
    alt_twin: str = ""
    per_file: bool = False
    """Also report the cost per file over the twin's."""


FIGURES = [
    Spec("mount_first_cold", "first-ever mount answers, cold (no cache)", "s", Rule("le", 3.0),
         "head scan of every file"),
    Spec("mount_ready_warm", "remount answers, warm (cache present)", "s", Rule("le", 1.0),
         "head scan of every file", "list + stat of every file"),
    Spec("mount_ready_cold", "remount answers, cold (cache present)", "s", Rule("le", 3.0),
         "head scan of every file", "list + stat of every file"),
    Spec("mount_nocache_warm", "mount answers, warm, --no-cache", "s", Rule("info"),
         "head scan of every file"),
    Spec("remount_files_read", "remount: session files read (its log)", "files", Rule("le", 0.0),
         "-"),
    Spec("latest_first_warm", "first readlink latest, warm", "s", Rule("le", 1.0),
         "claw resolver (full parse)", "head-only listing"),
    Spec("latest_first_cold", "first readlink latest, cold", "s", Rule("le", 1.0),
         "claw resolver (full parse)", "head-only listing"),
    Spec("ws_latest_first_warm", "first readlink <big ws>/latest, warm", "s", Rule("le", 1.0),
         "claw resolver (full parse)", "head-only listing"),
    Spec("ws_latest_first_cold", "first readlink <big ws>/latest, cold", "s", Rule("le", 1.0),
         "claw resolver (full parse)", "head-only listing"),
    Spec("latest_later", "later readlink latest (quiet)", "ms", Rule("le", 1.0),
         "claw resolver (full parse)", "head-only listing"),
    Spec("daemon_settle", "first-ever mount: daemon busy to idle", "s", Rule("info"), "-"),
    Spec("remount_settle", "remount: daemon busy to idle", "s", Rule("info"), "-"),
    Spec("daemon_peak_mem", "daemon peak memory (VmHWM)", "MB", Rule("le", 150.0),
         "-", "mount command's peak (pre-fork index)"),
    Spec("peak_per_session", "daemon peak (VmHWM) per session", "B", Rule("info"), "-"),
    Spec("rss_per_session", "daemon RSS when idle, per session", "B", Rule("info"), "-"),
    Spec("cache_per_session", "index cache on disk, per session", "B", Rule("info"), "-"),
    Spec("ls_l_warm", "ls -l of the big workspace (+ .md), warm", "s", Rule("ratio_le", 3.0),
         "ls -l of its backing dir", "ls -l of as many native entries"),
    Spec("read_large_warm", "read the large transcript, warm", "MB/s", Rule("ratio_ge", 0.75),
         "cat of the backing file"),
    Spec("read_large_cold", "read the large transcript, cold", "MB/s", Rule("ratio_ge", 0.5),
         "cat of the backing file"),
    Spec("cat_all_warm", "cat every transcript, warm", "s", Rule("per_file_le", 0.3),
         "cat of the backing files", per_file=True),
    Spec("cat_all_cold", "cat every transcript, cold", "s", Rule("info"),
         "cat of the backing files", per_file=True),
    Spec("grep_all_warm", "grep -c every transcript, warm", "s", Rule("per_file_le", 0.3),
         "grep -c of the backing files", per_file=True),
    Spec("grep_all_cold", "grep -c every transcript, cold", "s", Rule("info"),
         "grep -c of the backing files", per_file=True),
    Spec("render_throughput", "render to Markdown (JSONL in)", "MB/s", Rule("info"),
         "claw's load of the same bytes"),
    Spec("cat_md_warm", "cat every .md, warm", "s", Rule("info"),
         "cat of the backing files", per_file=True),
    Spec("cat_md_cold", "cat every .md, cold", "s", Rule("info"),
         "cat of the backing files", per_file=True),
    Spec("grep_md_warm", "grep -c every .md, warm", "s", Rule("info"),
         "grep -c of every .jsonl via mount", per_file=True),
    Spec("grep_md_cold", "grep -c every .md, cold", "s", Rule("info"),
         "grep -c of every .jsonl via mount", per_file=True),
    Spec("fork_0", "fork of the first fork size", "s", Rule("le", 0.1), "copy of the file"),
    Spec("fork_1", "fork of the second fork size", "s", Rule("le", 1.0), "copy of the file"),
    Spec("new_session_visible", "new session visible via mount", "s", Rule("le", 0.1),
         "native stat after the rename"),
    Spec("visible_after_delete", "new session visible, right after a deletion", "s",
         Rule("le", 0.1), "native stat after the rename"),
    Spec("cpu_new_session", "daemon CPU per change: a new session", "ms", Rule("info"), "-"),
    Spec("cpu_deletion", "daemon CPU per change: a deletion", "ms", Rule("info"), "-"),
    Spec("cpu_fork", "daemon CPU per change: a fork", "ms", Rule("info"), "-"),
]
SPECS = {spec.name: spec for spec in FIGURES}
PEAKS = ("daemon_peak_mem", "peak_per_session")
"""Figures whose value is the maximum over the runs (a peak), not the median."""


@dataclass
class Samples:
    mount: list[float] = field(default_factory=list)
    twin: list[float] = field(default_factory=list)
    alt: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class Results:
    """Samples per figure over all runs; medians, ratios and verdicts at the end."""

    def __init__(self, files: int, titles: dict[str, str] | None = None,
                 rules: dict[str, Rule] | None = None) -> None:
        self.files = files
        self.titles = titles or {}
        self.rules = rules or {}
        self.samples = {spec.name: Samples() for spec in FIGURES}
        self.checks: dict[str, list[bool]] = {}
        self.notes: list[str] = []

    def add(self, name: str, mount: float | None = None, twin: float | None = None,
            alt: float | None = None) -> None:
        s = self.samples[name]
        for values, value in ((s.mount, mount), (s.twin, twin), (s.alt, alt)):
            if value is not None:
                values.append(value)

    def check(self, name: str, ok: bool) -> None:
        self.checks.setdefault(name, []).append(ok)

    @contextlib.contextmanager
    def measuring(self, *names: str) -> Iterator[None]:
        """Record a failure of these figures and go on with the others."""
        try:
            yield
        except (OSError, subprocess.SubprocessError, RuntimeError, ValueError) as e:
            for name in names:
                self.samples[name].errors.append(f"{type(e).__name__}: {e}")
            print(f"  ! {', '.join(names)}: {type(e).__name__}: {e}", file=sys.stderr)

    def figure(self, spec: Spec) -> dict[str, Any]:
        s = self.samples[spec.name]
        rule = self.rules.get(spec.name, spec.rule)
        mount = _median(s.mount)
        twin = _median(s.twin)
        result: dict[str, Any] = {
            "title": self.titles.get(spec.name, spec.title), "unit": spec.unit,
            "clawfs": mount, "twin": twin,
            "twin_is": spec.twin, "alt_twin": _median(s.alt), "alt_twin_is": spec.alt_twin or None,
            "ratio": _ratio(mount, twin), "target": rule.text(spec.unit),
            "samples": {"clawfs": s.mount, "twin": s.twin, "alt_twin": s.alt},
            "errors": s.errors,
        }
        if spec.name in PEAKS:  # a peak is a maximum, not a median
            result["clawfs"] = max(s.mount, default=None)
            result["alt_twin"] = max(s.alt, default=None)
        if spec.per_file:
            result["per_file_ms"] = _per_file_ms(mount, twin, self.files)
        result["pass"] = False if s.errors else _verdict(rule, result)
        return result

    def report(self) -> dict[str, Any]:
        return {
            "figures": {spec.name: self.figure(spec) for spec in FIGURES},
            "checks": {k: all(v) for k, v in self.checks.items()},
            "notes": self.notes,
        }


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def _per_file_ms(mount: float | None, twin: float | None, files: int) -> float | None:
    if mount is None or twin is None or not files:
        return None
    return (mount - twin) * 1000 / files


def _verdict(rule: Rule, result: dict[str, Any]) -> bool | None:
    value = {"le": result["clawfs"], "ratio_le": result["ratio"], "ratio_ge": result["ratio"],
             "per_file_le": result.get("per_file_ms")}.get(rule.kind)
    if rule.kind == "info":
        return None
    if value is None:
        return False
    return bool(value >= rule.value) if rule.kind == "ratio_ge" else bool(value <= rule.value)


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 1:
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{value:.3g}"


# -- the machine --------------------------------------------------------------


def machine() -> dict[str, Any]:
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": os.cpu_count(), "cpu": model, "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(), "python": platform.python_version(),
        "fuse": _version("fusermount3", "-V"), "loadavg_start": os.getloadavg(),
    }


def _version(*command: str) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError:
        return "?"
    return (done.stdout or done.stderr).strip().splitlines()[0] if (done.stdout or done.stderr) \
        else "?"


class Caches:
    """Drops the page, dentry and inode caches, or says why it could not."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.refused: str | None = None if enabled else "disabled (--no-drop-caches)"

    def drop(self) -> None:
        if self.refused is not None:
            return
        os.sync()
        try:
            with open("/proc/sys/vm/drop_caches", "w") as f:
                f.write("3\n")
        except OSError as e:
            self.refused = f"the machine refused drop_caches: {e.strerror}"
            print(f"  ! cold figures are NOT cold: {self.refused}", file=sys.stderr)

    def describe(self) -> str:
        return "dropped before each cold measurement" if self.refused is None else self.refused


# -- native twins ---------------------------------------------------------------


def is_session(name: str) -> bool:
    """claw: the extension (after the last dot) is exactly jsonl or json."""
    return name.rpartition(".")[2] in ("jsonl", "json") and "." in name


def session_files(directory: str) -> list[str]:
    with os.scandir(directory) as it:
        return sorted(e.name for e in it if is_session(e.name) and e.is_file())


def head_scan(directories: Sequence[str]) -> int:
    """Open every session file, read its first 16 KiB and parse its first line."""
    count = 0
    for directory in directories:
        with os.scandir(directory) as it:
            for entry in it:
                if is_session(entry.name):
                    _head(entry.path)
                    count += 1
    return count


def stat_scan(directories: Sequence[str]) -> int:
    """List every directory and `stat` every session file: what a remount of
    an unchanged store has to do (SPEC §7), the least any cached index must."""
    count = 0
    for directory in directories:
        with os.scandir(directory) as it:
            for entry in it:
                if is_session(entry.name):
                    entry.stat(follow_symlinks=False)
                    count += 1
    return count


def _head(path: str) -> tuple[dict[str, Any] | None, bool, int]:
    """(first-line meta or None, a message record follows, mtime ms)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        data = os.pread(fd, HEAD_BYTES, 0)
        mtime_ms = os.fstat(fd).st_mtime_ns // 1_000_000
    finally:
        os.close(fd)
    end = data.find(b"\n")
    try:
        meta = json.loads(data[:end] if end >= 0 else data)
    except ValueError:
        return None, False, mtime_ms
    if not isinstance(meta, dict) or meta.get("type") != "session_meta":
        return None, False, mtime_ms
    rest = data[end + 1:] if end >= 0 else b""
    return meta, b'{"message":' in rest or b'"type":"message"' in rest, mtime_ms


def _belongs(meta: dict[str, Any] | None, path: str, root: str) -> bool:
    """claw's list validation: the recorded root is the workspace (canonically)."""
    recorded = None if meta is None else meta.get("workspace_root")
    if isinstance(recorded, str):
        return os.path.realpath(recorded) == os.path.realpath(root)
    return os.path.realpath(path).startswith(os.path.realpath(root) + os.sep)


def _claw_sort_key(updated: int, mtime: int, session_id: str) -> tuple[int, int, bytes]:
    # Descending on all three; negating bytes is done by inverting each byte.
    return (-updated, -mtime, bytes(255 - b for b in session_id.encode()) + b"\xff")


def resolve_full(directory: str, root: str) -> str | None:
    """claw's `latest` for one workspace: load every file whole (here with the
    stdlib JSON parser), drop those that fail validation, sort, skip empties."""
    entries = []
    for name in session_files(directory):
        path = os.path.join(directory, name)
        with open(path, "rb") as f:
            mtime = os.fstat(f.fileno()).st_mtime_ns // 1_000_000
            data = f.read()
        loaded = _load_lines(data)
        if loaded is None:  # fails to load: listed with fallbacks, never `latest`
            continue
        meta, count = loaded
        if not _belongs(meta, path, root):
            continue
        sid = meta.get("session_id", name.rsplit(".", 1)[0]) if meta else name.rsplit(".", 1)[0]
        updated = meta.get("updated_at_ms", 0) if meta else 0
        entries.append((_claw_sort_key(updated, mtime, sid), count, name))
    entries.sort()
    return next((name for _key, count, name in entries if count > 0), None)


def _load_lines(data: bytes) -> tuple[dict[str, Any] | None, int] | None:
    """(last meta, message count); None when claw would fail the file."""
    meta: dict[str, Any] | None = None
    count = 0
    try:
        for line in data.decode("utf-8").split("\n"):
            if not line.strip():
                continue
            record = json.loads(line)
            kind = record["type"]
            if kind == "message":
                count += 1
            elif kind == "session_meta":
                meta = record
    except (ValueError, KeyError, TypeError):
        return None
    return meta, count


def resolve_heads(directory: str, root: str) -> str | None:
    """`latest` from heads only: the first line of each file, no body."""
    entries = sorted(_head_entries(directory, root))
    return next((name for _key, has, name in entries if has), None)


def newest_of_all(workspaces: Sequence[benchstore.Workspace]) -> str | None:
    """The root alias by heads: `<fp>/<name>` of the first non-empty session of
    all workspaces merged (the bench store's heads tell the truth)."""
    entries = sorted((key, has, f"{ws.fp}/{name}") for ws in workspaces
                     for key, has, name in _head_entries(ws.dir, ws.root))
    return next((name for _key, has, name in entries if has), None)


def _head_entries(directory: str, root: str) -> list[tuple[tuple[int, int, bytes], bool, str]]:
    entries = []
    for name in session_files(directory):
        path = os.path.join(directory, name)
        meta, has_messages, mtime = _head(path)
        if meta is None or not _belongs(meta, path, root):
            continue
        key = _claw_sort_key(meta.get("updated_at_ms", 0), mtime, meta.get("session_id", name))
        entries.append((key, has_messages, name))
    return entries


def timed(fn: Callable[[], object]) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def run_tool(command: Sequence[str], stdin: bytes | None = None, capture: bool = False) -> float:
    """Time a command; its output goes to /dev/null unless `capture` (grep
    stops at the first match when its output is /dev/null)."""
    out = subprocess.PIPE if capture else subprocess.DEVNULL
    env = {**os.environ, "LC_ALL": "C"}
    began = time.perf_counter()
    done = subprocess.run(command, input=stdin, stdout=out, stderr=subprocess.PIPE, env=env,
                          check=False)
    elapsed = time.perf_counter() - began
    if done.returncode > 1 and not (command[0] == "xargs" and done.returncode == 123):
        raise RuntimeError(f"{command[0]} failed ({done.returncode}): "
                           f"{done.stderr.decode(errors='replace').strip()[:300]}")
    return elapsed


# -- the mount ------------------------------------------------------------------


@dataclass(frozen=True)
class Started:
    """What one `clawfs mount` took and logged."""

    ready_s: float
    """Seconds until the command returned (it returns once the mount answers)."""
    command_peak_mb: float
    """The command's own VmHWM: it indexes before it forks the daemon, so its
    peak is part of the daemon's story (a forked child's VmHWM starts afresh)."""
    cached: int | None
    """Session files the index took from its cache (None: not logged)."""
    read: int | None
    """Session files it read."""


class Mount:
    """`clawfs mount` as a user runs it (daemon mode), sandboxed and discovery off.

    Its index cache lives in the sandbox (XDG_CACHE_HOME), kept from one
    mount to the next as a user's is, until `drop_index_cache`.
    """

    def __init__(self, store: Path, workdir: Path) -> None:
        self.store = store
        self.path = workdir / "mnt"
        self.log = workdir / "clawfs.log"
        self.sandbox = workdir / "sandbox"
        self.cache_home = workdir / "cache"
        self.pid: int | None = None
        self.path.mkdir(parents=True, exist_ok=True)

    def env(self) -> dict[str, str]:
        """The sandbox, where Python may keep the bytecode it compiles, as an
        installed clawfs has it (pip compiles it): with PYTHONDONTWRITEBYTECODE
        inherited, every mount compiled every module again (~0.1 s of CPU,
        0.2 s on a loaded machine, in each remount figure)."""
        env = mountctl.sandbox_env(self.sandbox) | {"XDG_CACHE_HOME": str(self.cache_home)}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        return env

    @property
    def index_cache(self) -> Path:
        """Where the mount keeps its index cache (host/dirs.cache_dir)."""
        return self.cache_home / "clawfs"

    def drop_index_cache(self) -> None:
        shutil.rmtree(self.index_cache, ignore_errors=True)

    def index_cache_bytes(self) -> int:
        """Bytes of every file of the index cache (the database, its WAL)."""
        return sum(p.stat().st_size for p in self.index_cache.iterdir() if p.is_file())

    def start(self, no_cache: bool = False) -> Started:
        """Mount, with the index cache unless `no_cache`."""
        offset = self.log.stat().st_size if self.log.exists() else 0
        command = [sys.executable, "-m", "clawfs", "mount", str(self.path), "--no-discover",
                   "--store", str(self.store), "--log-file", str(self.log)]
        if no_cache:
            command.append("--no-cache")
        began = time.perf_counter()
        proc = subprocess.Popen(command, env=self.env(), cwd=mountctl.sandbox_cwd(self.sandbox),
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, start_new_session=True)
        status, command_peak = _wait_peak(proc, began + MOUNT_TIMEOUT)
        elapsed = time.perf_counter() - began
        proc.returncode = os.waitstatus_to_exitcode(status)
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if proc.stderr:
            proc.stderr.close()
        if proc.returncode != 0:
            raise RuntimeError(f"clawfs mount failed ({proc.returncode}): {err.strip()}")
        with open(self.log, "rb") as f:
            f.seek(offset)
            logged = f.read().decode(errors="replace")
        found = READY.findall(logged)
        self.pid = int(found[-1]) if found else None
        tally = INDEXED.findall(logged)
        cached, read = (int(n.replace(",", "")) for n in tally[-1]) if tally else (None, None)
        return Started(elapsed, command_peak, cached, read)

    def mounted(self) -> bool:
        return mountctl.is_mounted(self.path)

    def stop(self) -> None:
        """Unmount whatever state it is in: `clawfs umount`, then the cleanup chain."""
        if self.mounted():
            with contextlib.suppress(subprocess.TimeoutExpired, OSError):
                subprocess.run([sys.executable, "-m", "clawfs", "umount", str(self.path)],
                               capture_output=True, timeout=15, check=False, env=self.env())
        mountctl.force_unmount(self.path)
        if self.pid is not None:
            mountctl.wait_gone(self.pid)
            self.pid = None

    def cpu_seconds(self) -> float:
        assert self.pid is not None
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def thread_cpu(self) -> dict[str, float]:
        """CPU seconds of each live thread of the daemon, to the ns where the
        kernel keeps it (/proc/PID/task/TID/sched); {} where it does not.
        `cpu_seconds` counts finished threads too but in clock ticks (10 ms),
        too coarse for one change."""
        assert self.pid is not None
        times = {}
        with contextlib.suppress(OSError):
            for tid in os.listdir(f"/proc/{self.pid}/task"):
                with contextlib.suppress(OSError), open(f"/proc/{self.pid}/task/{tid}/sched") as f:
                    for line in f:
                        if line.startswith("se.sum_exec_runtime"):
                            times[tid] = float(line.split(":")[1]) / 1000
        return times

    def cpu_mark(self) -> tuple[dict[str, float], float]:
        return self.thread_cpu(), self.cpu_seconds()

    def cpu_since(self, mark: tuple[dict[str, float], float]) -> float:
        """CPU seconds the daemon used since `mark`: to the ns when no thread
        ended meanwhile, else in clock ticks."""
        threads, ticks = mark
        now = self.thread_cpu()
        if threads and set(threads) <= set(now):
            return sum(now.values()) - sum(threads.values())
        return self.cpu_seconds() - ticks

    def rss_mb(self) -> float:
        assert self.pid is not None
        values = mountctl.status_mb(self.pid)
        if "VmRSS" not in values:
            raise RuntimeError(f"cannot read /proc/{self.pid}/status")
        return values["VmRSS"]

    def peak_mb(self) -> float:
        """VmHWM of the daemon in MB."""
        assert self.pid is not None
        values = mountctl.status_mb(self.pid)
        if "VmHWM" not in values:
            raise RuntimeError(f"cannot read /proc/{self.pid}/status")
        return values["VmHWM"]

    def settle(self, timeout: float, window: float) -> float | None:
        """Seconds until the daemon stopped using CPU (none for `window` s); None
        when it was still busy after `timeout`. The figures after this are
        those of a quiet mount; what the background work costs meanwhile
        shows in how long it took."""
        began = time.perf_counter()
        last, last_t = self.cpu_seconds(), began
        while time.perf_counter() - began < timeout:
            time.sleep(window / 4)
            now, now_t = self.cpu_seconds(), time.perf_counter()
            if now - last > 0.03:
                last, last_t = now, now_t
            elif now_t - last_t >= window:
                return last_t - began
        return None


def _wait_peak(proc: subprocess.Popen[bytes], deadline: float) -> tuple[int, float]:
    """Reap `proc`; (its wait status, its last seen VmHWM in MB). Kill it past `deadline`.

    Its VmHWM is read from /proc while it lives: `ru_maxrss` would not do,
    as a vfork()ed child's count starts from the parent's (this bench's) peak.
    """
    peak = 0.0
    polled = 0.0
    while True:
        pid, status = os.waitpid(proc.pid, os.WNOHANG)
        if pid:
            return status, peak
        now = time.perf_counter()
        if now > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
        if now - polled > 0.01:
            peak = mountctl.status_mb(proc.pid).get("VmHWM", peak)
            polled = now
        time.sleep(0.002)


# -- the bench ------------------------------------------------------------------


class Bench:
    def __init__(self, store: BenchStore, workdir: Path, caches: Caches, args: argparse.Namespace,
                 results: Results) -> None:
        self.store = store
        self.workdir = workdir
        self.caches = caches
        self.args = args
        self.results = results
        self.mount = Mount(store.store, workdir)
        self.scratch = workdir / "scratch"
        self.scratch.mkdir(exist_ok=True)
        big = store.big
        self.big_dir = Path(big.dir)
        self.big_root = big.root
        self.mount_big = self.mount.path / "sessions" / big.fp
        self.dirs = [ws.dir for ws in store.workspaces]
        self.native_files = [os.path.join(ws.dir, n) for ws in store.workspaces
                             for n in session_files(ws.dir)]
        self.mount_files = [str(self.mount.path / "sessions" / os.path.relpath(p, store.store))
                            for p in self.native_files]
        self.mount_md_files = [os.path.join(os.path.dirname(p), md) for p, md in
                               zip(self.mount_files, md_names(self.native_files), strict=True)]
        self.present = set(self.native_files)
        results.files = len(self.native_files)
        self.expected: str | None = None
        self.expected_root = newest_of_all(store.workspaces)
        self.small_root = small_root(self.big_dir, {role.name for role in store.roles.values()})
        results.titles["cpu_fork"] = \
            f"daemon CPU per change: fork of {self.small_root.stat().st_size // 1024} KiB"

    # One run: the first-ever mount, cold (no index cache; its sweep fills
    # the cache); a --no-cache mount, warm; the remount, warm (cache present),
    # where the quiet-mount figures are taken; the remount, cold.
    def run(self, number: int) -> None:
        r = self.results
        print(f"run {number}: native twins, cold", file=sys.stderr)
        self.native_cold()
        print(f"run {number}: first-ever mount (no index cache), cold", file=sys.stderr)
        self.mount.drop_index_cache()
        self.mount_and_first_latest("cold")
        self.settle("daemon_settle")
        self.reads("cold")
        self.peak()
        self.mount.stop()
        with r.measuring("cache_per_session"):
            r.add("cache_per_session", mount=self.mount.index_cache_bytes() / r.files)
        print(f"run {number}: native twins, warm; mount --no-cache, warm", file=sys.stderr)
        self.native_warm()
        self.render()
        with r.measuring("mount_nocache_warm"):
            r.add("mount_nocache_warm", mount=self.mount.start(no_cache=True).ready_s)
        self.mount.stop()
        print(f"run {number}: remount (index cache present), warm", file=sys.stderr)
        self.mount_and_first_latest("warm")
        self.settle("remount_settle")
        with r.measuring("rss_per_session"):
            r.add("rss_per_session", mount=self.mount.rss_mb() * 1e6 / r.files)
        self.later_latest()
        self.ls_l()
        self.reads("warm")
        self.md_sizes()
        self.forks()
        self.new_session_visible()
        self.changes()
        self.peak()
        self.mount.stop()
        print(f"run {number}: remount (index cache present), cold", file=sys.stderr)
        with r.measuring("mount_ready_cold"):
            self.caches.drop()
            self.remounted("mount_ready_cold", self.mount.start())
        self.mount.stop()
        r.notes.append(f"run {number}: loadavg {os.getloadavg()}")

    def peak(self) -> None:
        """The daemon's peak so far (each daemon counts: the first-ever mount's
        has swept every file, the remount's has forked and read)."""
        r = self.results
        with r.measuring("daemon_peak_mem"):
            if self.mount.pid is None:
                raise RuntimeError("daemon pid not found in the mount log")
            peak = self.mount.peak_mb()
            r.add("daemon_peak_mem", mount=peak)
            r.add("peak_per_session", mount=peak * 1e6 / r.files)

    def remounted(self, fig: str, started: Started) -> None:
        """A remount's figures: how soon it answered, how many files it read."""
        r = self.results
        r.add(fig, mount=started.ready_s)
        with r.measuring("remount_files_read"):
            if started.read is None:
                raise RuntimeError("the mount logged no index tally")
            r.add("remount_files_read", mount=started.read)

    def native_cold(self) -> None:
        r = self.results
        self.caches.drop()
        scan = timed(lambda: head_scan(self.dirs))
        r.add("mount_first_cold", twin=scan)
        self.caches.drop()
        r.add("mount_ready_cold", twin=scan, alt=timed(lambda: stat_scan(self.dirs)))
        for fig in ("latest_first_cold", "ws_latest_first_cold"):
            self.caches.drop()
            t_full = timed(self._resolve_full)
            self.caches.drop()
            r.add(fig, twin=t_full, alt=timed(self._resolve_heads))

    def native_warm(self) -> None:
        r = self.results
        head_scan(self.dirs)
        scan = timed(lambda: head_scan(self.dirs))
        r.add("mount_ready_warm", twin=scan, alt=timed(lambda: stat_scan(self.dirs)))
        r.add("mount_nocache_warm", twin=scan)
        self._resolve_full()
        t_full = timed(self._resolve_full)
        t_head = timed(self._resolve_heads)
        for fig in ("latest_first_warm", "ws_latest_first_warm", "latest_later"):
            scale = 1000 if fig == "latest_later" else 1
            r.add(fig, twin=t_full * scale, alt=t_head * scale)

    def render(self) -> None:
        """Render throughput, in this process, against claw's load of the same bytes."""
        with self.results.measuring("render_throughput"):
            sample, total = [], 0
            for path in sorted(session_files(str(self.big_dir))):
                if total >= RENDER_SAMPLE_BYTES:
                    break
                full = os.path.join(self.big_dir, path)
                data = Path(full).read_bytes()
                sample.append((full, data))
                total += len(data)
            mb = total / 1e6
            def render_all() -> None:
                for path, data in sample:
                    markdown.render_bytes(data, path)

            def load_all() -> None:
                for path, data in sample:
                    _load(data, os.path.basename(path))

            rendered, loaded = timed(render_all), timed(load_all)
            self.results.add("render_throughput", mount=mb / rendered, twin=mb / loaded)

    def _resolve_full(self) -> None:
        self.expected = resolve_full(str(self.big_dir), self.big_root)

    def _resolve_heads(self) -> None:
        found = resolve_heads(str(self.big_dir), self.big_root)
        self.results.check("head_listing_agrees_with_claw_resolver", found == self.expected)

    def mount_and_first_latest(self, kind: str) -> None:
        r = self.results
        if kind == "cold":
            self.caches.drop()
        started = self.mount.start()
        began = time.perf_counter()
        with r.measuring(f"latest_first_{kind}"):
            target = os.readlink(self.mount.path / "latest")
            r.add(f"latest_first_{kind}", mount=time.perf_counter() - began)
            r.check("root_latest_is_newest_of_all", target.endswith(f"/{self.expected_root}"))
        with r.measuring(f"ws_latest_first_{kind}"):
            t = time.perf_counter()
            target = os.readlink(self.mount_big / "latest")
            r.add(f"ws_latest_first_{kind}", mount=time.perf_counter() - t)
            r.check("ws_latest_is_claws_pick", os.path.basename(target) == self.expected)
        if kind == "cold":  # the first-ever mount
            r.add("mount_first_cold", mount=started.ready_s)
        else:
            self.remounted("mount_ready_warm", started)
        r.add("daemon_peak_mem", alt=started.command_peak_mb)

    def settle(self, fig: str) -> None:
        with self.results.measuring(fig):
            if self.mount.pid is None:
                raise RuntimeError("daemon pid not found in the mount log")
            busy = self.mount.settle(self.args.settle_timeout, self.args.settle_window)
            if busy is None:
                self.results.notes.append(
                    f"{fig}: daemon still busy {self.args.settle_timeout:.0f} s after ready")
                busy = self.args.settle_timeout
            self.results.add(fig, mount=busy)

    def later_latest(self) -> None:
        with self.results.measuring("latest_later"):
            link = self.mount.path / "latest"
            times = [timed(lambda: os.readlink(link)) for _ in range(self.args.repeat * 50)]
            self.results.add("latest_later", mount=statistics.median(times) * 1000)

    def ls_l(self) -> None:
        r = self.results
        with r.measuring("ls_l_warm"):
            twin, mount = self._compare(["ls", "-l", str(self.big_dir)],
                                        ["ls", "-l", str(self.mount_big)], "warm",
                                        times=self.args.repeat)
            as_listed = ["ls", "-l", str(self._as_listed())]
            run_tool(as_listed)
            alt = min(run_tool(as_listed) for _ in range(self.args.repeat))
            r.add("ls_l_warm", mount=mount, twin=twin, alt=alt)

    def _as_listed(self) -> Path:
        """A native directory of as many entries as the mount lists in the big
        workspace, each an empty file named as listed: the mount lists every
        transcript and its `.md` (and the aliases), twice the entries of the
        backing directory, so `ls -l` of this one is the per-entry twin."""
        twin = self.scratch / "as-listed"
        if not twin.exists():
            made = self.scratch / "as-listed.tmp"
            shutil.rmtree(made, ignore_errors=True)
            made.mkdir()
            for name in os.listdir(self.mount_big):
                (made / name).touch()
            made.rename(twin)
        return twin

    def reads(self, kind: str) -> None:
        r = self.results
        large = self.store.roles["large"]
        mount_large = str(self.mount_big / large.name)
        with r.measuring(f"read_large_{kind}"):
            twin, mount = self._compare(["cat", large.path], ["cat", mount_large], kind,
                                        times=5 * self.args.repeat)
            mb = large.size / 1e6
            r.add(f"read_large_{kind}", mount=mb / mount, twin=mb / twin)
        native_list = b"\0".join(p.encode() for p in self.native_files)
        mount_list = b"\0".join(p.encode() for p in self.mount_files)
        md_list = b"\0".join(p.encode() for p in self.mount_md_files)
        cat = ["xargs", "-0", "cat"]
        for tool, command, capture in (("cat", cat, False),
                                       ("grep", ["xargs", "-0", "grep", "-c", "--",
                                                 GREP_PATTERN], True)):
            fig = f"{tool}_all_{kind}"
            with r.measuring(fig):
                twin, mount = self._compare(command, command, kind, native_list, mount_list,
                                            capture, times=self.args.repeat)
                r.add(fig, mount=mount, twin=twin)
        with r.measuring(f"cat_md_{kind}"):
            twin, mount = self._compare(cat, cat, kind, native_list, md_list,
                                        times=self.args.repeat)
            r.add(f"cat_md_{kind}", mount=mount, twin=twin)
        grep = ["xargs", "-0", "grep", "-c", "--", MD_GREP_PATTERN]
        with r.measuring(f"grep_md_{kind}"):
            twin, mount = self._compare(grep, grep, kind, mount_list, md_list, True,
                                        times=self.args.repeat)
            r.add(f"grep_md_{kind}", mount=mount, twin=twin)

    def md_sizes(self) -> None:
        """Every `.md` checked is as long as its `st_size` says (SPEC §8)."""
        ok = True
        for path in self.mount_md_files[:SIZE_CHECKS]:
            with open(path, "rb") as f:
                ok = ok and os.fstat(f.fileno()).st_size == len(f.read())
        self.results.check("md_sizes_are_exact", ok)

    def _compare(self, native: list[str], mount: list[str], kind: str,
                 native_stdin: bytes | None = None, mount_stdin: bytes | None = None,
                 capture: bool = False, times: int = 1) -> tuple[float, float]:
        """Seconds of a native and a mount read. Cold: one each, caches dropped
        before each. Warm: after a first read of each, `times` reads taking
        turns (so a burst of load hits both), the fastest of each: a 5 ms
        read on a shared 2-core machine is otherwise mostly scheduler noise."""
        if kind == "cold":
            self.caches.drop()
            twin = run_tool(native, native_stdin, capture)
            self.caches.drop()
            return twin, run_tool(mount, mount_stdin, capture)
        run_tool(native, native_stdin, capture)
        run_tool(mount, mount_stdin, capture)
        twins, mounts = [], []
        for _ in range(times):
            twins.append(run_tool(native, native_stdin, capture))
            mounts.append(run_tool(mount, mount_stdin, capture))
        return min(twins), min(mounts)

    def forks(self) -> None:
        for k, _size in enumerate(self.store.params.fork_sizes[:2]):
            fig = f"fork_{k}"
            role = self.store.roles[fig]
            with self.results.measuring(fig):
                control = self.mount_big / "forks" / role.name.rsplit(".", 1)[0] / "fork"
                for _ in range(self.args.repeat):
                    self.results.add(fig, mount=self._fork(control),
                                     twin=self._copy(role.path))

    def _fork(self, control: Path) -> float:
        elapsed, fork = self._fork_file(control)
        fork.unlink()
        # The clean-up is not part of the fork: let the mount take in the
        # deletion (it rebuilds the 10,000-session lineage, ~50 ms) before
        # the next fork is timed, so each fork is measured on a quiet mount.
        time.sleep(FORK_SETTLE_S)
        return elapsed

    def _fork_file(self, control: Path) -> tuple[float, Path]:
        """Fork through `control`: (seconds the write took, until its close
        returned; the new file in the backing store)."""
        began = time.perf_counter()
        fd = os.open(control, os.O_WRONLY | os.O_TRUNC)
        try:
            os.write(fd, b"bench\n")
        finally:
            os.close(fd)
        elapsed = time.perf_counter() - began
        with open(control) as f:
            line = f.read()
        parts = line.rstrip("\n").split("\t")
        if len(parts) != 3 or parts[2] in self.present:
            raise RuntimeError(f"fork answered {line!r}, not a new file")
        return elapsed, Path(parts[2])

    def _copy(self, path: str) -> float:
        target = self.scratch / "copy.jsonl"
        elapsed = timed(lambda: shutil.copyfile(path, target))
        target.unlink()
        return elapsed

    def new_session_visible(self) -> None:
        """Save a session into the backing store as claw does (temp file, rename)
        and poll `stat` through the mount until it is there."""
        r = self.results
        with r.measuring("new_session_visible"):
            for k in range(self.args.repeat):
                final = self._save_new(k)
                try:
                    seen, native = self._visible(final)
                    r.add("new_session_visible", mount=seen, twin=native)
                finally:
                    final.unlink()
                time.sleep(0.05)

    def changes(self) -> None:
        """The CPU the daemon spends on one change, from just before it until
        the daemon is idle again (`CHANGE_QUIET_S`, at least `CHANGE_MIN_S`:
        one write of the index cache included): a new session, its deletion,
        a fork of a small session; then a new session saved right after the
        fork is deleted, timed until it shows (a deletion's work, the
        lineage losing a node, comes first)."""
        r = self.results
        with r.measuring("cpu_new_session", "cpu_deletion", "cpu_fork", "visible_after_delete"):
            control = self.mount_big / "forks" / self.small_root.name.rsplit(".", 1)[0] / "fork"
            for k in range(self.args.repeat):
                mark = self.mount.cpu_mark()
                final = self._save_new(100 + k)
                self._poll(self.mount_big / final.name, time.perf_counter(),
                           self.args.visible_timeout)
                r.add("cpu_new_session", mount=self._quiet_cpu(mark) * 1000)
                mark = self.mount.cpu_mark()
                final.unlink()
                self._poll_gone(self.mount_big / final.name)
                r.add("cpu_deletion", mount=self._quiet_cpu(mark) * 1000)
                mark = self.mount.cpu_mark()
                _took, fork = self._fork_file(control)
                self._poll(self.mount_big / fork.name, time.perf_counter(),
                           self.args.visible_timeout)
                r.add("cpu_fork", mount=self._quiet_cpu(mark) * 1000)
                fork.unlink()
                final = self._save_new(200 + k)
                try:
                    seen, native = self._visible(final)
                    r.add("visible_after_delete", mount=seen, twin=native)
                    self._quiet_cpu(self.mount.cpu_mark())
                finally:
                    final.unlink()
                self._quiet_cpu(self.mount.cpu_mark())

    def _quiet_cpu(self, mark: tuple[dict[str, float], float]) -> float:
        """Wait until the daemon is idle (see `changes`); its CPU seconds since `mark`."""
        began = time.perf_counter()
        while True:
            self.mount.settle(self.args.settle_timeout, CHANGE_QUIET_S)
            if time.perf_counter() - began >= self.args.change_min:
                return self.mount.cpu_since(mark)

    def _save_new(self, k: int) -> Path:
        """A new empty session in the big workspace, saved as claw saves (temp file, rename)."""
        now = int(time.time() * 1000)
        sid = new_session_id(now + 1, 900_000 + k)
        name = f"{sid}.jsonl"
        final = self.big_dir / name
        tmp = self.big_dir / f"{name}.tmp-{now}-{k}"
        tmp.write_bytes(render_snapshot(Session(
            version=1, session_id=sid, created_at_ms=now, updated_at_ms=now,
            workspace_root=self.big_root, model=benchstore.MODELS[0])))
        os.rename(tmp, final)
        return final

    def _visible(self, final: Path) -> tuple[float, float]:
        """(seconds until `final`, just saved, shows through the mount; a native stat)."""
        began = time.perf_counter()
        os.stat(final)
        native = time.perf_counter() - began
        return self._poll(self.mount_big / final.name, began, self.args.visible_timeout), native

    def _poll_gone(self, path: Path) -> None:
        began = time.perf_counter()
        while os.path.lexists(path):
            if time.perf_counter() - began > self.args.visible_timeout:
                raise RuntimeError(f"still there after {self.args.visible_timeout:.0f} s")
            time.sleep(0.0005)

    @staticmethod
    def _poll(path: Path, began: float, timeout: float) -> float:
        while True:
            try:
                os.stat(path)
                return time.perf_counter() - began
            except FileNotFoundError:
                if time.perf_counter() - began > timeout:
                    raise RuntimeError(f"not visible after {timeout:.0f} s") from None
                time.sleep(0.0005)


def small_root(directory: Path, skip: set[str]) -> Path:
    """The largest session of `directory` up to `SMALL_FORK_BYTES` that is no
    fork and has messages (so it roots a tree in forks/), and no figure's."""
    best: tuple[int, str] | None = None
    for name in session_files(str(directory)):
        path = directory / name
        size = path.stat().st_size
        if name in skip or size > SMALL_FORK_BYTES:
            continue
        meta, has_messages, _mtime = _head(str(path))
        if meta is not None and "fork" not in meta and has_messages \
                and (best is None or size > best[0]):
            best = (size, name)
    if best is None:
        raise SystemExit(f"bench: no small session to fork in {directory}")
    return directory / best[1]


def md_names(paths: Sequence[str]) -> list[str]:
    """The `.md` sibling of each session file, by the mount's rule."""
    listed: dict[str, set[str]] = {}
    for path in paths:
        listed.setdefault(os.path.dirname(path), set()).add(os.path.basename(path))
    return [markdown_name(os.path.basename(p), listed[os.path.dirname(p)].__contains__)
            for p in paths]


def _load(data: bytes, file_name: str) -> None:
    reader = JsonlReader(keep_messages=False)
    reader.feed(data)
    with contextlib.suppress(LoadError):
        reader.finish(file_name, 0)


# -- cleanup, output ---------------------------------------------------------------


def remove_created(store: BenchStore, since_ns: int, present: set[str]) -> list[str]:
    """Delete files the bench left in the store (forks, probe sessions, temps)
    after a crash or Ctrl-C: those that were not `present` at the start and
    are newer than it. Nothing that was there before is ever removed."""
    removed = []
    for ws in store.workspaces:
        with os.scandir(ws.dir) as it:
            for entry in it:
                if entry.path not in present and entry.name.startswith("session-") \
                        and entry.stat(follow_symlinks=False).st_mtime_ns >= since_ns:
                    os.unlink(entry.path)
                    removed.append(entry.name)
    return removed


def table(report: dict[str, Any]) -> str:
    rows = [("figure", "clawfs", "twin", "ratio", "alt twin", "target", "pass")]
    for fig in report["figures"].values():
        unit = fig["unit"]
        ratio = "-" if fig["ratio"] is None else f"{fig['ratio']:.2f}x"
        if "per_file_ms" in fig and fig["per_file_ms"] is not None:
            ratio += f" ({fig['per_file_ms']:+.3f} ms/f)"
        mark = {True: "PASS", False: "FAIL", None: "info"}[fig["pass"]]
        if fig["errors"]:
            mark = "ERROR"
        rows.append((fig["title"], _with_unit(fig["clawfs"], unit), _with_unit(fig["twin"], unit),
                     ratio, _with_unit(fig["alt_twin"], unit), fig["target"], mark))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _with_unit(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{_num(value)} {unit}"


def legend() -> str:
    lines = ["twins:"]
    for spec in FIGURES:
        if spec.twin != "-" or spec.alt_twin:
            alt = f"; alt: {spec.alt_twin}" if spec.alt_twin else ""
            lines.append(f"  {spec.title}: {spec.twin}{alt}")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    defaults = BenchParams()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--sessions", type=int, default=defaults.sessions)
    p.add_argument("--workspaces", type=int, default=defaults.workspaces,
                   help="small workspaces sharing the sessions outside the big one")
    p.add_argument("--big-share", type=float, default=defaults.big_share,
                   help="share of the sessions in the big workspace")
    p.add_argument("--mean-size", type=int, default=defaults.mean_size,
                   help="mean bytes of an ordinary session (log-normal)")
    p.add_argument("--fork-sizes", type=_sizes, default=defaults.fork_sizes,
                   help="the two sessions forked by the fork figures, e.g. 1M,10M")
    p.add_argument("--large-size", type=_size, default=defaults.large_size,
                   help="the large transcript the read figures read")
    p.add_argument("--extra-large", type=_sizes, default=defaults.extra_large,
                   help="more multi-MB sessions in small workspaces")
    p.add_argument("--fork-share", type=float, default=defaults.fork_share)
    p.add_argument("--chain-depth", type=int, default=defaults.chain_depth)
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--smoke", action="store_true",
                   help="the test suite's small store (overrides the size options)")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--repeat", type=int, default=3,
                   help="repetitions inside a run of the cheap figures")
    p.add_argument("--settle-timeout", type=float, default=600.0,
                   help="seconds to wait for the daemon to go idle after mounting")
    p.add_argument("--settle-window", type=float, default=3.0,
                   help="idle seconds that count as idle (longer than the daemon's 2 s "
                        "delay before its background load sweep)")
    p.add_argument("--change-min", type=float, default=CHANGE_MIN_S,
                   help="seconds the CPU count of one change lasts at least (the daemon "
                        "writes its index cache every 5 s)")
    p.add_argument("--visible-timeout", type=float, default=10.0,
                   help="seconds to wait for a new session to show through the mount")
    p.add_argument("--cache", type=Path, default=benchstore.DEFAULT_CACHE)
    p.add_argument("--no-drop-caches", action="store_true",
                   help="do not drop caches (cold figures are then not cold)")
    p.add_argument("--generate-only", action="store_true")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the results here")
    return p.parse_args(argv)


def _mib(size: int) -> str:
    return f"{size / 1024 / 1024:.3g} MiB"


def _size(text: str) -> int:
    units = {"K": 1024, "M": 1024**2, "G": 1024**3}
    text = text.strip().upper()
    return int(float(text[:-1]) * units[text[-1]]) if text[-1:] in units else int(text)


def _sizes(text: str) -> tuple[int, ...]:
    return tuple(_size(part) for part in text.split(",") if part)


def params_of(args: argparse.Namespace) -> BenchParams:
    if args.smoke:
        return benchstore.SMOKE
    return BenchParams(
        sessions=args.sessions, big_share=args.big_share, workspaces=args.workspaces,
        mean_size=args.mean_size, fork_sizes=args.fork_sizes, large_size=args.large_size,
        extra_large=args.extra_large, fork_share=args.fork_share, chain_depth=args.chain_depth,
        seed=args.seed,
    )


def scale_rules(params: BenchParams) -> dict[str, Rule]:
    """SPEC §7 at scale: past the default store's size, a first-ever cold mount
    may take 10 s (every other target stays)."""
    return {"mount_first_cold": Rule("le", 10.0)} if params.sessions > BenchParams().sessions \
        else {}


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    params = params_of(args)
    if len(params.fork_sizes) < 2:
        raise SystemExit("bench: --fork-sizes needs two sizes")
    began = time.time()
    store = benchstore.ensure_store(params, args.cache)
    print(f"store: {store.directory} ({store.files} files, {store.bytes / 1e6:.0f} MB, "
          f"generated in {store.generated_in_s:.1f} s)", file=sys.stderr)
    if args.generate_only:
        return 0
    signal.signal(signal.SIGTERM, _interrupt)
    caches = Caches(not args.no_drop_caches)
    results = Results(0, {f"fork_{k}": f"fork of a {_mib(store.roles[f'fork_{k}'].size)} session"
                          for k in range(2)}, scale_rules(params))
    info = machine()
    since_ns = time.time_ns()
    workdir = Path(tempfile.mkdtemp(prefix="run-", dir=args.cache))
    bench = Bench(store, workdir, caches, args, results)
    try:
        for number in range(1, args.runs + 1):
            bench.run(number)
    finally:
        bench.mount.stop()
        removed = remove_created(store, since_ns, set(bench.native_files))
        if removed:
            print(f"removed {len(removed)} file(s) the bench left in the store", file=sys.stderr)
        results.check("store_unchanged_after_the_bench", benchstore.intact(store))
        if not bench.mount.mounted():
            shutil.rmtree(workdir, ignore_errors=True)
    info["loadavg_end"] = os.getloadavg()
    report = {
        "machine": info, "params": asdict(store.params) | {"key": store.params.key()},
        "store": {"path": str(store.store), "files": store.files, "bytes": store.bytes,
                  "big_workspace_files": store.big.sessions,
                  "large_transcript_bytes": store.roles["large"].size,
                  "fork_bytes": [store.roles[f"fork_{k}"].size for k in range(2)]},
        "runs": args.runs, "cold": caches.describe(),
        "seconds": round(time.time() - began, 1),
        **results.report(),
    }
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=list))
    return 0


def print_report(report: dict[str, Any]) -> None:
    m = report["machine"]
    print(f"\nclawfs bench: {report['store']['files']} files, "
          f"{report['store']['bytes'] / 1e6:.0f} MB, {report['runs']} run(s), medians")
    print(f"machine: {m['nproc']} cores ({m['cpu']}), {m['memory_gb']} GB, kernel {m['kernel']}, "
          f"python {m['python']}; load {m['loadavg_start'][0]:.2f} -> {m['loadavg_end'][0]:.2f}")
    print(f"cold: {report['cold']}\n")
    print(table(report))
    print()
    print(legend())
    for name, ok in report["checks"].items():
        print(f"check {name}: {'yes' if ok else 'NO'}")
    for note in report["notes"]:
        print(f"note: {note}")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("bench: interrupted (unmounted, store cleaned)", file=sys.stderr)
        sys.exit(130)
