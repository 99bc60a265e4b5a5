"""The runs screen: every run in a sortable table, filtered by an AimQL runs query.

Loading (runs listing plus a per-sequence summary for the metric columns) happens in a
thread worker that posts :class:`RunsLoaded`; the app's poll timer calls
:meth:`RunsScreen.live_refresh`, which reloads in the background while runs are active.
"""

from __future__ import annotations

import time

import numpy as np
import pyarrow as pa
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Static

from aimcol import AimQLSyntaxError
from aimcol.sdk.tables import column_numpy, index_pending, take_rows
from aimcol.tui.components.query_bar import QueryBar
from aimcol.tui.components.runs_table import RunsTable, TableColumn
from aimcol.tui.messages import ArchiveDone, LoadFailed, RunsLoaded, SequencesLoaded
from aimcol.tui.repo_source import (
    MetricKey,
    last_values,
    metric_keys,
    param_columns,
)

# Property columns the user can show or hide (mark and name always show).
PROPERTY_COLUMNS = {
    "experiment": TableColumn("experiment", "experiment", "text", 20),
    "status": TableColumn("status", "status", "status", 8),
    "duration": TableColumn("duration", "duration", "duration", 8),
    "creation_time": TableColumn("creation_time", "created", "time", 16),
    "tags": TableColumn("tags", "tags", "tags", 18),
    "run": TableColumn("run", "hash", "text", 24),
    "description": TableColumn("description", "description", "text", 30),
    "notes": TableColumn("notes", "notes", "text", 30),  # on one line
}
DEFAULT_PROPERTIES = ("experiment", "status", "duration", "creation_time", "tags")
MAX_DEFAULT_METRIC_COLUMNS = 6


def metric_column_key(key: MetricKey) -> str:
    return f"metric:{key.name}:{key.context}"


