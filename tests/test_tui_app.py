"""Pilot tests of ``aimcol tui``: drive each screen with keys over a real repository and check
what it shows (runs listed, query filters, error marked, plots with the right series, live
refresh, archive)."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

pytest.importorskip("textual")

from tui_support import SPECS, STEPS, make_app, run_async, settle, table_names, wait_for  # noqa: E402
from tui_support import write_run as _write_run  # noqa: E402

from aimcol import Repo, Run  # noqa: E402
from aimcol.tui.components.braille_plot import BraillePlot  # noqa: E402
from aimcol.tui.components.query_bar import QueryBar  # noqa: E402
from aimcol.tui.components.runs_table import RunsTable  # noqa: E402
from aimcol.tui.repo_source import RepoSource  # noqa: E402
from aimcol.tui.screens.help import HelpScreen  # noqa: E402
from aimcol.tui.screens.metrics import MetricsScreen  # noqa: E402
from aimcol.tui.screens.run_detail import RunDetailScreen  # noqa: E402
from aimcol.tui.screens.runs import RunsScreen  # noqa: E402


@pytest.fixture(scope="module")
def repo_path(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("tui-repo"))
    Repo(path, init=True)
    for spec in SPECS:
        _write_run(path, *spec).close()
    archived = _write_run(path, "old", "exp-a", 0.05, 16, "sgd", [], 1.2)
    archived.archived = True
    archived.close()
    # a crashed run: its writer process dies without closing it
    code = textwrap.dedent(f"""
        import os, numpy as np
        from aimcol import Run
        run = Run(repo={path!r}, experiment="exp-b", system_tracking_interval=None, capture_terminal_logs=False)
        run.name = "crashy"
        run["hparams"] = {{"lr": 0.02, "batch_size": 64, "optimizer": "adam"}}
        run.track_array(np.linspace(2.0, 1.0, 80), name="loss", context={{"subset": "train"}})
        run.flush()
        os._exit(0)
    """)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    return path


def screen_text(widget) -> str:
    return "\n".join(widget.render_line(y).text for y in range(widget.size.height))


@run_async
async def test_runs_screen_lists_runs_with_status(repo_path):
    app = make_app(repo_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen)
        names = table_names(app)
        assert sorted(names) == ["alpha", "beta", "crashy", "delta", "gamma"]  # archived hidden
        text = screen_text(app.screen.query_one(RunsTable))
        assert "crashy" in text and "crashed" in text and "finished" in text
        status = str(app.screen.query_one("#runs-status").render())
        assert "5 runs" in status and "1 crashed" in status


@run_async
async def test_show_archived_and_sort_by_param(repo_path):
    app = make_app(repo_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("A")
        assert "old" in table_names(app)
        table = app.screen.query_one(RunsTable)
        keys = [c.key for c in table.columns]
        target = keys.index("hparams.lr")
        while table.cursor_column < target:
            await pilot.press("right")
        await pilot.press("s")
        lrs = [r for r in table.table.column("hparams.lr").to_pylist()]
        ordered = [lrs[i] for i in table.order]
        assert ordered == sorted(ordered)
        await pilot.press("s")  # again: descending
        ordered = [lrs[i] for i in table.order]
        assert ordered == sorted(ordered, reverse=True)
        assert table_names(app)[0] == "gamma"
        # the sort column's header is drawn with its direction
        assert "▼hparams.lr" in table.render_line(0).text


@run_async
async def test_metric_columns_sort_finds_best_run(repo_path):
    app = make_app(repo_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(RunsTable)
        keys = [c.key for c in table.columns]
        col = next(k for k in keys if k.startswith("metric:loss:") and "val" in k)
        table.cursor_column = keys.index(col)
        await pilot.press("s")
        assert table_names(app)[0] == "delta"  # lowest final val loss


@run_async
async def test_marks_and_plot_selected_runs(repo_path):
    app = make_app(repo_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(RunsTable)
        marked = set(table.hashes_in_view_order()[:3])
        await pilot.press("space", "space", "space")
        assert table.marks == marked
        assert "3 marked" in str(app.screen.query_one("#runs-status").render())
        await pilot.press("p")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MetricsScreen)
        assert {s.run_hash for s in screen.series} == marked
        plot = screen.query_one(BraillePlot)
        assert len(plot.curves) == len(screen.series) > 0
        drawn = screen_text(plot)
        assert any(0x2800 < ord(ch) <= 0x28FF for ch in drawn)  # braille dots were drawn
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)


@run_async
async def test_metrics_view_options_and_crashed_flag(repo_path):
    app = make_app(repo_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        hashes = app.screen.query_one(RunsTable).hashes_in_view_order()
        app.push_screen(MetricsScreen(query="", run_hashes=hashes))
        await settle(pilot)
        screen = app.screen
        names = {(s.run_name, s.name, s.context.get("subset")) for s in screen.series}
        assert ("crashy", "loss", "train") in names and ("delta", "loss", "val") in names
        crashed_rows = [r for r in screen.legend_rows if r.status == "crashed"]
        assert crashed_rows and all("crashy" in r.label for r in crashed_rows)
        status = str(screen.query_one("#metrics-status").render())
        assert "1 crashed run" in status
        await pilot.press("e")
        await settle(pilot)
        assert screen.settings.smoothing == 0.6
        assert "ema 0.6" in str(screen.query_one("#metrics-status").render())
        await pilot.press("y", "x")
        await settle(pilot)
        assert screen.settings.log_y and screen.settings.x_axis == "epoch"
        plot = screen.query_one(BraillePlot)
        # only the train loss sequences carry epochs: the other curves are empty on this axis
        assert all(
            len(c.x) == 0
            for c, s in zip(plot.curves, screen.series)
            if s.name != "loss" or s.context.get("subset") != "train"
        )
        await pilot.press("x", "x")  # relative time, then absolute time
        await settle(pilot)
        assert screen.settings.x_axis == "clock"
        assert "x=absolute time" in str(screen.query_one("#metrics-status").render())
        await pilot.press("x")  # back to step
        await pilot.press("plus")
        await settle(pilot)
        assert screen.settings.zoom is not None
        lo, hi = screen.settings.zoom
        assert 0 < lo < hi < STEPS
        await pilot.press("0")
        await settle(pilot)
        assert screen.settings.zoom is None
        # colour by experiment: two experiments, two colours
        screen.settings.group_by = "experiment"
        screen.rebuild()
        await settle(pilot)
        assert len({c.color for c in plot.curves}) == 2
        assert {r.group for r in screen.legend_rows} == {"exp-a", "exp-b"}


@run_async
async def test_zoom_range_prompt(repo_path):
    app = make_app(repo_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.push_screen(MetricsScreen(query="", run_hashes=app.screen.query_one(RunsTable).hashes_in_view_order()[:1]))
        await settle(pilot)
        await pilot.press("z")
        await pilot.pause()
        prompt_input = app.screen.query_one("Input")
        prompt_input.value = "50:150"
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MetricsScreen)
        assert screen.settings.zoom == (50.0, 150.0)
        assert "zoom 50–150" in str(screen.query_one("#metrics-status").render())


@run_async
async def test_query_filters_runs_and_keeps_history(repo_path):
    app = make_app(repo_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        bar = app.screen.query_one(QueryBar)
        assert bar.input.has_focus
        bar.value = "run.hparams.lr < 0.005"
        await pilot.press("enter")
        await settle(pilot)
        assert sorted(table_names(app)) == ["beta", "delta"]
        assert bar.error_message is None
        # history: the query comes back with up
        await pilot.press("slash")
        bar.value = ""
        await pilot.press("up")
        assert bar.value == "run.hparams.lr < 0.005"


@run_async
async def test_query_syntax_error_marks_column_and_never_crashes(repo_path):
    app = make_app(repo_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        before = table_names(app)
        for bad in ["run.hparams.lr <", "run.__class__", "(((", "run.hparams.lr < 'a' +", "import os"]:
            await pilot.press("slash")
            bar = app.screen.query_one(QueryBar)
            bar.value = bad
            await pilot.press("enter")
            await settle(pilot)
            assert bar.error_message, bad
            assert bar.has_class("-error")
            assert table_names(app) == before  # the last good listing stays
        bar.value = "run.hparams.lr <"
        await pilot.press("enter")
        await settle(pilot)
        column = bar._highlighter.column
        assert column is not None and 0 <= column <= len("run.hparams.lr <")
        error_text = str(bar.query_one(".query-error").render())
        assert "^" in error_text
        # editing the query clears the error
        await pilot.press("space")
        assert bar.error_message is None


@run_async
async def test_metrics_query_selects_series(repo_path):
    app = make_app(repo_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.push_screen(MetricsScreen(query="metric.name == 'loss' and metric.context.subset == 'val'"))
        await settle(pilot)
        screen = app.screen
        assert {s.run_name for s in screen.series} == {"alpha", "beta", "gamma", "delta"}
        assert all(s.name == "loss" and s.context == {"subset": "val"} for s in screen.series)
        await pilot.press("slash")
        screen.query_bar.value = "metric.name == "
        await pilot.press("enter")
        await settle(pilot)
        assert screen.query_bar.error_message


@run_async
async def test_run_detail_shows_params_and_sequences(repo_path):
    app = make_app(repo_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(RunsTable)
        table.move_cursor(table_names(app).index("delta"))
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RunDetailScreen)
        assert screen.detail.name == "delta" and screen.detail.status == "finished"
        overview = screen_text(screen.query_one("#overview-body"))
        assert "exp-b" in overview and "best" in overview
        await pilot.press("2")
        tree = screen.query_one("#params-tree")
        labels = [str(node.label) for node in tree.root.children[0].children]
        assert "lr: 0.003" in labels and "optimizer: adamw" in labels
        await pilot.press("3")
        await pilot.pause()
        sequences = screen.query_one("#sequence-table")
        rows = [sequences.get_row_at(i) for i in range(sequences.row_count)]
        assert {(r[0], r[1]) for r in rows} == {
            ("accuracy", "subset=train"),
            ("loss", "subset=train"),
            ("loss", "subset=val"),
        }
        assert all(set(r[2]) <= set("▁▂▃▄▅▆▇█ ") and r[2] for r in rows)
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)


@run_async
async def test_help_lists_every_key_of_the_screen(repo_path):
    app = make_app(repo_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        descriptions = {d for _, d in app.screen.rows}
        for expected in ("Query", "Mark", "Plot", "Sort", "Columns", "Archive", "Show archived", "Open", "Quit"):
            assert expected in descriptions
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)


@run_async
async def test_archive_and_unarchive(tmp_path):
    path = str(tmp_path)
    Repo(path, init=True)
    _write_run(path, "keep", "e", 0.1, 8, "sgd", [], 0.5, steps=20).close()
    _write_run(path, "drop", "e", 0.2, 8, "sgd", [], 0.5, steps=20).close()
    live = _write_run(path, "live", "e", 0.3, 8, "sgd", [], 0.5, steps=20)  # held open by this process
    app = make_app(path)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            table = app.screen.query_one(RunsTable)
            table.move_cursor(table_names(app).index("drop"))
            await pilot.press("a")
            await settle(pilot)
            assert "drop" not in table_names(app)
            assert Repo(path).get_run(next(r.hash for r in Repo(path).iter_runs() if r.name == "drop")).archived
            await pilot.press("A")
            table.move_cursor(table_names(app).index("drop"))
            await pilot.press("a")
            await settle(pilot)
            await pilot.press("A")
            assert "drop" in table_names(app)
            # a run another writer holds is archived too: its writer folds the edit in
            table.move_cursor(table_names(app).index("live"))
            await pilot.press("a")
            await settle(pilot)
            assert "live" not in table_names(app)
            assert Repo(path).get_run(live.hash).archived
    finally:
        live.close()
    assert Repo(path).get_run(live.hash).archived  # kept when the writer closes


@run_async
async def test_live_refresh_picks_up_new_points_and_runs(tmp_path):
    path = str(tmp_path)
    Repo(path, init=True)
    run = Run(repo=path, experiment="live", system_tracking_interval=None, capture_terminal_logs=False)
    run.name = "trainer"
    run.track_array(np.linspace(1, 0.5, 50), name="loss")
    run.flush()
    app = make_app(path, poll_interval=0.05)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            assert table_names(app) == ["trainer"]
            assert "1 active" in str(app.screen.query_one("#runs-status").render())
            app.push_screen(MetricsScreen(query="", run_hashes=[run.hash]))
            screen = app.screen
            # a live run keeps the screen reloading: wait for the points, not for quiet
            await wait_for(pilot, lambda: bool(screen.series), what="the live run's points")
            assert len(screen.series[0].value) == 50
            run.track_array(np.linspace(0.5, 0.4, 25), name="loss")
            run.flush()
            deadline = time.monotonic() + 30
            while len(screen.series[0].value) != 75 and time.monotonic() < deadline:
                await pilot.pause(0.05)
            assert len(screen.series[0].value) == 75
            await pilot.press("escape")
            other = Run(repo=path, experiment="live", system_tracking_interval=None, capture_terminal_logs=False)
            other.name = "newcomer"
            other.close()
            deadline = time.monotonic() + 30
            while "newcomer" not in table_names(app) and time.monotonic() < deadline:
                await pilot.pause(0.05)
            assert sorted(table_names(app)) == ["newcomer", "trainer"]
    finally:
        run.close()


@run_async
async def test_column_picker_hides_and_shows_columns(repo_path):
    app = make_app(repo_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(RunsTable)
        assert "hparams.optimizer" in [c.key for c in table.columns]
        await pilot.press("c")
        await pilot.pause()
        selection = app.screen.query_one("SelectionList")
        values = [selection.get_option_at_index(i).value for i in range(selection.option_count)]
        index = values.index("param:hparams.optimizer")
        selection.highlighted = index
        await pilot.press("space", "enter")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)
        keys = [c.key for c in table.columns]
        assert "hparams.optimizer" not in keys and "hparams.lr" in keys


def test_source_lists_every_run_with_params_and_status(repo_path):
    table = RepoSource(Repo(repo_path)).load_runs("")
    rows = {row["name"]: row for row in table.to_pylist()}
    assert set(rows) == {"alpha", "beta", "gamma", "delta", "crashy", "old"}
    assert rows["crashy"]["end_time"] is None and not rows["crashy"]["active"]
    assert rows["old"]["archived"] and rows["delta"]["hparams.optimizer"] == "adamw"
    assert table.column("creation_time").to_pylist() == sorted(table.column("creation_time").to_pylist(), reverse=True)


def test_the_preloaded_listing_serves_the_first_load_only(repo_path, monkeypatch):
    source = RepoSource(Repo(repo_path))
    source.preload_runs()  # what `aimcol tui` does before importing Textual
    calls = []
    monkeypatch.setattr(source, "_list_runs", lambda query, include_archived: calls.append(query) or "listed again")
    assert source.load_runs("").num_rows == 6 and calls == []
    assert source.load_runs("") == "listed again" and calls == [""]

    def fail(query, include_archived):
        raise OSError("disk gone")

    failing = RepoSource(Repo(repo_path))
    monkeypatch.setattr(failing, "_list_runs", fail)
    failing.preload_runs()  # does not raise: the runs screen reports it
    with pytest.raises(OSError, match="disk gone"):
        failing.load_runs("")


@run_async
async def test_demo_walkthrough_by_keyboard_at_80x24(tmp_path):
    """The issue's finish line: on `aimcol demo`, find the best run of a sweep with a query, compare
    its curves with two others, and see the crashed run flagged, with keys only, at 80x24."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "aimcol",
            "demo",
            "--repo",
            str(tmp_path),
            "--runs-per-experiment",
            "4",
            "--steps",
            "200",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    app = make_app(str(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"run.experiment == 'resnet18-cifar10'", "enter")
        await settle(pilot)
        names = table_names(app)
        assert names and all(n.startswith("resnet18") for n in names) and "resnet18-crashed" in names
        table = app.screen.query_one(RunsTable)
        val_loss_key = 'metric:loss:{"subset": "val"}'
        assert val_loss_key in [c.key for c in table.columns]
        while table.current_column.key != val_loss_key:
            await pilot.press("right")
        await pilot.press("s")  # ascending final val loss: the best run on top
        val_loss = table.table.column(table.current_column.key).to_pylist()
        best = table.hashes_in_view_order()[0]
        assert val_loss[table.order[0]] == min(v for v in val_loss if v is not None)
        await pilot.press("space", "space")  # the best and the runner-up
        crashed = table_names(app).index("resnet18-crashed")
        assert crashed >= 2  # a crashed run has the worst val loss
        await pilot.press("end", *["k"] * (table.row_count - 1 - crashed))
        await pilot.press("space")
        assert len(table.marks) == 3 and best in table.marks
        await pilot.press("p")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MetricsScreen)
        assert {s.run_hash for s in screen.series} == table.marks
        assert all(s.name == "loss" and s.context == {"subset": "val"} for s in screen.series)
        assert "1 crashed run" in str(screen.query_one("#metrics-status").render())
        legend = screen.query_one("#legend")
        rows = [" ".join(str(c) for c in legend.get_row_at(i)) for i in range(legend.row_count)]
        assert any("resnet18-crashed" in r and "crashed" in r.split("resnet18-crashed", 1)[1] for r in rows)
        assert any(0x2800 < ord(ch) <= 0x28FF for ch in screen_text(screen.query_one(BraillePlot)))


