"""``python -m aimcol`` runs the command line."""

import sys

from aimcol.cli import main

sys.exit(main())
