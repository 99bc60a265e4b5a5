"""``BraillePlot``: line charts drawn in braille characters, one colour per series.

The widget owns no data loading: it is handed prepared curves (x sorted, smoothing and log
already applied) and, whenever its size, the curves or the x range change, down-samples
each to one bucket per pixel column, rasterises them (:mod:`aimcol.tui.braille`) and keeps
the resulting lines; drawing is then a list lookup.  ``last_draw_seconds`` says how long
the last rebuild took.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from aimcol.tui.axes import format_tick, log_ticks, nice_ticks
from aimcol.tui.braille import BRAILLE_BASE, rasterize, series_spans
from aimcol.tui.downsample import minmax_buckets

# Mid-tone colours that read on dark and on light backgrounds (Tableau-like, yellow darkened).
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#59a14f",
    "#b07aa1",
    "#76b7b2",
    "#c59b00",
    "#ff6fa0",
    "#9c755f",
    "#8c8c8c",
    "#1f9bd8",
    "#a0cb38",
)


_CELL_CHARS = [" "] + [chr(BRAILLE_BASE + code) for code in range(1, 256)]


def series_color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


@dataclass
class PlotSeries:
    """One curve to draw; ``x`` sorted ascending and finite (see ``downsample.prepare_xy``)."""

    x: np.ndarray
    y: np.ndarray
    color: str
    label: str = ""


class BraillePlot(Widget, can_focus=False):
    COMPONENT_CLASSES = {"braille-plot--axis"}

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, classes=classes)
        self.curves: list[PlotSeries] = []
        self.x_kind = "step"
        self.log_y = False
        self.x_range: tuple[float, float] | None = None
        self.message = "no data"
        self.last_draw_seconds = 0.0
        self._lines: list[Strip] = []
        self._built_for: tuple | None = None
        self._label_width = 6
        self.cursor_x: float | None = None
        self.clip_outliers = False  # y range over the 1st..99th percentile of the drawn buckets
        self.geometry: tuple[int, int, float, float] | None = None  # label width, plot columns, x range drawn

    # -- inputs -----------------------------------------------------------------------------
    def set_curves(
        self,
        curves: list[PlotSeries],
        *,
        x_kind: str = "step",
        log_y: bool = False,
        x_range: tuple[float, float] | None = None,
        message: str = "no data",
    ) -> None:
        self.curves = curves
        self.x_kind = x_kind
        self.log_y = log_y
        self.x_range = x_range
        self.message = message
        self._built_for = None
        self.refresh()

    def set_cursor(self, x: float | None) -> None:
        """Draw a vertical cursor at data coordinate ``x`` (None: none)."""
        self.cursor_x = x
        self._built_for = None
        self.refresh()

    def x_at_column(self, column: int) -> float | None:
        """The data x under widget column ``column`` of the last drawing (None off the plot area)."""
        if self.geometry is None:
            return None
        label_width, plot_cols, x_lo, x_hi = self.geometry
        cell = column - label_width - 1
        if not 0 <= cell < plot_cols:
            return None
        return x_lo + (x_hi - x_lo) * cell / max(plot_cols - 1, 1)

    def on_click(self, event: events.Click) -> None:
        x = self.x_at_column(event.x)
        if x is not None:
            self.post_message(self.CursorMoved(self, x))

    class CursorMoved(Message):
        """The user clicked the plot: put the cursor at data x ``x``."""

        def __init__(self, plot: BraillePlot, x: float) -> None:
            super().__init__()
            self.plot = plot
            self.x = x

    def full_x_range(self) -> tuple[float, float] | None:
        lows = [c.x[0] for c in self.curves if len(c.x)]
        highs = [c.x[-1] for c in self.curves if len(c.x)]
        if not lows:
            return None
        return float(min(lows)), float(max(highs))

    # -- drawing ----------------------------------------------------------------------------
    def on_resize(self, event: events.Resize) -> None:
        self._built_for = None

    def render_line(self, y: int) -> Strip:
        width, height = self.size
        key = (width, height)
        if self._built_for != key:
            self._lines = self.build_lines(width, height)
            self._built_for = key
        if y < len(self._lines):
            return self._lines[y]
        return Strip.blank(width, self.rich_style)

    def build_lines(self, width: int, height: int) -> list[Strip]:
        """Rasterise the curves for a ``width x height`` widget (axes included)."""
        started = time.perf_counter()
        base = self.rich_style
        axis_style = base + self.get_component_rich_style("braille-plot--axis", partial=True)
        if width < 12 or height < 3:
            return [Strip.blank(width, base) for _ in range(height)]
        full = self.full_x_range()
        x_range = full
        if self.x_range is not None and full is not None:  # open-ended zooms end at the data
            lo, hi = self.x_range
            x_range = (lo if np.isfinite(lo) else full[0], hi if np.isfinite(hi) else full[1])
        if x_range is None or not self.curves:
            lines = [Strip.blank(width, base) for _ in range(height)]
            lines[height // 2] = Strip([Segment(self.message.center(width)[:width], axis_style)])
            return lines
        x_lo, x_hi = x_range
        plot_rows = height - 1
        # bucket at the width the last y labels left; redo only if the new labels differ in width
        plot_cols = max(width - self._label_width - 1, 4)
        buckets = [minmax_buckets(c.x, c.y, x_lo, x_hi, 2 * plot_cols) for c in self.curves]
        y_lo, y_hi = _value_range(buckets, self.clip_outliers)
        y_ticks = (log_ticks if self.log_y else nice_ticks)(y_lo, y_hi, max(2, plot_rows // 3))
        y_labels = [format_tick(t, "value", self.log_y) for t in y_ticks]
        label_width = max([len(s) for s in y_labels] + [3])
        if label_width != self._label_width:
            self._label_width = label_width
            plot_cols = max(width - label_width - 1, 4)
            buckets = [minmax_buckets(c.x, c.y, x_lo, x_hi, 2 * plot_cols) for c in self.curves]
        spans = [series_spans(b, y_lo, y_hi, 4 * plot_rows) for b in buckets]
        raster = rasterize(spans, plot_cols, plot_rows)
        styles = [base + Style(color=Color.parse(c.color)) for c in self.curves]

        label_at_row: dict[int, str] = {}
        span = (y_hi - y_lo) or 1.0
        for tick, label in zip(y_ticks, y_labels):
            row = int(round((1.0 - (tick - y_lo) / span) * (plot_rows - 1)))
            if 0 <= row < plot_rows:
                label_at_row[row] = label
        self.geometry = (label_width, plot_cols, x_lo, x_hi)
        cursor_col = None
        if self.cursor_x is not None and x_lo <= self.cursor_x <= x_hi:
            cursor_col = int(round((self.cursor_x - x_lo) / ((x_hi - x_lo) or 1.0) * (plot_cols - 1)))
        lines = []
        for row in range(plot_rows):
            label = label_at_row.get(row)
            axis = (label.rjust(label_width) + "┤") if label else (" " * label_width + "│")
            segments = [Segment(axis, axis_style)]
            segments.extend(_row_segments(raster.codes[row], raster.owner[row], styles, base, cursor_col))
            lines.append(Strip(segments).adjust_cell_length(width, base))
        lines.append(self._x_axis(x_lo, x_hi, label_width, plot_cols, width, axis_style))
        self.last_draw_seconds = time.perf_counter() - started
        return lines

    def _x_axis(self, x_lo: float, x_hi: float, label_width: int, plot_cols: int, width: int, style: Style) -> Strip:
        chars = [" "] * width
        chars[label_width] = "└"
        ticks = nice_ticks(x_lo, x_hi, max(1, plot_cols // 12))
        span = (x_hi - x_lo) or 1.0
        next_free = label_width + 1
        for tick in ticks:
            col = label_width + 1 + int(round((tick - x_lo) / span * (plot_cols - 1)))
            text = format_tick(tick, self.x_kind)
            start = max(col - len(text) // 2, next_free)
            if start + len(text) > width:
                start = width - len(text)
            if start < next_free:
                continue
            chars[start : start + len(text)] = list(text)
            next_free = start + len(text) + 1
        return Strip([Segment("".join(chars)[:width], style)])


def _value_range(buckets, clip_outliers: bool = False) -> tuple[float, float]:
    """The y range of all buckets (the points inside the x range), padded by 4 %; with
    ``clip_outliers`` the 1st..99th percentile of the buckets' lows and highs instead."""
    if clip_outliers:
        lows_all = [b.lo[b.valid & np.isfinite(b.lo)] for b in buckets]
        highs_all = [b.hi[b.valid & np.isfinite(b.hi)] for b in buckets]
        lo_values = np.concatenate(lows_all) if lows_all else np.empty(0)
        hi_values = np.concatenate(highs_all) if highs_all else np.empty(0)
        if len(lo_values) and len(hi_values):
            lo, hi = float(np.percentile(lo_values, 1)), float(np.percentile(hi_values, 99))
            if hi > lo:
                pad = (hi - lo) * 0.04
                return lo - pad, hi + pad
    lows, highs = [], []
    for b in buckets:
        if not b.valid.any() or np.isnan(b.lo[b.valid]).all():
            continue
        lo, hi = np.nanmin(b.lo), np.nanmax(b.hi)
        if not (np.isfinite(lo) and np.isfinite(hi)):  # rare: all-NaN, or inf in the data
            finite_lo, finite_hi = b.lo[np.isfinite(b.lo)], b.hi[np.isfinite(b.hi)]
            lo = finite_lo.min() if len(finite_lo) else np.nan
            hi = finite_hi.max() if len(finite_hi) else np.nan
        if np.isfinite(lo) and np.isfinite(hi):
            lows.append(float(lo))
            highs.append(float(hi))
    if not lows:
        return 0.0, 1.0
    lo, hi = min(lows), max(highs)
    if hi == lo:
        pad = abs(lo) * 0.05 or 0.5
        return lo - pad, hi + pad
    pad = (hi - lo) * 0.04
    return lo - pad, hi + pad


def _row_segments(
    codes: np.ndarray, owner: np.ndarray, styles: list[Style], base: Style, cursor_col: int | None = None
) -> list[Segment]:
    """Segments of one cell row, one per run of cells with the same owning series; an empty
    cell in ``cursor_col`` shows the cursor's ``│``."""
    if len(codes) == 0:
        return []
    chars = [_CELL_CHARS[c] for c in codes.tolist()]
    if cursor_col is not None and 0 <= cursor_col < len(chars) and chars[cursor_col] == " ":
        chars[cursor_col] = "│"
    text = "".join(chars)
    changes = np.flatnonzero(np.diff(owner)) + 1
    bounds = [0, *changes.tolist(), len(codes)]
    segments = []
    for start, end in zip(bounds[:-1], bounds[1:]):
        who = int(owner[start])
        segments.append(Segment(text[start:end], styles[who] if who >= 0 else base))
    return segments
