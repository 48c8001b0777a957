"""SPEC §6 through a real mount: a symlink in the store is never followed out
of it, not even in the moment before the watcher has seen it.

The mount polls (1 s), so for up to a second after the swap the index still
lists the session as the regular file it was, and every request for it goes
to the adapter with the old node: lookup, getattr and open must then look at
the name itself (lstat, O_NOFOLLOW), never at what it points to.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from mounting import mounted
from storegen import fp_dir, make_session, render, write_session

WINDOW = 1.5
"""Seconds to keep asking after the swap: longer than one polling interval."""


def test_a_session_swapped_for_a_symlink_out_of_the_store_is_never_followed(
    tmp_path: Path,
) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    store = tmp_path / "store"
    directory = fp_dir(store, os.path.realpath(project))
    write_session(directory, make_session("s1", workspace_root=os.path.realpath(project)))
    secret = tmp_path / "outside.jsonl"
    secret_bytes = render(make_session("secret-outside", messages=7)) + b'{"pad":"SECRET"}\n'
    secret.write_bytes(secret_bytes)

    with mounted([store], tmp=tmp_path / "m", env={"CLAWFS_FORCE_POLLING": "1"},
                 extra_args=["--poll-interval", "1"]) as m:
        through = m.path / "sessions" / directory.name / "s1.jsonl"
        assert b"s1" in through.read_bytes()  # the kernel now holds its entry

        tmp_link = directory / "s1.jsonl.link"
        os.symlink(secret, tmp_link)
        os.rename(tmp_link, directory / "s1.jsonl")

        seen: list[bytes | int] = []
        deadline = time.monotonic() + WINDOW
        while time.monotonic() < deadline:
            try:
                seen.append(os.stat(through).st_size)
                seen.append(through.read_bytes())
            except OSError as e:
                seen.append(e.errno or 0)
        assert secret_bytes not in seen
        assert all(b"SECRET" not in item for item in seen if isinstance(item, bytes))
        assert len(secret_bytes) not in seen
        assert secret.read_bytes() == secret_bytes
