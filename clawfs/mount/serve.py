"""Run a mounted filesystem under trio until it is unmounted or signalled.

`pyfuse3.init()` must already have mounted it. SIGINT, SIGTERM and SIGHUP
end the main loop through `pyfuse3.terminate()` and the mount is removed on
the way out: without the signal task they would leave a stale mount
(pyfuse3 notes). Signal receivers need the main thread, which is why this
is a plain blocking function run by the CLI.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Awaitable, Callable, Sequence

import pyfuse3
import trio

log = logging.getLogger(__name__)

Task = Callable[[], Awaitable[None]]


def serve(
    initialized: trio.Event,
    on_ready: Callable[[], None],
    startup: Task | None = None,
    background: Sequence[Task] = (),
) -> None:
    """Serve requests; call `on_ready` once the mount answers.

    `initialized` is set by the Operations' `init()` (the kernel's INIT
    request, answered right after). `startup` is awaited after that and
    before `on_ready`: work the mount must finish before it counts as ready
    (e.g. a first discovery walk) while requests are already served.
    `background` tasks (watchers) run until the mount ends.
    """
    try:
        trio.run(_main, initialized, on_ready, startup, background)
    finally:
        pyfuse3.close(unmount=True)
        log.info("unmounted")


async def _main(
    initialized: trio.Event,
    on_ready: Callable[[], None],
    startup: Task | None,
    background: Sequence[Task],
) -> None:
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_stop_on_signals)
        nursery.start_soon(_announce, initialized, on_ready, startup)
        for task in background:
            nursery.start_soon(task)
        await pyfuse3.main()
        nursery.cancel_scope.cancel()


async def _announce(
    initialized: trio.Event, on_ready: Callable[[], None], startup: Task | None
) -> None:
    await initialized.wait()
    if startup is not None:
        await startup()
    on_ready()


async def _stop_on_signals() -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as signals:
        async for signum in signals:
            log.info("%s: unmounting", signal.Signals(signum).name)
            pyfuse3.terminate()
            return
