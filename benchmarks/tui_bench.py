"""TUI benchmarks: first paint of the runs screen on W6, and redraw of a 100 x 100k plot.

    .venv/bin/python benchmarks/tui_bench.py [--runs 10000] [--repeat 5] [--keep-repo]

* **first paint (W6)**: 10,000 runs x 20 params (mixed int/float/str/bool/None, some
  missing) x 4 sequences x 100 steps.  Time from creating the app to the runs table
  drawn with its rows, headless at 80x24, in a fresh process each repetition (so nothing
  is warm but the OS page cache).  Target: under 1.5 s.  The repository is written once
  into ``benchmarks/.work/tui-w6-<runs>/`` and reused.
* **plot redraw**: 100 series x 100,000 points already in memory; time for the plot widget
  to down-sample, rasterise and lay out its lines at 80x24 and 160x48 (what a resize, zoom
  or option change costs on the UI thread).  Target: under 200 ms.  The EMA of all series
  (done once per smoothing change, in a worker) is timed separately.
* **grouped redraw**: the same 100 series in 4 groups, each drawn as a mean line with a
  min-max band (``aimcol.tui.aggregate``, what ``a`` on the metrics screen does): time to
  aggregate every group and rasterise, at 80x24 and 160x48.  Target: under 200 ms.
  Also timed through the explorer's own path (``build_curves`` of the metrics screen, from
  100 loaded series grouped by a param, with its x/y preparation, then the rasterising):
  "explorer path".

* **params view**: ``P`` over 10,000 runs x 20 params (numbers and strings) and a metric's
  last/min/max, already in memory: time from opening the screen to its table filled (only
  the rows on screen are formatted), and to a re-sort by a param column.

Prints one line per figure (median of the repetitions, with min and max).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from multiprocessing import Pool

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
WORK = os.path.join(HERE, ".work")
EXPERIMENTS = ("w6-a", "w6-b", "w6-c", "w6-d")


# -- W6 repository ----------------------------------------------------------------------------
def _params(rng: np.random.Generator, i: int) -> dict:
    params = {
        "lr": float(10 ** rng.uniform(-5, -1)),
        "batch_size": int(rng.choice([16, 32, 64, 128])),
        "optimizer": str(rng.choice(["adam", "adamw", "sgd"])),
        "use_amp": bool(rng.random() < 0.5),
        "seed": i,
        "dropout": float(rng.uniform(0, 0.5)),
        "weight_decay": None if rng.random() < 0.2 else float(rng.choice([0.0, 1e-4, 1e-3])),
        "layers": int(rng.integers(2, 48)),
        "width": int(rng.choice([128, 256, 512, 1024])),
        "scheduler": str(rng.choice(["cosine", "linear", "step"])),
        "warmup": int(rng.choice([0, 100, 500])),
        "label_smoothing": float(rng.choice([0.0, 0.1])),
        "grad_clip": None if rng.random() < 0.3 else float(rng.uniform(0.5, 5)),
        "dataset": str(rng.choice(["cifar10", "cifar100", "imagenet"])),
        "augment": bool(rng.random() < 0.7),
        "epochs": int(rng.choice([10, 30, 90])),
        "momentum": float(rng.uniform(0.8, 0.99)),
        "beta2": float(rng.choice([0.99, 0.999])),
        "tokenizer": str(rng.choice(["bpe", "wordpiece"])),
        "notes": "baseline" if i % 50 == 0 else None,
    }
    # some params missing: drop 0-3 keys per run
    for key in rng.choice(list(params), size=int(rng.integers(0, 4)), replace=False):
        params.pop(str(key))
    return params


def _write_runs(job: tuple[str, int, int]) -> int:
    from aimcol import Run

    path, start, stop = job
    for i in range(start, stop):
        rng = np.random.default_rng(i)
        run = Run(repo=path, experiment=EXPERIMENTS[i % 4], system_tracking_interval=None, capture_terminal_logs=False)
        run.name = f"run-{i:05d}"
        run["hparams"] = _params(rng, i)
        t = np.arange(100)
        for name, context in (
            ("loss", {"subset": "train"}),
            ("loss", {"subset": "val"}),
            ("accuracy", {"subset": "train"}),
            ("accuracy", {"subset": "val"}),
        ):
            run.track_array(np.exp(-t / (20 + i % 50)) + rng.normal(0, 0.01, 100), name=name, context=context)
        run.close()
    return stop - start


def ensure_w6_repo(runs: int) -> str:
    from aimcol import Repo

    path = os.path.join(WORK, f"tui-w6-{runs}")
    marker = os.path.join(path, "complete")
    if os.path.exists(marker):
        return path
    os.makedirs(path, exist_ok=True)
    Repo(path, init=True)
    done = len(Repo(path).run_hashes())
    print(f"writing the W6 repository ({runs} runs, once) into {path} …", file=sys.stderr)
    chunk = 250
    jobs = [(path, s, min(s + chunk, runs)) for s in range(done, runs, chunk)]
    started = time.perf_counter()
    with Pool(max(1, min(4, os.cpu_count() or 1))) as pool:
        written = done
        for n in pool.imap_unordered(_write_runs, jobs):
            written += n
            print(f"  {written}/{runs} runs, {time.perf_counter() - started:.0f}s", file=sys.stderr)
    with open(marker, "w") as f:
        f.write("ok\n")
    return path


# -- first paint ------------------------------------------------------------------------------
def first_paint_once(path: str) -> dict:
    """In this process, in the order ``aimcol tui`` does it: imports, the runs listing,
    Textual's import, app start → runs table drawn with its rows (headless, 80x24)."""
    started = time.perf_counter()
    from aimcol import Repo
    from aimcol.tui.repo_source import RepoSource, avoid_pandas_import

    avoid_pandas_import()
    source = RepoSource(Repo(path))
    listing = time.perf_counter()
    source.preload_runs()
    listing = time.perf_counter() - listing
    from aimcol.tui.app import AimcolApp
    from aimcol.tui.components.runs_table import RunsTable

    result = {"import_seconds": time.perf_counter() - started - listing, "listing_seconds": listing}

    async def main() -> None:
        from aimcol.tui.screens.runs import RunsScreen

        filled = asyncio.Event()
        original = RunsScreen.refresh_table

        def refresh_table(screen) -> None:  # runs on the UI thread when the listing arrives
            original(screen)
            filled.set()

        RunsScreen.refresh_table = refresh_table
        app = AimcolApp(source, poll_interval=0)
        # wait on an event, not a polling loop: a busy UI thread would slow the loading worker
        async with app.run_test(size=(80, 24)):
            await asyncio.wait_for(filled.wait(), timeout=120)
            table = app.screen.query_one(RunsTable)
            # the rows are in; drawing the visible lines is the rest of the first paint
            lines = [table.render_line(y).text for y in range(table.size.height)]
            result["seconds"] = time.perf_counter() - started
            result["painted_at"] = time.time()
            usage = resource.getrusage(resource.RUSAGE_SELF)
            result["cpu_seconds"] = usage.ru_utime + usage.ru_stime  # since the interpreter started
            result["peak_rss_mb"] = round(usage.ru_maxrss / 1024, 1)
            result["rows"] = table.row_count
            result["first_row"] = lines[1].strip()[:40]
            result["pandas_imported"] = "pandas" in sys.modules
            result["pyarrow_compute_imported"] = "pyarrow.compute" in sys.modules

    asyncio.run(main())
    return result


