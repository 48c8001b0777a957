"""claw's list order (claw-store-format §5), as one ascending sort key.

claw sorts summaries by `updated_at_ms` descending, then the file's mtime
in ms descending, then the session id descending *byte-wise*; complete ties
keep directory-read order. We break those ties deterministically by root
precedence, then entry name, so the order (and `latest`) never depends on
the order a directory happens to be read in.

The key is a plain tuple so lists can be kept sorted with `bisect`.
"""

from __future__ import annotations

import bisect

SortKey = tuple[int, int, bytes, int, str]

# UTF-8 never contains the bytes 0xFE and 0xFF, so mapping b -> 0xFE - b
# reverses the order of every byte that can occur and leaves 0xFF free as a
# terminator that sorts after them all: a prefix ("a") then comes after its
# extensions ("ab"), which is what descending byte order wants.
_INVERT = bytes(0xFE - b if b <= 0xFE else 0 for b in range(256))


def descending(text: str) -> bytes:
    """Bytes that sort ascending exactly as `text`'s UTF-8 sorts descending."""
    return text.encode("utf-8", "surrogatepass").translate(_INVERT) + b"\xff"


def sort_key(
    updated_at_ms: int, mtime_ms: int, session_id: str, precedence: int, name: str
) -> SortKey:
    return (-updated_at_ms, -mtime_ms, descending(session_id), precedence, name)


def mtime_ms(mtime_ns: int) -> int:
    """claw's `modified_epoch_millis`: whole milliseconds since the epoch."""
    return mtime_ns // 1_000_000 if mtime_ns > 0 else 0


def insort(keys: list[SortKey], key: SortKey) -> None:
    """Add `key` to the sorted list `keys`."""
    bisect.insort(keys, key)


def remove(keys: list[SortKey], key: SortKey) -> None:
    """Remove `key` from the sorted list `keys` if it is there."""
    position = bisect.bisect_left(keys, key)
    if position < len(keys) and keys[position] == key:
        del keys[position]
