"""Following a file through a mount as a user does: `tail -f` / `tail -F`."""

from __future__ import annotations

import os
import selectors
import subprocess


class Tail:
    """`tail` as a subprocess, its output read without blocking the test."""

    def __init__(self, *args: str | os.PathLike[str]) -> None:
        command = ["tail", *[os.fspath(a) for a in args]]
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert self.proc.stdout is not None
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.out = b""

    def read(self) -> bytes:
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if sel.select(0.05):
                self.out += self.proc.stdout.read() or b""
        return self.out

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