@run_async
async def test_grouped_runs_read_as_one_line_and_band_per_group(repo_path):
    """Issue 10's explorer: `a` aggregates the series of each group into a mean line and a min-max band."""
    app = make_app(repo_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.push_screen(MetricsScreen(query="metric.name == 'loss' and metric.context.subset == 'train'"))
        await settle(pilot)
        screen = app.screen
        assert len(screen.series) == 5  # alpha..delta and the crashed run
        await pilot.press("a")
        await settle(pilot)
        assert screen.settings.aggregate == "mean+minmax" and screen.settings.group_by == "experiment"
        assert sorted(r.group for r in screen.legend_rows) == ["exp-a", "exp-b"]
        plot = screen.query_one(BraillePlot)
        assert len(plot.curves) == 4  # two bands, two lines
        by_group = {r.group: r for r in screen.legend_rows}
        finals = {s.run_name: float(s.value[-1]) for s in screen.series}
        assert by_group["exp-a"].last == pytest.approx((finals["alpha"] + finals["beta"]) / 2, rel=1e-3)
        assert "mean+minmax by experiment" in str(screen.query_one("#metrics-status").render())
        await pilot.press("a", "a", "a")  # mean+std, median+minmax, back to every series
        await settle(pilot)
        assert screen.settings.aggregate == "none" and len(plot.curves) == 5


@run_async
async def test_p_on_a_run_page_plots_each_metric_on_its_own_chart(repo_path):
    """Issue 10: loss and accuracy (or lr) on separate charts, each with its own y axis; `s` toggles."""
    app = make_app(repo_path)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(RunsTable)
        table.move_cursor(table_names(app).index("delta"))
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MetricsScreen) and screen.settings.split
        plots = screen.plots
        assert sorted(p.border_title for p in plots) == ["accuracy", "loss"]
        for plot in plots:
            assert plot.curves and all(plot.border_title in c.label for c in plot.curves)
            assert plot.size.height >= 5
        accuracy = next(p for p in plots if p.border_title == "accuracy")
        assert any(0x2800 < ord(ch) <= 0x28FF for ch in screen_text(accuracy))
        assert "a chart per metric" in str(screen.query_one("#metrics-status").render())
        await pilot.press("s")
        await settle(pilot)
        assert len(screen.plots) == 1 and len(screen.plot.curves) == 3


