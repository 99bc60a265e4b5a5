"""``python -m aimcol.tui [--repo PATH]``: what ``aimcol up`` runs for each browser tab."""

import sys

from aimcol.cli.tui_cmd import main_tui

if __name__ == "__main__":
    sys.exit(main_tui(sys.argv[1:]))