def first_paint(path: str, repeat: int, env: dict | None = None) -> list[dict]:
    out = []
    for _ in range(repeat):
        launched = time.time()
        proc = subprocess.run(
            [sys.executable, __file__, "--paint-child", path], capture_output=True, text=True, timeout=300, env=env
        )
        if proc.returncode != 0:
            raise SystemExit(f"first-paint child failed:\n{proc.stderr[-2000:]}")
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        result["from_launch"] = result["painted_at"] - launched  # includes interpreter start-up
        out.append(result)
    return out


# -- plot redraw ------------------------------------------------------------------------------
def plot_redraw(repeat: int, n_series: int = 100, n_points: int = 100_000) -> dict:
    from aimcol.tui.components.braille_plot import BraillePlot, PlotSeries, series_color
    from aimcol.tui.smoothing import ema

    rng = np.random.default_rng(0)
    x = np.arange(n_points, dtype=np.float64)
    values = [np.exp(-x / (5_000 + 400 * i)) + rng.normal(0, 0.02, n_points) for i in range(n_series)]
    started = time.perf_counter()
    for v in values:
        ema(v, 0.9)
    ema_seconds = time.perf_counter() - started
    curves = [PlotSeries(x, v, series_color(i)) for i, v in enumerate(values)]
    figures: dict[str, list[float]] = {}

    from textual.app import App

    class PlotApp(App):
        def compose(self):
            yield BraillePlot()

    async def main() -> None:
        for size in ((80, 24), (160, 48)):
            app = PlotApp()
            async with app.run_test(size=size) as pilot:
                plot = app.query_one(BraillePlot)
                plot.set_curves(curves)
                await pilot.pause()
                times = []
                for _ in range(repeat):
                    t = time.perf_counter()
                    plot.build_lines(plot.size.width, plot.size.height)
                    times.append(time.perf_counter() - t)
                # end to end: new curves → the frame is on screen
                t = time.perf_counter()
                plot.set_curves(curves, x_range=(10_000.0, 90_000.0))
                await pilot.pause()
                figures[f"{size[0]}x{size[1]}"] = times
                figures[f"{size[0]}x{size[1]} frame"] = [time.perf_counter() - t]

    async def grouped() -> None:
        from aimcol.tui.aggregate import aggregate, band_points
        from aimcol.tui.screens.metrics import dim_color

        groups = [list(range(g, n_series, 4)) for g in range(4)]
        for size in ((80, 24), (160, 48)):
            app = PlotApp()
            async with app.run_test(size=size) as pilot:
                plot = app.query_one(BraillePlot)
                await pilot.pause()
                times = []
                for _ in range(repeat):
                    t = time.perf_counter()
                    bands, lines = [], []
                    for g, members in enumerate(groups):
                        curve = aggregate([x] * len(members), [values[i] for i in members], "mean+minmax")
                        bx, by = band_points(curve)
                        bands.append(PlotSeries(bx, by, dim_color(series_color(g))))
                        lines.append(PlotSeries(curve.x, curve.center, series_color(g)))
                    plot.set_curves(bands + lines)
                    plot.build_lines(plot.size.width, plot.size.height)
                    times.append(time.perf_counter() - t)
                figures[f"{size[0]}x{size[1]} grouped, 4 mean lines + min-max bands"] = times
                times = []
                for _ in range(repeat):
                    t = time.perf_counter()
                    ready = build_curves(loaded, settings, CurveCache())
                    plot.set_curves(ready.curves)
                    plot.build_lines(plot.size.width, plot.size.height)
                    times.append(time.perf_counter() - t)
                assert len(ready.curves) == 8  # 4 bands, 4 lines
                figures[f"{size[0]}x{size[1]} grouped by a param, explorer path (build_curves)"] = times

    from aimcol.tui.repo_source import SeriesData
    from aimcol.tui.screens.metrics import CurveCache, PlotSettings, build_curves

    steps = np.arange(n_points, dtype=np.int64)
    loaded = [
        SeriesData(
            run_hash=f"{i:024x}",
            run_name=f"run-{i}",
            experiment="bench",
            status="finished",
            params={"hparams.group": i % 4},
            name="loss",
            context={},
            step=steps,
            value=v,
            epoch=np.full(n_points, np.nan),
            time=x,
        )
        for i, v in enumerate(values)
    ]
    settings = PlotSettings(group_by="param:hparams.group", aggregate="mean+minmax")

    asyncio.run(main())
    asyncio.run(grouped())
    return {"figures": figures, "ema_seconds": ema_seconds}


