"""Command lines for the ``aimcol`` child processes the CLI starts (``demo`` workers, ``up`` sessions).

``python -m aimcol`` puts the working directory first on ``sys.path``: started in a folder
that holds an ``aimcol/`` directory (a checkout, a project named aimcol), the child would
import that folder instead of the installed package.  The children run a tiny ``-c``
bootstrap instead, which drops that entry before importing anything of ours.
"""

from __future__ import annotations

import sys

BOOTSTRAP = "import sys\nif sys.path and sys.path[0] == '': del sys.path[0]\nfrom aimcol.cli import main\nsys.exit(main(sys.argv[1:]))"
"""With ``-c`` Python prepends ``''`` (the working directory) to ``sys.path``; remove it first."""


def aimcol_command(*args: str) -> list[str]:
    """``[python, -c, BOOTSTRAP, *args]``: runs ``aimcol *args`` with this interpreter, whatever the cwd."""
    return [sys.executable, "-c", BOOTSTRAP, *args]
