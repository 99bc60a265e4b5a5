"""Issue 10's defects, each driven the way a user met it (Pilot over a real repository)."""

from __future__ import annotations

import pytest

pytest.importorskip("textual")

from tui_support import (  # noqa: E402
    make_app,
    run_async,
    screen_lines,
    settle,
    table_names,
    wait_for,
    write_repo,
    write_run,
)

from aimcol import Repo  # noqa: E402
from aimcol.tui.components.query_bar import QueryBar, QueryInput  # noqa: E402
from aimcol.tui.components.runs_table import RunsTable  # noqa: E402
from aimcol.tui.screens.help import HelpScreen  # noqa: E402
from aimcol.tui.screens.metrics import MetricsScreen  # noqa: E402
from aimcol.tui.screens.runs import RunsScreen  # noqa: E402


@pytest.fixture(scope="module")
def repo_path(tmp_path_factory) -> str:
    return write_repo(str(tmp_path_factory.mktemp("tui-defects")))


def _query_row(app) -> str:
    return next(line for line in screen_lines(app) if "runs ❯" in line)


@pytest.mark.parametrize("size", [(80, 24), (200, 50)])
@run_async
async def test_the_focused_query_box_shows_the_typed_text(repo_path, size):
    app = make_app(repo_path)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"run.hparams.lr < 0.01")
        assert isinstance(app.focused, QueryInput)
        row = _query_row(app)
        assert "run.hparams.lr < 0.01" in row, row
        assert "▔▔▔" not in row  # not the top border of a three-row input squeezed into one


@run_async
async def test_a_syntax_error_shows_its_caret_under_the_column(repo_path):
    app = make_app(repo_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"run.name == 'x", "enter")
        await settle(pilot)
        lines = screen_lines(app)
        row = lines.index(_query_row(app))
        assert "run.name == 'x" in lines[row]
        caret = lines[row + 1]
        # the caret sits under the column the parser blames (the opening quote, column 13)
        assert caret.index("^") == lines[row].index("'x")
        message = " ".join(lines[row + 1 : row + 3])
        assert "unterminated string" in message and "line 2" not in message


@run_async
async def test_refresh_never_moves_focus_and_letters_are_text_while_typing(repo_path):
    app = make_app(repo_path, poll_interval=0.02)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *".hparams")
        screen = app.screen
        loads_before = screen.loads_done
        # several live refreshes land while the user pauses
        await wait_for(pilot, lambda: screen.loads_done >= loads_before + 3, what="three live refreshes")
        assert isinstance(app.focused, QueryInput)
        # every letter bound on the runs screen is typed into the box, none acts as a command
        letters = "pmsacxrAq"
        await pilot.press(*letters)
        assert app.screen is screen and isinstance(app.screen, RunsScreen)
        assert app.screen.query_one(QueryBar).value == ".hparams" + letters
        assert not app.screen.query_one(RunsTable).marks


@run_async
async def test_m_plots_the_runs_the_filter_shows(repo_path):
    app = make_app(repo_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"run.experiment == 'exp-a'", "enter")
        await settle(pilot)
        assert sorted(table_names(app)) == ["alpha", "beta"]
        await pilot.press("m")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MetricsScreen)
        assert screen.series and {s.run_name for s in screen.series} == {"alpha", "beta"}


