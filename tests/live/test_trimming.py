"""glibc's arenas are trimmed once after each burst of work (live/trimming.py)."""

from __future__ import annotations

from itertools import accumulate

from clawfs.live import trimming


def test_a_burst_ends_once_when_the_process_goes_idle() -> None:
    interval = trimming.IDLE_SECONDS
    idle = trimming.IDLE_CPU_SHARE * interval / 2  # a little CPU: still idle
    # CPU seconds used in each interval: startup's burst ends, idle, a burst of
    # two intervals, idle, idle, a burst just above idle, idle.
    used = [0.0, idle, 1.5, 1.0, idle, 0.0, 3 * idle, 0.0]
    bursts = trimming.Bursts(interval, 10.0)
    samples = list(accumulate(used, initial=10.0))[1:]
    ended = [bursts.ended(cpu) for cpu in samples]
    assert ended == [True, False, False, False, True, False, False, True]
