"""The terminal UI on an object-store repository (moto S3): runs listed with their status,
an AimQL filter, and the metrics plot of a run, through the same public SDK as locally."""

from __future__ import annotations

import pytest

pytest.importorskip("textual")
pytest.importorskip("obstore", reason="object stores need aimcol[remote]")

from tui_support import SPECS, make_app, run_async, settle, table_names  # noqa: E402
from tui_support import write_run as _write_run  # noqa: E402

from aimcol.tui.components.braille_plot import BraillePlot  # noqa: E402
from aimcol.tui.screens.metrics import MetricsScreen  # noqa: E402
from aimcol.tui.screens.runs import RunsScreen  # noqa: E402


@pytest.fixture
def bucket_repo(s3_uri) -> str:
    for spec in SPECS:
        _write_run(s3_uri, *spec).close()
    return s3_uri


@run_async
async def test_tui_lists_filters_and_plots_runs_of_a_bucket(bucket_repo):
    app = make_app(bucket_repo)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, timeout=60)
        assert isinstance(app.screen, RunsScreen)
        assert sorted(table_names(app)) == ["alpha", "beta", "delta", "gamma"]
        await pilot.press("/")
        for key in "run.hparams.lr < 0.005":
            await pilot.press("space" if key == " " else key)
        await pilot.press("enter")
        await settle(pilot, timeout=60)
        assert sorted(table_names(app)) == ["beta", "delta"]
        await pilot.press("space", "p")
        await settle(pilot, timeout=60)
        assert isinstance(app.screen, MetricsScreen)
        plot = app.screen.query_one(BraillePlot)
        assert len(plot.curves) == len(app.screen.series) > 0
        drawn = "\n".join(plot.render_line(y).text for y in range(plot.size.height))
        assert any(0x2800 < ord(ch) <= 0x28FF for ch in drawn)  # braille dots drawn from the bucket's points