@run_async
async def test_help_lists_no_key_a_terminal_cannot_send(repo_path):
    app = make_app(repo_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("slash")  # the focused input brings Textual's own copy/paste bindings
        await pilot.press("escape")
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        keys = " ".join(k for k, _ in app.screen.rows)
        assert "super" not in keys and "⌘" not in keys


@run_async
async def test_cells_cut_at_the_right_edge_end_in_an_ellipsis(tmp_path):
    from aimcol.tui.components.runs_table import format_cell

    path = str(tmp_path)
    Repo(path, init=True)
    run = write_run(path, "wide", "exp-with-a-long-name", 0.000123456789, 32, "adam", ["tag-one", "tag-two"], 0.3)
    run["hparams"] = {"lr": 0.000123456789, "note": "word " * 8, "batch_size": 123456789}
    run.close()
    for width in range(60, 121, 7):
        app = make_app(path)
        async with app.run_test(size=(width, 24)) as pilot:
            await settle(pilot)
            table = app.screen.query_one(RunsTable)
            row = table.render_line(1).text.rstrip()
            values = table.table.slice(0, 1).to_pylist()[0]
            tokens = {t for c in table.columns if c.key in values for t in format_cell(c.kind, values[c.key]).split()}
            last = row.split()[-1]
            assert last in tokens or last.endswith("…"), (width, row)


def _crashed_run(path: str) -> str:
    """A run whose writer process dies without closing it; returns its hash."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(f"""
        import os, numpy as np
        from aimcol import Run
        run = Run(repo={path!r}, system_tracking_interval=None, capture_terminal_logs=False)
        run.track_array(np.linspace(2.0, 1.0, 50), name="loss")
        run.flush()
        print(run.hash, flush=True)
        os._exit(0)
    """)
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=60)
    return out.stdout.decode().strip()


@run_async
async def test_a_crashed_runs_duration_survives_archiving(tmp_path, capsys):
    import time

    from aimcol.cli import main
    from aimcol.tui.screens.run_detail import RunDetailScreen

    path = str(tmp_path)
    Repo(path, init=True)
    run_hash = _crashed_run(path)
    repo = Repo(path)

    def listed() -> dict:
        table = repo.runs_table("run.archived or not run.archived")
        return dict(zip(table.column("run").to_pylist(), table.to_pylist()))[run_hash]

    def aimql_matches(condition: str) -> bool:
        query = f"run.hash == '{run_hash}' and {condition} and (run.archived or not run.archived)"
        return repo.runs_table(query).num_rows == 1

    def listed_by_cli() -> str:
        capsys.readouterr()
        assert main(["runs", "ls", "--all", "--repo", path]) == 0
        (line,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith(run_hash)]
        return line

    before = listed()
    assert before["status"] == "crashed" and before["end_time"] is None
    assert before["duration"] < 1.0  # the run wrote its points within a second of its creation
    assert aimql_matches("run.duration < 1.0")
    assert " 0s " in listed_by_cli()
    time.sleep(2.2)  # archiving and tagging rewrite the manifest well after the last point
    repo.set_archived(run_hash, True)
    after = listed()
    assert after["archived"] and after["status"] == "crashed"
    assert after["duration"] == pytest.approx(before["duration"], abs=0.01)
    edited = repo.get_run(run_hash)
    edited.add_tag("looked-at")
    edited.description = "edited after the crash"
    assert listed()["duration"] == pytest.approx(before["duration"], abs=0.01)
    # AimQL filters on the same duration (it took the manifest's mtime: 2.2 s here)
    assert aimql_matches("run.duration < 1.0 and run.archived and 'looked-at' in run.tags")
    assert " 0s " in listed_by_cli()
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.push_screen(RunDetailScreen(run_hash))
        await settle(pilot)
        assert app.screen.detail.duration == pytest.approx(before["duration"], abs=0.01)
    assert main(["runs", "show", "--repo", path, run_hash]) == 0


@run_async
async def test_a_query_that_matches_nothing_by_a_typo_shows_the_hint(repo_path):
    app = make_app(repo_path)
    async with app.run_test(size=(120, 24)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"run.hparam.lr < 0.01", "enter")
        await settle(pilot)
        assert table_names(app) == []
        status = str(app.screen.query_one("#runs-status").render())
        assert "hint" in status and "run.hparams.lr" in status


@run_async
async def test_loading_metrics_writes_no_progress_bar_over_the_screen(repo_path, capfd):
    """Inside Textual, stderr says it is a terminal; the SDK's query progress bar (Aim's default
    report mode) was written there, that is over the TUI's own drawing, on every plot."""
    app = make_app(repo_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        capfd.readouterr()
        app.push_screen(MetricsScreen(query="metric.name == 'loss'"))
        await settle(pilot)
        assert app.screen.series
    out, err = capfd.readouterr()
    assert "query:" not in err and "runs" not in err and "query:" not in out
