"""``RunsTable``: a virtual table over an Arrow table of runs, drawn with Textual's Line API.

Only the rows on screen are formatted, each time they are drawn, so 100k runs cost no more
to show than 20; sorting is one ``pyarrow.compute.sort_indices`` over the raw column (imported
on the first sort: it takes a third of a second, which the first paint does not wait for).  The
mark and name columns stay put while the others scroll sideways one column at a time; a
cell cursor picks the column that ``sort`` and the column picker act on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from aimcol.sdk.tables import take_rows
from aimcol.tui.cell_bars import Bounds, bar_cell
from aimcol.tui.formatting import format_duration, format_number, format_timestamp, format_value, truncate

MARK = "●"


@dataclass
class TableColumn:
    """A displayed column: ``key`` names the Arrow column, ``kind`` picks formatting and style."""

    key: str
    label: str
    kind: str = "text"  # mark, text, number, time, duration, status, tags, bar (a number with a bar)
    max_width: int = 24
    width: int = 0
    bounds: Bounds | None = None  # kind "bar": the range its bars scale to

    @property
    def right_aligned(self) -> bool:
        return self.kind in ("number", "duration", "bar")

    def text(self, value) -> str:
        return format_cell(self.kind, value, self.bounds)


def format_cell(kind: str, value, bounds: Bounds | None = None) -> str:
    if value is None:
        return ""
    if kind == "bar":
        return bar_cell(value, bounds)
    if kind == "time":
        return format_timestamp(value)
    if kind == "duration":
        return format_duration(value)
    if kind == "tags":
        return ",".join(value)
    if kind == "number":
        return format_number(value)
    return format_value(value)


def sort_order(column: pa.ChunkedArray | pa.Array, descending: bool) -> np.ndarray:
    """Row order sorting ``column`` (nulls and NaN last either way); odd types sort as text."""
    import pyarrow.compute as pc

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    typ = column.type
    if pa.types.is_list(typ) or pa.types.is_large_list(typ):
        column = pa.array([",".join(v) if v else None for v in column.to_pylist()], pa.string())
    elif not (
        pa.types.is_integer(typ)
        or pa.types.is_floating(typ)
        or pa.types.is_string(typ)
        or pa.types.is_large_string(typ)
        or pa.types.is_boolean(typ)
        or pa.types.is_timestamp(typ)
    ):
        column = pa.array([None if v is None else format_value(v) for v in column.to_pylist()], pa.string())
    if pa.types.is_floating(column.type):
        column = pc.if_else(pc.is_nan(column), None, column)
    order = pc.array_sort_indices(column, order="descending" if descending else "ascending", null_placement="at_end")
    return order.to_numpy()


class RunsTable(ScrollView, can_focus=True):
    """Rows of runs; ``marks`` holds the hashes marked for comparison."""

    COMPONENT_CLASSES = {
        "runs-table--header",
        "runs-table--header-cursor",
        "runs-table--cursor",
        "runs-table--mark",
        "runs-table--active",
        "runs-table--crashed",
        "runs-table--finished",
        "runs-table--failed",
        "runs-table--interrupted",
        "runs-table--archived",
    }

    BINDINGS = [
        Binding("up,k", "cursor_up", "Up", show=False),
        Binding("down,j", "cursor_down", "Down", show=False),
        Binding("left,h", "cursor_left", "Left column", show=False),
        Binding("right,l", "cursor_right", "Right column", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home,g", "first_row", "First run", show=False),
        Binding("end,G", "last_row", "Last run", show=False),
    ]

    cursor_row: reactive[int] = reactive(0, always_update=True, repaint=False)

    class Highlighted(Message):
        def __init__(self, table: RunsTable, run_hash: str | None) -> None:
            super().__init__()
            self.table = table
            self.run_hash = run_hash

    class Opened(Message):
        """Enter (or a double click) on a run."""

        def __init__(self, table: RunsTable, run_hash: str) -> None:
            super().__init__()
            self.table = table
            self.run_hash = run_hash

    def __init__(self, *, id: str | None = None, fixed_columns: int = 2) -> None:  # noqa: A002
        super().__init__(id=id)
        self.table: pa.Table = pa.table({"run": pa.array([], pa.string())})
        self.columns: list[TableColumn] = []
        self.order = np.zeros(0, dtype=np.int64)
        self.marks: set[str] = set()
        self.fixed_columns = fixed_columns
        self.cursor_column = 1  # the name column
        self.column_offset = 0  # first scrollable column drawn
        self.sort_key: str | None = None
        self.sort_descending = False
        self._values: dict[str, list] = {}
        self._hashes: list[str] = []

    # -- data -------------------------------------------------------------------------------
    @property
    def row_count(self) -> int:
        return len(self.order)

    def set_data(self, table: pa.Table, columns: list[TableColumn]) -> None:
        """Show ``table`` (must have a ``run`` column, the run hash); keeps the cursor on the same run if it is still there."""
        current = self.current_hash
        old_key = self.columns[self.cursor_column].key if self.columns else None
        self.table = table
        self.columns = columns
        self._values = {}
        self._hashes = table.column("run").to_pylist()
        self._measure()
        keys = [c.key for c in columns]
        if self.sort_key not in keys:
            self.sort_key = None
        self._apply_sort()
        if old_key in keys:
            self.cursor_column = keys.index(old_key)
        self.cursor_column = min(self.cursor_column, max(len(columns) - 1, 0))
        self._sync_size()
        row = self._row_of_hash(current) if current is not None else None
        self.cursor_row = min(row if row is not None else self.cursor_row, max(self.row_count - 1, 0))
        self._scroll_to_cursor()
        self._clamp_column_offset()
        self.refresh()

    def _measure(self) -> None:
        n = self.table.num_rows
        sample = np.linspace(0, n - 1, num=min(n, 400)).astype(np.int64)
        sample = sample[np.diff(sample, prepend=-1) > 0]  # distinct rows (np.unique imports numpy.ma: 60 ms)
        for col in self.columns:
            if col.kind == "mark":
                col.width = 1
                continue
            widest = len(col.label) + 1
            if col.key in self.table.column_names and n:
                values = take_rows(self.table.column(col.key), sample).to_pylist()
                widest = max([widest] + [len(col.text(v)) for v in values])
            col.width = max(3, min(widest, col.max_width))

    def _column_values(self, key: str) -> list:
        values = self._values.get(key)
        if values is None:
            if key in self.table.column_names:
                values = self.table.column(key).to_pylist()
            else:
                values = [None] * self.table.num_rows
            self._values[key] = values
        return values

    def sort_by(self, key: str, descending: bool | None = None) -> None:
        """Sort by ``key`` and put the cursor on the first row; without ``descending`` a repeated sort on
        the same key flips the direction."""
        if descending is None:
            descending = not self.sort_descending if key == self.sort_key else False
        self.sort_key = key
        self.sort_descending = descending
        self._apply_sort()
        self.cursor_row = 0  # the top of the new order is what the user sorted for
        self.scroll_to(y=0, animate=False, immediate=True)
        self.refresh()

    def _apply_sort(self) -> None:
        n = self.table.num_rows
        if self.sort_key is None or self.sort_key not in self.table.column_names:
            self.order = np.arange(n, dtype=np.int64)
        else:
            self.order = sort_order(self.table.column(self.sort_key), self.sort_descending)

    def _row_of_hash(self, run_hash: str) -> int | None:
        try:
            index = self._hashes.index(run_hash)
        except ValueError:
            return None
        where = np.flatnonzero(self.order == index)
        return int(where[0]) if len(where) else None

    # -- cursor -----------------------------------------------------------------------------
    @property
    def current_hash(self) -> str | None:
        if not self.row_count:
            return None
        return self._hashes[int(self.order[min(self.cursor_row, self.row_count - 1)])]

    @property
    def current_column(self) -> TableColumn | None:
        return self.columns[self.cursor_column] if self.columns else None

    def hashes_in_view_order(self) -> list[str]:
        return [self._hashes[i] for i in self.order]

    def watch_cursor_row(self, old: int, new: int) -> None:
        self.post_message(self.Highlighted(self, self.current_hash))
        self.refresh()

    def move_cursor(self, row: int) -> None:
        self.cursor_row = max(0, min(row, self.row_count - 1))
        self._scroll_to_cursor()

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _scroll_to_cursor(self) -> None:
        page = self._page()
        top = round(self.scroll_y)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False, immediate=True)
        elif self.cursor_row >= top + page:
            self.scroll_to(y=self.cursor_row - page + 1, animate=False, immediate=True)

    def action_cursor_up(self) -> None:
        self.move_cursor(self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(self.cursor_row + 1)

    def action_page_up(self) -> None:
        self.move_cursor(self.cursor_row - self._page())

    def action_page_down(self) -> None:
        self.move_cursor(self.cursor_row + self._page())

    def action_first_row(self) -> None:
        self.move_cursor(0)

    def action_last_row(self) -> None:
        self.move_cursor(self.row_count - 1)

    def action_cursor_left(self) -> None:
        # not onto the mark column (the first of two fixed ones); a lone fixed column can be chosen
        first = min(self.fixed_columns - 1, len(self.columns) - 1)
        self.cursor_column = max(max(first, 0), self.cursor_column - 1)
        self._clamp_column_offset()
        self.refresh()

    def action_cursor_right(self) -> None:
        self.cursor_column = min(len(self.columns) - 1, self.cursor_column + 1)
        self._clamp_column_offset()
        self.refresh()

    def toggle_mark(self, run_hash: str | None = None) -> None:
        run_hash = run_hash or self.current_hash
        if run_hash is None:
            return
        if run_hash in self.marks:
            self.marks.discard(run_hash)
        else:
            self.marks.add(run_hash)
        self.refresh()

    # -- layout -----------------------------------------------------------------------------
    def _sync_size(self) -> None:
        self.virtual_size = Size(max(self.scrollable_content_region.width, 1), self.row_count + 1)

    def on_resize(self, event: events.Resize) -> None:
        self._sync_size()
        self._clamp_column_offset()
        self._scroll_to_cursor()

    def _fixed(self) -> list[int]:
        return list(range(min(self.fixed_columns, len(self.columns))))

    def _visible_columns(self) -> list[int]:
        """Indexes of the columns drawn: the fixed ones, then scrollable ones from ``column_offset``."""
        return [index for index, _ in self._column_widths()]

    def _column_widths(self) -> list[tuple[int, int]]:
        """``(index, drawn width)`` of each drawn column; the last one may be narrower than its
        column (cut at the right edge, drawn with an ellipsis) or left out when under 6 cells."""
        width = self.scrollable_content_region.width
        shown = [(i, self.columns[i].width) for i in self._fixed()]
        used = sum(w + 1 for _, w in shown)
        for index in range(max(self.column_offset, len(shown)), len(self.columns)):
            room = width - used
            if room < 6:
                break
            drawn = min(self.columns[index].width, room)
            shown.append((index, drawn))
            used += drawn + 1
        return shown

    def _clamp_column_offset(self) -> None:
        if not self.columns:
            return
        self.cursor_column = min(self.cursor_column, len(self.columns) - 1)
        fixed = len(self._fixed())
        self.column_offset = max(self.column_offset, fixed)
        if self.cursor_column < fixed:
            return
        if self.cursor_column < self.column_offset:
            self.column_offset = self.cursor_column
            return
        width = self.scrollable_content_region.width
        fixed_width = sum(self.columns[i].width + 1 for i in range(fixed))
        while self.column_offset < self.cursor_column:
            span = sum(self.columns[i].width + 1 for i in range(self.column_offset, self.cursor_column + 1))
            if fixed_width + span <= width:
                break
            self.column_offset += 1

    # -- drawing ----------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if not self.columns:
            return Strip.blank(width, self.rich_style)
        if y == 0:
            return self._header_strip(width)
        row = round(self.scroll_y) + y - 1
        if row >= self.row_count:
            return Strip.blank(width, self.rich_style)
        return self._row_strip(row, width)

    def _cell_text(self, column: TableColumn, text: str, width: int | None = None) -> str:
        width = column.width if width is None else width
        text = truncate(text, width)
        return text.rjust(width) if column.right_aligned else text.ljust(width)

    def _header_strip(self, width: int) -> Strip:
        base = self.get_component_rich_style("runs-table--header")
        cursor = self.get_component_rich_style("runs-table--header-cursor")
        segments = []
        for index, drawn in self._column_widths():
            column = self.columns[index]
            label = column.label
            if column.key == self.sort_key:
                label = ("▼" if self.sort_descending else "▲") + label
            style = cursor if index == self.cursor_column and self.has_focus else base
            segments.append(Segment(self._cell_text(column, label, drawn), style))
            segments.append(Segment(" ", base))
        return Strip(segments).adjust_cell_length(width, base)

    def _row_strip(self, row: int, width: int) -> Strip:
        index = int(self.order[row])
        run_hash = self._hashes[index]
        is_cursor = row == self.cursor_row
        base = self.rich_style
        archived = bool(self._column_values("archived")[index]) if "archived" in self.table.column_names else False
        if archived:
            base = base + self.get_component_rich_style("runs-table--archived")
        if is_cursor:
            base = base + self.get_component_rich_style("runs-table--cursor")
        segments = []
        for col_index, drawn in self._column_widths():
            column = self.columns[col_index]
            style = base
            if column.kind == "mark":
                marked = run_hash in self.marks
                text = MARK if marked else " "
                if marked:
                    style = base + self.get_component_rich_style("runs-table--mark", partial=True)
            else:
                value = self._column_values(column.key)[index]
                text = column.text(value)
                if column.kind == "status" and text:
                    style = base + self.get_component_rich_style(f"runs-table--{text}", partial=True)
                elif column.kind == "number" and isinstance(value, float) and math.isnan(value):
                    text = "nan"
            if is_cursor and col_index == self.cursor_column and self.has_focus:
                style = style + Style(underline=True)
            segments.append(Segment(self._cell_text(column, text, drawn), style))
            segments.append(Segment(" ", base))
        return Strip(segments).adjust_cell_length(width, base)

    # -- mouse ------------------------------------------------------------------------------
    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            x = 0
            for index in self._visible_columns():
                x += self.columns[index].width + 1
                if event.x < x:
                    self.cursor_column = index
                    self.sort_by(self.columns[index].key)
                    return
            return
        row = round(self.scroll_y) + event.y - 1
        if 0 <= row < self.row_count:
            if row == self.cursor_row and event.chain >= 2:
                self.post_message(self.Opened(self, self.current_hash))
            self.move_cursor(row)

    def action_open(self) -> None:
        if self.current_hash is not None:
            self.post_message(self.Opened(self, self.current_hash))

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()
