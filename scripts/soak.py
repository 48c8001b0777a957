#!/usr/bin/env python3
"""Soak clawfs: a real mount under readers, a claw-style appender and forks,
for a bounded time, then check that nothing was lost (issue 9).

    .venv/bin/python scripts/soak.py --seconds 120 --readers 50 --forks 100

What it does:

1. generates a store with the bench generator (`clawfs.benchstore`, claw's
   exact format: workspaces, fork chains past 64 levels, rotated copies,
   multi-MB sessions) in a temporary directory, and hashes every file;
2. mounts it with `clawfs mount -f --no-discover`, shut out from the
   machine (HOME, CLAW_CONFIG_HOME, XDG_STATE_HOME, cwd all temporary);
3. for `--seconds`: `--readers` threads run grep -r, cat, ls -lR, getfattr
   and index.tsv reads in a loop; one thread appends messages to a few
   sessions as claw does (one line per write); `--forks` forks are spread
   over the time through `forks/<node>/fork` control files;
4. checks: no reader or fork failed, the daemon is alive and logged no
   traceback, every fork is a distinct session that loads with the format
   layer and names the right parent, no store file changed except by the
   appends (old bytes kept) and the forks, no temporary file left, and the
   daemon's peak memory (VmHWM) stayed under `--max-mb`;
5. always unmounts (SIGTERM, then fusermount3 -u, umount -f, fusermount3
   -u -z) and removes the temporary directory unless `--keep`.

Prints what it did and what failed; exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from clawfs.format import clawjson, session, snapshot  # noqa: E402

from devtools import benchstore  # noqa: E402
from devtools.mountctl import (  # noqa: E402
    NotReady,
    Tally,
    force_unmount,
    is_mounted,
    sandbox_cwd,
    sandbox_env,
    vm_hwm_mb,
    wait_ready,
)

START_TIMEOUT = 60.0
APPENDED_SESSIONS = 3
FORKERS = 4


@dataclass
class Fork:
    control: Path
    parent_id: str
    branch: str
    backing: str | None = None


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="how long the load runs")
    parser.add_argument("--readers", type=int, default=50, help="parallel reader threads")
    parser.add_argument("--forks", type=int, default=100, help="forks made during the load")
    parser.add_argument("--sessions", type=int, default=300, help="sessions in the store")
    parser.add_argument("--max-mb", type=float, default=150.0,
                        help="the daemon's allowed peak memory (SPEC §7: 150)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    base = Path(tempfile.mkdtemp(prefix="clawfs-soak-"))
    print(f"soak: working in {base}")
    tally = Tally()
    try:
        return soak(args, base, tally)
    finally:
        if args.keep:
            print(f"soak: kept {base}")
        elif not is_mounted(base / "mnt"):
            shutil.rmtree(base, ignore_errors=True)


def soak(args: argparse.Namespace, base: Path, tally: Tally) -> int:
    began = time.monotonic()
    params = benchstore.BenchParams(
        sessions=args.sessions, workspaces=max(2, args.sessions // 25), mean_size=4 * 1024,
        fork_sizes=(64 * 1024, 256 * 1024), large_size=1 << 20, extra_large=(512 * 1024,),
        chain_depth=70, seed=args.seed,
    )
    store = benchstore.generate(params, base / "bench")
    before = digest(store.store)
    print(f"store: {store.files} files, {store.bytes / 1e6:.1f} MB, "
          f"{len(store.workspaces)} workspaces, generated in {store.generated_in_s:.1f} s")
    mountpoint = base / "mnt"
    mountpoint.mkdir()
    log_path = base / "clawfs.log"
    daemon = start_mount(store.store, mountpoint, base, log_path)
    try:
        print(f"mount: pid {daemon.pid} at {mountpoint}")
        rng = random.Random(args.seed)
        forks = plan_forks(mountpoint, args.forks, rng)
        appended = pick_appended(store, rng)
        print(f"load: {args.readers} readers, {len(forks)} forks over {len(controls(forks))} "
              f"nodes, appends to {len(appended)} sessions, {args.seconds:.0f} s")
        run_load(mountpoint, args, forks, appended, tally)
        peak = vm_hwm_mb(daemon.pid) or float("nan")
        alive = daemon.poll() is None
        log = log_path.read_text(errors="replace")
    finally:
        stop_mount(daemon, mountpoint)
    print(f"ran: {', '.join(f'{k} {v}' for k, v in sorted(tally.runs.items()))}")
    print(f"daemon: peak {peak:.0f} MB (limit {args.max_mb:.0f}), "
          f"{'alive' if alive else 'DEAD'} at the end")
    if not alive:
        tally.failed(f"the daemon died:\n{log[-2000:]}")
    if "Traceback" in log:
        tally.failed(f"the daemon logged a traceback:\n{log[log.index('Traceback'):][:2000]}")
    if peak > args.max_mb:
        tally.failed(f"daemon peak memory {peak:.0f} MB over {args.max_mb:.0f} MB")
    check_forks(forks, tally)
    check_store(store.store, before, forks, appended, tally)
    if is_mounted(mountpoint):
        tally.failed(f"{mountpoint} is still mounted")
    print(f"took {time.monotonic() - began:.0f} s in all")
    if tally.failures:
        print(f"FAILED: {len(tally.failures)} problem(s)")
        for problem in tally.failures[:20]:
            print(f"  - {problem}")
        return 1
    print("OK: nothing failed, nothing lost")
    return 0


# --- the store -------------------------------------------------------------------


def digest(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file's hash and size."""
    result = {}
    for p in root.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            result[str(p)] = (hashlib.sha256(data).digest(), len(data))
    return result