@run_async
async def test_cursor_reads_every_series_value_at_its_x(repo_path):
    """Issue 10: `]`/`[` (and a click) move a vertical cursor; the legend shows each series' value there."""
    app = make_app(repo_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.push_screen(MetricsScreen(query="metric.name == 'loss' and metric.context.subset == 'train'"))
        await settle(pilot)
        screen = app.screen
        await pilot.press("right_square_bracket")
        await pilot.pause()
        x = screen.cursor_x
        assert x is not None and 0 < x < STEPS
        legend = screen.query_one("#legend")
        header = [str(c.label) for c in legend.columns.values()]
        assert any(h.startswith("at step") for h in header)
        column = next(i for i, h in enumerate(header) if h.startswith("at step"))
        for i, series in enumerate(screen.series):
            expected = series.value[np.searchsorted(series.step, x, side="right") - 1]
            assert float(str(legend.get_row_at(i)[column])) == pytest.approx(expected, rel=1e-3)
        assert "│" in screen_text(screen.plot)  # the cursor line is drawn
        await pilot.press(*["right_square_bracket"] * 5)
        assert screen.cursor_x > x
        await pilot.click(BraillePlot, offset=(20, 3))
        await pilot.pause()
        assert screen.cursor_x < x
        await pilot.press("c")
        await pilot.pause()
        assert screen.cursor_x is None and not any(str(c.label).startswith("at ") for c in legend.columns.values())


@run_async
async def test_logs_tab_shows_and_searches_the_captured_output(tmp_path):
    path = str(tmp_path)
    Repo(path, init=True)
    code = (
        "from aimcol import Run\n"
        f"run = Run(repo={path!r}, system_tracking_interval=None, capture_terminal_logs=True)\n"
        "run.name = 'talker'\n"
        "for epoch in range(5):\n"
        "    print(f'epoch {epoch} loss {1.0 / (epoch + 1):.3f}')\n"
        "run.close()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=60)
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RunDetailScreen)
        await pilot.press("5")
        await pilot.pause()
        view = screen.query_one("#logs-view")
        assert [str(view.lines[i]) for i in range(view.line_count)][:2] == ["epoch 0 loss 1.000", "epoch 1 loss 0.500"]
        await pilot.press("slash", *"epoch 3")
        await pilot.pause()
        assert view.line_count == 1 and "epoch 3 loss 0.250" in str(view.lines[0])
        await pilot.press("escape")  # out of the search box, then back to the runs
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)