def params_view(repeat: int, n_runs: int = 10_000, n_params: int = 20) -> dict[str, list[float]]:
    import pyarrow as pa
    from textual.app import App

    import aimcol.tui.app
    from aimcol.tui.repo_source import MetricKey, SeriesResult
    from aimcol.tui.screens.params import ParamsScreen

    rng = np.random.default_rng(0)
    hashes = [f"{i:024x}" for i in range(n_runs)]
    columns = {"run": hashes, "name": [f"run-{i:05d}" for i in range(n_runs)]}
    for p in range(n_params):
        columns[f"hparams.p{p:02d}"] = (
            rng.normal(size=n_runs) if p % 3 else rng.choice(["a", "b", "c"], n_runs).tolist()
        )
    runs = pa.table(columns)
    sequences = pa.table(
        {
            "run": hashes,
            "name": ["loss"] * n_runs,
            "context": ["{}"] * n_runs,
            "last": rng.random(n_runs),
            "min": rng.random(n_runs),
            "max": rng.random(n_runs),
        }
    )

    class Source:  # the points of the curves are read from disk in the real app: left out here
        def load_series(self, query="", run_hashes=None, limit=200):
            return SeriesResult([], 0)

    class ParamsApp(App):
        CSS_PATH = os.path.join(os.path.dirname(aimcol.tui.app.__file__), aimcol.tui.app.AimcolApp.CSS_PATH)
        source = Source()

    figures: dict[str, list[float]] = {"open": [], "sort by a param": []}

    async def main() -> None:
        for _ in range(repeat):
            app = ParamsApp()
            async with app.run_test(size=(160, 48)) as pilot:
                t = time.perf_counter()
                screen = ParamsScreen(runs, sequences, MetricKey("loss"))
                await app.push_screen(screen)
                while screen.table.row_count < n_runs:
                    await pilot.pause(0.001)
                await pilot.pause()
                figures["open"].append(time.perf_counter() - t)
                screen.table.cursor_column = screen.column_keys.index("hparams.p01")
                t = time.perf_counter()
                screen.action_sort()
                await pilot.pause()
                figures["sort by a param"].append(time.perf_counter() - t)

    asyncio.run(main())
    return figures


