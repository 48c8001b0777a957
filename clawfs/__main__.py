"""`python -m clawfs`: the same command line as the `clawfs` entry point."""

import sys

from clawfs.cli.main import main

sys.exit(main())
