"""``QueryBar``: a one-line AimQL input with history and an in-place syntax error.

A rejected query keeps its text; the offending column is painted in the input itself and a
caret line under it says what is wrong, until the text is edited.  Up/down walk the
history of this kind of query (runs or metrics).
"""

from __future__ import annotations

from rich.highlighter import Highlighter
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input, Label, Static

from aimcol.tui.query_history import QueryHistory


class ErrorColumnHighlighter(Highlighter):
    """Paints one column of the input text (the syntax error's) in reverse."""

    def __init__(self) -> None:
        self.column: int | None = None

    def highlight(self, text: Text) -> None:
        if self.column is None:
            return
        col = min(self.column, max(len(text) - 1, 0))
        if len(text):
            text.stylize("bold reverse red", col, col + 1)


class QueryInput(Input):
    BINDINGS = [
        Binding("up", "history(-1)", "Older query", show=False),
        Binding("down", "history(1)", "Newer query", show=False),
    ]

    def action_history(self, step: int) -> None:
        bar = self.parent.parent if self.parent is not None else None
        if isinstance(bar, QueryBar):
            bar.walk_history(step)


class QueryBar(Widget):
    """Emits :class:`QueryBar.Submitted` on enter; :meth:`show_error` marks a bad column."""

    class Submitted(Message):
        def __init__(self, bar: QueryBar, query: str) -> None:
            super().__init__()
            self.bar = bar
            self.query = query

    def __init__(
        self, kind: str, history: QueryHistory, *, value: str = "", placeholder: str = "", id: str | None = None
    ) -> None:  # noqa: A002
        super().__init__(id=id)
        self.kind = kind
        self.history = history
        self._initial = value
        self._placeholder = placeholder
        self._history_pos: int | None = None
        self._highlighter = ErrorColumnHighlighter()
        self.error_message: str | None = None

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Label(f"{self.kind} ❯", classes="query-prompt")
            yield QueryInput(
                value=self._initial,
                placeholder=self._placeholder,
                highlighter=self._highlighter,
                select_on_focus=False,
                compact=True,  # one row, no border: a focused bordered Input squeezed to one row shows only its top edge
            )
        yield Static("", classes="query-error")

    @property
    def input(self) -> QueryInput:
        return self.query_one(QueryInput)

    @property
    def value(self) -> str:
        return self.input.value

    @value.setter
    def value(self, text: str) -> None:
        self.input.value = text
        self.input.cursor_position = len(text)

    def focus_input(self) -> None:
        self.input.focus()

    # -- errors -----------------------------------------------------------------------------
    def show_error(self, message: str, column: int | None = None) -> None:
        """Show ``message``; with ``column`` (0-based) mark that column of the query and put the cursor there."""
        self.error_message = message
        self._highlighter.column = column
        text = Text()
        if column is not None:
            self.input.cursor_position = min(column, len(self.value))
            pad = len(self.kind) + 3 + column  # under the column, past the "runs ❯ " prompt
            width = max(self.size.width, 20)
            if pad + 2 + len(message) <= width:
                text.append(" " * pad + "^ ", style="bold")
                text.append(message)
            elif len(message) + 2 <= pad:  # the message ends left of the caret
                text.append(" " * (pad - len(message) - 1) + message + " ")
                text.append("^", style="bold")
            else:  # the caret on its own row, the message wrapped under it
                text.append(" " * min(pad, width - 1) + "^\n", style="bold")
                text.append(message)
        else:
            text.append(message)
        self.query_one(".query-error", Static).update(text)
        self.add_class("-error")
        self.input.refresh()

    def clear_error(self) -> None:
        if self.error_message is None:
            return
        self.error_message = None
        self._highlighter.column = None
        self.remove_class("-error")
        self.input.refresh()

    # -- events -----------------------------------------------------------------------------
    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.clear_error()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._history_pos = None
        self.post_message(self.Submitted(self, event.value.strip()))

    def remember(self, query: str) -> None:
        """Add a query that ran without error to the history."""
        self.history.add(self.kind, query)

    def walk_history(self, step: int) -> None:
        entries = self.history.entries(self.kind)
        if not entries:
            return
        pos = len(entries) if self._history_pos is None else self._history_pos
        pos = max(0, min(len(entries), pos + step))
        self._history_pos = pos
        self.value = entries[pos] if pos < len(entries) else ""
