"""The one error the mount's pure modules raise (view, render, control)."""

from __future__ import annotations


class RequestError(Exception):
    """A request the mount refuses, with the errno that names why.

    The adapter answers `errno` (mount/fuse_ops.py); `message` goes to the
    debug log and, for a fork, into the control file's error line (SPEC §4).
    """

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.errno = code
        self.message = message
