"""claw's JSONL lines: the one splitter of session bytes into lines.

claw reads a whole file with `read_to_string` and walks `str::lines`,
trimming each line and skipping blank ones (session.rs, claw-store-format
§3.2). So, exactly:

* lines end at `\\n`; the last line needs none;
* a trailing `\\r` is dropped (`lines`), and so is all other leading and
  trailing Unicode whitespace (`trim`, rusttext.py; `\\r` is whitespace too,
  so trimming covers it). A UTF-8 BOM is *not* whitespace: it stays at the
  start of line 1, and breaks it;
* blank lines are skipped but counted: line numbers in claw's error texts
  count every line;
* bytes that are not UTF-8 fail the whole file, wherever they are (Rust's
  "stream did not contain valid UTF-8"): `NotUtf8`.

Each line is decoded on its own, which is exact (a `\\n` byte never occurs
inside a UTF-8 sequence) and lets a reader stop at the first line it needs
(a head reads a few KiB and wants line 1 only). `Splitter` takes bytes in
pieces, keeping an unfinished last line until more arrives, so a file that
grew is read from its old end.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from clawfs.format import rusttext


class NotUtf8(ValueError):
    """The bytes are not UTF-8: claw cannot load the file at all.

    `lines` are the good lines the failing call completed before the bad
    one (`Splitter.feed`), so that a reader fed in pieces sees the same
    lines however the pieces were cut.
    """

    def __init__(self, message: str, lines: list[Line] | None = None) -> None:
        super().__init__(message)
        self.lines: list[Line] = [] if lines is None else lines


class Line(NamedTuple):
    """One non-blank line, trimmed as claw trims it."""

    number: int
    """1-based, blank lines included (claw's "at line N")."""
    text: str
    end: int
    """Byte offset just past the line: after its `\\n`, or the end of the bytes
    for a last line without one."""


def lines(data: bytes, *, first_number: int = 1, start: int = 0) -> Iterator[Line]:
    """The non-blank lines of `data`, lazily; its last line needs no `\\n`.

    Raises `NotUtf8` on reaching a line that is not UTF-8 (lines before it
    are yielded first). `first_number` and `start` place `data` in a longer
    stream: the number of its first line and the offset of its first byte.
    """
    number = first_number
    position = 0
    size = len(data)
    while position < size:
        newline = data.find(b"\n", position)
        end = size if newline < 0 else newline + 1
        try:
            # The line with its `\n`, which is whitespace: trimmed with the rest.
            text = rusttext.trim(data[position:end].decode("utf-8"))
        except UnicodeDecodeError:
            raise NotUtf8(f"line {number} is not UTF-8") from None
        if text:
            yield Line(number, text, start + end)
        position = end
        number += 1


class Splitter:
    """claw's lines of a stream that arrives in pieces.

    `feed` returns the complete lines a piece finishes and keeps the
    unfinished tail; `pending` is that tail as the last line, if the stream
    ended now. `offset` counts the bytes of complete lines (where feeding
    a grown file may go on from). Once a line was not UTF-8, the stream is
    not: every later call raises `NotUtf8` again.
    """

    def __init__(self) -> None:
        self.offset = 0
        self._lines = 0
        self._tail = bytearray()
        """Grows in place: a record of many MiB fed in small pieces costs its
        size in copies, not its size times the pieces."""
        self._failed = False

    def feed(self, data: bytes) -> list[Line]:
        """The non-blank lines that `data` completes, in order. On a line
        that is not UTF-8, `NotUtf8` carries the lines before it."""
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            self._tail += data
            complete = b""
        else:
            complete = bytes(self._tail) + data[:cut] if self._tail else data[:cut]
            self._tail = bytearray(data[cut:])
        number, start = self._lines + 1, self.offset
        self._lines += complete.count(b"\n")
        self.offset += len(complete)
        if self._failed:
            raise NotUtf8("the stream is not UTF-8")
        good: list[Line] = []
        try:
            good.extend(lines(complete, first_number=number, start=start))
        except NotUtf8 as e:
            self._failed = True
            raise NotUtf8(str(e), good) from None
        return good

    def pending(self) -> list[Line]:
        """The unfinished tail as the stream's last line (none if blank or
        empty). Changes nothing: feeding may go on."""
        if self._failed:
            raise NotUtf8("the stream is not UTF-8")
        return list(lines(bytes(self._tail), first_number=self._lines + 1, start=self.offset))
