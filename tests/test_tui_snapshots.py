"""SVG snapshots of the TUI's main screens at 80x24 and 160x48 (pytest-textual-snapshot).

The app runs over a stand-in source with fixed runs, times and curves, so the pictures do
not depend on the clock, the time zone or random hashes.  After an intended change of the
look, refresh them with ``pytest tests/test_tui_snapshots.py --snapshot-update`` and look at
the report before committing.
"""

from __future__ import annotations

import time

import numpy as np
import pyarrow as pa
import pytest

pytest.importorskip("textual")
pytest.importorskip("pytest_textual_snapshot")

from aimcol.sdk.tables import run_status  # noqa: E402
from aimcol.tui.app import AimcolApp  # noqa: E402
from aimcol.tui.repo_source import (  # noqa: E402
    RunDetail,
    SequenceSummary,
    SeriesData,
    SeriesResult,
    context_key,
)
from aimcol.tui.screens.metrics import MetricsScreen  # noqa: E402

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
NOW = T0 + 30 * 3600
EXPERIMENTS = ("resnet18-cifar10", "vit-tiny-cifar10", "mlp-mnist")
OPTIMIZERS = ("adam", "adamw", "sgd")


def _runs() -> list[dict]:
    runs = []
    for i in range(12):
        active = i == 11
        crashed = i == 4
        created = T0 + i * 3600
        runs.append(
            {
                "hash": f"{i:02d}" + "ab" * 11,
                "name": f"{EXPERIMENTS[i % 3].split('-')[0]}-{i:02d}",
                "experiment": EXPERIMENTS[i % 3],
                "description": None,
                "tags": [["baseline"], ["sweep"], ["sweep", "bf16"], []][i % 4],
                "archived": False,
                "active": active,
                "creation_time": created,
                "end_time": None if active or crashed else created + 1800 + 97 * i,
                "duration": None if active or crashed else 1800.0 + 97 * i,
                "lr": round(10 ** (-4 + (i * 7 % 12) / 4), 6),
                "batch_size": [32, 64, 128, 256][i % 4],
                "optimizer": OPTIMIZERS[i % 3],
            }
        )
    return runs


def _curve(i: int, steps: int, val: bool) -> np.ndarray:
    t = np.arange(steps, dtype=np.float64)
    floor = 0.1 + 0.05 * (i % 5)
    noise = 0.02 * np.sin(t * (0.7 + i)) if not val else 0.0
    return floor + (2.3 - floor) * np.exp(-t / (80 + 15 * i)) + noise + (0.04 if val else 0.0)


