"""Another metric as the metrics explorer's x axis (``X`` picks it): each series is drawn
against the x metric's value at the same step of the same run."""

from __future__ import annotations

import numpy as np
import pytest

from aimcol.tui.metric_axis import XMetricPoints, align_by_step, axis_label, axis_metric, metric_axis


def test_align_by_step_takes_the_value_at_the_same_step():
    x = align_by_step(np.array([0, 1, 2, 5, 9]), np.array([5, 0, 2, 2]), np.array([50.0, 0.0, 20.0, 21.0]))
    # step 2 was tracked twice: the later value wins; steps 1 and 9 have no x
    np.testing.assert_array_equal(x, [0.0, np.nan, 21.0, 50.0, np.nan])
    assert np.isnan(align_by_step(np.array([3]), np.array([], dtype=np.int64), np.array([]))).all()


def test_series_take_their_own_context_first_then_the_runs_first():
    points = XMetricPoints("acc")
    points.add("r1", '{"subset": "train"}', np.array([0, 1]), np.array([0.1, 0.2]))
    points.add("r1", '{"subset": "val"}', np.array([0, 1]), np.array([0.5, 0.6]))
    np.testing.assert_array_equal(points.x_for("r1", '{"subset": "val"}', np.array([1])), [0.6])
    np.testing.assert_array_equal(points.x_for("r1", "{}", np.array([1])), [0.2])  # no such context: the first
    assert np.isnan(points.x_for("r2", "{}", np.array([0, 1]))).all()  # a run without the metric


def test_axis_names():
    assert axis_metric(metric_axis("lr")) == "lr" and axis_metric("step") is None
    assert axis_label("metric:lr") == "metric lr" and axis_label("time") == "relative time"


pytest.importorskip("textual")

from tui_support import SPECS, STEPS, make_app, run_async, settle, wait_for, write_run  # noqa: E402

from aimcol import Repo  # noqa: E402
from aimcol.tui.components.braille_plot import BraillePlot  # noqa: E402
from aimcol.tui.screens.metrics import MetricsScreen  # noqa: E402
from aimcol.tui.screens.pickers import OptionPicker  # noqa: E402


@run_async
async def test_loss_against_accuracy_by_step(tmp_path):
    path = str(tmp_path)
    Repo(path, init=True)
    for spec in SPECS[:2]:
        write_run(path, *spec).close()
    app = make_app(path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.push_screen(MetricsScreen(query="metric.name == 'loss'"))
        await settle(pilot)
        screen = app.screen
        assert len(screen.series) == 4  # train and val loss of two runs
        await pilot.press("X")
        await settle(pilot)
        assert isinstance(app.screen, OptionPicker)
        labels = [str(app.screen.query_one("OptionList").get_option_at_index(i).prompt) for i in range(6)]
        assert labels == ["step", "epoch", "relative time", "absolute time", "metric accuracy", "metric loss"]
        await pilot.press("down", "down", "down", "down", "enter")
        await wait_for(pilot, lambda: screen.x_metric is not None, what="the x metric")
        await settle(pilot)
        assert screen.settings.x_axis == "metric:accuracy"
        assert "x=metric accuracy" in str(screen.query_one("#metrics-status").render())
        plot = screen.query_one(BraillePlot)
        assert plot.x_kind == "value"
        for curve, series in zip(plot.curves, screen.series):
            # accuracy = 1 - loss / 2.5 at every step (tui_support.write_run): a straight line
            np.testing.assert_allclose(
                curve.y, (1.0 - curve.x) * 2.5 * (1.05 if series.context["subset"] == "val" else 1)
            )
            assert len(curve.x) == (STEPS // 20 if series.context["subset"] == "val" else STEPS)
        await pilot.press("x")  # cycling leaves the metric axis for step
        await settle(pilot)
        assert screen.settings.x_axis == "step"
        assert [len(c.x) for c in screen.query_one(BraillePlot).curves] == [len(s.step) for s in screen.series]