def _summary(values: list[float]) -> str:
    med = statistics.median(values)
    return f"median {med * 1000:7.1f} ms (min {min(values) * 1000:.1f}, max {max(values) * 1000:.1f}, n={len(values)})"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-paint", action="store_true")
    parser.add_argument("--skip-plot", action="store_true")
    parser.add_argument("--skip-params", action="store_true")
    parser.add_argument(
        "--bytecode",
        action="store_true",
        help="first paint: import aimcol from cached bytecode, as an installed aimcol does (matters "
        "where PYTHONDONTWRITEBYTECODE is set: see bench_common.bytecode_env)",
    )
    parser.add_argument("--paint-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.paint_child:
        sys.path.insert(0, HERE)
        from bench_common import use_checkout_tui

        use_checkout_tui(os.path.dirname(HERE))
        print(json.dumps(first_paint_once(args.paint_child)))
        return 0
    if not args.skip_paint:
        path = ensure_w6_repo(args.runs)
        env = None
        if args.bytecode:
            sys.path.insert(0, HERE)
            from bench_common import bytecode_env

            root = os.path.dirname(HERE)
            env = bytecode_env(
                os.environ,
                sys.executable,
                os.path.join(WORK, "pycache"),
                os.path.join(root, "aimcol"),
                os.path.join(root, "tui"),
            )
        results = first_paint(path, args.repeat, env)
        seconds = [r["seconds"] for r in results]
        launch = [r["from_launch"] for r in results]
        listings = [r["listing_seconds"] for r in results]
        imports = [r["import_seconds"] for r in results]
        where = (
            "from cached bytecode (--bytecode)"
            if args.bytecode
            else (
                "compiled from source in each process" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "with bytecode"
            )
        )
        print(
            f"first paint, runs screen, W6 {results[0]['rows']} runs, 80x24, from process launch, aimcol {where}: "
            f"{_summary(launch)}; target < 1500 ms"
        )
        cpu = [r["cpu_seconds"] for r in results]
        print(f"  CPU time of that process up to the paint (about what an idle machine would take): {_summary(cpu)}")
        print(
            f"  of which: imports (textual, aimcol) {statistics.median(imports) * 1000:.0f} ms, "
            f"runs listing {statistics.median(listings) * 1000:.0f} ms (before Textual is imported); "
            f"in-process from the first import {statistics.median(seconds) * 1000:.0f} ms"
        )
        for module in ("pyarrow_compute", "pandas"):
            count = sum(r[f"{module}_imported"] for r in results)
            print(f"  {module.replace('_', '.')} imported before the paint: {count} of {len(results)} runs")
    if not args.skip_plot:
        plot = plot_redraw(args.repeat)
        for name, values in plot["figures"].items():
            print(f"plot redraw, 100 series x 100k points, {name}: {_summary(values)}; target < 200 ms")
        print(
            f"EMA smoothing of 100 x 100k points (once per smoothing change, in a worker): "
            f"{plot['ema_seconds'] * 1000:.0f} ms"
        )
    if not args.skip_params:
        for name, values in params_view(args.repeat).items():
            print(f"params view, 10,000 runs x 20 params, 160x48, {name}: {_summary(values)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
