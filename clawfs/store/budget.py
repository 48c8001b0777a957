"""What one check of a session file may cost (SPEC §6), for every reader of
whole files: the loads (claw's list entry), the Markdown view, the fork
writer.

A file is untrusted: `truncate -s 300M` makes one line of 300 MB of NULs,
which claw's reader holds whole and parses (1.5 GB here), and 300 MB of
newlines are 300 million lines (a minute of CPU). No single file may
stall the mount, so a check stops where it would cost more than
`FILE_BYTES` read, one line over `LINE_BYTES` held, or more than `LINES`
lines split. A file beyond them is one clawfs cannot afford to check: it
is listed and its bytes are served as they are, but what claw would make
of it is not decided (index.tsv says so, the log says it once, and it is
no alias target). Legitimate sessions are far inside (claw rotates at 256
KiB; appends grow a file, tens of MB in heavy use; its biggest line is a
tool result).

What a check may hold is one line (`LINE_BYTES`, and claw's parse of it,
about five times that while it is parsed: ~80 MB) on top of the mount's
usual memory.
"""

from __future__ import annotations

import os

FILE_BYTES = 256 << 20
"""A file larger than this is not read through at all."""
LINE_BYTES = 16 << 20
"""One line longer than this is not held."""
LINES = 1 << 20
"""More lines than this are not split (claw's reader costs ~0.5 us a line)."""
SCAN_CHUNK = 1 << 20


class Budget:
    """The cost of one pass over a file so far, fed the bytes as they are read."""

    __slots__ = ("lines", "run", "reason")

    def __init__(self, size: int = 0) -> None:
        self.lines = 0
        self.run = 0
        """Bytes since the last newline."""
        self.reason: str | None = too_big(size)
        """Why the file cannot be afforded, once it cannot."""

    def take(self, chunk: bytes) -> str | None:
        """Count `chunk` in; why the file cannot be afforded, if now it cannot.

        Counted in pieces of at most `LINE_BYTES` (a chunk never is bigger
        where clawfs reads): a line within one piece is short enough, so only
        the lines that cross a piece's start or end need measuring."""
        for start in range(0, len(chunk), LINE_BYTES):
            if self.reason is None:
                self._take(chunk[start : start + LINE_BYTES] if len(chunk) > LINE_BYTES else chunk)
        return self.reason

    def _take(self, piece: bytes) -> None:
        first = piece.find(b"\n")
        if first < 0:
            self.run += len(piece)
            longest = self.run
        else:
            longest = self.run + first  # the line that ends here
            self.lines += piece.count(b"\n")
            self.run = len(piece) - piece.rfind(b"\n") - 1
        if max(longest, self.run) > LINE_BYTES:
            self.reason = f"a line longer than {_size(LINE_BYTES)}"
        elif self.lines > LINES:
            self.reason = f"more than {LINES:,} lines"


def too_big(size: int) -> str | None:
    """Why a file of `size` bytes cannot be afforded, if it cannot."""
    if size > FILE_BYTES:
        return f"over {_size(FILE_BYTES)} ({size:,} bytes)"
    return None


def _size(limit: int) -> str:
    return f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit >> 10} KiB"


def affordable(fd: int, size: int) -> str | None:
    """None when a check of the open file `fd` (of `size` bytes) can be
    afforded, else why not: decided before any of it is parsed, for readers
    that must not start what they cannot finish (the Markdown view serves
    bytes as it renders). A file too small to break the line caps is not
    read; a bigger one is scanned at C speed, nothing kept, and only as far
    as a cap."""
    budget = Budget(size)
    if budget.reason is not None or size <= LINES:
        return budget.reason
    offset = 0
    while offset < size:
        chunk = os.pread(fd, min(SCAN_CHUNK, size - offset), offset)
        if not chunk:
            break
        offset += len(chunk)
        if budget.take(chunk) is not None:
            return budget.reason
    return None
