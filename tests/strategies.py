"""Hypothesis strategies shared by the property tests: damaged session files.

Lines are taken from the real claw files in ../shared/corpus and damaged
(bytes inserted, deleted, replaced, the file truncated), so the fuzzers
start from what claw really writes.
"""

from __future__ import annotations

from hypothesis import strategies as st

from storegen import CORPUS

MTIME = 1_700_000_000_000


def _corpus_lines() -> list[bytes]:
    lines: list[bytes] = []
    for path in sorted(CORPUS.rglob("*.jsonl")):
        lines.extend(line for line in path.read_bytes().split(b"\n") if 0 < len(line) < 4000)
    return lines


LINES = _corpus_lines()


@st.composite
def damaged_files(draw: st.DrawFn) -> bytes:
    picked = draw(st.lists(st.sampled_from(LINES), min_size=0, max_size=6))
    data = bytearray(b"\n".join(picked) + draw(st.sampled_from([b"", b"\n", b"\r\n"])))
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["insert", "delete", "replace", "truncate"]))
        if action == "truncate":
            del data[at:]
            continue
        noise = draw(
            st.sampled_from(
                [b'"', b"\\", b"{", b"}", b"]", b",", b"0", b"1.5", b"\\ud83d", b"\xff", b"\n"]
            )
            | st.binary(max_size=3)
        )
        if action == "insert":
            data[at:at] = noise
        elif action == "delete":
            del data[at : at + len(noise)]
        else:
            data[at : at + len(noise)] = noise
    return bytes(data)


inputs = st.one_of(st.binary(max_size=300), damaged_files())
