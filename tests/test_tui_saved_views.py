"""The saved-view picker (``V`` on the runs and metrics screens): list the views, open one,
delete one; the views file is rewritten as a whole, never left half-written."""

from __future__ import annotations

import json

import pytest

from aimcol.tui.saved_views import SavedViews


def test_delete_forgets_one_view_and_keeps_the_others(tmp_path):
    views = SavedViews(str(tmp_path / "state" / "views.json"))
    views.save("a", "metric.name == 'loss'", {"x_axis": "epoch", "zoom": (1, 2)})
    views.save("b", "", {"log_y": True})
    assert views.delete("a") is True and views.delete("a") is False
    assert views.names() == ["b"]
    with open(views.path, encoding="utf-8") as f:
        assert json.load(f) == {"b": {"query": "", "settings": {"log_y": True}}}
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["views.json"]  # no temporary left


pytest.importorskip("textual")

from tui_support import SPECS, make_app, run_async, settle, wait_for, write_run  # noqa: E402

from aimcol import Repo  # noqa: E402
from aimcol.tui.screens.metrics import MetricsScreen  # noqa: E402
from aimcol.tui.screens.pickers import ViewPicker  # noqa: E402
from aimcol.tui.screens.runs import RunsScreen  # noqa: E402

VAL_LOSS = "metric.name == 'loss' and metric.context.subset == 'val'"


def _names(picker: ViewPicker) -> list[str]:
    options = picker.query_one("OptionList")
    return [options.get_option_at_index(i).id for i in range(options.option_count)]


@run_async
async def test_pick_open_and_delete_saved_views(tmp_path):
    path = str(tmp_path / "repo")
    Repo(path, init=True)
    for spec in SPECS[:2]:
        write_run(path, *spec).close()
    views = SavedViews(str(tmp_path / "views.json"))
    views.save("acc-axis", "metric.name == 'loss'", {"x_axis": "metric:accuracy"})
    views.save("scratch", "", {})
    views.save("val-log", VAL_LOSS, {"log_y": True, "x_axis": "epoch"})
    app = make_app(path, views=views)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("V")
        picker = app.screen
        assert isinstance(picker, ViewPicker)
        assert _names(picker) == ["acc-axis", "scratch", "val-log"]
        await pilot.press("down", "d")  # delete "scratch"
        assert _names(picker) == ["acc-axis", "val-log"] and views.names() == ["acc-axis", "val-log"]
        await pilot.press("home", "enter")  # open "acc-axis"
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MetricsScreen) and screen.query_text == "metric.name == 'loss'"
        await wait_for(pilot, lambda: screen.x_metric is not None, what="the view's x metric")
        assert screen.settings.x_axis == "metric:accuracy"

        await pilot.press("V")  # from the explorer: replace this chart with another view
        assert isinstance(app.screen, ViewPicker)
        await pilot.press("end", "enter")
        await settle(pilot)
        assert app.screen is screen
        assert screen.query_text == VAL_LOSS and screen.query_bar.value == VAL_LOSS
        s = screen.settings
        assert (s.x_axis, s.log_y, s.aggregate) == ("epoch", True, "none")  # nothing kept from the last view
        assert {series.context["subset"] for series in screen.series} == {"val"}

        await pilot.press("V", "escape")  # escape leaves the chart alone
        await settle(pilot)
        assert app.screen is screen and screen.query_text == VAL_LOSS

        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen)
        await pilot.press("V", "d", "d")
        picker = app.screen
        assert _names(picker) == [] and views.names() == []
        assert picker.query_one("#no-views").display
