"""The bench store of SPEC §7, generated in claw's exact format, and cached.

20,000 sessions and about 1 GB have to be written in well under a few
minutes, yet every file must be a session claw (and our format layer)
loads. So nothing is rendered per message per file: a pool of a few
hundred conversation turns is rendered once by the format layer
(`snapshot.render_snapshot`), and each file is its own head (meta,
compaction, prompt history: rendered per file, a few hundred bytes) followed
by a window of pool lines, repeated when the file is larger than the pool.
A fork's window is its parent's window plus more turns, so a fork really
holds its parent's messages, as claw's fork does.

Layout (a `--store` root, claw's `<root>/<fingerprint>/<id>.jsonl`):

    DIR/manifest.json                what was generated (written last)
    DIR/projects/<label>/            the workspace roots (empty directories)
    DIR/store/<fp>/session-*.jsonl   fp = claw's fingerprint of that root

Workspace roots are real directories, so claw's canonicalization leaves
them as they are and every session belongs to its directory. Times are
fixed (before `BASE_MS`), so a store regenerated from the same parameters
is the same store, and anything the bench creates "now" is newer.
"""

from __future__ import annotations

import bisect
import contextlib
import fcntl
import hashlib
import json
import math
import os
import random
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from clawfs.format import clawjson
from clawfs.format.clawjson import JsonObject, JsonValue
from clawfs.format.fingerprint import fingerprint
from clawfs.format.session import Compaction, Fork, PromptEntry, Session, new_session_id
from clawfs.format.snapshot import render_snapshot

GENERATOR_VERSION = 1
"""Bump when the generator writes something different for the same parameters."""

KiB = 1024
MiB = 1024 * KiB
MINUTE_MS = 60_000
DAY_MS = 24 * 60 * MINUTE_MS
BASE_MS = 1_793_491_200_000
"""2026-11-01 00:00 UTC: every generated time lies in the 90 days before it."""
SPAN_MS = 90 * DAY_MS

DEFAULT_CACHE = Path("/var/tmp/clawfs-bench")
MANIFEST = "manifest.json"

BIG_LABEL = "monorepo"
MODELS = ("claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5")
BRANCHES = (None, "fix-tests", "try-refactor", "incident-review", "spike", "perf")


@dataclass(frozen=True)
class BenchParams:
    """Everything that shapes the store; its hash names the cache directory."""

    sessions: int = 20_000
    big_share: float = 0.5
    """Share of the sessions in the one big workspace (SPEC: 10,000 of 20,000)."""
    workspaces: int = 300
    """Small workspaces sharing the other sessions (a few large, many small)."""
    mean_size: int = 40 * KiB
    """Mean size of an ordinary session (log-normal); ~1 GB for 20,000 in all."""
    fork_sizes: tuple[int, ...] = (1 * MiB, 10 * MiB)
    """Sessions in the big workspace that the fork figures fork."""
    large_size: int = 64 * MiB
    """The one large transcript the read figures read (big workspace)."""
    extra_large: tuple[int, ...] = (2 * MiB, 5 * MiB, 20 * MiB)
    """More multi-MB sessions, one per small workspace."""
    fork_share: float = 0.15
    """Share of ordinary sessions that are forks of an earlier one."""
    chain_depth: int = 80
    """One fork chain this long in the big workspace (beyond the 64-level nesting)."""
    empty_share: float = 0.01
    """Meta-only sessions (claw skips them for `latest`); the big workspace's
    newest session is always one."""
    rot_share: float = 0.005
    """Small-workspace sessions that also have a rotated copy (extra files)."""
    seed: int = 1

    def key(self) -> str:
        text = json.dumps([GENERATOR_VERSION, asdict(self)], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @classmethod
    def from_json(cls, value: dict[str, object]) -> BenchParams:
        known = {f.name for f in fields(cls)}
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in value.items()
                  if k in known}
        return cls(**kwargs)  # type: ignore[arg-type]


SMOKE = BenchParams(
    sessions=300, workspaces=12, mean_size=4 * KiB, fork_sizes=(64 * KiB, 256 * KiB),
    large_size=1 * MiB, extra_large=(512 * KiB,), chain_depth=70,
)
"""A store small enough for the test suite, with every shape the default has."""


@dataclass(frozen=True)
class Workspace:
    fp: str
    label: str
    root: str
    """The recorded workspace root (a real directory)."""
    dir: str
    """The fingerprint directory in the store."""
    sessions: int
    bytes: int


@dataclass(frozen=True)
class RoleFile:
    """A session the bench uses for one figure (fork, large read)."""

    fp: str
    name: str
    path: str
    size: int


