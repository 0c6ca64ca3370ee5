"""`python -m shared.sharepack` runs the `sharepack` command line."""

import sys

from shared.sharepack.cli import main

sys.exit(main())
