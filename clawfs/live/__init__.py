"""Keeping a mount's store live: the watcher, the live store that applies
what it reports to the index, and rediscovery of project stores. The only
store-side code that knows trio; no FUSE."""
