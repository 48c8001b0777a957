"""Give glibc's free memory back once the daemon goes idle (host/allocator.py).

A burst of work (the sweep, an `ls -l` of a big workspace, a `cat` of
every `.md`) leaves free memory in the malloc arena of each worker thread
that took part: glibc keeps it for the next burst, and the next burst may
run in other threads, each growing its own arena again. Measured after the
`.md` phases at 100,000 sessions: 36 MB of 66 MB of arenas free. So once
the process has used almost no CPU for `IDLE_SECONDS` after a burst, its
arenas are trimmed, once: the next burst then starts from what is live,
not from the sum of every thread's high-water mark. Never during a burst:
trimming takes each arena's lock, and what it gives back is faulted in
again by the next allocation.
"""

from __future__ import annotations

import time

import trio

from clawfs.host import allocator

IDLE_SECONDS = 2.0
"""How long the daemon must have been idle before its arenas are trimmed."""

IDLE_CPU_SHARE = 0.02
"""CPU (of one core) below which the daemon counts as idle."""


async def keep_trimmed(idle_s: float = IDLE_SECONDS) -> None:
    """Trim glibc's arenas once after each burst of work, until cancelled."""
    bursts = Bursts(idle_s, time.process_time())
    while True:
        await trio.sleep(idle_s)
        if bursts.ended(time.process_time()):
            await trio.to_thread.run_sync(allocator.trim)  # ms to tens of ms: not here
            bursts.ended(time.process_time())  # the trim's own CPU is no burst


class Bursts:
    """Whether a burst of work just ended, from the process's CPU time
    sampled every `interval_s` (startup counts as a burst)."""

    def __init__(self, interval_s: float, cpu_s: float) -> None:
        self._idle_cpu_s = IDLE_CPU_SHARE * interval_s
        self._busy, self._cpu_s = True, cpu_s

    def ended(self, cpu_s: float) -> bool:
        """Whether the process was busy until the last sample and idle since."""
        used, self._cpu_s = cpu_s - self._cpu_s, cpu_s
        if used > self._idle_cpu_s:
            self._busy = True
            return False
        ended, self._busy = self._busy, False
        return ended