@dataclass(frozen=True)
class BenchStore:
    """A generated store, as its manifest describes it."""

    directory: Path
    params: BenchParams
    workspaces: list[Workspace]
    """The big workspace first."""
    roles: dict[str, RoleFile]
    """`fork_0`, `fork_1` ... (params.fork_sizes), `large`, `extra_0` ..."""
    files: int
    bytes: int
    generated_in_s: float

    @property
    def store(self) -> Path:
        return self.directory / "store"

    @property
    def big(self) -> Workspace:
        return self.workspaces[0]


def ensure_store(params: BenchParams, cache: Path = DEFAULT_CACHE) -> BenchStore:
    """The store for `params`, generated under `cache/<params.key()>` unless there.

    A directory without a manifest is a generation that did not finish, and
    one whose files no longer add up to the manifest was changed by someone:
    either is removed and done again. A lock keeps two generators apart.
    """
    directory = cache / params.key()
    cache.mkdir(parents=True, exist_ok=True)
    with _locked(cache / f"{params.key()}.lock"):
        existing = load_manifest(directory)
        if existing is not None and intact(existing):
            return existing
        if directory.exists():
            shutil.rmtree(directory)
        return generate(params, directory)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def intact(store: BenchStore) -> bool:
    """Whether the store still holds as many files and bytes as generated."""
    files = size = 0
    for ws in store.workspaces:
        try:
            with os.scandir(ws.dir) as entries:
                for entry in entries:
                    files += 1
                    size += entry.stat(follow_symlinks=False).st_size
        except FileNotFoundError:
            return False
    return (files, size) == (store.files, store.bytes)


def load_manifest(directory: Path) -> BenchStore | None:
    try:
        data = json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if data.get("version") != GENERATOR_VERSION:
        return None
    return BenchStore(
        directory=directory,
        params=BenchParams.from_json(data["params"]),
        workspaces=[Workspace(**w) for w in data["workspaces"]],
        roles={k: RoleFile(**v) for k, v in data["roles"].items()},
        files=data["files"],
        bytes=data["bytes"],
        generated_in_s=data["generated_in_s"],
    )


def generate(params: BenchParams, directory: Path) -> BenchStore:
    """Write the store for `params` into `directory` (must not exist yet)."""
    started = time.monotonic()
    rng = random.Random(params.seed)
    pool = Pool(rng)
    directory.mkdir(parents=True)
    planner = _Planner(params, rng, pool)
    spaces = _make_workspaces(params, directory)
    plans = planner.plan([ws.sessions for ws in spaces])
    _assign_ids(plans)
    writer = _Writer(pool, spaces, rng)
    for plan in plans:
        writer.write(plan, plans)
    for plan in planner.rotated:
        writer.write_rot(plan)
    workspaces = [
        Workspace(ws.fp, ws.label, ws.root, str(ws.dir), ws.sessions, writer.bytes_by_ws[i])
        for i, ws in enumerate(spaces)
    ]
    roles = {
        plan.role: RoleFile(spaces[plan.ws].fp, plan.name,
                            str(spaces[plan.ws].dir / plan.name), writer.sizes[plan.name])
        for plan in plans if plan.role is not None
    }
    result = BenchStore(directory, params, workspaces, roles, writer.files,
                        sum(writer.bytes_by_ws), round(time.monotonic() - started, 2))
    _write_manifest(result)
    return result


def _write_manifest(store: BenchStore) -> None:
    data = {
        "version": GENERATOR_VERSION,
        "params": asdict(store.params),
        "workspaces": [asdict(w) for w in store.workspaces],
        "roles": {k: asdict(v) for k, v in store.roles.items()},
        "files": store.files,
        "bytes": store.bytes,
        "generated_in_s": store.generated_in_s,
    }
    tmp = store.directory / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.rename(store.directory / MANIFEST)


# -- the message pool ---------------------------------------------------------

_WORDS = (
    "the", "a", "session", "fork", "index", "latest", "workspace", "parse", "render",
    "fn", "let", "mut", "impl", "struct", "return", "Result<()>", "Option<String>",
    "cargo", "test", "build", "error[E0502]:", "warning:", "src/main.rs", "lib.rs",
    "pytest", "assert", "def", "class", "import", "async", "await", "None", "self",
    "file", "bytes", "offset", "cache", "inode", "mount", "read", "write", "stat",
    "naïve", "café", "→", "✓", "日本語", "проект", "🚀", "😀", "\"quoted\"", "back\\slash",
    "tab\there", "{", "}", "[", "]", "(x)", "42", "-1", "0x1f", "https://example.com/a?b=c",
    "TODO:", "FIXME", "because", "so", "then", "check", "order", "head", "body", "line",
)


