"""Helpers for the tests, the bench and the soak: never used by the mount itself."""