@run_async
async def test_moving_average_and_outlier_clipping_keys(tmp_path):
    path = str(tmp_path)
    Repo(path, init=True)
    run = Run(repo=path, system_tracking_interval=None, capture_terminal_logs=False)
    values = np.sin(np.arange(300) / 20.0)
    values[150] = 1e6  # a spike that flattens every curve
    run.track_array(values, name="loss")
    run.close()
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.push_screen(MetricsScreen(query="metric.name == 'loss'"))
        await settle(pilot)
        screen = app.screen
        spiky = screen_text(screen.plot)
        await pilot.press("o")
        await settle(pilot)
        clipped = screen_text(screen.plot)
        assert "1e+06" in spiky or "1.0e+06" in spiky
        assert "e+06" not in clipped and "outliers clipped" in str(screen.query_one("#metrics-status").render())
        await pilot.press("w")
        await settle(pilot)
        assert screen.settings.smoother == "mean" and screen.settings.smoothing > 0
        assert "moving average of" in str(screen.query_one("#metrics-status").render())


@run_async
async def test_saved_view_reopens_query_and_chart_settings(repo_path, tmp_path):
    from aimcol.tui.saved_views import SavedViews

    views = SavedViews(str(tmp_path / "views.json"))
    app = make_app(repo_path, views=views)
    query = "metric.name == 'loss' and metric.context.subset == 'val'"
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.push_screen(MetricsScreen(query=query))
        await settle(pilot)
        await pilot.press("a", "y", "s")  # grouped bands, log y, a chart per metric
        await settle(pilot)
        await pilot.press("v", *"val-bands", "enter")
        await pilot.pause()
    assert views.names() == ["val-bands"]
    view = views.get("val-bands")
    assert view["query"] == query and view["settings"]["aggregate"] == "mean+minmax" and view["settings"]["log_y"]
    reopened = make_app(repo_path, views=views, open_view=view)
    async with reopened.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        screen = reopened.screen
        assert isinstance(screen, MetricsScreen) and screen.query_text == query
        s = screen.settings
        assert (s.aggregate, s.group_by, s.log_y, s.split) == ("mean+minmax", "experiment", True, True)
        assert len(screen.legend_rows) == 2  # exp-a and exp-b as bands


