"""Rasterise curves onto a grid of braille characters (2 x 4 dots per terminal cell).

Each series arrives as per-pixel-column buckets (:mod:`aimcol.tui.downsample`); the canvas
fills, in every pixel column, the dots from the bucket's min to its max, stretched to meet
the previous column's last value so the curve stays connected, and bridges empty columns
by linear interpolation.  The output is one braille code and one owning series per cell:
a cell shows the union of all dots and takes the colour of the last series drawn into it.
NumPy only; no Textual.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aimcol.tui.downsample import Buckets

BRAILLE_BASE = 0x2800
# dot bit for (pixel row within the cell, pixel column within the cell)
_DOT_BITS = np.array([[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]], dtype=np.uint8)


def _run_bits(column: int) -> np.ndarray:
    """``table[a, b + 1]``: the dot bits of rows ``a..b`` in one pixel column of a cell."""
    table = np.zeros((5, 5), dtype=np.uint8)
    for a in range(4):
        for b in range(a, 4):
            table[a, b + 1] = np.bitwise_or.reduce(_DOT_BITS[a : b + 1, column])
    return table


_LEFT_BITS = _run_bits(0)
_RIGHT_BITS = _run_bits(1)


@dataclass
class Raster:
    """``codes[r, c]``: braille dot bits of cell (r, c); ``owner[r, c]``: series index or -1."""

    codes: np.ndarray
    owner: np.ndarray

    def text_rows(self) -> list[str]:
        """The grid as plain strings (blank cells as spaces), for tests and plain output."""
        rows = []
        for codes_row in self.codes:
            rows.append("".join(chr(BRAILLE_BASE + int(c)) if c else " " for c in codes_row))
        return rows


def value_to_pixel_row(values: np.ndarray, y_lo: float, y_hi: float, pixel_rows: int) -> np.ndarray:
    """Map values to pixel rows (0 = top); NaN stays NaN, out-of-range values are clipped."""
    span = y_hi - y_lo
    if not span > 0:
        span = 1.0
    with np.errstate(over="ignore", invalid="ignore"):
        frac = (values - y_lo) / span
        rows = (1.0 - frac) * (pixel_rows - 1)
    return np.clip(np.round(rows), -1, pixel_rows)


def series_spans(buckets: Buckets, y_lo: float, y_hi: float, pixel_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel column, the inclusive pixel-row span ``(top, bottom)`` to fill; ``top > bottom`` = none."""
    n = len(buckets)
    top = np.full(n, pixel_rows, dtype=np.int64)
    bottom = np.full(n, -1, dtype=np.int64)
    # +/-inf inside a bucket makes lo/hi infinite: clip them to the plot edge instead
    hi = np.where(np.isnan(buckets.hi), np.nan, np.clip(buckets.hi, -1e308, 1e308))
    lo = np.where(np.isnan(buckets.lo), np.nan, np.clip(buckets.lo, -1e308, 1e308))
    valid = buckets.valid & np.isfinite(lo) & np.isfinite(hi)
    columns = np.flatnonzero(valid)
    if len(columns) == 0:
        return top, bottom
    first = np.where(np.isfinite(buckets.first), buckets.first, lo)
    last = np.where(np.isfinite(buckets.last), buckets.last, hi)
    span_hi = hi.copy()
    span_lo = lo.copy()
    # bridge empty columns between the first and last valid one by interpolation
    inside = np.arange(columns[0], columns[-1] + 1)
    missing = inside[~valid[inside]]
    if len(missing):
        fill = np.interp(missing, columns, last[columns])
        span_hi[missing] = fill
        span_lo[missing] = fill
        first = first.copy()
        last = last.copy()
        first[missing] = fill
        last[missing] = fill
    # connect each column to the previous column's last value
    prev_last = np.roll(last, 1)
    connect = inside[1:]
    span_hi[connect] = np.fmax(span_hi[connect], prev_last[connect])
    span_lo[connect] = np.fmin(span_lo[connect], prev_last[connect])
    top_rows = value_to_pixel_row(span_hi[inside], y_lo, y_hi, pixel_rows)
    bottom_rows = value_to_pixel_row(span_lo[inside], y_lo, y_hi, pixel_rows)
    top[inside] = np.clip(top_rows, 0, pixel_rows - 1).astype(np.int64)
    bottom[inside] = np.clip(bottom_rows, 0, pixel_rows - 1).astype(np.int64)
    # a span entirely above or below the plot draws nothing
    off = ((top_rows < 0) & (bottom_rows < 0)) | ((top_rows >= pixel_rows) & (bottom_rows >= pixel_rows))
    top[inside[off]] = pixel_rows
    bottom[inside[off]] = -1
    return top, bottom


def rasterize(spans: list[tuple[np.ndarray, np.ndarray]], cell_columns: int, cell_rows: int) -> Raster:
    """Fill each series' spans into a ``cell_rows x cell_columns`` braille grid.

    ``spans[s]`` is ``(top, bottom)`` over ``2 * cell_columns`` pixel columns, in pixel rows
    ``0 .. 4 * cell_rows - 1`` (see :func:`series_spans`).
    """
    codes = np.zeros((cell_rows, cell_columns), dtype=np.uint8)
    owner = np.full((cell_rows, cell_columns), -1, dtype=np.int32)
    if cell_rows <= 0 or cell_columns <= 0:
        return Raster(codes, owner)
    first_row = (4 * np.arange(cell_rows))[:, None]
    for index, (top, bottom) in enumerate(spans):
        # per (cell row, pixel column): the covered dot rows a..b inside that cell
        a = np.clip(top[None, :] - first_row, 0, 4)
        b = np.clip(bottom[None, :] - first_row, -1, 3) + 1
        bits = _LEFT_BITS[a[:, 0::2], b[:, 0::2]] | _RIGHT_BITS[a[:, 1::2], b[:, 1::2]]
        drawn = bits != 0
        codes |= bits
        owner[drawn] = index
    return Raster(codes, owner)
