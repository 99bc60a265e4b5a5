"""The params view: the filtered runs side by side, one column per param that differs between
them, a metric's last/min/max and its curve, sortable by any column from the keyboard; ``v``
adds a parallel-coordinates chart in braille of the first runs in the table's order (one
line per run across every column, the best-ranked drawn last, in green).

Opened with ``P`` from the runs screen over the runs its filter shows.  The table model lives
in :mod:`aimcol.tui.params_view` (no Textual); the curves are read in a worker.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Static

from aimcol.sdk.tables import take_rows
from aimcol.tui.cell_bars import column_bounds
from aimcol.tui.components.braille_plot import BraillePlot, PlotSeries
from aimcol.tui.components.runs_table import RunsTable, TableColumn
from aimcol.tui.downsample import sparkline
from aimcol.tui.params_view import (
    CURVE,
    build_table,
    column_label,
    differing_params,
    metric_column,
    parallel_coordinates,
)
from aimcol.tui.repo_source import MAX_SERIES, MetricKey, metric_keys, param_columns

CURVE_WIDTH = 16
RANK_COLORS = ("#5fd75f", "#d7af5f", "#d75f5f")
"""The parallel-coordinates lines by third of the order drawn: first, middle, last."""


class ParamsScreen(Screen):
    """Compare runs across params and one metric; ``s`` sorts by the column under the cursor."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("s", "sort", "Sort"),
        Binding("n", "pick_metric", "Metric"),
        Binding("c", "toggle_all_params", "All params"),
        Binding("v", "toggle_parallel", "Parallel coordinates"),
        Binding("enter", "open_run", "Open", show=False),
        Binding("p", "plot", "Plot"),
        Binding("r", "reload", "Reload", show=False),
    ]

    def __init__(self, runs: pa.Table, sequences: pa.Table | None = None, key: MetricKey | None = None) -> None:
        super().__init__()
        self.runs = runs
        self.sequences = sequences
        self.key = key
        self.all_params = False
        self.curves: dict[str, str] = {}
        self.load_pending = False
        self.shown_params = 0
        self.show_parallel = False
        self.axes: list[str] = []  # the chart's axes, in column order
        self._bounds: dict = {}

    def compose(self) -> ComposeResult:
        yield Static("", id="params-status")
        yield BraillePlot(id="params-parallel", classes="-hidden")
        yield RunsTable(id="params-table", fixed_columns=1)
        yield Footer()

    @property
    def table(self) -> RunsTable:
        return self.query_one("#params-table", RunsTable)

    @property
    def column_keys(self) -> list[str]:
        return [c.key for c in self.table.columns]

    def row_names(self) -> list[str]:
        """The run names in the order shown."""
        table = self.table
        names = table.table.column("name").to_pylist()
        return [names[i] for i in table.order]

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
        self.curves = curves
        self.fill()

    # -- the table --------------------------------------------------------------------------
    def fill(self) -> None:
        params = param_columns(self.runs) if self.all_params else differing_params(self.runs)
        self.shown_params = len(params)
        data = build_table(self.runs, self.sequences, self.key, params, self.curves)
        columns = [TableColumn("name", "run", "text", 24)]
        self._bounds = {}
        for name in data.column_names[2:]:
            if name == CURVE:
                columns.append(TableColumn(CURVE, CURVE, "text", CURVE_WIDTH + 1))
                continue
            bounds = self._bounds[name] = column_bounds(data.column(name))
            kind = "bar" if bounds is not None else "text"
            columns.append(TableColumn(name, column_label(name, self.key), kind, 28, bounds=bounds))
        self.axes = [c.key for c in columns[1:] if c.key != CURVE]
        table = self.table
        if table.sort_key is None and self.key is not None:
            table.sort_key = metric_column("last")  # until the user sorts: best runs first
        table.set_data(data, columns)
        self.update_status()
        self.draw_parallel()

    def draw_parallel(self) -> None:
        """The first runs of the table's order as lines across every column (if shown)."""
        plot = self.query_one("#params-parallel", BraillePlot)
        plot.set_class(not self.show_parallel, "-hidden")
        if not self.show_parallel:
            return
        table = self.table
        rows, shares = parallel_coordinates(table.table, self.axes, self._bounds, table.order)
        names = table.table.column("name").to_pylist()
        x = np.arange(1, len(self.axes) + 1, dtype=np.float64)
        curves = []
        for rank in range(len(rows) - 1, -1, -1):  # the first in the order drawn last: on top
            color = RANK_COLORS[min(3 * rank // max(len(rows), 1), 2)]
            keep = np.isfinite(shares[rank])
            curves.append(PlotSeries(x[keep], shares[rank][keep], color, names[int(rows[rank])]))
        axes = " · ".join(f"{i} {column_label(a, self.key)}" for i, a in enumerate(self.axes, 1))
        order = column_label(table.sort_key, self.key) if table.sort_key else "table order"
        plot.border_title = f"first {len(rows)} by {order}: {axes}"
        message = "needs two columns to compare" if len(self.axes) < 2 else "no runs"
        plot.set_curves(curves if len(self.axes) >= 2 else [], x_kind="step", message=message)

    def update_status(self) -> None:
        n = self.runs.num_rows
        parts = [f"{n} run{'s' if n != 1 else ''}"]
        parts.append(f"metric {self.key.label}" if self.key is not None else "no metric")
        table = self.table
        if table.sort_key is not None:
            parts.append(f"sorted by {column_label(table.sort_key, self.key)} {'↓' if table.sort_descending else '↑'}")
        total = len(param_columns(self.runs))
        parts.append(f"{total} params" if self.all_params else f"{self.shown_params} of {total} params differ")
        if n > MAX_SERIES and self.key is not None:
            parts.append(f"curves of the first {MAX_SERIES}")
        if self.load_pending:
            parts.append("loading…")
        self.query_one("#params-status", Static).update(" · ".join(parts))

    # -- actions ----------------------------------------------------------------------------
    def action_back(self) -> None:
        self.app.pop_screen()

    def action_sort(self) -> None:
        """Sort by the column under the cursor; again on the same column reverses the order."""
        column = self.table.current_column
        if column is None:
            return
        if column.key == CURVE:
            self.notify("the curve column does not sort: move to a param or metric column", timeout=3)
            return
        self.table.sort_by(column.key)
        self.update_status()
        self.draw_parallel()

    def action_toggle_parallel(self) -> None:
        """Show or hide the parallel-coordinates chart above the table."""
        self.show_parallel = not self.show_parallel
        self.draw_parallel()

    def action_toggle_all_params(self) -> None:
        """Every param, or only those that differ between the runs (the default)."""
        self.all_params = not self.all_params
        self.fill()

    def action_reload(self) -> None:
        self.load()

    def current_hash(self) -> str | None:
        return self.table.current_hash

    def action_open_run(self) -> None:
        from aimcol.tui.screens.run_detail import RunDetailScreen

        if self.table.current_hash is not None:
            self.app.push_screen(RunDetailScreen(self.table.current_hash))

    def on_runs_table_opened(self, message: RunsTable.Opened) -> None:
        from aimcol.tui.screens.run_detail import RunDetailScreen

        self.app.push_screen(RunDetailScreen(message.run_hash))

    def action_plot(self) -> None:
        from aimcol.tui.screens.metrics import MetricsScreen

        query = self.key.query() if self.key is not None else ""
        self.app.push_screen(MetricsScreen(query=query, run_hashes=self.table.hashes_in_view_order()))

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
