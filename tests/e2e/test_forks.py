"""SPEC §2 (forks/, index.tsv, xattrs) and §4 (the fork control file) through
a real mount, clause by clause, on one synthetic store built in claw's format.

The store holds one workspace per concern, so tests that fork (and so add
files) never disturb the exact outputs other tests check:

* family: alpha <- {beta <- delta, gamma}, and omega whose parent is missing
  (the `tree` shape);
* chain: 70 sessions, each forked from the one before (the 64-level rule);
* tsv: values that need escaping, a foreign session, a broken file;
* forkme: a parent with a model, a recorded root and a redacted secret
  (what forks write, results, errors, concurrency);
* empty: only a meta-only session, so no `latest`;
* a legacy flat file lying in the root, joining the `legacy` workspace, and
  a whole-file JSON one with no recorded root (the root's own workspace).

test_mount_control.py covers the shell basics (echo, printf, ': >',
O_RDWR handles, EACCES) and test_hardening_forkfaults.py the faults (EROFS,
ENOSPC, the parent deleted under an open handle); this module adds the rest.
"""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from clawfs.format import session, snapshot
from clawfs.format.fingerprint import fingerprint
from clawfs.mount.render import INDEX_COLUMNS
from clawfs.store.lineage import MAX_DEPTH

import storegen as sg
from mounting import Mount, mounted

T0 = 1_700_000_000_000
CHAIN = 70
PATH_MAX = 4096
SECRET = "ANTHROPIC_API_KEY=live-secret"
ODD = "o\td\nd\\.jsonl"
"""A file name that needs escaping in index.tsv."""


@dataclass
class Store:
    root: Path
    workspaces: dict[str, str]
    """Short name -> the workspace directory (real path)."""
    files: dict[str, Path]
    """Session id -> backing file."""

    def fp(self, name: str) -> str:
        return fingerprint(self.workspaces[name])


@dataclass
class Env:
    m: Mount
    store: Store

    def ws(self, name: str) -> Path:
        return self.m.path / "sessions" / self.store.fp(name)


def chain_id(n: int) -> str:
    """claw-shaped ids, so path lengths are the real ones."""
    return f"session-{T0 + n}-{n}"


def build(tmp: Path) -> Store:
    names = ("family", "chain", "tsv", "forkme", "empty", "legacy", "elsewhere")
    workspaces = {}
    for name in names:
        (tmp / "ws" / name).mkdir(parents=True)
        workspaces[name] = os.path.realpath(tmp / "ws" / name)
    root = tmp / "store"
    files: dict[str, Path] = {}

    def save(ws: str, sid: str, at: int, **kw: object) -> Path:
        kw.setdefault("workspace_root", workspaces[ws])
        made = sg.make_session(sid, created_at_ms=at, **kw)  # type: ignore[arg-type]
        files[sid] = sg.write_session(sg.fp_dir(root, workspaces[ws]), made, mtime_ms=at)
        return files[sid]

    for n, (sid, parent) in enumerate([("alpha", None), ("beta", "alpha"), ("gamma", "alpha"),
                                       ("delta", "beta"), ("omega", "missing")]):
        save("family", sid, T0 + n, parent=parent)
    for n in range(CHAIN):
        save("chain", chain_id(n), T0 + n, parent=None if n == 0 else chain_id(n - 1))
    save("tsv", "t-plain", T0 + 30, parent="t-gone", branch="a\tb\nc\\d", model="m\\1",
         messages=3)
    save("tsv", "t-foreign", T0 + 20, workspace_root=workspaces["elsewhere"])
    odd = sg.make_session("t-odd", created_at_ms=T0 + 25, workspace_root=workspaces["tsv"])
    files["t-odd"] = sg.write_session(sg.fp_dir(root, workspaces["tsv"]), odd, name=ODD,
                                      mtime_ms=T0 + 25)
    files["t-broken"] = sg.write_bytes(
        root / fingerprint(workspaces["tsv"]), "t-broken.jsonl",
        sg.render(sg.make_session("t-broken", workspace_root=workspaces["tsv"])) + b"{bad\n",
        T0 + 10,
    )
    secret = [sg.text_message(f"deploy with {SECRET}"), sg.text_message("ok", "assistant")]
    save("forkme", "parent", T0, messages=secret, model="claude-x")
    save("forkme", "plain", T0 - 1)
    save("empty", "hollow", T0, messages=0)
    flat = sg.make_session("flat", created_at_ms=T0, workspace_root=workspaces["legacy"])
    files["flat"] = sg.write_session(root, flat, mtime_ms=T0)
    files["whole"] = sg.write_bytes(root, "session-1699999999999.json", sg.legacy_json(), T0)
    return Store(root, workspaces, files)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("forks")
    store = build(tmp)
    with mounted([store.root], tmp=tmp) as m:
        yield Env(m, store)