def test_tui_view_that_does_not_exist_is_one_line(tmp_path, monkeypatch, capsys):
    from aimcol.cli import main

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    Repo(str(tmp_path), init=True)
    assert main(["tui", "--repo", str(tmp_path), "--view", "nope"]) == 1
    err = capsys.readouterr().err
    assert "no saved view 'nope'" in err and len(err.strip().splitlines()) == 1


@run_async
async def test_system_tab_draws_each_system_metric_as_a_chart(tmp_path):
    path = str(tmp_path)
    Repo(path, init=True)
    run = Run(repo=path, system_tracking_interval=None, capture_terminal_logs=False)
    run.track_array(np.linspace(10, 90, 60), name="__system__cpu")
    run.track_array(np.linspace(1, 2, 60), name="__system__memory_percent")
    run.track_array(np.ones(60), name="loss")
    run.close()
    app = make_app(path)
    async with app.run_test(size=(80, 40)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("4")
        await pilot.pause()
        charts = list(app.screen.query("BraillePlot.system-chart"))
        assert sorted(c.border_title.split()[0] for c in charts) == ["cpu", "memory_percent"]
        assert all(len(c.curves[0].y) == 60 for c in charts)
        assert any(0x2800 < ord(ch) <= 0x28FF for ch in screen_text(charts[0]))


def test_one_damaged_run_does_not_break_the_plot_of_all_runs(tmp_path):
    """Issue 9 #11: a run whose sealed segment fails its checksum is left out of the plot and
    named; every other run's series is still drawn."""
    path = str(tmp_path)
    Repo(path, init=True)
    good = _write_run(path, "good", "e", 0.1, 8, "sgd", [], 0.5, steps=20)
    good.close()
    bad = _write_run(path, "bad", "e", 0.2, 8, "sgd", [], 0.5, steps=20)
    bad.close()
    (segment,) = glob.glob(os.path.join(path, ".aimcol", "runs", bad.hash, "seg-*.arrow"))
    data = bytearray(open(segment, "rb").read())
    for i in range(len(data) // 5, len(data) // 2):  # the record batches: their checksums no longer match
        data[i] ^= 0xFF
    open(segment, "wb").write(bytes(data))
    result = RepoSource(Repo(path)).load_series("metric.name == 'loss'")
    assert {s.run_hash for s in result.series} == {good.hash}
    assert result.damaged and all(entry.startswith(bad.hash[:8]) for entry in result.damaged)
