"""Keep the index cache up to date while the store is mounted (store/cache.py).

What the index learns while mounted (the heads of new and changed files,
the background sweep's loads) is written to its cache every
`SAVE_SECONDS`, in a worker thread: never on the request path, and never
before the daemon forks (this runs under trio, which starts after the
fork). A killed mount loses at most that much, and the next mount reads
those files again. What is left at unmount is written by the mount
command once trio has stopped (`StoreIndex.save`, then the cache's
`close`).
"""

from __future__ import annotations

import logging

import trio

from clawfs.store.index import StoreIndex

log = logging.getLogger(__name__)

SAVE_SECONDS = 5.0
"""How often what the index learned is written (when it learned anything)."""


async def keep_saved(index: StoreIndex, interval_s: float = SAVE_SECONDS) -> None:
    """Write what `index` learned to its cache every `interval_s`, until cancelled.

    A failure is logged and ends only the saving: the cache only ever makes
    a mount faster, and the next mount reads what was not written.
    """
    try:
        while True:
            await trio.sleep(interval_s)
            if index.unsaved():
                written = await trio.to_thread.run_sync(index.save, abandon_on_cancel=True)
                log.debug("index cache: %d row(s) written", written)
    except Exception:
        log.exception("writing the index cache failed; it is no longer kept up to date")
