"""The metrics screen: matched sequences as braille line charts with a legend of last/min/max.

Points are read in a worker (:meth:`RepoSource.load_series`); turning them into curves
(x axis choice, EMA, log scale, colour groups) happens in a second worker whose results
are cached per series, so toggling an option never blocks keys.  The plot widget itself
only down-samples and rasterises for its current size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from aimcol import AimQLSyntaxError
from aimcol.tui.aggregate import AGGREGATES, aggregate, band_points
from aimcol.tui.components.braille_plot import BraillePlot, PlotSeries, series_color
from aimcol.tui.downsample import prepare_xy
from aimcol.tui.formatting import format_number, format_value
from aimcol.tui.messages import AxisMetricLoaded, LoadFailed, SeriesLoaded
from aimcol.tui.metric_axis import BUILTIN_AXES, XMetricPoints, axis_label, axis_metric, metric_axis
from aimcol.tui.repo_source import MAX_SERIES, MetricKey, SeriesData, context_key
from aimcol.tui.smoothing import centred_moving_average, ema, window_for

SMOOTHING_STEPS = (0.0, 0.6, 0.8, 0.9, 0.95, 0.99)
X_AXES = BUILTIN_AXES


@dataclass
class PlotSettings:
    x_axis: str = "step"  # step, epoch, time, clock, or metric:<name> (aimcol.tui.metric_axis)
    smoothing: float = 0.0
    log_y: bool = False
    group_by: str = "series"  # series, run, experiment, metric, context:<k>, param:<p>
    aggregate: str = "none"  # see aimcol.tui.aggregate.AGGREGATES; applies when grouped
    split: bool = False  # one chart per metric name (subplots) instead of one chart for all
    smoother: str = "ema"  # or "mean": a centred moving average of about the same strength
    clip_outliers: bool = False  # y range from the 1st to the 99th percentile of what is drawn
    zoom: tuple[float, float] | None = None


@dataclass
class LegendRow:
    label: str
    group: str
    color: str
    last: float | None
    min: float | None
    max: float | None
    status: str


@dataclass
class CurvesReady:
    curves: list[PlotSeries]
    legend: list[LegendRow]
    settings: PlotSettings
    panels: list[str] | None = None  # per curve: the chart it goes to (its metric name when split)
    legend_curves: list[int] | None = None  # per legend row: the index of its curve (its line)

    def by_panel(self) -> list[tuple[str, list[PlotSeries]]]:
        """``(title, curves)`` per chart, in first-seen order; one untitled chart when not split."""
        if not self.panels:
            return [("", self.curves)]
        charts: dict[str, list[PlotSeries]] = {}
        for panel, curve in zip(self.panels, self.curves):
            charts.setdefault(panel, []).append(curve)
        return list(charts.items()) or [("", [])]


def group_value(series: SeriesData, group_by: str) -> str:
    if group_by == "run":
        return series.run_name or series.run_hash[:8]
    if group_by == "experiment":
        return series.experiment
    if group_by == "metric":
        return series.name
    if group_by.startswith("context:"):
        return format_value(series.context.get(group_by[len("context:") :]))
    if group_by.startswith("param:"):
        return format_value(series.params.get(group_by[len("param:") :]))
    return ""


def group_label(group_by: str) -> str:
    if group_by.startswith("context:"):
        return f"context.{group_by[len('context:') :]}"
    if group_by.startswith("param:"):
        return f"run.{group_by[len('param:') :]}"
    return group_by


def series_x(series: SeriesData, x_axis: str, x_metric: XMetricPoints | None = None) -> np.ndarray:
    """x of each point of ``series``; on a metric axis NaN (left out) until ``x_metric`` is loaded."""
    if axis_metric(x_axis) is not None:
        if x_metric is None or x_metric.name != axis_metric(x_axis):
            return np.full(len(series.step), np.nan)
        return x_metric.x_for(series.run_hash, context_key(series.context), series.step)
    if x_axis == "epoch":
        return series.epoch
    if x_axis == "time":
        start = series.time[0] if len(series.time) else 0.0
        return series.time - min(start, series.creation_time or start)
    if x_axis == "clock":
        return series.time.astype(np.float64)  # unix seconds: runs line up by when they ran
    return series.step.astype(np.float64)


def _finite_stat(values: np.ndarray, fn) -> float | None:
    finite = values[np.isfinite(values)]
    return float(fn(finite)) if len(finite) else None


class CurveCache:
    """Smoothed values per (series, weight); touched only by the curves worker."""

    def __init__(self) -> None:
        self._smoothed: dict[tuple, np.ndarray] = {}

    def smoothed(self, series: SeriesData, weight: float, smoother: str = "ema") -> np.ndarray:
        if weight == 0.0:
            return series.value
        key = (series.key, len(series.value), weight, smoother)
        found = self._smoothed.get(key)
        if found is None:
            if smoother == "mean":
                found = centred_moving_average(series.value, window_for(weight))
            else:
                found = ema(series.value, weight)
            self._smoothed[key] = found
        return found

    def forget(self) -> None:
        self._smoothed.clear()


def _transformed(
    s: SeriesData, settings: PlotSettings, cache: CurveCache, x_metric: XMetricPoints | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """x and y of one series as drawn: smoothed, log-scaled, sorted by x."""
    y = cache.smoothed(s, settings.smoothing, settings.smoother)
    if settings.log_y:
        with np.errstate(divide="ignore", invalid="ignore"):
            y = np.where(y > 0, np.log10(np.where(y > 0, y, 1.0)), np.nan)
    return prepare_xy(series_x(s, settings.x_axis, x_metric), y)


def dim_color(color: str, keep: float = 0.45) -> str:
    """``color`` darkened towards black: the band behind a group's line."""
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return "#{:02x}{:02x}{:02x}".format(*(int(c * keep) for c in (r, g, b)))


