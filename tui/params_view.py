"""The params view's table, without Textual: one row per run, the chosen metric's last value
and curve, a column per param that differs between the runs, then the metric's min and max.

The table is an Arrow table drawn by :class:`~aimcol.tui.components.runs_table.RunsTable`
(only the rows on screen are formatted, so 10,000 runs cost what 20 do; sorting puts
missing values last in both directions).  Numeric cells carry a bar (:mod:`aimcol.tui.cell_bars`),
so a column reads like a sparkline down the runs and, sorted by the metric, shows which
params move with it.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa

from aimcol.tui.cell_bars import Bounds
from aimcol.tui.formatting import format_value
from aimcol.tui.repo_source import MetricKey, metric_values, param_columns

CURVE = "curve"


def _distinct(values: list) -> int:
    values = [None if isinstance(v, float) and math.isnan(v) else v for v in values]
    try:
        return len(set(values))
    except TypeError:  # unhashable cells: compare their text
        return len({format_value(v) for v in values})


def differing_params(runs: pa.Table) -> list[str]:
    """The param columns whose values differ between the rows (all of them when none differ)."""
    params = param_columns(runs)
    differing = [p for p in params if _distinct(runs.column(p).to_pylist()) > 1]
    return differing or params


def metric_column(stat: str) -> str:
    return f"metric:{stat}"


def build_table(
    runs: pa.Table, sequences: pa.Table | None, key: MetricKey | None, params: list[str], curves: dict[str, str]
) -> pa.Table:
    """``run``, ``name``, then (with a metric) ``metric:last`` and ``curve``, the ``params``,
    ``metric:min``, ``metric:max``: the outcome first, so it stays in sight on a narrow terminal."""
    hashes = runs.column("run")
    names = [n or h[:8] for n, h in zip(runs.column("name").to_pylist(), hashes.to_pylist())]
    columns: dict[str, pa.Array | pa.ChunkedArray] = {"run": hashes, "name": pa.array(names, pa.string())}
    with_metric = key is not None and sequences is not None
    if with_metric:
        columns[metric_column("last")] = metric_values(sequences, key, hashes, "last")
        columns[CURVE] = pa.array([curves.get(h, "") for h in hashes.to_pylist()], pa.string())
    for p in params:
        columns[p] = runs.column(p)
    if with_metric:
        for stat in ("min", "max"):
            columns[metric_column(stat)] = metric_values(sequences, key, hashes, stat)
    return pa.table(columns)


def column_label(name: str, key: MetricKey | None) -> str:
    """``loss:val.last`` for a metric column, the param's dotted path otherwise."""
    if name.startswith("metric:") and key is not None:
        return f"{key.short_label}.{name[len('metric:') :]}"
    return name


PARALLEL_RUNS = 100
"""The parallel-coordinates chart draws the first this many runs of the table's order."""


def axis_shares(column: pa.ChunkedArray | pa.Array, bounds: Bounds | None) -> np.ndarray:
    """Each row's place on its axis, 0 (bottom) to 1 (top); NaN where missing.

    Numbers by their column's range (log-scaled like their bars); anything else by its rank
    among the column's distinct texts, evenly spaced (``adam`` < ``adamw`` < ``sgd``)."""
    values = column.to_pylist()
    out = np.full(len(values), np.nan)
    if bounds is not None:
        for i, v in enumerate(values):
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                out[i] = bounds.share(float(v))
        return out
    texts = [None if v is None else format_value(v) for v in values]
    levels = sorted({t for t in texts if t is not None})
    place = {t: (i / (len(levels) - 1) if len(levels) > 1 else 0.5) for i, t in enumerate(levels)}
    for i, t in enumerate(texts):
        if t is not None:
            out[i] = place[t]
    return out


def parallel_coordinates(
    table: pa.Table, axes: list[str], bounds: dict[str, Bounds | None], order: np.ndarray, limit: int = PARALLEL_RUNS
) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, shares)``: the first ``limit`` rows of ``order`` and, per row, its place on each
    of ``axes`` (``shares[i, j]`` for row ``rows[i]`` on axis ``j``)."""
    rows = np.asarray(order[:limit], dtype=np.int64)
    shares = np.column_stack([axis_shares(table.column(a), bounds.get(a)) for a in axes]) if axes else None
    if shares is None:
        return rows, np.empty((len(rows), 0))
    return rows, shares[rows]
