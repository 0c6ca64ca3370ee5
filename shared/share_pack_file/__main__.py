"""`python -m shared.share_pack_file` runs the `sharepack` command line."""

import sys

from shared.share_pack_file.cli import main

sys.exit(main())
