"""The TUI's plotting maths, without Textual: down-sampling, EMA, braille raster, axes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aimcol.tui.axes import format_tick, nice_ticks
from aimcol.tui.braille import BRAILLE_BASE, rasterize, series_spans
from aimcol.tui.downsample import minmax_buckets, prepare_xy, sparkline
from aimcol.tui.smoothing import ema, ema_reference


def reference_buckets(x, y, lo, hi, n):
    """Plain loop: points with lo <= x <= hi into n equal columns (the last one closed)."""
    out = [[] for _ in range(n)]
    for xi, yi in zip(x, y):
        if lo <= xi <= hi:
            col = min(int((xi - lo) / (hi - lo) * n), n - 1) if hi > lo else 0
            out[col].append(yi)
    return out


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=0, max_size=300),
    st.integers(1, 64),
    st.floats(0.0, 0.5),
    st.floats(0.5, 1.0),
)
def test_minmax_buckets_match_reference(ys, n, lo_frac, hi_frac):
    x = np.arange(len(ys), dtype=np.float64) * 3.0
    y = np.asarray(ys, dtype=np.float64)
    span = x[-1] if len(x) else 1.0
    lo, hi = lo_frac * span, hi_frac * span
    if not hi > lo:
        return
    b = minmax_buckets(x, y, lo, hi, n)
    ref = reference_buckets(x, y, lo, hi, n)
    for col, values in enumerate(ref):
        # equal-width edges are computed in floating point: allow a point on an edge to move
        if not values:
            continue
        assert b.valid[col] or b.valid[max(col - 1, 0)] or b.valid[min(col + 1, n - 1)]
    assert b.valid.sum() <= sum(1 for v in ref if v) + 2
    picked = y[(x >= lo) & (x <= hi)]
    if len(picked):
        assert np.nanmin(b.lo[b.valid]) == picked.min()
        assert np.nanmax(b.hi[b.valid]) == picked.max()
        assert b.first[np.flatnonzero(b.valid)[0]] == picked[0]
        assert b.last[np.flatnonzero(b.valid)[-1]] == picked[-1]


def test_buckets_keep_spikes_and_ignore_nan():
    x = np.arange(100_000, dtype=np.float64)
    y = np.zeros_like(x)
    y[12_345] = 50.0
    y[70_000] = np.nan
    b = minmax_buckets(x, y, 0, x[-1], 100)
    assert b.valid.all()
    assert np.nanmax(b.hi) == 50.0
    assert b.hi[12] == 50.0 and b.lo[12] == 0.0
    assert not np.isnan(b.hi[70])


def test_prepare_xy_sorts_and_drops_missing_x():
    x, y = prepare_xy(np.array([3.0, np.nan, 1.0, 2.0]), np.array([30.0, 99.0, 10.0, 20.0]))
    assert x.tolist() == [1.0, 2.0, 3.0] and y.tolist() == [10.0, 20.0, 30.0]


@pytest.mark.parametrize("weight", [0.0, 0.3, 0.6, 0.9, 0.99, 0.999, 0.9999])
@pytest.mark.parametrize("n", [1, 7, 1000, 20_000])
def test_ema_matches_the_loop(weight, n):
    rng = np.random.default_rng(n)
    x = rng.normal(size=n).cumsum()
    x[rng.random(n) < 0.02] = np.nan
    x[rng.random(n) < 0.01] = np.inf
    got, want = ema(x, weight), ema_reference(x, weight)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    finite = np.isfinite(want)
    assert np.allclose(got[finite], want[finite], rtol=1e-9, atol=1e-9)


def test_ema_rejects_weight_one():
    with pytest.raises(ValueError):
        ema(np.ones(3), 1.0)


def test_raster_draws_a_connected_diagonal():
    x = np.arange(8, dtype=np.float64)
    y = x.copy()
    b = minmax_buckets(x, y, 0, 7, 8)
    raster = rasterize([series_spans(b, 0, 7, 8)], 4, 2)
    rows = raster.text_rows()
    # bottom-left to top-right, every cell column used exactly where the line passes
    assert rows[1][0] != " " and rows[0][3] != " "
    assert rows[0][0] == " " and rows[1][3] == " "
    assert all(ch == " " or BRAILLE_BASE <= ord(ch) <= BRAILLE_BASE + 255 for row in rows for ch in row)
    assert (raster.owner[raster.codes > 0] == 0).all()


def test_raster_owner_is_the_last_series_drawn():
    x = np.arange(10, dtype=np.float64)
    flat = minmax_buckets(x, np.full(10, 5.0), 0, 9, 10)
    spans = [series_spans(flat, 0, 10, 16), series_spans(flat, 0, 10, 16)]
    raster = rasterize(spans, 5, 4)
    assert set(np.unique(raster.owner[raster.codes > 0])) == {1}


def test_raster_bridges_sparse_points_and_clips_infinity():
    x = np.array([0.0, 100.0])
    y = np.array([0.0, 1.0])
    b = minmax_buckets(x, y, 0, 100, 40)
    assert b.valid.sum() == 2
    raster = rasterize([series_spans(b, 0, 1, 16)], 20, 4)
    assert (raster.codes.any(axis=0)).all()  # no gap between the two points
    y_inf = np.array([0.0, np.inf, 1.0])
    b = minmax_buckets(np.arange(3.0), y_inf, 0, 2, 6)
    raster = rasterize([series_spans(b, 0, 1, 8)], 3, 2)
    assert raster.codes.any()


def test_sparkline_shape():
    line = sparkline(np.linspace(0, 1, 1000), 8)
    assert len(line) == 8 and line[0] == "▁" and line[-1] == "█"
    assert sparkline(np.array([]), 8) == ""
    assert sparkline(np.ones(5), 8) == "▄" * 5


def test_nice_ticks_and_labels():
    assert nice_ticks(0, 1, 5) == pytest.approx([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    assert nice_ticks(0, 95_000, 4) == [0, 20_000, 40_000, 60_000, 80_000]
    assert format_tick(20_000, "step") == "20k" and format_tick(1_500_000, "step") == "1.5M"
    assert format_tick(90, "time") == "1m30s"
    assert format_tick(-3.0, "value", log=True) == "1e-3"
    assert format_tick(1.0, "value", log=True) == "10" and format_tick(0.0, "value", log=True) == "1"


def test_log_axis_ticks_read_as_numbers():
    """Issue 10: a log axis read ``1e0.3``; its ticks are decades, or 1-2-5 values inside one."""
    from aimcol.tui.axes import log_ticks

    assert log_ticks(-3.2, 0.4, 4) == [-3.0, -2.0, -1.0, 0.0]
    within = log_ticks(math.log10(0.15), math.log10(0.9), 4)
    labels = [format_tick(t, "value", log=True) for t in within]
    assert labels == ["0.2", "0.4", "0.6", "0.8"]
    for lo, hi in [(-5.5, 2.2), (0.1, 0.5), (-0.3, 0.25), (2.0, 9.0)]:
        for tick in log_ticks(lo, hi, 5):
            label = format_tick(tick, "value", log=True)
            assert "e0." not in label and not label.startswith("1e") or label[2:].lstrip("-").isdigit(), label
    assert format_tick(0.000012) == "1.2e-05"
    assert not any(math.isnan(t) for t in nice_ticks(-1e-9, 1e-9, 3))


def test_aggregate_mean_band_and_median_over_a_common_grid():
    from aimcol.tui.aggregate import aggregate, band_points

    x = np.arange(11, dtype=np.float64)
    ys = [x * 1.0, x * 2.0, x * 3.0]
    mean = aggregate([x, x, x], ys, "mean+minmax", points=11)
    assert np.allclose(mean.x, x) and np.allclose(mean.center, x * 2.0)
    assert np.allclose(mean.lo, x) and np.allclose(mean.hi, x * 3.0) and mean.count == 3
    std = aggregate([x, x, x], ys, "mean+std", points=11)
    assert np.allclose(std.hi - std.center, np.std(np.vstack(ys), axis=0))
    median = aggregate([x, x, x], [x * 1.0, x * 10.0, x * 2.0], "median+minmax", points=11)
    assert np.allclose(median.center, x * 2.0)
    # a run that stopped early counts only where it has points, never as zeros
    short = aggregate([x, x[:6]], [np.ones(11), np.full(6, 3.0)], "mean+minmax", points=11)
    assert np.allclose(short.center[:6], 2.0) and np.allclose(short.center[6:], 1.0)
    bx, by = band_points(mean)
    assert len(bx) == 2 * 11 and np.allclose(by[0::2], mean.lo) and np.allclose(by[1::2], mean.hi)
    with pytest.raises(ValueError, match="unknown aggregate"):
        aggregate([x], [x], "mode")


def test_centred_moving_average_matches_a_loop_and_skips_nan():
    from aimcol.tui.smoothing import centred_moving_average, window_for

    rng = np.random.default_rng(3)
    values = rng.normal(size=200)
    values[[5, 6, 50]] = np.nan
    window = 7
    got = centred_moving_average(values, window)
    for i in range(len(values)):
        part = values[max(0, i - 3) : i + 4]
        part = part[np.isfinite(part)]
        assert got[i] == pytest.approx(part.mean())
    assert window_for(0.9) == 11 and window_for(0.6) == 3 and window_for(0.0) == 3
    assert np.isnan(centred_moving_average(np.array([np.nan, np.nan]), 3)).all()


def test_outlier_clipping_fits_the_y_range_to_the_bulk():
    from aimcol.tui.components.braille_plot import _value_range

    x = np.arange(1000, dtype=np.float64)
    y = np.sin(x / 50)
    y[500] = 1e6  # one spike
    buckets = [minmax_buckets(x, y, 0.0, 999.0, 400)]
    assert _value_range(buckets)[1] > 1e5
    lo, hi = _value_range(buckets, clip_outliers=True)
    assert -1.2 < lo < -0.9 and 0.9 < hi < 1.2


def test_absolute_time_ticks_read_as_clock_times():
    import datetime

    t = datetime.datetime(2026, 1, 2, 13, 45, 10).timestamp()
    assert format_tick(t, "clock") == "13:45:10"