class StubSource:
    """The RepoSource interface over fixed data."""

    label = "/home/me/project/.aimcol"

    def __init__(self) -> None:
        self.runs = _runs()

    def load_runs(self, query: str = "", include_archived: bool = True) -> pa.Table:
        rows = self.runs
        table = pa.table(
            {
                "run": [r["hash"] for r in rows],
                "name": [r["name"] for r in rows],
                "experiment": [r["experiment"] for r in rows],
                "description": pa.array([r["description"] for r in rows], pa.string()),
                "notes": pa.array([None] * len(rows), pa.string()),
                "tags": pa.array([r["tags"] for r in rows], pa.list_(pa.string())),
                "archived": [r["archived"] for r in rows],
                "active": [r["active"] for r in rows],
                "status": [run_status(r["active"], r["end_time"]) for r in rows],
                "creation_time": [r["creation_time"] for r in rows],
                "end_time": pa.array([r["end_time"] for r in rows], pa.float64()),
                "duration": pa.array(
                    [NOW - r["creation_time"] if r["active"] else r["duration"] for r in rows], pa.float64()
                ),
                "hparams.batch_size": [r["batch_size"] for r in rows],
                "hparams.lr": [r["lr"] for r in rows],
                "hparams.optimizer": [r["optimizer"] for r in rows],
            }
        )
        return table.take(pa.array(list(range(len(rows)))[::-1]))

    def _series(self, i: int, run: dict, subset: str) -> SeriesData:
        steps = 300 if run["end_time"] is not None else (120 if not run["active"] else 200)
        val = subset == "val"
        step = np.arange(0, steps, 10 if val else 1)
        value = _curve(i, steps, val)[step]
        return SeriesData(
            run_hash=run["hash"],
            run_name=run["name"],
            experiment=run["experiment"],
            status=run_status(run["active"], run["end_time"]),
            params={
                "hparams.lr": run["lr"],
                "hparams.batch_size": run["batch_size"],
                "hparams.optimizer": run["optimizer"],
            },
            name="loss",
            context={"subset": subset},
            step=step,
            value=value,
            epoch=(step // 30).astype(np.float64),
            time=run["creation_time"] + step * 2.0,
            creation_time=run["creation_time"],
        )

    def load_sequences(self) -> pa.Table:
        rows = {"run": [], "name": [], "context": [], "last": [], "min": [], "max": [], "count": [], "last_step": []}
        for i, run in enumerate(self.runs):
            for subset in ("train", "val"):
                s = self._series(i, run, subset)
                rows["run"].append(run["hash"])
                rows["name"].append("loss")
                rows["context"].append(context_key({"subset": subset}))
                rows["last"].append(float(s.value[-1]))
                rows["min"].append(float(s.value.min()))
                rows["max"].append(float(s.value.max()))
                rows["count"].append(len(s.value))
                rows["last_step"].append(int(s.step[-1]))
        return pa.table(rows)

    def load_series(self, query: str = "", run_hashes=None, limit: int = 200) -> SeriesResult:
        chosen = [(i, r) for i, r in enumerate(self.runs) if run_hashes is None or r["hash"] in run_hashes]
        subsets = ("val",) if "val" in query else ("train", "val")
        series = [self._series(i, r, subset) for i, r in chosen for subset in subsets]
        return SeriesResult(series, len(series))

    def reload_series(self, series):
        return series

    def load_run_detail(self, run_hash: str, points_per_sparkline: int = 2000) -> RunDetail:
        i, run = next((i, r) for i, r in enumerate(self.runs) if r["hash"] == run_hash)
        sequences = []
        for subset in ("train", "val"):
            s = self._series(i, run, subset)
            sequences.append(
                SequenceSummary(
                    "loss",
                    {"subset": subset},
                    len(s.value),
                    float(s.value[-1]),
                    float(s.value.min()),
                    float(s.value.max()),
                    int(s.step[-1]),
                    s.value,
                )
            )
        return RunDetail(
            hash=run["hash"],
            name=run["name"],
            experiment=run["experiment"],
            description="a stand-in run",
            tags=run["tags"],
            archived=False,
            status=run_status(run["active"], run["end_time"]),
            creation_time=run["creation_time"],
            end_time=run["end_time"],
            duration=run["duration"] or 0.0,
            params={
                "hparams": {"lr": run["lr"], "batch_size": run["batch_size"], "optimizer": run["optimizer"]},
                "dataset": {"name": "cifar10", "train_size": 50000},
            },
            sequences=sequences,
        )

    def set_archived(self, run_hashes, archived: bool) -> list[str]:
        return []


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def make_app() -> AimcolApp:
    return AimcolApp(StubSource(), poll_interval=0)


async def settle(pilot) -> None:
    """Until no worker runs; fails after 20 s rather than taking a picture of a half-loaded screen."""
    for _ in range(2000):
        await pilot.pause(0.01)
        if not any(w.is_running for w in pilot.app.workers):
            await pilot.pause()
            if not any(w.is_running for w in pilot.app.workers):
                return
    raise AssertionError("the app did not settle within 20 s")


SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48")]


@pytest.mark.parametrize("size", SIZES)
def test_runs_screen(snap_compare, size):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("down", "space", "down", "down", "space")

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_metrics_screen(snap_compare, size):
    async def run_before(pilot):
        await settle(pilot)
        hashes = [r["hash"] for r in pilot.app.source.runs[2:5]]
        pilot.app.push_screen(
            MetricsScreen(query="metric.name == 'loss' and metric.context.subset == 'val'", run_hashes=hashes)
        )
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_metrics_explorer_groups_with_bands_on_subplots(snap_compare, size):
    """12 runs' train and val loss grouped by experiment: three mean lines over min-max bands,
    on the titled chart of the loss metric (``s``: a chart per metric)."""

    async def run_before(pilot):
        await settle(pilot)
        pilot.app.push_screen(MetricsScreen(query="metric.name == 'loss'"))
        await settle(pilot)
        await pilot.press("a")  # mean + min-max band per experiment
        await settle(pilot)
        await pilot.press("s")  # a chart per metric (here one: loss)
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_run_detail_screen(snap_compare, size):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("3")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_params_view(snap_compare, size):
    """``P``: the 12 runs the runs screen shows, by lr, batch size and optimizer, then the train
    loss' last/min/max with bars (sorted by last, ascending) and its curve."""

    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("P")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_run_notes_editor(snap_compare, size):
    """``n`` on a run page: the notes dialog (styled from aimcol.tcss like every dialog) with text typed."""

    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("n", *"lr too high", "enter", *"retry with 3e-4")
        pilot.app.screen.query_one("TextArea").cursor_blink = False
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_params_view_parallel_coordinates(snap_compare, size):
    """``P`` then ``v``: the 12 runs as lines across loss' last value, the params and its min/max."""

    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("P")
        await settle(pilot)
        await pilot.press("v")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


def test_help_screen(snap_compare):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=run_before)


