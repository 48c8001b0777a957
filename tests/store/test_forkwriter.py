"""The fork writer: claw's bytes, safe publication, concurrency, clean failures."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from clawfs.format import clawjson, session
from clawfs.store import forkwriter
from clawfs.store.index import StoreIndex
from clawfs.store.roots import RootKind, make_root

import storegen as sg
from storegen import CORPUS, FrozenClock

FRONTIER = (
    CORPUS / "kl137754356__Frontier/claw-web-chat/backend/.claw/sessions/c689a366f52ab4ed"
    / "session-1779984242052-0.jsonl"
)
TORSTAN = (
    CORPUS / "Torstan__claw-code/rust/.claw/sessions/433010833d26c6d3"
    / "session-1775965865068-0.jsonl"
)


def _copy_to_store(source: Path, tmp_path: Path) -> Path:
    """A writable copy of a corpus file (the corpus itself stays untouched)."""
    directory = tmp_path / "store" / source.parent.name
    directory.mkdir(parents=True)
    target = directory / source.name
    shutil.copyfile(source, target)
    return target


def _entries(directory: Path) -> set[str]:
    return set(os.listdir(directory))


@pytest.mark.parametrize("source", [FRONTIER, TORSTAN], ids=["compaction", "prompt_history"])
def test_fork_is_claws_bytes(source: Path, tmp_path: Path) -> None:
    """Same records as the parent after a meta line claw's way (parent's root kept)."""
    parent = _copy_to_store(source, tmp_path)
    before = parent.read_bytes()
    new = Path(forkwriter.write_fork(str(parent), str(parent.parent), "  review \n").path)
    assert new.parent == parent.parent
    assert parent.read_bytes() == before
    data = new.read_bytes()
    lines = data.split(b"\n")
    assert data.endswith(b"\n")
    assert lines[1:] == before.split(b"\n")[1:]  # compaction/prompts/messages unchanged
    old_meta = clawjson.parse(before.split(b"\n")[0].decode())
    meta = clawjson.parse(lines[0].decode())
    assert isinstance(meta, dict) and isinstance(old_meta, dict)
    new_id = new.name.removesuffix(".jsonl")
    ms = session.created_at_from_id(new_id)
    expected = dict(old_meta)
    expected.update(
        session_id=new_id,
        created_at_ms=ms,
        updated_at_ms=ms,
        fork={"branch_name": "review", "parent_session_id": old_meta["session_id"]},
    )
    assert meta == expected
    assert lines[0].decode() == clawjson.render(expected)


def test_redaction_quirk_grows_one_bracket(tmp_path: Path) -> None:
    """claw re-redacts `[redacted]` on every save, so a fork adds a `]` (format doc §3.7)."""
    d = tmp_path / "d"
    text = "ANTHROPIC_API_KEY=live-secret and Bearer sk-abc123"
    parent = sg.write_session(d, sg.make_session("session-1-0", messages=[sg.text_message(text)]))
    # claw's first save of the secret:
    assert b"ANTHROPIC_API_KEY=[redacted] and Bearer sk-[redacted]\"" in parent.read_bytes()
    new = Path(forkwriter.write_fork(str(parent), str(d), None).path)
    forked = new.read_bytes()
    assert b"ANTHROPIC_API_KEY=[redacted]] and Bearer sk-[redacted]]" in forked
    meta = clawjson.parse(forked.split(b"\n")[0].decode())
    assert isinstance(meta, dict)
    assert meta["fork"] == {"parent_session_id": "session-1-0"}  # no branch: key absent


def test_fork_keeps_mode_and_owner(tmp_path: Path) -> None:
    d = tmp_path / "d"
    parent = sg.write_session(d, sg.make_session("session-1-0"))
    os.chmod(parent, 0o640)
    os.chown(parent, 65534, 65534)
    new = Path(forkwriter.write_fork(str(parent), str(d), None).path)
    st = new.stat()
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o640, 65534, 65534)


def test_sixteen_threads_and_sixteen_processes(tmp_path: Path) -> None:
    d = tmp_path / "d"
    parent = sg.write_session(d, sg.make_session("session-1-0", messages=3))
    # A file that holds the first id everyone will try: it must survive.
    squatter = d / "session-1800000000001-0.jsonl"
    squatter.write_bytes(b"keep me\n")
    start = d.parent / "go"
    script = (
        "import os, sys, time\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from storegen import FrozenClock\n"
        "from clawfs.store import forkwriter\n"
        "while not os.path.exists(sys.argv[4]): time.sleep(0.001)\n"
        "clock = FrozenClock(1800000000000)\n"
        "print(forkwriter.write_fork(sys.argv[2], sys.argv[3], 'p', clock=clock).path)\n"
    )
    tests_dir = str(sg.REPO / "tests")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, tests_dir, str(parent), str(d), str(start)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(16)
    ]
    results: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(16)

    def fork_in_thread() -> None:
        try:
            barrier.wait()
            clock = FrozenClock(1_800_000_000_000)
            results.append(forkwriter.write_fork(str(parent), str(d), "t", clock=clock).path)
        except BaseException as e:  # noqa: BLE001 - asserted below
            errors.append(e)

    threads = [threading.Thread(target=fork_in_thread) for _ in range(16)]
    start.touch()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for proc in procs:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0
        results.append(out.strip())
    assert not errors
    assert len(results) == 32 and len(set(results)) == 32
    assert squatter.read_bytes() == b"keep me\n"
    ids = set()
    for path in results:
        loaded = session.load(Path(path).read_bytes(), file_name=Path(path).name, mtime_ms=0)
        assert Path(path).name == loaded.session_id + ".jsonl"
        assert loaded.fork is not None and loaded.fork.parent_session_id == "session-1-0"
        ids.add(loaded.session_id)
    assert len(ids) == 32
    assert _entries(d) == {"session-1-0.jsonl", squatter.name} | {Path(p).name for p in results}


def test_parent_gone_or_broken_is_enoent_and_leaves_nothing(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    with pytest.raises(OSError) as gone:
        forkwriter.write_fork(str(d / "missing.jsonl"), str(d), None)
    assert gone.value.errno == errno.ENOENT
    broken = sg.write_bytes(d, "broken.jsonl", b'{"type":"nope"}\n')
    with pytest.raises(OSError) as bad:
        forkwriter.write_fork(str(broken), str(d), None)
    assert bad.value.errno == errno.ENOENT
    assert _entries(d) == {"broken.jsonl"}


def test_full_disk_leaves_no_temp_file(tmp_path: Path) -> None:
    """A real full filesystem (a 256 KiB tmpfs): ENOSPC, and only what was there stays."""
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(small)], check=True)
    try:
        d = small / "d"
        parent = sg.write_session(d, sg.make_session("session-1-0", messages=100))
        filler = d / "filler.bin"
        with open(filler, "wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * 4096)
            except OSError as e:
                assert e.errno == errno.ENOSPC
        before = _entries(d)
        with pytest.raises(OSError) as failed:
            forkwriter.write_fork(str(parent), str(d), None)
        assert failed.value.errno == errno.ENOSPC
        assert _entries(d) == before
    finally:
        subprocess.run(["umount", str(small)], check=True)


def test_unwritable_directory_is_eacces() -> None:
    """Run as an unprivileged user (root ignores modes); preconditions checked first."""
    base = Path(tempfile.mkdtemp(prefix="clawfs-eacces-", dir="/tmp"))
    try:
        os.chmod(base, 0o755)
        d = base / "d"
        parent = sg.write_session(d, sg.make_session("session-1-0"))
        os.chmod(d, 0o755)
        os.chmod(parent, 0o644)
        nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        assert subprocess.run([*nobody, "cat", str(parent)], capture_output=True).returncode == 0
        denied = subprocess.run([*nobody, "touch", str(d / "probe")], capture_output=True)
        assert denied.returncode != 0, "precondition: nobody cannot create files here"
        code = (
            "import sys\n"
            "from clawfs.store import forkwriter\n"
            "try:\n"
            "    forkwriter.write_fork(sys.argv[1], sys.argv[2], None)\n"
            "except OSError as e:\n"
            "    print(e.errno)\n"
        )
        env = dict(os.environ, PYTHONPATH=str(sg.REPO))
        out = subprocess.run(
            [*nobody, sys.executable, "-c", code, str(parent), str(d)],
            capture_output=True, text=True, env=env, cwd="/",
        )
        assert out.stdout.strip() == str(errno.EACCES), out.stderr
        assert _entries(d) == {"session-1-0.jsonl"}
    finally:
        shutil.rmtree(base)


def test_index_fork_is_visible_at_once(tmp_path: Path) -> None:
    ws = os.path.realpath(tmp_path)
    root = tmp_path / "root"
    d = sg.fp_dir(root, ws)
    sg.write_session(d, sg.make_session("session-1-0", workspace_root=ws, updated_at_ms=5))
    index = StoreIndex([make_root(str(root), RootKind.STORE, 0)])
    index.scan()
    parent = index.latest(d.name)
    assert parent is not None
    made = index.fork(parent, "b")
    assert (index.latest(d.name) or pytest.fail()).name == made.name
    assert made.name in (index.workspace(d.name) or pytest.fail()).files
    assert index.lineage(d.name).parent_of(made.name) == parent.name
    os.unlink(parent.path)
    with pytest.raises(FileNotFoundError):
        index.fork(parent, None)


def test_fork_of_a_legacy_file_into_a_linked_fingerprint_dir(tmp_path: Path) -> None:
    """`<root>/<fp>` is a symlink to a directory inside the root: the fork lands
    there, is indexed under its real directory, and `fork` returns it."""
    root = tmp_path / "root"
    ws = os.path.realpath(tmp_path / "proj")
    os.makedirs(ws)
    root.mkdir()
    sg.write_session(root, sg.make_session("session-1-0", workspace_root=ws))
    fp = os.path.basename(sg.fp_dir(tmp_path / "probe", ws))
    (root / "kept").mkdir()
    os.symlink(root / "kept", root / fp)
    index = StoreIndex([make_root(str(root), RootKind.STORE, 0)])
    index.scan()
    legacy = index.file(fp, "session-1-0.jsonl")
    assert legacy is not None and legacy.legacy
    made = index.fork(legacy, "b")
    assert os.path.dirname(made.path) == os.path.realpath(root / "kept")
    assert index.file(fp, made.name) == made