def pick_appended(store: benchstore.BenchStore, rng: random.Random) -> list[Path]:
    """Sessions the appender grows: ordinary ones (not the multi-MB roles)."""
    roles = {r.path for r in store.roles.values()}
    candidates = sorted(p for p in store.store.rglob("session-*.jsonl")
                        if str(p) not in roles and ".rot-" not in p.name
                        and p.stat().st_size > 200)
    return rng.sample(candidates, min(APPENDED_SESSIONS, len(candidates)))


def message_line(n: int) -> bytes:
    """One message record as claw's push_message appends it."""
    message: session.Message = {
        "blocks": [{"text": f"soak append {n}", "type": "text"}], "role": "assistant",
    }
    return clawjson.render(snapshot.message_record(message)).encode() + b"\n"


# --- mounting -----------------------------------------------------------------------


def start_mount(
    store: Path, mountpoint: Path, base: Path, log_path: Path
) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "clawfs", "mount", str(mountpoint), "--store",
               str(store), "--no-discover", "-f"]
    with open(log_path, "ab") as log:
        daemon = subprocess.Popen(command, env=sandbox_env(base), cwd=sandbox_cwd(base),
                                  stdin=subprocess.DEVNULL, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_ready(daemon, log_path, mountpoint, START_TIMEOUT)
    except NotReady as e:
        stop_mount(daemon, mountpoint)
        raise SystemExit(f"soak: {e}") from None
    return daemon


def stop_mount(daemon: subprocess.Popen[bytes], mountpoint: Path) -> None:
    """SIGTERM, then the cleanup chain that always works; never leaves a mount."""
    if daemon.poll() is None:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=15)
        except subprocess.TimeoutExpired:
            print("soak: the daemon ignored SIGTERM for 15 s")
    force_unmount(mountpoint)
    if daemon.poll() is None:
        os.killpg(daemon.pid, signal.SIGKILL)
        daemon.wait()


# --- the load -------------------------------------------------------------------------


def plan_forks(mountpoint: Path, count: int, rng: random.Random) -> list[Fork]:
    """`count` forks of top-level nodes of every workspace's forks/ tree."""
    nodes: list[tuple[Path, str]] = []
    for ws in sorted((mountpoint / "sessions").iterdir()):
        for name in sorted(os.listdir(ws / "forks"))[:20]:
            node = ws / "forks" / name
            parent_id = os.getxattr(node / "session.jsonl", "user.claw.session_id").decode()
            nodes.append((node / "fork", parent_id))
    return [Fork(control, parent, f"soak-{i}")
            for i, (control, parent) in enumerate(rng.choices(nodes, k=count))]


def controls(forks: list[Fork]) -> set[Path]:
    return {f.control for f in forks}


def reader_commands(mountpoint: Path) -> list[tuple[str, str, set[int]]]:
    s = mountpoint / "sessions"
    return [
        ("grep", f"grep -r -c soak {s} > /dev/null", {0, 1}),
        ("cat", f"cat {s}/*/*.jsonl > /dev/null", {0}),
        ("ls", f"ls -lR {mountpoint} > /dev/null", {0}),
        ("getfattr", f"getfattr --absolute-names -d -m - {s}/*/*.jsonl > /dev/null", {0}),
        ("index", f"cat {s}/*/index.tsv > /dev/null", {0}),
    ]


def run_load(mountpoint: Path, args: argparse.Namespace, forks: list[Fork],
             appended: list[Path], tally: Tally) -> None:
    stop = threading.Event()
    commands = reader_commands(mountpoint)
    start = time.monotonic()
    threads = [threading.Thread(target=read_loop, args=(commands[i % len(commands)], stop,
                                                        tally), daemon=True)
               for i in range(args.readers)]
    threads.append(threading.Thread(target=append_loop, args=(appended, stop, tally),
                                    daemon=True))
    spacing = args.seconds / max(len(forks), 1)
    forkers = [threading.Thread(target=fork_loop, args=(forks[i::FORKERS], i, spacing, start,
                                                        tally), daemon=True)
               for i in range(FORKERS)]
    for t in threads + forkers:
        t.start()
    last = start
    while time.monotonic() - start < args.seconds:
        time.sleep(1)
        if time.monotonic() - last >= 15:
            last = time.monotonic()
            print(f"  {last - start:4.0f} s: {sum(tally.runs.values())} operations, "
                  f"{len(tally.failures)} failures")
    for t in forkers:
        t.join(timeout=300)
    stop.set()
    for t in threads:
        t.join(timeout=120)
    hung = [t.name for t in threads + forkers if t.is_alive()]
    if hung:
        tally.failed(f"{len(hung)} worker(s) still blocked in the mount after the load")


