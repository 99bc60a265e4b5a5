"""Down-sampling of long sequences to one bucket per pixel column, in NumPy.

A braille plot ``W`` cells wide has ``2 * W`` pixel columns, so a 100k-point curve only
needs a few hundred summaries: for each column the first, last, smallest and largest value
of the points that fall in it.  Drawing the min..max span of every column shows every
spike that a per-point plot would (unlike striding or averaging), and costs O(n) with
``ufunc.reduceat``.  No Textual here: this module is unit-tested and benchmarked alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Buckets:
    """Per-column summaries; ``valid[c]`` is False for a column no point falls in."""

    first: np.ndarray
    last: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    valid: np.ndarray

    def __len__(self) -> int:
        return len(self.valid)


def is_sorted(x: np.ndarray) -> bool:
    return len(x) < 2 or bool(np.all(x[1:] >= x[:-1]))


def minmax_buckets(x: np.ndarray, y: np.ndarray, x_lo: float, x_hi: float, n_buckets: int) -> Buckets:
    """Summarise the points with ``x_lo <= x <= x_hi`` into ``n_buckets`` equal-width columns.

    ``x`` must be sorted ascending and finite (see :func:`prepare_xy`).  NaN values are
    ignored inside a bucket (a bucket of only NaN reads NaN, and the plot leaves a gap).
    """
    n_buckets = max(int(n_buckets), 1)
    nan = np.full(n_buckets, np.nan)
    empty = Buckets(nan, nan.copy(), nan.copy(), nan.copy(), np.zeros(n_buckets, dtype=bool))
    if len(x) == 0 or not x_hi >= x_lo:
        return empty
    if x_hi == x_lo:
        x_hi = x_lo + 1.0
    edges = x_lo + (x_hi - x_lo) * (np.arange(n_buckets + 1, dtype=np.float64) / n_buckets)
    starts = np.searchsorted(x, edges[:-1], side="left")
    ends = np.empty_like(starts)
    ends[:-1] = starts[1:]
    ends[-1] = np.searchsorted(x, x_hi, side="right")
    counts = ends - starts
    valid = counts > 0
    if not valid.any():
        return empty
    # reduceat over only the non-empty buckets: each one then runs exactly to the next's start
    first_index = starts[valid]
    lo_all = np.fmin.reduceat(y[: ends[-1]], first_index)
    hi_all = np.fmax.reduceat(y[: ends[-1]], first_index)
    first = nan.copy()
    last = nan.copy()
    lo = nan.copy()
    hi = nan.copy()
    first[valid] = y[first_index]
    last[valid] = y[ends[valid] - 1]
    lo[valid] = lo_all
    hi[valid] = hi_all
    return Buckets(first, last, lo, hi, valid)


def prepare_xy(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float arrays with non-finite ``x`` dropped and sorted by ``x`` (stable), ready to bucket."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    keep = np.isfinite(x)
    if not keep.all():
        x, y = x[keep], y[keep]
    if not is_sorted(x):
        order = np.argsort(x, kind="stable")
        x, y = x[order], y[order]
    return x, y


def sparkline(values: np.ndarray, width: int) -> str:
    """A one-line ``▁▂▃▄▅▆▇█`` sketch of ``values`` squeezed into ``width`` characters."""
    blocks = "▁▂▃▄▅▆▇█"
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) == 0 or width <= 0:
        return ""
    width = min(width, len(values))
    x = np.arange(len(values), dtype=np.float64)
    buckets = minmax_buckets(x, values, 0.0, float(len(values) - 1), width)
    level = np.where(buckets.valid, (buckets.lo + buckets.hi) / 2, np.nan)
    lo, hi = np.nanmin(values), np.nanmax(values)
    span = hi - lo
    if not span > 0:
        return blocks[3] * width
    index = np.clip(((level - lo) / span * (len(blocks) - 1)).round(), 0, len(blocks) - 1)
    return "".join(" " if not np.isfinite(i) else blocks[int(i)] for i in index)
