"""Helpers for whatever builds stores or runs real mounts from outside the
mount: the tests, scripts/soak.py, scripts/bench.py, the sample store.

The mount itself never imports them.
"""
