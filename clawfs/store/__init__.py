"""Session files on disk and claw's rules over them: roots, listing, order,
membership, labels, lineage, `latest`, the index and the fork writer. No
pyfuse3, no trio."""
