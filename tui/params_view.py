"""The params view's table, without Textual: one row per run, a column per param that differs
between the runs, then a metric's ``last``/``min``/``max`` and its curve.

Numeric cells carry a bar (``▏`` … ``█``) scaled to their column's range (on a log scale when
the values are positive and span two decades or more, as learning rates do), so a column
reads like a sparkline down the runs and, sorted by the metric, shows which params move
with it.  Sorting puts missing values last in both directions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pyarrow as pa

from aimcol.tui.formatting import format_number, format_value
from aimcol.tui.repo_source import MetricKey, metric_values, param_columns

METRIC_STATS = ("last", "min", "max")
BAR_WIDTH = 4
LOG_SPAN = 100.0
"""A positive column whose largest value is this many times its smallest gets log-scaled bars."""
_EIGHTHS = " ▏▎▍▌▋▊▉█"


@dataclass
class ParamsColumn:
    key: str  # "param:<dotted>", "metric:<stat>"
    label: str
    values: list  # one per row: a number, a str, a bool or None

    @property
    def numeric(self) -> bool:
        return any(_number(v) is not None for v in self.values) and all(
            v is None or _number(v) is not None for v in self.values
        )

    def bounds(self) -> Bounds | None:
        """The range its bars scale to (None: not a numeric column)."""
        numbers = [n for n in map(_number, self.values) if n is not None]
        if not self.numeric or not numbers:
            return None
        lo, hi = min(numbers), max(numbers)
        return Bounds(lo, hi, log=lo > 0 and hi / lo >= LOG_SPAN)


@dataclass(frozen=True)
class Bounds:
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


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def differing_params(runs: pa.Table) -> list[str]:
    """The param columns whose values differ between the rows (all of them when none differ)."""
    params = param_columns(runs)
    differing = [p for p in params if len({format_value(v) for v in runs.column(p).to_pylist()}) > 1]
    return differing or params


def build_columns(
    runs: pa.Table, sequences: pa.Table | None, key: MetricKey | None, params: list[str]
) -> list[ParamsColumn]:
    """``<metric>.last`` of ``key``, the param columns, then ``<metric>.min/max`` (the metric's
    columns when ``key`` is given and the sequences are known): the outcome first, so it stays
    in sight on a narrow terminal."""
    params_columns = [ParamsColumn(f"param:{p}", p, runs.column(p).to_pylist()) for p in params]
    if key is None or sequences is None:
        return params_columns
    hashes = runs.column("run")
    stats = [
        ParamsColumn(
            f"metric:{stat}", f"{key.short_label}.{stat}", metric_values(sequences, key, hashes, stat).to_pylist()
        )
        for stat in METRIC_STATS
    ]
    return [stats[0], *params_columns, *stats[1:]]


def sort_order(values: list, descending: bool) -> list[int]:
    """Row order by ``values``: numbers by value, then text; missing values (None, NaN) last either way."""
    present = [i for i, v in enumerate(values) if v is not None and not (isinstance(v, float) and math.isnan(v))]
    kept = set(present)
    missing = [i for i in range(len(values)) if i not in kept]

    def rank(i: int):
        number = _number(values[i])
        return (0, number, "") if number is not None else (1, 0.0, format_value(values[i]))

    return sorted(present, key=rank, reverse=descending) + missing


def bar(value, bounds: Bounds | None, width: int = BAR_WIDTH) -> str:
    """``value`` as a left-aligned bar of eighth blocks within ``bounds`` (spaces when it has none)."""
    number = _number(value)
    if number is None or bounds is None:
        return " " * width
    share = bounds.share(number)
    eighths = max(1, round(share * width * 8))  # the smallest value still shows a sliver
    full, rest = divmod(eighths, 8)
    return ("█" * full + (_EIGHTHS[rest] if rest else "")).ljust(width)[:width]


def cell_text(column: ParamsColumn, row: int, bounds: Bounds | None) -> str:
    """One cell: ``▌   0.01`` for a number (bar, value), the value's text otherwise."""
    value = column.values[row]
    if bounds is not None and _number(value) is not None:
        return f"{bar(value, bounds)} {format_number(value)}"
    return format_value(value) if value is not None else "—"


def column_bounds(columns: list[ParamsColumn]) -> list[Bounds | None]:
    """Per column, the range its bars scale to (None: not a numeric column)."""
    return [c.bounds() for c in columns]
