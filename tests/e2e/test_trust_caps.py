"""Issue 13, caps (SPEC §6), through a real mount: a `model` over the
kernel's xattr limit is neither listed (so `getfattr -d` works) nor copied
whole into every `index.tsv`.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from clawfs.format.fingerprint import fingerprint

import storegen as sg
from mounting import Mount, mounted

T0 = 1_780_000_000_000
WORKSPACE = "/srv/bounded"
FP = fingerprint(WORKSPACE)

XATTR_MAX = 65536
"""The kernel's limit on one attribute value (XATTR_SIZE_MAX)."""
OVER = "m" * (XATTR_MAX + 1000)
HUGE_MODEL = "m" * (1 << 20)


@pytest.fixture(scope="module")
def big_models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mount]:
    base = tmp_path_factory.mktemp("models")
    store = base / "store"
    directory = sg.fp_dir(store, WORKSPACE)
    for sid, model in (("over", OVER), ("huge", HUGE_MODEL)):
        sg.write_session(directory, sg.make_session(sid, messages=1, workspace_root=WORKSPACE,
                                                    model=model, updated_at_ms=T0))
    with mounted([store], tmp=base) as m:
        yield m


@pytest.mark.parametrize("sid", ["over", "huge"])
def test_a_model_over_the_xattr_limit_is_not_listed(big_models: Mount, sid: str) -> None:
    path = big_models.path / "sessions" / FP / f"{sid}.jsonl"
    names = os.listxattr(path)
    assert "user.claw.session_id" in names
    assert "user.claw.model" not in names
    dump = subprocess.run(["getfattr", "--absolute-names", "-d", "-m", "-", path],
                          capture_output=True, timeout=60, check=False)
    # On main getfattr exits 0 but says "user.claw.model: Argument list too long".
    assert (dump.returncode, dump.stderr) == (0, b"")
    assert f'user.claw.session_id="{sid}"'.encode() in dump.stdout


def test_index_tsv_cells_are_capped(big_models: Mount) -> None:
    data = (big_models.path / "sessions" / FP / "index.tsv").read_bytes()
    rows = {row.split(b"\t")[0]: row.split(b"\t") for row in data.splitlines()[1:]}
    assert sorted(rows) == [b"huge.jsonl", b"over.jsonl"]
    model = data.splitlines()[0].split(b"\t").index(b"model")
    for name, row in rows.items():
        assert row[1] == name.removesuffix(b".jsonl")  # the other cells are intact
        assert len(row[model]) <= XATTR_MAX, (name, len(row[model]))
        assert row[model].startswith(b"mmmm")
    assert len(data) < 4 * XATTR_MAX
