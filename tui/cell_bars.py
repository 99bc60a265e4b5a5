"""Bars inside table cells (``▌    0.01``): a number drawn against its column's range.  No Textual.

The range is linear, or logarithmic when the values are positive and span two decades or more
(learning rates, weight decays), so a small value still reads as small, not as nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from aimcol.sdk.tables import column_numpy, column_valid
from aimcol.tui.formatting import format_number

BAR_WIDTH = 4
LOG_SPAN = 100.0
"""A positive column whose largest value is this many times its smallest gets log-scaled bars."""
_EIGHTHS = " ▏▎▍▌▋▊▉█"


@dataclass(frozen=True)
class Bounds:
    """The range a numeric column's bars scale to."""

    lo: float
    hi: float
    log: bool = False

    def share(self, value: float) -> float:
        """Where ``value`` lies between ``lo`` (0) and ``hi`` (1)."""
        if self.hi <= self.lo:
            return 1.0
        if self.log:
            return math.log10(value / self.lo) / math.log10(self.hi / self.lo)
        return (value - self.lo) / (self.hi - self.lo)


def column_bounds(column: pa.ChunkedArray | pa.Array) -> Bounds | None:
    """The finite range of an int or float column (None for other types, or no finite value)."""
    if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
        return None
    values = column_numpy(column, np.nan).astype(np.float64)[column_valid(column)]
    values = values[np.isfinite(values)]
    if not len(values):
        return None
    lo, hi = float(values.min()), float(values.max())
    return Bounds(lo, hi, log=lo > 0 and hi / lo >= LOG_SPAN)


def bar(value, bounds: Bounds | None, width: int = BAR_WIDTH) -> str:
    """``value`` as a left-aligned bar of eighth blocks within ``bounds`` (spaces when it has none)."""
    if bounds is None or isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return " " * width
    eighths = max(1, round(min(max(bounds.share(float(value)), 0.0), 1.0) * width * 8))  # the least still shows
    full, rest = divmod(eighths, 8)
    return ("█" * full + (_EIGHTHS[rest] if rest else "")).ljust(width)[:width]


def bar_cell(value, bounds: Bounds | None) -> str:
    """One numeric cell: ``▌    0.01`` (bar, value); empty for a missing value."""
    if value is None:
        return ""
    return f"{bar(value, bounds)} {format_number(value)}"