def build_curves(
    series: list[SeriesData], settings: PlotSettings, cache: CurveCache, x_metric: XMetricPoints | None = None
) -> CurvesReady:
    """Turn loaded series into plot curves and legend rows under ``settings`` (``x_metric``:
    the points of the x axis' metric, when it is one)."""
    if settings.aggregate != "none" and settings.group_by != "series":
        return _aggregated_curves(series, settings, cache, x_metric)
    groups: dict[str, int] = {}
    curves = []
    legend = []
    panels = []
    for index, s in enumerate(series):
        panels.append(s.name if settings.split else "")
        group = group_value(s, settings.group_by) if settings.group_by != "series" else ""
        color_index = groups.setdefault(group, len(groups)) if settings.group_by != "series" else index
        color = series_color(color_index)
        x, y = _transformed(s, settings, cache, x_metric)
        curves.append(PlotSeries(x, y, color, s.label))
        last = float(s.value[-1]) if len(s.value) else None
        legend.append(
            LegendRow(
                s.label, group, color, last, _finite_stat(s.value, np.min), _finite_stat(s.value, np.max), s.status
            )
        )
    return CurvesReady(curves, legend, settings, panels, list(range(len(curves))))


def _aggregated_curves(
    series: list[SeriesData], settings: PlotSettings, cache: CurveCache, x_metric: XMetricPoints | None
) -> CurvesReady:
    """One band and one line per group (bands first, so every line is drawn over them)."""
    members: dict[tuple[str, str], list[SeriesData]] = {}
    for s in series:
        members.setdefault((s.name if settings.split else "", group_value(s, settings.group_by)), []).append(s)
    colors: dict[str, str] = {}
    bands, lines, legend, band_panels, line_panels = [], [], [], [], []
    for (panel, group), group_series in members.items():
        color = colors.setdefault(group, series_color(len(colors)))
        band_panels.append(panel)
        line_panels.append(panel)
        drawn = [_transformed(s, settings, cache, x_metric) for s in group_series]
        curve = aggregate([x for x, _ in drawn], [y for _, y in drawn], settings.aggregate)
        label = f"{group or '(none)'} · {curve.count} series" + (f" · {panel}" if panel else "")
        bx, by = band_points(curve)
        bands.append(PlotSeries(bx, by, dim_color(color), label + " band"))
        keep = np.isfinite(curve.center)
        lines.append(PlotSeries(curve.x[keep], curve.center[keep], color, label))
        center = curve.center[keep]
        if settings.log_y:
            center = 10.0**center
        last = float(center[-1]) if len(center) else None
        statuses = {s.status for s in group_series}
        status = "active" if "active" in statuses else ("crashed" if "crashed" in statuses else "finished")
        legend.append(
            LegendRow(label, group, color, last, _finite_stat(center, np.min), _finite_stat(center, np.max), status)
        )
    lines_at = list(range(len(bands), len(bands) + len(lines)))
    return CurvesReady(bands + lines, legend, settings, band_panels + line_panels, lines_at)