# --- helpers ------------------------------------------------------------------


def entries(directory: Path) -> set[str]:
    """Everything in a backing directory, temp files included."""
    return set(os.listdir(directory))


def new_files(directory: Path, before: set[str]) -> set[str]:
    return {n for n in entries(directory) - before if n.endswith(".jsonl")}


def sh(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=False)


def load(path: Path) -> session.Session:
    return session.load(path.read_bytes(), file_name=path.name,
                        mtime_ms=path.stat().st_mtime_ns // 1_000_000)


def claws_fork_bytes(parent: Path, new: Path, branch: str | None) -> bytes:
    """What claw's `/session fork` writes for `parent` under the new file's id and time."""
    made = load(new)
    assert made.session_id == session.file_stem(new.name)
    assert made.created_at_ms == made.updated_at_ms
    return snapshot.render_snapshot(load(parent).forked(made.session_id, made.created_at_ms,
                                                        branch))


def write_once(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def fork_at(control: Path, data: bytes) -> str:
    """Write `data` to a control file; the new file's name from the result."""
    write_once(control, data)
    result = control.read_text()
    assert not result.startswith("error"), result
    return result.split("\t")[0]


def xattrs(path: Path) -> dict[str, bytes]:
    return {name: os.getxattr(path, name) for name in os.listxattr(path)}


# --- forks/: tree and the 64-level rule --------------------------------------------


def test_tree_of_a_lineage(env: Env) -> None:
    forks = env.ws("family") / "forks"
    out = subprocess.run(["tree", "."], cwd=forks, capture_output=True, text=True,
                         check=True).stdout.replace("\u00a0", " ")  # tree indents with NBSP
    assert out == """\
.
├── alpha
│   ├── beta
│   │   ├── delta
│   │   │   ├── fork
│   │   │   ├── session.jsonl -> ../../../../delta.jsonl
│   │   │   └── session.md -> ../../../../delta.md
│   │   ├── fork
│   │   ├── session.jsonl -> ../../../beta.jsonl
│   │   └── session.md -> ../../../beta.md
│   ├── fork
│   ├── gamma
│   │   ├── fork
│   │   ├── session.jsonl -> ../../../gamma.jsonl
│   │   └── session.md -> ../../../gamma.md
│   ├── session.jsonl -> ../../alpha.jsonl
│   └── session.md -> ../../alpha.md
└── omega
    ├── fork
    ├── session.jsonl -> ../../omega.jsonl
    └── session.md -> ../../omega.md

6 directories, 15 files
"""
    # (tree 2.1 counts "." among the directories.)
    # Every session.jsonl leads to its transcript's bytes.
    for path in forks.rglob("session.jsonl"):
        assert path.read_bytes() == env.store.files[path.parent.name].read_bytes()


def test_chain_continues_at_the_top_after_64_levels(env: Env) -> None:
    forks = env.ws("chain") / "forks"
    assert sorted(os.listdir(forks)) == [chain_id(0), chain_id(MAX_DEPTH)]
    deepest = forks.joinpath(*(chain_id(n) for n in range(MAX_DEPTH)))
    assert os.listdir(deepest) == ["fork", "session.jsonl", "session.md", chain_id(MAX_DEPTH)]
    link = deepest / chain_id(MAX_DEPTH)
    assert stat.S_ISLNK(os.lstat(link).st_mode)
    assert os.readlink(link) == "../" * MAX_DEPTH + chain_id(MAX_DEPTH)
    assert link.resolve() == forks / chain_id(MAX_DEPTH)
    assert (link / "session.jsonl").read_bytes() == \
        env.store.files[chain_id(MAX_DEPTH)].read_bytes()
    # The kernel follows the continuation link inside a longer path too.
    through = deepest.joinpath(*(chain_id(n) for n in range(MAX_DEPTH, CHAIN)))
    assert (through / "session.jsonl").read_bytes() == \
        env.store.files[chain_id(CHAIN - 1)].read_bytes()
    assert len(os.fsencode(deepest / "session.jsonl")) < PATH_MAX
    rest = forks.joinpath(*(chain_id(n) for n in range(MAX_DEPTH, CHAIN)))
    assert os.listdir(rest) == ["fork", "session.jsonl", "session.md"]
    assert os.readlink(rest / "session.jsonl") == \
        "../" * (CHAIN - MAX_DEPTH + 1) + f"{chain_id(CHAIN - 1)}.jsonl"
    # A whole walk (no links followed) finds every node once, each path short.
    seen = []
    for directory, dirs, _files in os.walk(forks):
        assert len(os.fsencode(directory)) + 256 < PATH_MAX
        seen += [d for d in dirs if not os.path.islink(os.path.join(directory, d))]
    assert sorted(seen) == [chain_id(n) for n in range(CHAIN)]
    # Forking at the deepest level works and shows below its parent.
    before = entries(env.store.files[chain_id(0)].parent)
    name = fork_at(deepest / "fork", b"deep\n")
    assert new_files(env.store.files[chain_id(0)].parent, before) == {name}
    assert sorted(os.listdir(deepest)) == \
        sorted(["fork", "session.jsonl", "session.md", chain_id(MAX_DEPTH),
                session.file_stem(name)])


# --- what a fork writes ---------------------------------------------------------


def test_fork_is_claws_own_rendering_with_the_redaction_quirk(env: Env) -> None:
    parent = env.store.files["parent"]
    assert f"deploy with {SECRET}".replace("live-secret", "[redacted]").encode() \
        in parent.read_bytes(), "precondition: claw's first save redacts"
    before = entries(parent.parent)
    name = fork_at(env.ws("forkme") / "forks" / "parent" / "fork", b"  incident review \n")
    new = parent.parent / name
    assert new_files(parent.parent, before) == {name}
    data = new.read_bytes()
    assert data == claws_fork_bytes(parent, new, "incident review")
    assert b"ANTHROPIC_API_KEY=[redacted]]" in data  # claw re-redacts on every save
    forked = load(new)
    assert forked.fork == session.Fork("parent", "incident review")
    assert forked.workspace_root == env.store.workspaces["forkme"]  # the parent's, kept
    assert forked.model == "claude-x"


def test_fork_keeps_the_parents_mode_and_owner(env: Env) -> None:
    plain = env.store.files["plain"]
    os.chmod(plain, 0o640)
    os.chown(plain, 65534, 65534)
    name = fork_at(env.ws("forkme") / "forks" / "plain" / "fork", b"\n")
    st = os.stat(plain.parent / name)
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o640, 65534, 65534)
    assert (plain.parent / name).read_bytes() == claws_fork_bytes(plain, plain.parent / name,
                                                                  None)
    # Through the mount it shows the backing file's read bits, no write bits.
    assert stat.S_IMODE(os.stat(env.ws("forkme") / name).st_mode) == 0o440


def test_fork_of_a_legacy_flat_file_goes_to_its_fingerprint_directory(env: Env) -> None:
    flat = env.store.files["flat"]
    fp_dir = env.store.root / env.store.fp("legacy")
    assert not fp_dir.exists(), "precondition: only the flat file so far"
    ws = env.ws("legacy")
    assert "flat.jsonl" in os.listdir(ws)
    name = fork_at(ws / "forks" / "flat" / "fork", b"from-flat\n")
    assert os.listdir(fp_dir) == [name]
    assert (fp_dir / name).read_bytes() == claws_fork_bytes(flat, fp_dir / name, "from-flat")
    assert name in os.listdir(ws)
    assert session.file_stem(name) in os.listdir(ws / "forks" / "flat")


def test_fork_of_a_whole_file_json_session_goes_to_the_roots_workspace(env: Env) -> None:
    """No recorded root and no project above the root: the root's own fingerprint."""
    whole = env.store.files["whole"]
    fp = fingerprint(os.path.realpath(env.store.root))
    ws = env.m.path / "sessions" / fp
    stem = session.file_stem(whole.name)
    name = fork_at(ws / "forks" / stem / "fork", b"from-json\n")
    new = env.store.root / fp / name
    assert new.read_bytes() == claws_fork_bytes(whole, new, "from-json")
    assert load(new).fork == session.Fork(stem, "from-json")  # the stem stands for its id
    assert session.file_stem(name) in os.listdir(ws / "forks" / stem)


# --- read your writes ------------------------------------------------------------


def test_every_view_shows_the_fork_when_the_write_returns(env: Env) -> None:
    ws = env.ws("forkme")
    parent = os.readlink(ws / "latest")
    before = entries(env.store.files["parent"].parent)
    done = sh(f"echo rw-check > {ws}/fork")
    assert done.returncode == 0, done.stderr
    (name,) = new_files(env.store.files["parent"].parent, before)
    backing = env.store.files["parent"].parent / name
    assert (ws / "fork").read_text() == f"{name}\trw-check\t{backing}\n"
    assert name in os.listdir(ws)
    assert os.readlink(ws / "latest") == name
    assert os.readlink(env.m.path / "latest") == f"sessions/{env.store.fp('forkme')}/{name}"
    lineage = env.ws("forkme") / "forks"
    parent_dir = lineage.joinpath(*_node_path(lineage, session.file_stem(parent)))
    assert session.file_stem(name) in os.listdir(parent_dir)
    rows = {r["file"]: r for r in index_rows(ws)}
    assert rows[name]["branch_name"] == "rw-check"
    assert rows[name]["parent_session_id"] == load(ws / parent).session_id
    assert os.getxattr(ws / name, "user.claw.branch_name") == b"rw-check"
    assert os.getxattr(ws / name, "user.claw.path") == os.fsencode(backing)


def _node_path(forks: Path, stem: str) -> tuple[str, ...]:
    """Where node `stem` sits below `forks` (walked through the mount)."""
    for directory, dirs, _files in os.walk(forks):
        if stem in dirs:
            return (*Path(directory).relative_to(forks).parts, stem)
    raise AssertionError(f"{stem} not in {forks}")


# --- xattrs and getfattr -----------------------------------------------------------


def getfattr(path: Path) -> dict[str, str]:
    out = subprocess.run(["getfattr", "-d", "--absolute-names", path], capture_output=True,
                         text=True, check=True).stdout
    values = {}
    for line in out.splitlines():
        if "=" in line and not line.startswith("#"):
            name, value = line.split("=", 1)
            values[name] = value
    return values


def test_getfattr_dump_of_a_fork(env: Env) -> None:
    ws = env.ws("forkme")
    name = fork_at(ws / "forks" / "parent" / "fork", b"attrs\n")
    made = load(env.store.files["parent"].parent / name)
    # The title: the fork's first user text, as the fork writer sanitised it (claw's rule).
    first = made.messages[0]["blocks"]
    assert isinstance(first, list) and isinstance(first[0], dict)
    assert getfattr(ws / name) == {
        "user.claw.session_id": f'"{made.session_id}"',
        "user.claw.parent_session_id": '"parent"',
        "user.claw.branch_name": '"attrs"',
        "user.claw.message_count": '"2"',
        "user.claw.created_at_ms": f'"{made.created_at_ms}"',
        "user.claw.updated_at_ms": f'"{made.created_at_ms}"',
        "user.claw.workspace_root": f'"{env.store.workspaces["forkme"]}"',
        "user.claw.model": '"claude-x"',
        "user.claw.path": f'"{env.store.files["parent"].parent / name}"',
        "user.claw.title": f'"{first[0]["text"]}"',
    }
    # Its Markdown has the same attributes, the path still the backing JSONL.
    assert getfattr(ws / (name.removesuffix(".jsonl") + ".md")) == getfattr(ws / name)


def test_absent_values_are_absent_from_getfattr(env: Env) -> None:
    values = getfattr(env.ws("family") / "alpha.jsonl")
    assert set(values) == {f"user.claw.{n}" for n in (
        "session_id", "message_count", "created_at_ms", "updated_at_ms", "workspace_root",
        "path", "title")}
    # Also through the lineage's session.jsonl (getfattr follows the link).
    assert getfattr(env.ws("family") / "forks" / "alpha" / "beta" / "session.jsonl")[
        "user.claw.parent_session_id"] == '"alpha"'


# --- index.tsv ----------------------------------------------------------------------


def unescape(cell: str) -> str:
    out, chars = [], iter(cell)
    for ch in chars:
        if ch == "\\":
            ch = {"t": "\t", "n": "\n", "\\": "\\"}[next(chars)]
        out.append(ch)
    return "".join(out)


def index_rows(ws: Path) -> list[dict[str, str]]:
    text = (ws / "index.tsv").read_text()
    assert text.endswith("\n")
    lines = text[:-1].split("\n")
    assert lines[0] == "\t".join(INDEX_COLUMNS)
    rows = []
    for line in lines[1:]:
        cells = line.split("\t")
        assert len(cells) == len(INDEX_COLUMNS), line
        rows.append(dict(zip(INDEX_COLUMNS, (unescape(c) for c in cells), strict=True)))
    return rows


def test_index_tsv_rows_escaping_and_status(env: Env) -> None:
    rows = index_rows(env.ws("tsv"))
    files = env.store.files
    root = env.store.workspaces["tsv"]
    assert rows == [
        {"file": "t-plain.jsonl", "session_id": "t-plain", "created_at_ms": str(T0 + 30),
         "updated_at_ms": str(T0 + 30), "message_count": "3", "parent_session_id": "t-gone",
         "branch_name": "a\tb\nc\\d", "model": "m\\1", "workspace_root": root,
         "path": str(files["t-plain"]), "status": "ok", "title": "message 0 of t-plain"},
        {"file": ODD, "session_id": "t-odd", "created_at_ms": str(T0 + 25),
         "updated_at_ms": str(T0 + 25), "message_count": "1", "parent_session_id": "",
         "branch_name": "", "model": "", "workspace_root": root,
         "path": str(files["t-odd"]), "status": "ok", "title": "message 0 of t-odd"},
        {"file": "t-foreign.jsonl", "session_id": "t-foreign", "created_at_ms": str(T0 + 20),
         "updated_at_ms": str(T0 + 20), "message_count": "1", "parent_session_id": "",
         "branch_name": "", "model": "", "workspace_root": env.store.workspaces["elsewhere"],
         "path": str(files["t-foreign"]), "status": "foreign",
         "title": "message 0 of t-foreign"},
        {"file": "t-broken.jsonl", "session_id": "t-broken", "created_at_ms": "0",
         "updated_at_ms": "0", "message_count": "0", "parent_session_id": "",
         "branch_name": "", "model": "", "workspace_root": "",
         "path": str(files["t-broken"]), "status": rows[3]["status"],
         "title": "message 0 of t-broken"},
    ]
    assert rows[3]["status"].startswith("error: ")
    raw = (env.ws("tsv") / "index.tsv").read_text().splitlines()[1]
    assert "a\\tb\\nc\\\\d" in raw and "m\\\\1" in raw
    assert ODD in os.listdir(env.ws("tsv"))


def test_index_tsv_follows_claws_order(env: Env) -> None:
    rows = index_rows(env.ws("chain"))
    assert [r["session_id"] for r in rows[-CHAIN:]] == [chain_id(n) for n in
                                                        reversed(range(CHAIN))]


# --- the command: EINVAL cases ---------------------------------------------------------


@pytest.mark.parametrize("command", [
    b"one\ntwo\n", b"one\n\n  two", b"\xc3\x28", b"a\xffb\n", b"tab\there", b"del\x7f",
    b"nul\x00", b"c1\xc2\x85x", b"cr\rx", b"x" * 257, b"y" * 257 + b"\n",
], ids=["two-lines", "blank-between", "bad-utf8", "bad-utf8-nl", "tab", "del", "nul", "c1", "cr",
        "257", "257+nl"])
def test_invalid_commands_are_einval_and_create_nothing(env: Env, command: bytes) -> None:
    control = env.ws("forkme") / "forks" / "parent" / "fork"
    directory = env.store.files["parent"].parent
    before = entries(directory)
    with pytest.raises(OSError) as caught:
        write_once(control, command)
    assert caught.value.errno == errno.EINVAL
    assert entries(directory) == before  # no fork and no temp file
    assert control.read_text().startswith("error: ")


def test_256_bytes_is_the_longest_branch(env: Env) -> None:
    name = fork_at(env.ws("forkme") / "forks" / "parent" / "fork", b"z" * 256 + b"\n")
    assert os.getxattr(env.ws("forkme") / name, "user.claw.branch_name") == b"z" * 256


def test_second_write_on_one_handle_is_einval_and_the_first_stands(env: Env) -> None:
    control = env.ws("forkme") / "forks" / "parent" / "fork"
    directory = env.store.files["parent"].parent
    before = entries(directory)
    fd = os.open(control, os.O_RDWR | os.O_TRUNC)
    try:
        assert os.write(fd, b"first\n") == 6
        with pytest.raises(OSError) as caught:
            os.write(fd, b"second\n")
        assert caught.value.errno == errno.EINVAL
        result = os.pread(fd, 4096, 0).decode()
    finally:
        os.close(fd)
    (name,) = new_files(directory, before)
    assert result == f"{name}\tfirst\t{directory / name}\n"
    assert control.read_text() == result


def test_bash_printf_two_lines_forks_once_and_reports_a_write_error(env: Env) -> None:
    control = env.ws("forkme") / "forks" / "parent" / "fork"
    directory = env.store.files["parent"].parent
    before = entries(directory)
    done = sh(f"printf 'one\\ntwo\\n' > {control}")
    assert done.returncode == 1
    assert "write error: Invalid argument" in done.stderr
    (name,) = new_files(directory, before)
    assert control.read_text() == f"{name}\tone\t{directory / name}\n"


def test_truncate_then_echo_works(env: Env) -> None:
    control = env.ws("forkme") / "forks" / "parent" / "fork"
    directory = env.store.files["parent"].parent
    before = entries(directory)
    assert sh(f"truncate -s0 {control} && echo after-truncate > {control}").returncode == 0
    os.truncate(control, 0)
    assert len(new_files(directory, before)) == 1
    assert control.read_text().split("\t")[1] == "after-truncate"


# --- results ---------------------------------------------------------------------------


def test_results_empty_then_success_then_error_per_file(env: Env) -> None:
    forks = env.ws("family") / "forks"
    gamma, delta = forks / "alpha" / "gamma" / "fork", forks / "alpha" / "beta" / "delta" / "fork"
    assert gamma.read_bytes() == b""  # before any write
    name = fork_at(gamma, b"g1\n")
    assert gamma.read_text() == f"{name}\tg1\t{env.store.files['gamma'].parent / name}\n"
    assert delta.read_bytes() == b"", "results belong to one control file"
    with pytest.raises(OSError):
        write_once(gamma, b"bad\x01")
    assert gamma.read_text() == "error: fork command has a control character\n"
    # A handle opened before the failure but read after it sees the last result.
    fd = os.open(gamma, os.O_RDONLY)
    try:
        name2 = fork_at(gamma, b"g2\n")
        assert os.pread(fd, 4096, 0).decode().split("\t")[:2] == [name2, "g2"]
    finally:
        os.close(fd)


# --- concurrency -------------------------------------------------------------------------


def test_sixteen_concurrent_forks_threads_and_processes(env: Env) -> None:
    control = env.ws("forkme") / "forks" / "parent" / "fork"
    directory = env.store.files["parent"].parent
    before = entries(directory)
    go = threading.Barrier(9)
    errors: list[BaseException] = []

    def thread_fork(i: int) -> None:
        try:
            go.wait()
            with open(control, "w") as f:
                f.write(f"thread-{i}\n")
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=thread_fork, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    go.wait()
    procs = [subprocess.Popen(["sh", "-c", f"echo proc-{i} > '{control}'"],
                              stderr=subprocess.PIPE) for i in range(8)]
    for t in threads:
        t.join()
    for p in procs:
        _, err = p.communicate()
        assert p.returncode == 0, err
    assert errors == []
    made = new_files(directory, before)
    assert len(made) == 16
    assert entries(directory) - before == made  # no temp file left
    branches = set()
    for name in made:
        forked = load(directory / name)
        assert forked.fork is not None and forked.fork.parent_session_id == "parent"
        assert (directory / name).read_bytes() == claws_fork_bytes(
            env.store.files["parent"], directory / name, forked.fork.branch_name)
        branches.add(forked.fork.branch_name)
    assert branches == {f"{kind}-{i}" for kind in ("thread", "proc") for i in range(8)}
    listed = set(os.listdir(env.ws("forkme")))
    assert made <= listed


# --- errno table -------------------------------------------------------------------------


def test_no_latest_is_enoent(env: Env) -> None:
    ws = env.ws("empty")
    assert not os.path.lexists(ws / "latest")
    before = entries(env.store.files["hollow"].parent)
    with pytest.raises(OSError) as caught:
        write_once(ws / "fork", b"x\n")
    assert caught.value.errno == errno.ENOENT
    assert entries(env.store.files["hollow"].parent) == before
    # The session itself can still be forked from its node (claw forks empty sessions).
    name = fork_at(ws / "forks" / "hollow" / "fork", b"\n")
    assert name in os.listdir(ws)


def test_unloadable_session_is_enoent(env: Env) -> None:
    control = env.ws("tsv") / "forks" / "t-broken" / "fork"
    directory = env.store.files["t-broken"].parent
    before = entries(directory)
    with pytest.raises(OSError) as caught:
        write_once(control, b"x\n")
    assert caught.value.errno == errno.ENOENT
    assert entries(directory) == before
    assert control.read_text().startswith("error: ")