def read_loop(command: tuple[str, str, set[int]], stop: threading.Event, tally: Tally) -> None:
    name, shell, accepted = command
    while not stop.is_set():
        try:
            done = subprocess.run(["bash", "-c", shell], capture_output=True, text=True,
                                  timeout=120, check=False)
        except subprocess.TimeoutExpired:
            tally.failed(f"{name} took over 120 s")
            continue
        tally.ran(name)
        if done.returncode not in accepted or done.stderr:
            tally.failed(f"{name} exited {done.returncode}: {done.stderr.strip()[-300:]}")


def append_loop(paths: list[Path], stop: threading.Event, tally: Tally) -> None:
    n = 0
    while not stop.is_set() and paths:
        with open(paths[n % len(paths)], "ab") as f:
            f.write(message_line(n))
        tally.ran("append")
        n += 1
        time.sleep(0.02)


def fork_loop(jobs: list[Fork], offset: int, spacing: float, start: float,
              tally: Tally) -> None:
    for i, job in enumerate(jobs):
        due = start + (i * FORKERS + offset) * spacing
        time.sleep(max(0.0, due - time.monotonic()))
        try:
            # One handle: it reads the result of its own write (SPEC §4).
            fd = os.open(job.control, os.O_RDWR)
            try:
                os.write(fd, job.branch.encode() + b"\n")
                result = os.pread(fd, 4096, 0).decode()
            finally:
                os.close(fd)
            _name, branch, backing = result.rstrip("\n").split("\t")
            if branch != job.branch:
                tally.failed(f"fork {job.branch}: result names branch {branch!r}")
            job.backing = backing
            tally.ran("fork")
        except (OSError, ValueError) as e:
            tally.failed(f"fork {job.branch} via {job.control}: {e!r}")


# --- checks ------------------------------------------------------------------------------


def check_forks(forks: list[Fork], tally: Tally) -> None:
    ids: set[str] = set()
    for job in forks:
        if job.backing is None:
            continue
        path = Path(job.backing)
        try:
            loaded = session.load(path.read_bytes(), file_name=path.name,
                                  mtime_ms=path.stat().st_mtime_ns // 1_000_000)
        except (OSError, session.LoadError) as e:
            tally.failed(f"fork {job.branch} ({path}) does not load: {e}")
            continue
        if loaded.fork is None or loaded.fork.parent_session_id != job.parent_id:
            tally.failed(f"fork {job.branch}: parent {loaded.fork} is not {job.parent_id}")
        if loaded.fork is not None and loaded.fork.branch_name != job.branch:
            tally.failed(f"fork {job.branch}: branch {loaded.fork.branch_name!r}")
        ids.add(loaded.session_id)
    made = sum(job.backing is not None for job in forks)
    if len(ids) != made:
        tally.failed(f"{made} forks but {len(ids)} distinct session ids")
    print(f"forks: {made} of {len(forks)} made, {len(ids)} distinct, checked against parents")


def check_store(root: Path, before: dict[str, tuple[bytes, int]], forks: list[Fork],
                appended: list[Path], tally: Tally) -> None:
    after = digest(root)
    grown = {str(p) for p in appended}
    changed = [p for p, h in before.items() if after.get(p) != h and p not in grown]
    if changed:
        tally.failed(f"{len(changed)} store file(s) changed or vanished: {changed[:5]}")
    new = set(after) - set(before)
    made = {job.backing for job in forks if job.backing is not None}
    if new != made:
        tally.failed(f"files appeared that are not forks: {sorted(new - made)[:5]}; "
                     f"forks missing: {sorted(made - new)[:5]}")
    for path in appended:
        data = path.read_bytes()
        old_hash, old_size = before[str(path)]
        if hashlib.sha256(data[:old_size]).digest() != old_hash:
            tally.failed(f"appended session {path} lost its old bytes")
        try:
            session.load(data, file_name=path.name, mtime_ms=0)
        except session.LoadError as e:
            tally.failed(f"appended session {path} no longer loads: {e}")
    leftovers = [p for p in root.rglob("*") if ".tmp-" in p.name]
    if leftovers:
        tally.failed(f"temporary files left: {leftovers[:5]}")
    print(f"store: {len(before)} files before, {len(new)} new (forks), "
          f"{len(grown)} appended, {len(changed)} changed otherwise")


if __name__ == "__main__":
    sys.exit(main())