def test_query_error_in_place(snap_compare):
    """A syntax error marks its column in the query bar (the error is raised by the stand-in)."""
    from aimcol import AimQLSyntaxError

    app = make_app()

    def failing(query: str = "", include_archived: bool = True):
        if query:
            raise AimQLSyntaxError("unexpected end of query", query, col=len(query) - 1)
        return StubSource.load_runs(app.source, query, include_archived)

    app.source.load_runs = failing

    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("slash")
        bar = pilot.app.screen.query_one("QueryBar")
        bar.input.cursor_blink = False  # a blinking cursor would make the picture depend on timing
        bar.value = "run.hparams.lr <"
        await pilot.press("enter")
        await settle(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def _fixed_objects(repo, run_hash):
    """A run's objects for the objects views: real ``aimcol`` objects with fixed content."""
    from aimcol import Audio, Distribution, Image
    from aimcol.tui.object_views import DistributionSeries, MediaPoint, RunObjects, TextPoint

    texts = [
        TextPoint("gen subset=val", step, f"answer {step}: the model says {'yes' if step % 2 else 'no'}\nsecond line")
        for step in range(8)
    ]
    texts.append(TextPoint("story", 0, "once upon a time " * 12))
    rng = np.random.default_rng(3)
    dists = [Distribution(rng.normal(step / 2, 1, 400), bin_count=24) for step in range(12)]
    series = DistributionSeries(
        "weights layer=fc1", list(range(12)), [d.weights for d in dists], [d.ranges for d in dists]
    )
    y, x = np.mgrid[0:32, 0:48]
    pixels = np.stack([x * 5, y * 7, np.full_like(x, 128)], axis=-1).astype(np.uint8)
    images = [
        MediaPoint("samples", step, 0, Image(np.roll(pixels, step * 6, axis=1), caption=f"batch {step}"), "samples")
        for step in range(3)
    ]
    audio = [MediaPoint("speech", 3, 0, Audio(np.zeros(16000, np.int16), rate=8000, caption="silence"), "speech")]
    return RunObjects(texts=texts, distributions=[series], images=images, audios=audio)


@pytest.mark.parametrize("tab", ["texts", "distributions", "images", "audio"])
@pytest.mark.parametrize("size", SIZES)
def test_objects_views(snap_compare, size, tab, monkeypatch):
    """``o`` on a run page: each tab of the objects screen (images in half blocks, the default
    where no inline-image protocol is detected, as in any test)."""
    pytest.importorskip("PIL.Image")
    import aimcol.tui.screens.objects as objects_screen

    monkeypatch.setattr(objects_screen, "load_run_objects", _fixed_objects)

    async def run_before(pilot):
        await settle(pilot)
        pilot.app.push_screen(objects_screen.ObjectsScreen("00" + "ab" * 11))
        await settle(pilot)
        await pilot.press({"texts": "1", "distributions": "2", "images": "3", "audio": "4"}[tab])
        if tab == "distributions":
            await pilot.press("right", "right")
        await settle(pilot)

    app = make_app()
    app.source.repo = None  # read by the screen's loader only, which is the stand-in above
    assert snap_compare(app, terminal_size=size, run_before=run_before)
