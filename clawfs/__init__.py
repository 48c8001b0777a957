"""clawfs: claw's session store as a FUSE filesystem."""

__version__ = "0.1.0"
