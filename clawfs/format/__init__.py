"""claw's bytes: its JSON dialect, how a session file loads and saves, heads,
summaries, sanitising, the workspace fingerprint, and how store text is shown
to a person (printable). Imports nothing else of clawfs, and knows no
directories."""