def view_settings(saved: dict, *, split: bool = False) -> PlotSettings:
    """Chart settings from a saved view's (unknown keys ignored; the rest default)."""
    settings = PlotSettings(split=split)
    for key, value in saved.items():
        if hasattr(settings, key):
            setattr(settings, key, value)
    return settings


def value_at(curve: PlotSeries, x: float, log_y: bool = False) -> float | None:
    """The curve's value at ``x``: its last point at or before ``x`` (None before its first)."""
    index = int(np.searchsorted(curve.x, x, side="right")) - 1
    if index < 0 or not len(curve.y):
        return None
    value = float(curve.y[index])
    return 10.0**value if log_y and np.isfinite(value) else value


class Legend(DataTable):
    """The series table under the plot; left/right still pan the plot while it has focus."""

    BINDINGS = [
        Binding("left,h", "screen.pan(-1)", "Pan left", show=False),
        Binding("right,l", "screen.pan(1)", "Pan right", show=False),
    ]


class MetricsScreen(Screen):
    """Plots the sequences matched by a metrics query, optionally limited to some runs."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("slash", "focus_query", "Query"),
        Binding("n", "pick_metric", "Metric"),
        Binding("x", "cycle_x", "X axis"),
        Binding("X", "pick_x", "X axis: pick (or a metric)", show=False),
        Binding("g", "pick_group", "Group"),
        Binding("a", "cycle_aggregate", "Aggregate"),
        Binding("s", "toggle_split", "Subplots"),
        Binding("w", "toggle_smoother", "EMA / moving average", show=False),
        Binding("v", "save_view", "Save view", show=False),
        Binding("V", "pick_view", "Saved views", show=False),
        Binding("o", "toggle_outliers", "Clip outliers", show=False),
        Binding("left_square_bracket", "cursor(-1)", "Cursor left", show=False),
        Binding("right_square_bracket", "cursor(1)", "Cursor right", show=False),
        Binding("left_curly_bracket", "cursor(-10)", "Cursor far left", show=False),
        Binding("right_curly_bracket", "cursor(10)", "Cursor far right", show=False),
        Binding("c", "hide_cursor", "Hide cursor", show=False),
        Binding("e", "smoother", "Smooth"),
        Binding("E", "rougher", "Less smooth", show=False),
        Binding("y", "toggle_log", "Log y"),
        Binding("plus,equals_sign", "zoom_in", "Zoom in", show=False),
        Binding("minus", "zoom_out", "Zoom out", show=False),
        Binding("left,h", "pan(-1)", "Pan left", show=False),
        Binding("right,l", "pan(1)", "Pan right", show=False),
        Binding("z", "zoom_range", "Zoom to steps", show=False),
        Binding("0", "reset_zoom", "Reset zoom", show=False),
        Binding("t", "toggle_legend", "Legend", show=False),
        Binding("r", "reload", "Reload", show=False),
    ]

    def __init__(
        self,
        query: str = "",
        run_hashes: list[str] | None = None,
        metric_keys: list[MetricKey] | None = None,
        *,
        split: bool = False,
        settings: dict | None = None,
    ) -> None:
        super().__init__()
        self.query_text = query
        self.run_hashes = list(run_hashes) if run_hashes is not None else None
        self.metric_keys = metric_keys
        self.settings = view_settings(settings or {}, split=split)
        self.series: list[SeriesData] = []
        self.total_matched = 0
        self.legend_rows: list[LegendRow] = []
        self.load_pending = False
        self.cursor_x: float | None = None
        self._ready: CurvesReady | None = None
        self._cache = CurveCache()
        self.x_metric: XMetricPoints | None = None  # the x axis' metric points, when it is one

    def compose(self) -> ComposeResult:
        from aimcol.tui.components.query_bar import QueryBar

        yield Static("loading…", id="metrics-status")
        yield QueryBar(
            "metrics",
            self.app.history,
            value=self.query_text,
            placeholder="AimQL, e.g. metric.name == 'loss' and metric.context.subset == 'val'",
            id="metrics-query",
        )
        with Vertical(id="plots"):
            yield BraillePlot(id="plot")
        yield Legend(id="legend", cursor_type="row")
        yield Footer()

    @property
    def plot(self) -> BraillePlot:
        """The first chart (the only one unless split into one chart per metric)."""
        return self.query_one("#plot", BraillePlot)

    @property
    def plots(self) -> list[BraillePlot]:
        return list(self.query(BraillePlot))

    def full_x_range(self) -> tuple[float, float] | None:
        ranges = [r for r in (p.full_x_range() for p in self.plots) if r is not None]
        return (min(r[0] for r in ranges), max(r[1] for r in ranges)) if ranges else None

    @property
    def query_bar(self):
        from aimcol.tui.components.query_bar import QueryBar

        return self.query_one(QueryBar)

    def on_mount(self) -> None:
        self.query_one("#legend", DataTable).focus()
        self.load()

    # -- loading ----------------------------------------------------------------------------
    def load(self, *, live: bool = False) -> None:
        self.load_pending = True
        if live:
            self._reload_worker(list(self.series), self.query_text)
        else:
            self._load_worker(self.query_text, self.run_hashes)
        self.update_status()

    @work(thread=True, exclusive=True, group="series-load")
    def _load_worker(self, query: str, run_hashes: list[str] | None) -> None:
        try:
            result = self.app.source.load_series(query, run_hashes)
        except AimQLSyntaxError as exc:
            self.post_message(LoadFailed("metrics", query, exc.msg or str(exc), exc.col))
            return
        except Exception as exc:
            self.post_message(LoadFailed("metrics", query, f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(SeriesLoaded(query, result))

    @work(thread=True, exclusive=True, group="series-load")
    def _reload_worker(self, series: list[SeriesData], query: str) -> None:
        from aimcol.tui.repo_source import SeriesResult

        try:
            fresh = self.app.source.reload_series(series)
        except Exception:
            return  # a live refresh that fails is simply tried again on the next tick
        self.post_message(SeriesLoaded(query, SeriesResult(fresh, self.total_matched), live=True))

    def on_series_loaded(self, message: SeriesLoaded) -> None:
        self.load_pending = False
        if message.query != self.query_text:
            return
        self.series = message.result.series
        self.total_matched = message.result.total_matched
        if message.result.damaged and not message.live:
            shown = "; ".join(message.result.damaged[:3])
            self.notify(f"{len(message.result.damaged)} damaged series not plotted ({shown})", severity="warning")
        if not message.live:
            self.query_bar.clear_error()
            if message.query:
                self.query_bar.remember(message.query)
            self._cache.forget()
        self.rebuild()
        self.load_x_metric()  # new runs, or a live run's new points, on the x axis too

    def on_load_failed(self, message: LoadFailed) -> None:
        self.load_pending = False
        self.query_bar.show_error(message.message, message.column)
        if message.column is not None:
            self.query_bar.focus_input()
        self.update_status()

    def live_refresh(self) -> None:
        if not self.load_pending and any(s.status == "active" for s in self.series):
            self.load(live=True)

    # -- curves -----------------------------------------------------------------------------
    def rebuild(self) -> None:
        self._curves_worker(list(self.series), PlotSettings(**vars(self.settings)), self.x_metric)

    @work(thread=True, exclusive=True, group="curves")
    def _curves_worker(self, series: list[SeriesData], settings: PlotSettings, x_metric: XMetricPoints | None) -> None:
        ready = build_curves(series, settings, self._cache, x_metric)
        self.app.call_from_thread(self._show_curves, ready)

    def load_x_metric(self) -> None:
        """Read the x axis' metric for the plotted runs (a worker); the curves follow."""
        name = axis_metric(self.settings.x_axis)
        if name is not None:
            self._x_metric_worker(name, sorted({s.run_hash for s in self.series}))

    @work(thread=True, exclusive=True, group="x-metric")
    def _x_metric_worker(self, name: str, run_hashes: list[str]) -> None:
        points = XMetricPoints(name)
        try:
            result = self.app.source.load_series(
                f"metric.name == {name!r}", run_hashes, limit=max(MAX_SERIES, 8 * len(run_hashes))
            )
        except Exception as exc:
            self.app.call_from_thread(self.notify, f"cannot read metric {name!r}: {exc}", severity="error")
            return
        for s in result.series:
            points.add(s.run_hash, context_key(s.context), s.step, s.value)
        self.post_message(AxisMetricLoaded(points))

    def on_axis_metric_loaded(self, message: AxisMetricLoaded) -> None:
        if axis_metric(self.settings.x_axis) == message.points.name:
            self.x_metric = message.points
            self.rebuild()

    def _show_curves(self, ready: CurvesReady) -> None:
        if not self.is_attached or not self.query(BraillePlot):
            return  # the screen was closed while its curves were being built
        settings = ready.settings
        if self.total_matched == 0:
            scope = f" in the {len(self.run_hashes)} chosen runs" if self.run_hashes is not None else ""
            message = f"no sequence matches{scope}"
        else:
            message = f"no {axis_label(settings.x_axis)} values to plot"
        charts = ready.by_panel()
        plots = self.plots
        for extra in plots[len(charts) :]:
            extra.remove()
        container = self.query_one("#plots", Vertical)
        for _ in range(len(plots), len(charts)):
            plot = BraillePlot()
            container.mount(plot)
            plots.append(plot)
        for plot, (title, curves) in zip(plots, charts):
            plot.border_title = title or None
            plot.set_class(bool(title), "-titled")
            plot.cursor_x = self.cursor_x
            plot.clip_outliers = settings.clip_outliers
            plot.set_curves(
                curves,
                x_kind="value" if axis_metric(settings.x_axis) else settings.x_axis,
                log_y=settings.log_y,
                x_range=settings.zoom,
                message=message,
            )
        self._ready = ready
        self.legend_rows = ready.legend
        self._fill_legend(ready.legend, settings)
        self.update_status()

    def _fill_legend(self, rows: list[LegendRow], settings: PlotSettings) -> None:
        legend = self.query_one("#legend", DataTable)
        legend.clear(columns=True)
        grouped = settings.group_by != "series"
        legend.add_column("", key="swatch", width=2)
        legend.add_column("series", key="series")
        if grouped:
            legend.add_column(group_label(settings.group_by), key="group")
        at_cursor = self.cursor_values()
        if at_cursor is not None:
            legend.add_column(f"at {axis_label(settings.x_axis)} {format_number(self.cursor_x)}", key="cursor")
        for name in ("last", "min", "max", "status"):
            legend.add_column(name, key=name)
        for index, row in enumerate(rows):
            status = Text(
                row.status,
                style="bold red" if row.status == "crashed" else ("bold green" if row.status == "active" else "dim"),
            )
            label = Text(row.label)
            if row.status == "crashed":
                label.append(" ✗", style="bold red")
            cells = [Text("━━", style=row.color), label]
            if grouped:
                cells.append(row.group)
            if at_cursor is not None:
                cells.append(Text(format_number(at_cursor[index]), style=f"bold {row.color}"))
            cells += [format_number(row.last), format_number(row.min), format_number(row.max), status]
            legend.add_row(*cells)

    def cursor_values(self) -> list[float | None] | None:
        """Each legend row's value at the cursor (None without a cursor or curves)."""
        ready = self._ready
        if self.cursor_x is None or ready is None or ready.legend_curves is None:
            return None
        return [value_at(ready.curves[i], self.cursor_x, ready.settings.log_y) for i in ready.legend_curves]

    def _show_cursor(self) -> None:
        for plot in self.plots:
            plot.set_cursor(self.cursor_x)
        if self._ready is not None:
            self._fill_legend(self._ready.legend, self._ready.settings)

    def action_cursor(self, cells: int) -> None:
        """Move the vertical cursor ``cells`` columns (it appears mid-chart the first time)."""
        full = self._current_range()
        if full is None:
            return
        lo, hi = full
        if self.cursor_x is None:
            self.cursor_x = (lo + hi) / 2
        else:
            columns = (self.plot.geometry[1] if self.plot.geometry else 60) or 60
            self.cursor_x = min(max(self.cursor_x + cells * (hi - lo) / columns, lo), hi)
        self._show_cursor()

    def action_hide_cursor(self) -> None:
        self.cursor_x = None
        self._show_cursor()

    def on_braille_plot_cursor_moved(self, message: BraillePlot.CursorMoved) -> None:
        self.cursor_x = message.x
        self._show_cursor()

    def update_status(self) -> None:
        s = self.settings
        parts = []
        if self.run_hashes is not None:
            parts.append(f"{len(self.run_hashes)} run{'s' if len(self.run_hashes) != 1 else ''}")
        shown = len(self.series)
        parts.append(
            f"{shown} series" + (f" (first {shown} of {self.total_matched})" if self.total_matched > shown else "")
        )
        parts.append(f"x={axis_label(s.x_axis)}")
        if s.smoothing:
            parts.append(
                f"ema {s.smoothing:g}" if s.smoother == "ema" else f"moving average of {window_for(s.smoothing)}"
            )
        if s.clip_outliers:
            parts.append("outliers clipped")
        if s.log_y:
            parts.append("log y")
        if s.split:
            parts.append("a chart per metric")
        if s.group_by != "series":
            verb = s.aggregate if s.aggregate != "none" else "colour"
            parts.append(f"{verb} by {group_label(s.group_by)}")
        if s.zoom:
            parts.append(f"zoom {format_number(s.zoom[0])}–{format_number(s.zoom[1])}")
        crashed = {s.run_hash for s in self.series if s.status == "crashed"}
        if crashed:
            parts.append(f"{len(crashed)} crashed run{'s' if len(crashed) != 1 else ''} ✗")
        if self.load_pending:
            parts.append("loading…")
        self.query_one("#metrics-status", Static).update(" · ".join(parts))

    # -- actions ----------------------------------------------------------------------------
    def on_query_bar_submitted(self, message) -> None:
        self.query_text = message.query
        self.query_one("#legend", DataTable).focus()
        self.load()

    def action_back(self) -> None:
        if self.focused is not None and self.focused is self.query_bar.input:
            self.query_one("#legend", DataTable).focus()
            return
        self.app.pop_screen()

    def action_focus_query(self) -> None:
        self.query_bar.focus_input()

    def action_reload(self) -> None:
        self.load()

    def action_cycle_x(self) -> None:
        """step → epoch → relative time → absolute time → step (from a metric axis: step)."""
        current = self.settings.x_axis
        self._set_x(X_AXES[(X_AXES.index(current) + 1) % len(X_AXES)] if current in X_AXES else "step")

    def _set_x(self, x_axis: str) -> None:
        self.settings.x_axis = x_axis
        self.settings.zoom = None
        self.cursor_x = None
        self.rebuild()
        self.load_x_metric()

    def action_pick_x(self) -> None:
        """Choose the x axis: step, epoch, relative or absolute time, or any metric of the plotted runs."""
        self._pick_x_worker(sorted({s.run_hash for s in self.series}))

    @work(thread=True, exclusive=True, group="metric-keys")
    def _pick_x_worker(self, run_hashes: list[str]) -> None:
        try:
            sequences = self.app.source.load_sequences()
        except Exception as exc:
            self.app.call_from_thread(self.notify, f"cannot list metrics: {exc}", severity="error")
            return
        chosen = set(run_hashes)
        names = sorted(
            {
                n
                for n, h in zip(sequences.column("name").to_pylist(), sequences.column("run").to_pylist())
                if h in chosen
            }
        )
        self.app.call_from_thread(self._show_x_picker, names)

    def _show_x_picker(self, names: list[str]) -> None:
        from aimcol.tui.screens.pickers import OptionPicker

        options = [(axis_label(x), x) for x in X_AXES] + [(axis_label(metric_axis(n)), metric_axis(n)) for n in names]

        def apply(value: str | None) -> None:
            if value is not None:
                self._set_x(value)

        self.app.push_screen(OptionPicker("X axis", options, self.settings.x_axis), apply)

    def action_smoother(self) -> None:
        self._step_smoothing(1)

    def action_rougher(self) -> None:
        self._step_smoothing(-1)

    def _step_smoothing(self, step: int) -> None:
        index = SMOOTHING_STEPS.index(self.settings.smoothing) if self.settings.smoothing in SMOOTHING_STEPS else 0
        self.settings.smoothing = SMOOTHING_STEPS[(index + step) % len(SMOOTHING_STEPS)]
        self.rebuild()

    def action_cycle_aggregate(self) -> None:
        """Each series / mean+minmax / mean+std / median+minmax band per group (``g`` picks the groups)."""
        s = self.settings
        s.aggregate = AGGREGATES[(AGGREGATES.index(s.aggregate) + 1) % len(AGGREGATES)]
        if s.aggregate != "none" and s.group_by == "series":
            s.group_by = "experiment"  # aggregating needs groups: experiment until `g` picks others
        self.rebuild()

    def action_toggle_smoother(self) -> None:
        """EMA (lags, like TensorBoard's) or a centred moving average of the same strength (no lag)."""
        self.settings.smoother = "mean" if self.settings.smoother == "ema" else "ema"
        if self.settings.smoothing == 0.0:
            self.settings.smoothing = SMOOTHING_STEPS[2]
        self.rebuild()

    def action_toggle_outliers(self) -> None:
        """Fit the y axis to the 1st..99th percentile, so one spike does not flatten every curve."""
        self.settings.clip_outliers = not self.settings.clip_outliers
        self.rebuild()

    def action_save_view(self) -> None:
        """Name the current query and chart settings; ``aimcol tui --view NAME`` reopens them."""
        from aimcol.tui.screens.pickers import TextPrompt

        def save(name: str | None) -> None:
            if not name or not name.strip():
                return
            try:
                self.app.views.save(name.strip(), self.query_text, vars(self.settings))
            except OSError as exc:
                self.notify(f"cannot save the view: {exc}", severity="error")
                return
            self.notify(f"saved view {name.strip()!r}: aimcol tui --view {name.strip()}", timeout=4)

        self.app.push_screen(TextPrompt("Save this view as", "", "a name; aimcol tui --view NAME opens it"), save)

    def action_pick_view(self) -> None:
        """List the saved views: enter replaces this chart's query and settings with one, d deletes."""
        from aimcol.tui.screens.pickers import ViewPicker

        self.app.push_screen(ViewPicker(self.app.views), self.open_view)

    def open_view(self, name: str | None) -> None:
        view = self.app.views.get(name) if name else None
        if view is None:
            return
        self.settings = view_settings(view["settings"])
        self.cursor_x = None
        self.x_metric = None
        self.query_text = view["query"]
        self.query_bar.value = view["query"]
        self.notify(f"view {name!r}", timeout=2)
        self.load()

    def action_toggle_split(self) -> None:
        """One chart per metric name (loss and lr each on their own y axis) or one chart for all."""
        self.settings.split = not self.settings.split
        self.rebuild()

    def action_toggle_log(self) -> None:
        self.settings.log_y = not self.settings.log_y
        self.rebuild()

    def action_toggle_legend(self) -> None:
        self.query_one("#legend", DataTable).toggle_class("-hidden")

    def _current_range(self) -> tuple[float, float] | None:
        return self.settings.zoom or self.full_x_range()

    def action_zoom_in(self) -> None:
        self._zoom(0.5)

    def action_zoom_out(self) -> None:
        self._zoom(2.0)

    def _zoom(self, factor: float) -> None:
        current = self._current_range()
        full = self.full_x_range()
        if current is None or full is None:
            return
        center = (current[0] + current[1]) / 2
        half = (current[1] - current[0]) * factor / 2
        lo, hi = center - half, center + half
        if lo <= full[0] and hi >= full[1]:
            self.settings.zoom = None
        else:
            self.settings.zoom = (max(lo, full[0]), min(hi, full[1]))
        self.rebuild()

    def action_pan(self, direction: int) -> None:
        current = self.settings.zoom
        full = self.full_x_range()
        if current is None or full is None:
            return
        width = current[1] - current[0]
        shift = direction * width / 4
        lo = min(max(current[0] + shift, full[0]), full[1] - width)
        self.settings.zoom = (lo, lo + width)
        self.rebuild()

    def action_reset_zoom(self) -> None:
        self.settings.zoom = None
        self.rebuild()

    def action_zoom_range(self) -> None:
        from aimcol.tui.screens.pickers import TextPrompt

        current = self._current_range()
        value = f"{format_number(current[0])}:{format_number(current[1])}" if current else ""

        def apply(text: str | None) -> None:
            if text is None:
                return
            zoom = parse_range(text)
            if zoom is False:
                self.notify(f"not a range: {text!r} (write FROM:TO, e.g. 100:500)", severity="warning")
                return
            self.settings.zoom = zoom
            self.rebuild()

        self.app.push_screen(
            TextPrompt(
                f"Zoom to a {axis_label(self.settings.x_axis)} range",
                value,
                "FROM:TO, either side may be empty; empty resets",
            ),
            apply,
        )

    def action_pick_group(self) -> None:
        from aimcol.tui.screens.pickers import OptionPicker

        options = [
            ("each series its own colour", "series"),
            ("run", "run"),
            ("experiment", "experiment"),
            ("metric name", "metric"),
        ]
        contexts = sorted({k for s in self.series for k in s.context})
        options += [(f"context.{k}", f"context:{k}") for k in contexts]
        params = sorted({k for s in self.series for k in s.params})
        varying = [p for p in params if len({format_value(s.params.get(p)) for s in self.series}) > 1]
        options += [(f"run.{p}", f"param:{p}") for p in varying or params]

        def apply(value: str | None) -> None:
            if value is not None:
                self.settings.group_by = value
                self.rebuild()

        self.app.push_screen(OptionPicker("Colour series by", options, self.settings.group_by), apply)

    def action_pick_metric(self) -> None:
        self._pick_metric_worker()

    @work(thread=True, exclusive=True, group="metric-keys")
    def _pick_metric_worker(self) -> None:
        from aimcol.tui.repo_source import metric_keys

        keys = self.metric_keys
        if keys is None:
            try:
                sequences = self.app.source.load_sequences()
            except Exception as exc:
                self.app.call_from_thread(self.notify, f"cannot list metrics: {exc}", severity="error")
                return
            if self.run_hashes is not None:
                import numpy as np

                from aimcol.sdk.tables import take_rows

                chosen = set(self.run_hashes)
                rows = [i for i, h in enumerate(sequences.column("run").to_pylist()) if h in chosen]
                sequences = take_rows(sequences, np.array(rows, dtype=np.int64))
            keys = metric_keys(sequences)
        self.app.call_from_thread(self._show_metric_picker, keys)

    def _show_metric_picker(self, keys: list[MetricKey]) -> None:
        from aimcol.tui.screens.pickers import OptionPicker

        options = [("every metric", "")]
        names: dict[str, int] = {}
        for key in keys:
            names[key.name] = names.get(key.name, 0) + 1
        for key in keys:
            if names.get(key.name, 0) > 1:
                options.append((f"{key.name} (all contexts)", f"metric.name == {key.name!r}"))
                names[key.name] = 0
            options.append((key.label, key.query()))

        def apply(value: str | None) -> None:
            if value is None:
                return
            self.query_text = value
            self.query_bar.value = value
            self.load()

        self.app.push_screen(OptionPicker("Plot which metric", options, self.query_text), apply)


def parse_range(text: str) -> tuple[float, float] | None | bool:
    """``"100:500"`` → (100, 500); ``""`` → None (reset); ``":500"``/``"100:"`` open-ended; bad → False."""
    text = text.strip()
    if not text:
        return None
    if ":" not in text:
        return False
    left, right = text.split(":", 1)
    try:
        lo = float(left) if left.strip() else -math.inf
        hi = float(right) if right.strip() else math.inf
    except ValueError:
        return False
    if not lo < hi:
        return False
    return (lo, hi)
