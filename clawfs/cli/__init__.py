"""The command line: one module per command, plus the demo and its sample
store, and where logs go."""
