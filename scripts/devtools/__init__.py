"""Helpers for what drives clawfs from outside: the tests, scripts/bench.py
and scripts/soak.py (real mounts, the bench store). Not part of the
installed package: the wheel ships `clawfs/` only.
"""