def _words(rng: random.Random, n: int) -> str:
    """`n` words of plausible agent talk, a newline every dozen or so."""
    out = []
    for i, word in enumerate(rng.choices(_WORDS, k=n)):
        out.append(word)
        out.append("\n" if i % 13 == 12 else " ")
    return "".join(out).rstrip()


def _chars(rng: random.Random, mean: int) -> int:
    return max(8, int(rng.lognormvariate(math.log(mean) - 0.5, 1.0)))


class Pool:
    """A few hundred conversation turns, rendered once as claw's message lines.

    Lines are kept twice in a row (`doubled`) with byte offsets, so a window
    of consecutive lines (wrapping once) is one slice, and a window longer
    than the pool is whole copies plus a slice.
    """

    TURNS = 320

    def __init__(self, rng: random.Random) -> None:
        messages: list[JsonObject] = []
        starts: list[int] = []
        for turn in range(self.TURNS):
            starts.append(len(messages))
            messages.extend(_turn(rng, turn))
        session = Session(version=1, session_id="pool", created_at_ms=0, updated_at_ms=0,
                          messages=messages)
        lines = render_snapshot(session).splitlines(keepends=True)[1:]
        self.size = len(lines)
        self.turn_starts = starts
        self.whole = b"".join(lines)
        self.doubled = self.whole + self.whole
        self.offsets = [0]
        for line in lines + lines:
            self.offsets.append(self.offsets[-1] + len(line))

    def count_for(self, start: int, nbytes: int) -> int:
        """How many lines from `start` make at least `nbytes` bytes."""
        full, rest = divmod(max(0, nbytes), len(self.whole))
        target = self.offsets[start] + rest
        return full * self.size + bisect.bisect_left(self.offsets, target) - start

    def body(self, start: int, count: int) -> bytes:
        full, rest = divmod(count, self.size)
        tail = self.doubled[self.offsets[start]:self.offsets[start + rest]]
        return self.whole * full + tail if full else tail


def _turn(rng: random.Random, turn: int) -> list[JsonObject]:
    """A user prompt, the assistant thinking and calling a tool, its result, a reply."""
    call_id = f"toolu_{turn:04d}{rng.randrange(16**8):08x}"
    tool = rng.choice(("bash", "read_file", "edit_file", "grep_search"))
    blocks: list[JsonValue] = []
    if rng.random() < 0.4:
        blocks.append({"type": "thinking", "thinking": _words(rng, _chars(rng, 120)),
                       "signature": f"sig{rng.randrange(16**12):012x}"})
    blocks.append({"type": "text", "text": _words(rng, _chars(rng, 40))})
    blocks.append({"type": "tool_use", "id": call_id, "name": tool,
                   "input": clawjson.render({"command": _words(rng, 8), "path": "src/lib.rs"})})
    # Some outputs pass claw's 16 Ki-char limit, so the truncation marker shows up too.
    output = _words(rng, min(_chars(rng, 420), 3500))
    usage: JsonObject = {"input_tokens": rng.randrange(100, 90_000),
                         "output_tokens": rng.randrange(10, 4000),
                         "cache_creation_input_tokens": rng.randrange(0, 5000),
                         "cache_read_input_tokens": rng.randrange(0, 80_000)}
    return [
        {"role": "user", "blocks": [{"type": "text", "text": _words(rng, _chars(rng, 30))}]},
        {"role": "assistant", "blocks": blocks, "usage": usage},
        {"role": "tool", "blocks": [{"type": "tool_result", "tool_use_id": call_id,
                                     "tool_name": tool, "output": output,
                                     "is_error": rng.random() < 0.1}]},
        {"role": "assistant", "blocks": [{"type": "text", "text": _words(rng, _chars(rng, 60))}],
         "usage": usage},
    ]


# -- planning -----------------------------------------------------------------


@dataclass
class _Space:
    fp: str
    label: str
    root: str
    dir: Path
    sessions: int


