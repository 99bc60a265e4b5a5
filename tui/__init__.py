"""``aimcol.tui``: the terminal UI (``aimcol tui``), built on Textual over the public SDK.

Importing this package does not import Textual; ``aimcol.tui.app`` does.
"""
