"""claw's bytes: its JSON dialect, how a session file loads and saves, heads,
summaries, sanitising and the workspace fingerprint. Imports nothing else of
clawfs, and knows no directories."""