class RunsScreen(Screen):
    """Lists runs; marks, sorting, column choice, archive, and the way into plots and run detail."""

    BINDINGS = [
        Binding("slash", "focus_query", "Query"),
        Binding("space", "toggle_mark", "Mark"),
        Binding("enter", "open_run", "Open", show=False),
        Binding("p", "plot", "Plot"),
        Binding("s", "sort", "Sort"),
        Binding("c", "choose_columns", "Columns"),
        Binding("m", "metrics", "Metrics", show=False),
        Binding("P", "params_view", "Params"),
        Binding("V", "pick_view", "Saved views", show=False),
        Binding("a", "archive", "Archive", show=False),
        Binding("A", "toggle_archived", "Show archived", show=False),
        Binding("x", "clear_marks", "Clear marks", show=False),
        Binding("r", "reload", "Reload", show=False),
        Binding("escape", "focus_table", "Back to table", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.query_text = ""
        self.include_archived = False
        self.runs: pa.Table | None = None
        self.sequences: pa.Table | None = None
        self.metric_keys: list[MetricKey] = []
        self.shown_properties: list[str] = list(DEFAULT_PROPERTIES)
        self.shown_params: list[str] | None = None  # None: all
        self.shown_metrics: list[MetricKey] | None = None  # None: the first few
        self.load_pending = False  # not ``loading``: that is Textual's own (it blurs the focused widget)
        self.loads_done = 0
        self.last_load_seconds = 0.0
        self._next_live = 0.0
        self.status_note = ""

    # -- layout -----------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static("loading runs…", id="runs-status")
        yield QueryBar(
            "runs",
            self.app.history,
            placeholder="AimQL, e.g. run.hparams.lr < 0.01 and run.experiment == 'mlp-mnist'",
            id="runs-query",
        )
        yield RunsTable(id="runs-table")
        yield Footer()

    @property
    def table(self) -> RunsTable:
        return self.query_one(RunsTable)

    @property
    def query_bar(self) -> QueryBar:
        return self.query_one(QueryBar)

    def on_mount(self) -> None:
        self.table.focus()
        self.load()

    # -- loading ----------------------------------------------------------------------------
    def load(self, query: str | None = None, *, live: bool = False) -> None:
        if query is not None:
            self.query_text = query
        self.load_pending = True
        self._load_worker(self.query_text, live)

    @work(thread=True, exclusive=True, group="runs-load")
    def _load_worker(self, query: str, live: bool) -> None:
        source = self.app.source
        started = time.perf_counter()
        first = self.sequences is None  # first paint: the runs alone, the metric columns follow
        try:
            runs = source.load_runs(query, include_archived=True)
            sequences = None if first else source.load_sequences()
        except AimQLSyntaxError as exc:
            self.post_message(LoadFailed("runs", query, exc.msg or str(exc), exc.col, live))
            return
        except Exception as exc:  # a corrupt run, a vanished folder: say so, keep running
            self.post_message(LoadFailed("runs", query, f"{type(exc).__name__}: {exc}", None, live))
            return
        hint = None
        if not live and query.strip() and not len(runs):
            try:
                hint = source.hint_for(query)
            except Exception:  # a hint is a courtesy: never fail the listing over it
                hint = None
        self.post_message(RunsLoaded(query, runs, sequences, time.perf_counter() - started, live, hint))

    @work(thread=True, exclusive=True, group="sequences-load")
    def _sequences_worker(self) -> None:
        try:
            sequences = self.app.source.load_sequences()
        except Exception as exc:
            self.post_message(LoadFailed("sequences", "", f"metric columns: {type(exc).__name__}: {exc}"))
            return
        self.post_message(SequencesLoaded(sequences))

    def on_runs_loaded(self, message: RunsLoaded) -> None:
        self.load_pending = False
        self.loads_done += 1
        self.last_load_seconds = message.seconds
        if message.query != self.query_text:
            return  # superseded by a newer query
        self.runs = message.runs
        if message.sequences is not None:
            self.on_sequences_loaded(SequencesLoaded(message.sequences), refresh=False)
        elif self.sequences is None:
            # read the sequence summary once the runs are on screen, not while they are painted
            self.call_after_refresh(self._sequences_worker)
        if not message.live:
            self.query_bar.clear_error()
            if message.query:
                self.query_bar.remember(message.query)
            self.status_note = f"no match · hint: {message.hint}" if message.hint else ""
        self.refresh_table()

    def on_sequences_loaded(self, message: SequencesLoaded, refresh: bool = True) -> None:
        self.sequences = message.sequences
        self.metric_keys = metric_keys(message.sequences)
        if refresh:
            self.refresh_table()

    def on_load_failed(self, message: LoadFailed) -> None:
        if message.what == "sequences":
            self.notify(message.message, severity="warning", timeout=5)
            return
        self.load_pending = False
        if message.live:
            return
        self.query_bar.show_error(message.message, message.column)
        if message.column is not None:
            self.query_bar.focus_input()
        self.update_status()

    def live_refresh(self) -> None:
        """Called by the app's poll timer: reload if runs are active (or now and then for new runs)."""
        if self.load_pending or self.runs is None:
            return
        now = time.monotonic()
        if now < self._next_live:
            return
        # runs still being indexed in the background count as activity: they appear soon
        any_active = bool(column_numpy(self.runs.column("active"), False).any()) or index_pending(self.runs) > 0
        # a slow repository is polled less often, never more than one load in flight
        interval = max(self.app.poll_interval, 5 * self.last_load_seconds)
        self._next_live = now + (interval if any_active else 4 * interval)
        self.load(live=True)

    # -- the table --------------------------------------------------------------------------
    def display_table(self) -> tuple[pa.Table, list[TableColumn]]:
        """The Arrow table and columns the RunsTable shows, from the loaded runs and choices."""
        runs = self.runs
        if not self.include_archived:
            runs = take_rows(runs, np.flatnonzero(~column_numpy(runs.column("archived"), False)))
        columns = [TableColumn("mark", " ", "mark"), TableColumn("name", "name", "text", 28)]
        columns += [TableColumn(**vars(PROPERTY_COLUMNS[p])) for p in self.shown_properties]
        for key in self.visible_metric_keys() if self.sequences is not None else []:
            col = metric_column_key(key)
            runs = runs.append_column(col, last_values(self.sequences, key, runs.column("run")))
            columns.append(TableColumn(col, key.short_label, "number", 14))
        params = param_columns(self.runs)
        for name in self.shown_params if self.shown_params is not None else params:
            if name in params:
                columns.append(TableColumn(name, name, _param_kind(runs.column(name).type), 18))
        return runs, columns

    def visible_metric_keys(self) -> list[MetricKey]:
        if self.shown_metrics is not None:
            return [k for k in self.shown_metrics if k in self.metric_keys]
        return self.metric_keys[:MAX_DEFAULT_METRIC_COLUMNS]

    def refresh_table(self) -> None:
        if self.runs is None:
            return
        table, columns = self.display_table()
        self.table.set_data(table, columns)
        self.update_status()

    def update_status(self) -> None:
        table = self.table
        parts = [self.app.source.label]
        if self.runs is not None:
            shown = table.row_count
            statuses = table.table.column("status").to_pylist() if "status" in table.table.column_names else []
            parts.append(f"{shown} run{'s' if shown != 1 else ''}")
            for state in ("active", "crashed", "failed", "interrupted"):
                count = statuses.count(state)
                if count:
                    parts.append(f"{count} {state}")
            if table.marks:
                parts.append(f"{len(table.marks)} marked")
            if self.include_archived:
                parts.append("archived shown")
        if self.load_pending and self.runs is None:
            parts.append("loading…")
        pending = index_pending(self.runs) if self.runs is not None else 0
        if pending:
            parts.append(f"indexing: {pending:,} more runs not listed yet")
        if self.status_note:
            parts.append(self.status_note)
        self.query_one("#runs-status", Static).update(" · ".join(parts))

    # -- events and actions -----------------------------------------------------------------
    def on_query_bar_submitted(self, message: QueryBar.Submitted) -> None:
        self.table.focus()
        self.load(message.query)

    def on_runs_table_opened(self, message: RunsTable.Opened) -> None:
        self.open_run(message.run_hash)

    def open_run(self, run_hash: str) -> None:
        from aimcol.tui.screens.run_detail import RunDetailScreen

        self.app.push_screen(RunDetailScreen(run_hash))

    def action_focus_query(self) -> None:
        self.query_bar.focus_input()

    def action_focus_table(self) -> None:
        self.table.focus()

    def action_toggle_mark(self) -> None:
        self.table.toggle_mark()
        self.table.action_cursor_down()
        self.update_status()

    def action_clear_marks(self) -> None:
        self.table.marks.clear()
        self.table.refresh()
        self.update_status()

    def action_open_run(self) -> None:
        if self.table.current_hash:
            self.open_run(self.table.current_hash)

    def action_sort(self) -> None:
        column = self.table.current_column
        if column is not None and column.kind != "mark":
            self.table.sort_by(column.key)

    def action_reload(self) -> None:
        self.load()

    def action_toggle_archived(self) -> None:
        self.include_archived = not self.include_archived
        self.refresh_table()
        self.notify("archived runs shown" if self.include_archived else "archived runs hidden", timeout=2)

    def action_archive(self) -> None:
        hashes = self.selected_hashes()
        if not hashes or self.runs is None:
            return
        current = self.table.current_hash
        archived = dict(zip(self.runs.column("run").to_pylist(), self.runs.column("archived").to_pylist()))
        # archive, unless the run under the cursor (or every marked run) is archived already
        target = not archived.get(current, False) if not self.table.marks else not all(archived.get(h) for h in hashes)
        self._archive_worker(hashes, target)

    @work(thread=True, group="archive")
    def _archive_worker(self, hashes: list[str], archived: bool) -> None:
        problems = self.app.source.set_archived(hashes, archived)
        self.post_message(ArchiveDone(archived, len(hashes) - len(problems), problems))

    def on_archive_done(self, message: ArchiveDone) -> None:
        for problem in message.problems:
            self.notify(problem, severity="warning", timeout=6)
        if message.count:
            verb = "archived" if message.archived else "unarchived"
            hidden = " (A shows archived runs)" if message.archived and not self.include_archived else ""
            self.notify(f"{verb} {message.count} run{'s' if message.count != 1 else ''}{hidden}", timeout=3)
        self.load()

    def selected_hashes(self) -> list[str]:
        """The marked runs in table order, or the run under the cursor when none is marked."""
        marks = self.table.marks
        if marks:
            shown = [h for h in self.table.hashes_in_view_order() if h in marks]
            return shown + sorted(marks - set(shown))  # marked runs the current query hides come last
        return [self.table.current_hash] if self.table.current_hash else []

    def plot_metric_key(self) -> MetricKey | None:
        """The metric to plot first: the sorted or current metric column, else ``loss``, else the first."""
        by_column = {metric_column_key(k): k for k in self.metric_keys}
        for col_key in (self.table.sort_key, self.table.current_column.key if self.table.current_column else None):
            if col_key in by_column:
                return by_column[col_key]
        for key in self.metric_keys:
            if key.name == "loss":
                return key
        return self.metric_keys[0] if self.metric_keys else None

    def action_plot(self) -> None:
        from aimcol.tui.screens.metrics import MetricsScreen

        hashes = self.selected_hashes()
        if not hashes:
            self.notify("no run to plot", severity="warning", timeout=3)
            return
        key = self.plot_metric_key()
        self.app.push_screen(MetricsScreen(query=key.query() if key else "", run_hashes=hashes))

    def action_metrics(self) -> None:
        from aimcol.tui.screens.metrics import MetricsScreen

        key = self.plot_metric_key()
        shown = self.table.hashes_in_view_order()
        if not shown:
            self.notify("no run to plot: the filter shows none", severity="warning", timeout=3)
            return
        self.app.push_screen(MetricsScreen(query=key.query() if key else "", run_hashes=shown))

    def action_pick_view(self) -> None:
        """Open the metrics explorer on a saved view (``V``), or delete views."""
        from aimcol.tui.screens.metrics import MetricsScreen
        from aimcol.tui.screens.pickers import ViewPicker

        def open_view(name: str | None) -> None:
            view = self.app.views.get(name) if name else None
            if view is not None:
                self.app.push_screen(MetricsScreen(query=view["query"], settings=view["settings"]))

        self.app.push_screen(ViewPicker(self.app.views), open_view)

    def action_params_view(self) -> None:
        """The runs the filter shows, side by side by params and the plotted metric (``ParamsScreen``)."""
        from aimcol.tui.screens.params import ParamsScreen

        shown = self.table.hashes_in_view_order()
        if not shown or self.runs is None:
            self.notify("no run to compare: the filter shows none", severity="warning", timeout=3)
            return
        row_of = {h: i for i, h in enumerate(self.runs.column("run").to_pylist())}
        runs = take_rows(self.runs, np.array([row_of[h] for h in shown], dtype=np.int64))
        self.app.push_screen(ParamsScreen(runs, self.sequences, self.plot_metric_key()))

    def action_choose_columns(self) -> None:
        from aimcol.tui.screens.pickers import ColumnPicker

        if self.runs is None:
            return
        params = param_columns(self.runs)
        shown_params = set(self.shown_params if self.shown_params is not None else params)
        shown_metrics = set(self.visible_metric_keys())
        choices = [(f"{PROPERTY_COLUMNS[p].label}", f"prop:{p}", p in self.shown_properties) for p in PROPERTY_COLUMNS]
        choices += [(f"metric  {k.label}", f"metric:{i}", k in shown_metrics) for i, k in enumerate(self.metric_keys)]
        choices += [(f"param   {p}", f"param:{p}", p in shown_params) for p in params]

        def apply(selected: list[str] | None) -> None:
            if selected is None:
                return
            chosen = set(selected)
            self.shown_properties = [p for p in PROPERTY_COLUMNS if f"prop:{p}" in chosen]
            self.shown_metrics = [k for i, k in enumerate(self.metric_keys) if f"metric:{i}" in chosen]
            self.shown_params = [p for p in params if f"param:{p}" in chosen]
            self.refresh_table()

        self.app.push_screen(ColumnPicker("Columns", choices), apply)


def _param_kind(typ: pa.DataType) -> str:
    if pa.types.is_integer(typ) or pa.types.is_floating(typ):
        return "number"
    return "text"