def _make_workspaces(params: BenchParams, directory: Path) -> list[_Space]:
    """The big workspace, then `params.workspaces` small ones (Zipf-like sizes)."""
    big = min(params.sessions, round(params.sessions * params.big_share))
    rest = params.sessions - big
    count = min(params.workspaces, rest)
    weights = [1 / (i + 1) ** 0.9 for i in range(count)]
    total = sum(weights)
    sizes = [1 + int((rest - count) * w / total) for w in weights]
    for i in range(rest - sum(sizes)):
        sizes[i % count] += 1
    labels = [BIG_LABEL] + [f"proj-{i:03d}" for i in range(count)]
    spaces = []
    for label, n in zip(labels, [big, *sizes], strict=True):
        root = directory / "projects" / label
        root.mkdir(parents=True)
        real = os.path.realpath(root)
        fp = fingerprint(real)
        spaces.append(_Space(fp, label, real, directory / "store" / fp, n))
    return spaces


@dataclass(slots=True)
class _Plan:
    ws: int
    created_ms: int
    updated_ms: int = 0
    mtime_ms: int = 0
    start: int = 0
    count: int = 0
    parent: int | None = None
    branch: str | None = None
    role: str | None = None
    session_id: str = ""
    index: int = 0

    @property
    def name(self) -> str:
        return f"{self.session_id}.jsonl"


