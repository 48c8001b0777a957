"""The mount: the tree served (view), inodes, what the kernel caches, the
pyfuse3 adapter, serving and daemonizing, and the mountpoint checks."""
