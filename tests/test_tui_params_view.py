"""The params view (``P`` on the runs screen): the filtered runs by the params that differ, a
metric's last/min/max with bars and its curve; sorted from the keyboard."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from aimcol.tui.cell_bars import Bounds, bar, bar_cell, column_bounds
from aimcol.tui.params_view import axis_shares, build_table, differing_params, parallel_coordinates
from aimcol.tui.repo_source import MetricKey


def test_bars_scale_to_the_column_range():
    unit = Bounds(0.0, 1.0)
    assert bar(0.0, unit) == "▏   "  # the smallest still shows
    assert bar(1.0, unit) == "████"
    assert bar(0.5, unit) == "██  "
    assert bar(None, unit) == bar("adam", unit) == bar(float("nan"), unit) == "    "
    assert bar_cell(0.5, unit) == "██   0.5" and bar_cell(None, unit) == ""


def test_bars_of_values_spanning_decades_are_log_scaled():
    column = pa.array([1e-4, 1e-3, 1e-2, None])
    bounds = column_bounds(column)
    assert bounds == Bounds(1e-4, 1e-2, log=True)
    assert [bar(v, bounds) for v in column.to_pylist()] == ["▏   ", "██  ", "████", "    "]
    assert column_bounds(pa.array([0.0, 0.5, math.nan])) == Bounds(0.0, 0.5)  # zero: linear
    assert column_bounds(pa.array(["adam", "sgd"])) is None


def test_table_is_the_metric_then_the_differing_params():
    runs = pa.table(
        {
            "run": ["a", "b"],
            "name": ["x", None],
            "hparams.lr": [0.1, 0.01],
            "hparams.seed": [1, 1],
            "hparams.opt": ["adam", "sgd"],
        }
    )
    sequences = pa.table(
        {
            "run": ["b", "a"],
            "name": ["loss", "loss"],
            "context": ["{}", "{}"],
            "last": [0.5, 0.2],
            "min": [0.4, 0.1],
            "max": [2.0, 2.5],
        }
    )
    assert differing_params(runs) == ["hparams.lr", "hparams.opt"]
    table = build_table(runs, sequences, MetricKey("loss"), differing_params(runs), {"a": "▇▅▂"})
    assert table.column_names == [
        "run",
        "name",
        "metric:last",
        "curve",
        "hparams.lr",
        "hparams.opt",
        "metric:min",
        "metric:max",
    ]
    assert table.column("metric:last").to_pylist() == [0.2, 0.5]  # in the runs' order, not the sequences'
    assert table.column("curve").to_pylist() == ["▇▅▂", ""]
    assert table.column("name").to_pylist() == ["x", "b"]  # a run without a name: its short hash
    assert build_table(runs, None, None, ["hparams.lr"], {}).column_names == ["run", "name", "hparams.lr"]


def test_parallel_coordinates_place_each_run_on_every_axis():
    table = pa.table(
        {
            "lr": [1e-4, 1e-2, None, 1e-3],
            "opt": ["sgd", "adam", "adamw", None],
            "loss": [0.5, 0.1, 0.3, 0.2],
        }
    )
    bounds = {"lr": column_bounds(table.column("lr")), "opt": None, "loss": column_bounds(table.column("loss"))}
    np.testing.assert_allclose(axis_shares(table.column("opt"), None), [1.0, 0.0, 0.5, np.nan])
    rows, shares = parallel_coordinates(table, ["loss", "lr", "opt"], bounds, np.array([1, 3, 2, 0]), limit=3)
    assert rows.tolist() == [1, 3, 2]  # the first three of the order
    np.testing.assert_allclose(shares, [[0.0, 1.0, 0.0], [0.25, 0.5, np.nan], [0.5, np.nan, 0.5]])


pytest.importorskip("textual")

from tui_support import make_app, run_async, settle, wait_for, write_run  # noqa: E402

from aimcol import Repo  # noqa: E402
from aimcol.tui.screens.params import ParamsScreen  # noqa: E402
from aimcol.tui.screens.pickers import OptionPicker  # noqa: E402
from aimcol.tui.screens.run_detail import RunDetailScreen  # noqa: E402

RUNS = [  # name, lr, final loss
    ("r-slow", 0.001, 0.9),
    ("r-mid", 0.01, 0.4),
    ("r-fast", 0.1, 0.2),
    ("r-wild", 1.0, 1.5),
]


def _rows(screen: ParamsScreen) -> list[str]:
    return screen.row_names()


@run_async
async def test_params_view_compares_the_filtered_runs_and_sorts(tmp_path):
    path = str(tmp_path)
    Repo(path, init=True)
    for name, lr, final in RUNS:
        write_run(path, name, "exp", lr, 32, "adam", [], final).close()
    app = make_app(path)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"run.hparams.lr < 0.5", "enter")  # the filter hides r-wild
        await settle(pilot)
        await pilot.press("P")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ParamsScreen)
        await wait_for(pilot, lambda: not screen.load_pending and screen.curves, what="the curves")
        # only lr differs (batch size and optimizer are the same in every run); the metric follows
        assert screen.column_keys == ["name", "metric:last", "curve", "hparams.lr", "metric:min", "metric:max"]
        assert "loss" in screen.key.label
        assert _rows(screen) == ["r-fast", "r-mid", "r-slow"]  # by the loss' last value, ascending
        status = str(screen.query_one("#params-status").render())
        assert "3 runs" in status and "1 of 3 params differ" in status and "sorted by loss:train.last ↑" in status
        assert len(screen.curves) == 3 and all(screen.curves.values())

        await pilot.press("right", "right")  # from the metric's column to lr
        await pilot.press("s")
        assert _rows(screen) == ["r-slow", "r-mid", "r-fast"]
        await pilot.press("s")  # again: descending
        assert _rows(screen) == ["r-fast", "r-mid", "r-slow"]
        assert "sorted by hparams.lr ↓" in str(screen.query_one("#params-status").render())

        await pilot.press("v")  # parallel coordinates of the runs in the table's order
        plot = screen.query_one("#params-parallel")
        assert plot.display and len(plot.curves) == 3
        top = plot.curves[-1]  # drawn last, on top: the first row, in the first third's colour
        assert top.label == _rows(screen)[0] == "r-fast" and top.color == "#5fd75f"
        assert top.x.tolist() == [1.0, 2.0, 3.0, 4.0]  # loss.last, lr, loss.min, loss.max
        assert "hparams.lr" in plot.border_title and "first 3 by hparams.lr" in plot.border_title
        await pilot.press("v")
        assert not plot.display

        await pilot.press("c")  # every param, not only those that differ
        assert "hparams.batch_size" in screen.column_keys and "hparams.optimizer" in screen.column_keys
        await pilot.press("c")

        await pilot.press("n")
        assert isinstance(app.screen, OptionPicker)
        options = app.screen.query_one("OptionList")
        labels = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert "accuracy subset=train" in labels
        await pilot.press("home", "enter")  # the first: accuracy
        await wait_for(pilot, lambda: not screen.load_pending, what="the new metric")
        assert screen.key.name == "accuracy"
        assert [c.label for c in screen.table.columns][1] == "accuracy:train.last"

        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, RunDetailScreen) and app.screen.run_hash == screen.current_hash()
