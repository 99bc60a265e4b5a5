"""Small modal dialogs: choose columns, pick one option, type a value."""

from __future__ import annotations

from typing import TypeVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, SelectionList
from textual.widgets.option_list import Option

ResultType = TypeVar("ResultType")


class Dialog(ModalScreen[ResultType]):
    """A small centred box over the screen; styled in ``aimcol.tcss`` by this type, so every
    dialog below looks alike."""


class ColumnPicker(Dialog[list[str] | None]):
    """Checkboxes over ``(label, value, shown)``; enter applies, escape cancels."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("enter", "apply", "Apply", priority=True),
    ]

    def __init__(self, title: str, choices: list[tuple[str, str, bool]]) -> None:
        super().__init__()
        self.title_text = title
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, classes="dialog-title")
            yield Label("space toggles · enter applies · escape cancels", classes="dialog-hint")
            yield SelectionList[str](*self.choices)

    def on_mount(self) -> None:
        self.query_one(SelectionList).focus()

    def action_apply(self) -> None:
        self.dismiss(list(self.query_one(SelectionList).selected))

    def action_cancel(self) -> None:
        self.dismiss(None)


class OptionPicker(Dialog[str | None]):
    """Pick one of ``(label, value)``; returns the value, or ``None`` on escape."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, options: list[tuple[str, str]], current: str | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.options = options
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, classes="dialog-title")
            yield OptionList(*[Option(label, id=value) for label, value in self.options])

    def on_mount(self) -> None:
        option_list = self.query_one(OptionList)
        option_list.focus()
        values = [value for _, value in self.options]
        if self.current in values:
            option_list.highlighted = values.index(self.current)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


class TextPrompt(Dialog[str | None]):
    """One line of text; enter returns it, escape returns ``None``."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, value: str = "", hint: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.value = value
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, classes="dialog-title")
            if self.hint:
                yield Label(self.hint, classes="dialog-hint")
            yield Input(value=self.value)

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class NotesEditor(Dialog[str | None]):
    """Several lines of text (a run's notes); ctrl+s returns them, escape returns ``None``."""

    BINDINGS = [
        Binding("ctrl+s", "save", "Save", priority=True),
        Binding("escape", "cancel", "Cancel", priority=True),
    ]

    def __init__(self, title: str, value: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.value = value

    def compose(self) -> ComposeResult:
        from textual.widgets import TextArea

        with Vertical():
            yield Label(self.title_text, classes="dialog-title")
            yield Label("ctrl+s saves · escape cancels", classes="dialog-hint")
            yield TextArea(self.value, soft_wrap=True, tab_behavior="indent")

    def on_mount(self) -> None:
        from textual.widgets import TextArea

        area = self.query_one(TextArea)
        area.focus()
        area.move_cursor(area.document.end)

    def action_save(self) -> None:
        from textual.widgets import TextArea

        self.dismiss(self.query_one(TextArea).text)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ViewPicker(Dialog[str | None]):
    """The saved views of the metrics explorer: enter returns the highlighted name (to open it),
    ``d`` deletes it, escape returns ``None``."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("d,delete", "delete", "Delete view"),
    ]

    def __init__(self, views) -> None:
        super().__init__()
        self.views = views  # aimcol.tui.saved_views.SavedViews

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Saved views", classes="dialog-title")
            yield Label("enter opens · d deletes · escape closes", classes="dialog-hint")
            yield OptionList(*self._options())
            yield Label("no saved views yet: v on the metrics screen saves one", id="no-views", classes="dialog-hint")

    def _options(self) -> list[Option]:
        from rich.text import Text

        options = []
        for name in self.views.names():
            view = self.views.get(name) or {"query": "", "settings": {}}
            prompt = Text(name, style="bold")
            prompt.append(f"  {view['query'] or 'every metric'}", style="dim")
            x_axis = view["settings"].get("x_axis")
            if x_axis and x_axis != "step":
                prompt.append(f" · x={x_axis}", style="dim")
            options.append(Option(prompt, id=name))
        return options

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()
        self._show_empty()

    def _show_empty(self) -> None:
        empty = self.query_one(OptionList).option_count == 0
        self.query_one("#no-views").display = empty
        self.query_one(OptionList).display = not empty

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_delete(self) -> None:
        option_list = self.query_one(OptionList)
        if option_list.highlighted is None:
            return
        name = option_list.get_option_at_index(option_list.highlighted).id
        try:
            self.views.delete(name)
        except OSError as exc:
            self.notify(f"cannot delete the view: {exc}", severity="error")
            return
        index = option_list.highlighted
        option_list.clear_options()
        option_list.add_options(self._options())
        if option_list.option_count:
            option_list.highlighted = min(index, option_list.option_count - 1)
        self._show_empty()
        self.notify(f"deleted view {name!r}", timeout=3)

    def action_cancel(self) -> None:
        self.dismiss(None)
