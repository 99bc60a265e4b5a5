"""The params view: the filtered runs side by side, one column per param that differs between
them, a metric's last/min/max and its curve, sortable by any column from the keyboard.

Opened with ``P`` from the runs screen over the runs its filter shows.  The table model lives
in :mod:`aimcol.tui.params_view` (no Textual); the curves are read in a worker.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from aimcol.sdk.tables import take_rows
from aimcol.tui.downsample import sparkline
from aimcol.tui.params_view import build_columns, cell_text, column_bounds, differing_params, sort_order
from aimcol.tui.repo_source import MAX_SERIES, MetricKey, metric_keys, param_columns

CURVE_WIDTH = 16


class ParamsScreen(Screen):
    """Compare runs across params and one metric; ``s`` sorts by the column under the cursor."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("s", "sort", "Sort"),
        Binding("n", "pick_metric", "Metric"),
        Binding("c", "toggle_all_params", "All params"),
        Binding("p", "plot", "Plot"),
        Binding("r", "reload", "Reload", show=False),
    ]

    def __init__(self, runs: pa.Table, sequences: pa.Table | None = None, key: MetricKey | None = None) -> None:
        super().__init__()
        self.runs = runs
        self.sequences = sequences
        self.key = key
        self.all_params = False
        self.sort_key: str | None = "metric:last" if key is not None else None
        self.descending = False
        self.curves: dict[str, str] = {}
        self.order: list[int] = list(range(runs.num_rows))
        self.column_keys: list[str] = []
        self.load_pending = False

    def compose(self) -> ComposeResult:
        yield Static("", id="params-status")
        yield DataTable(id="params-table", cursor_type="cell", zebra_stripes=True)
        yield Footer()

    @property
    def table(self) -> DataTable:
        return self.query_one("#params-table", DataTable)

    def on_mount(self) -> None:
        self.table.focus()
        self.fill()
        self.load()

    # -- loading ----------------------------------------------------------------------------
    def load(self) -> None:
        self.load_pending = True
        self._load_worker(self.key, self.sequences is None)
        self.update_status()

    @work(thread=True, exclusive=True, group="params-load")
    def _load_worker(self, key: MetricKey | None, need_sequences: bool) -> None:
        source = self.app.source
        try:
            sequences = source.load_sequences() if need_sequences else None
            if key is None and sequences is not None:
                keys = metric_keys(sequences)
                key = next((k for k in keys if k.name == "loss"), keys[0] if keys else None)
            curves: dict[str, str] = {}
            if key is not None:
                hashes = self.runs.column("run").to_pylist()[:MAX_SERIES]
                for s in source.load_series(key.query(), hashes).series:
                    curves.setdefault(s.run_hash, sparkline(s.value, CURVE_WIDTH))
        except Exception as exc:
            self.app.call_from_thread(self.notify, f"cannot read the metric: {exc}", severity="error")
            self.app.call_from_thread(self._loaded, None, key, {})
            return
        self.app.call_from_thread(self._loaded, sequences, key, curves)

    def _loaded(self, sequences: pa.Table | None, key: MetricKey | None, curves: dict[str, str]) -> None:
        self.load_pending = False
        if sequences is not None:
            self.sequences = sequences
        if key is not None and self.key is None:
            self.key = key
            self.sort_key = self.sort_key or "metric:last"
        self.curves = curves
        self.fill()

    # -- the table --------------------------------------------------------------------------
    def fill(self) -> None:
        params = param_columns(self.runs) if self.all_params else differing_params(self.runs)
        columns = build_columns(self.runs, self.sequences, self.key, params)
        bounds = column_bounds(columns)
        names = [n or h[:8] for n, h in zip(self.runs.column("name").to_pylist(), self.runs.column("run").to_pylist())]
        by_key = {c.key: c for c in columns}
        if self.sort_key == "run":
            self.order = sort_order(names, self.descending)
        elif self.sort_key in by_key:
            self.order = sort_order(by_key[self.sort_key].values, self.descending)
        else:
            self.order = list(range(self.runs.num_rows))
        table = self.table
        cursor = table.cursor_coordinate
        table.clear(columns=True)
        # the curve beside the metric's last value (the first column when there is a metric)
        at = 1 if self.key is not None and columns and columns[0].key == "metric:last" else 0
        self.column_keys = ["run", *(c.key for c in columns)]
        self.column_keys.insert(at + 1, "curve")
        labels = {c.key: c.label for c in columns}
        for key in self.column_keys:
            table.add_column(self._header(key, labels.get(key, key)), key=key)
        hashes = self.runs.column("run").to_pylist()
        for row in self.order:
            cells = [Text(names[row], style="bold")]
            for column, bound in zip(columns, bounds):
                justify = "right" if bound is not None else "left"
                cells.append(Text(cell_text(column, row, bound), justify=justify))
            cells.insert(at + 1, Text(self.curves.get(hashes[row], ""), style="cyan"))
            table.add_row(*cells, key=hashes[row])
        if table.row_count:
            table.cursor_coordinate = table.validate_cursor_coordinate(cursor)
        self.update_status(len(params))

    def _header(self, key: str, label: str) -> Text:
        if key != self.sort_key:
            return Text(label)
        return Text(label + (" ↓" if self.descending else " ↑"), style="bold")

    def update_status(self, shown_params: int | None = None) -> None:
        n = self.runs.num_rows
        parts = [f"{n} run{'s' if n != 1 else ''}"]
        total = len(param_columns(self.runs))
        if shown_params is not None:
            parts.append(f"{total} params" if self.all_params else f"{shown_params} of {total} params differ")
        parts.append(f"metric {self.key.label}" if self.key is not None else "no metric")
        if self.sort_key is not None:
            label = self.sort_key.split(":", 1)[-1]
            label = f"{self.key.short_label}.{label}" if self.sort_key.startswith("metric:") and self.key else label
            parts.append(f"sorted by {label} {'↓' if self.descending else '↑'}")
        if n > MAX_SERIES:
            parts.append(f"curves of the first {MAX_SERIES}")
        if self.load_pending:
            parts.append("loading…")
        self.query_one("#params-status", Static).update(" · ".join(parts))

    # -- actions ----------------------------------------------------------------------------
    def action_back(self) -> None:
        self.app.pop_screen()

    def action_sort(self) -> None:
        """Sort by the column under the cursor; again on the same column reverses the order."""
        column = self.column_keys[self.table.cursor_column] if self.column_keys else None
        if column is None or column == "curve":
            self.notify("the curve column does not sort: move to a param or metric column", timeout=3)
            return
        self.descending = not self.descending if column == self.sort_key else False
        self.sort_key = column
        self.fill()

    def action_toggle_all_params(self) -> None:
        """Every param, or only those that differ between the runs (the default)."""
        self.all_params = not self.all_params
        self.fill()

    def action_reload(self) -> None:
        self.load()

    def current_hash(self) -> str | None:
        if not self.table.row_count:
            return None
        row_key, _ = self.table.coordinate_to_cell_key(self.table.cursor_coordinate)
        return row_key.value

    def on_data_table_cell_selected(self, event: DataTable.CellSelected) -> None:
        from aimcol.tui.screens.run_detail import RunDetailScreen

        run_hash = self.current_hash()
        if run_hash is not None:
            self.app.push_screen(RunDetailScreen(run_hash))

    def action_plot(self) -> None:
        from aimcol.tui.screens.metrics import MetricsScreen

        hashes = self.runs.column("run").to_pylist()
        query = self.key.query() if self.key is not None else ""
        self.app.push_screen(MetricsScreen(query=query, run_hashes=[hashes[i] for i in self.order]))

    def action_pick_metric(self) -> None:
        from aimcol.tui.screens.pickers import OptionPicker

        if self.sequences is None:
            return
        chosen = set(self.runs.column("run").to_pylist())
        runs = self.sequences.column("run").to_pylist()
        rows = np.array([i for i, h in enumerate(runs) if h in chosen], dtype=np.int64)
        keys = metric_keys(take_rows(self.sequences, rows))
        options = [(k.label, str(i)) for i, k in enumerate(keys)]
        current = str(keys.index(self.key)) if self.key in keys else None

        def apply(value: str | None) -> None:
            if value is not None:
                self.key = keys[int(value)]
                self.curves = {}
                self.fill()
                self.load()

        self.app.push_screen(OptionPicker("Compare by which metric", options, current), apply)
