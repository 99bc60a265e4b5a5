"""``?``: every key of the screen underneath, read from its live bindings so it never goes stale."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Label, Static


def binding_rows(screen: Screen) -> list[tuple[str, str]]:
    """``(keys, description)`` for every binding active on ``screen`` (focused widget up to the app)."""
    rows: dict[str, list[str]] = {}
    order: list[str] = []
    # the screen's own keys first, then the focused widget's, then the app-wide ones
    rank = {screen: 0, screen.app: 2}
    bindings = sorted(screen.active_bindings.values(), key=lambda active: rank.get(active.node, 1))
    for active in bindings:
        binding = active.binding
        if binding.key.startswith("super+"):
            continue  # the Cmd key never reaches a terminal program
        description = binding.description or binding.action
        if binding.action in ("help", "command_palette") and description in rows:
            continue
        if description not in rows:
            rows[description] = []
            order.append(description)
        display = screen.app.get_key_display(binding)
        if display not in rows[description]:
            rows[description].append(display)
    return [(" ".join(rows[d]), d) for d in order]


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close")]

    def __init__(self, screen: Screen, title: str) -> None:
        super().__init__()
        self.rows = binding_rows(screen)
        self.title_text = title

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for keys, description in self.rows:
            table.add_row(Text(keys), description)
        with VerticalScroll():
            yield Label(f"Keys · {self.title_text}", classes="dialog-title")
            yield Static(table)
            yield Label("escape closes · mouse optional", classes="dialog-hint")

    def action_close(self) -> None:
        self.dismiss(None)