class _Planner:
    """Decides every session's times, size (pool window), parent and role."""

    def __init__(self, params: BenchParams, rng: random.Random, pool: Pool) -> None:
        self.params = params
        self.rng = rng
        self.pool = pool
        self.rotated: list[_Plan] = []
        mean = params.mean_size
        self._mu = math.log(mean) - 0.5  # log-normal, sigma 1: mean = exp(mu + 1/2)

    def plan(self, sizes: list[int]) -> list[_Plan]:
        plans: list[_Plan] = []
        for ws, n in enumerate(sizes):
            plans.extend(self._workspace(ws, n))
        for i, plan in enumerate(plans):
            plan.index = i
        return plans

    def _workspace(self, ws: int, n: int) -> list[_Plan]:
        rng = self.rng
        created = sorted(BASE_MS - SPAN_MS + rng.randrange(SPAN_MS - DAY_MS) for _ in range(n))
        plans = [_Plan(ws, c) for c in created]
        roles = self._roles(ws, plans)
        chain = self._chain(plans, set(roles)) if ws == 0 else set()
        parents: list[int] = []  # what a random fork may fork: not empty, not a figure's
        previous_link: int | None = None
        for i, plan in enumerate(plans):
            role = roles.get(i)
            if role is not None:
                plan.role, size = role
                self._root(plan, size)
            elif i in chain:
                self._fork(plan, plans, previous_link)
                previous_link = i
            elif rng.random() < self.params.empty_share or (ws == 0 and i == n - 1 and n > 1):
                self._root(plan, 0)
            elif parents and rng.random() < self.params.fork_share:
                self._fork(plan, plans, rng.choice(parents))
            else:
                self._root(plan, self._ordinary_size())
            self._times(plan)
            if plan.count > 0 and plan.role is None:
                parents.append(i)
            if (ws > 0 and plan.count >= 4 and plan.role is None
                    and rng.random() < self.params.rot_share):
                self.rotated.append(plan)
        if ws == 0 and n > 1:
            # The big workspace's newest session is empty: `latest` must skip it.
            newest = plans[-1]
            newest.created_ms = max(p.mtime_ms for p in plans) + MINUTE_MS
            self._times(newest)
        return plans

    def _roles(self, ws: int, plans: list[_Plan]) -> dict[int, tuple[str, int]]:
        """Which sessions the figures use: picked from the middle, so never `latest`."""
        n = len(plans)
        if ws == 0:
            wanted = [(f"fork_{k}", size) for k, size in enumerate(self.params.fork_sizes)]
            wanted.append(("large", self.params.large_size))
        elif ws - 1 < len(self.params.extra_large):
            wanted = [(f"extra_{ws - 1}", self.params.extra_large[ws - 1])]
        else:
            return {}
        if n < 2 * len(wanted) + 2:
            return {}
        picks = self.rng.sample(range(n // 4, max(n // 4 + len(wanted), 3 * n // 4)), len(wanted))
        return dict(zip(picks, wanted, strict=True))

    def _chain(self, plans: list[_Plan], taken: set[int]) -> set[int]:
        """Evenly spaced sessions that will each fork the previous one."""
        depth = min(self.params.chain_depth, len(plans) - len(taken) - 2)
        if depth < 2:
            return set()
        step = max(1, (len(plans) - 2) // depth)
        return {i for i in range(0, step * depth, step) if i not in taken}

    def _ordinary_size(self) -> int:
        return int(min(max(self.rng.lognormvariate(self._mu, 1.0), 1.5 * KiB), 2 * MiB))

    def _root(self, plan: _Plan, size: int) -> None:
        starts = self.pool.turn_starts
        plan.start = starts[self.rng.randrange(len(starts))]
        plan.count = self.pool.count_for(plan.start, size) if size > 0 else 0

    def _fork(self, plan: _Plan, plans: list[_Plan], parent_index: int | None) -> None:
        """A fork: the parent's messages, then a few more turns, created after it."""
        if parent_index is None:
            self._root(plan, self._ordinary_size())
            return
        parent = plans[parent_index]
        plan.parent = parent_index  # index within the workspace; made global later
        plan.branch = self.rng.choice(BRANCHES)
        plan.created_ms = max(plan.created_ms, parent.updated_ms + MINUTE_MS)
        plan.start = parent.start
        after = (parent.start + parent.count) % self.pool.size
        plan.count = parent.count + self.pool.count_for(after, self._ordinary_size() // 4)

    def _times(self, plan: _Plan) -> None:
        """Updated a while after creation; one in five was appended to after its
        last snapshot, so its meta is older than its mtime (as in real stores)."""
        rng = self.rng
        plan.updated_ms = plan.created_ms + (int(rng.expovariate(1 / (40 * MINUTE_MS)))
                                             if plan.count else 0)
        plan.mtime_ms = plan.updated_ms
        if plan.count and rng.random() < 0.2:
            plan.mtime_ms += rng.randrange(1_000, 600_000)


def _assign_ids(plans: list[_Plan]) -> None:
    """claw's ids, `session-<ms>-<n>`: the clock read after `created_at` (+1 ms),
    a counter running over the whole store in creation order. Parent links
    become indices into `plans`."""
    by_ws: dict[int, int] = {}
    for plan in plans:
        by_ws.setdefault(plan.ws, plan.index)
    for plan in plans:
        if plan.parent is not None:
            plan.parent += by_ws[plan.ws]
    for counter, plan in enumerate(sorted(plans, key=lambda p: (p.created_ms, p.index))):
        plan.session_id = new_session_id(plan.created_ms + 1, counter)


# -- writing ------------------------------------------------------------------


class _Writer:
    def __init__(self, pool: Pool, spaces: list[_Space], rng: random.Random) -> None:
        self.pool = pool
        self.spaces = spaces
        self.rng = rng
        self.files = 0
        self.bytes_by_ws = [0] * len(spaces)
        self.sizes: dict[str, int] = {}
        for space in spaces:
            space.dir.mkdir(parents=True, exist_ok=True)

    def write(self, plan: _Plan, plans: list[_Plan]) -> None:
        parent = None if plan.parent is None else plans[plan.parent]
        data = self.head(plan, plan.updated_ms, parent) + self.pool.body(plan.start, plan.count)
        self._save(plan.ws, plan.name, data, plan.mtime_ms)

    def write_rot(self, plan: _Plan) -> None:
        """The file as it was at an earlier snapshot, renamed aside by a later save."""
        then = plan.created_ms + (plan.updated_ms - plan.created_ms) // 2
        data = self.head(plan, then, None) + self.pool.body(plan.start, plan.count // 2)
        self._save(plan.ws, f"{plan.session_id}.rot-{plan.updated_ms}.jsonl", data, then)

    def head(self, plan: _Plan, updated_ms: int, parent: _Plan | None) -> bytes:
        """Meta, compaction and prompt history, rendered by the format layer."""
        rng = self.rng
        prompts = [PromptEntry(plan.created_ms + k * MINUTE_MS, _words(rng, 6))
                   for k in range(rng.randrange(0, 4) if plan.count else 0)]
        compaction = (Compaction(rng.randrange(1, 4), rng.randrange(4, 60), _words(rng, 150))
                      if plan.count and rng.random() < 0.05 else None)
        fork = None if parent is None else Fork(parent.session_id, plan.branch)
        session = Session(
            version=1, session_id=plan.session_id, created_at_ms=plan.created_ms,
            updated_at_ms=updated_ms, compaction=compaction, prompt_history=prompts,
            fork=fork, workspace_root=self.spaces[plan.ws].root,
            model=MODELS[plan.index % len(MODELS)],
        )
        return render_snapshot(session)

    def _save(self, ws: int, name: str, data: bytes, mtime_ms: int) -> None:
        path = self.spaces[ws].dir / name
        with open(path, "wb") as f:
            f.write(data)
        os.utime(path, ns=(mtime_ms * 1_000_000, mtime_ms * 1_000_000))
        self.files += 1
        self.bytes_by_ws[ws] += len(data)
        self.sizes[name] = len(data)
