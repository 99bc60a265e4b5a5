#!/usr/bin/env python3
"""Scale benchmarks W9 (many runs) and W10 (many metrics per run), aimcol alone.

    .venv/bin/python benchmarks/scale_bench.py w9 [--runs 100000 --sequences 10 --steps 1000]
    .venv/bin/python benchmarks/scale_bench.py w9 --runs 100000 --sequences 1 --steps 100   # quick variant
    .venv/bin/python benchmarks/scale_bench.py w10 [--runs 1500 --metrics 1500 --steps 20]

W9 (shared/bench/WORKLOADS.md): ``--runs`` runs x ``--sequences`` sequences x ``--steps``
steps, built with the bulk path by ``--procs`` writer processes. Measured, each in a fresh
process: the first index build (the index files removed first: what the first reader of a
repository copied from elsewhere pays), ``query_runs`` cold (new process: open the repository
and query) and warm, the first query in a new process including imports, ``aimcol runs ls
--json``, the TUI's first paint, and group-by-run last-value scans with ``Repo.to_dask`` on a
2-worker LocalCluster (one metric, everything), with pyarrow and DuckDB over ``Repo.to_dataset()``
as references (``--scans-only`` for just those, ``--skip-scans`` without them: on the full W9 they
take ~15 minutes). Every figure carries the process's peak RSS (and the workers').

W10: 5 experiments x ``--runs`` runs (a tenth of a large team's 7,500 is the issue's shape:
``--runs 1500``), ``--metrics`` metrics of ``--steps`` steps per run, 150 params and 50 tags,
the metrics logged the way frameworks do (every metric at every step through ``track()``).
Measured: build, ``query_runs``, one metric across all runs as NumPy, the runs table, TUI first
paint, and the peak RSS of each.

Aim is not measured here: at its ~0.4 ms a point, W9's 1B points or W10's 225M would take days.
The repository is written once under ``benchmarks/.work/`` and reused (``--rebuild`` to redo).
Prints Markdown; raw figures go to ``benchmarks/results/<w>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from multiprocessing import Pool
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from bench_common import emit, parse_result  # noqa: E402

W9_QUERIES = ("", "run.hparams.lr < 0.001", "run.hparams.batch_size == 64 and run.experiment == 'exp-1'")
W10_QUERY = "run.hparams.p3 < 2 and run.experiment == 'exp-2'"


# -- building ----------------------------------------------------------------------------------
def _w9_runs(job: tuple[str, int, int, int, int]) -> int:
    path, start, stop, sequences, steps = job
    return _w9_seeds((path, range(start, stop), sequences, steps))


def _w9_seeds(job) -> int:
    import numpy as np

    from aimcol import Run

    path, seeds, sequences, steps = job
    base = np.linspace(1.0, 0.0, steps)
    for i in seeds:
        rng = np.random.default_rng(i)
        run = Run(repo=path, experiment=f"exp-{i % 5}", system_tracking_interval=None, capture_terminal_logs=False)
        run["hparams"] = {
            "lr": float(10 ** rng.uniform(-5, -1)),
            "batch_size": int(rng.choice([16, 32, 64, 128])),
            "seed": i,
        }
        for k in range(sequences):
            name = ("loss", "acc", "lr", "grad_norm", "f1")[k % 5]
            run.track_array(
                base + k + rng.normal(0, 0.01, steps), name=name, context={"subset": ("train", "val")[k // 5 % 2]}
            )
        run.close()
    return len(seeds)


def _w10_runs(job: tuple[str, int, int, int, int]) -> int:
    from aimcol import Run

    path, start, stop, metrics, steps = job
    names = [f"metric_{m:04d}" for m in range(metrics)]
    for i in range(start, stop):
        run = Run(repo=path, experiment=f"exp-{i % 5}", system_tracking_interval=None, capture_terminal_logs=False)
        run["hparams"] = {f"p{p}": (i * 31 + p) % 7 for p in range(150)}
        for t in range(50):
            run.add_tag(f"tag-{(i + t) % 80}")
        track = run.track
        for step in range(steps):
            for m, name in enumerate(names):
                track(1.0 / (1 + step) + m * 1e-3, name=name, step=step)
        run.close()
    return stop - start


def _built_seeds(path: Path) -> set[int]:
    """The W9 run numbers a repository already holds (``hparams.seed``), read from its index."""
    from aimcol import Repo

    repo = Repo(str(path))
    repo.wait_for_index()
    table = repo.runs_table()
    return set(table.column("hparams.seed").to_pylist()) if table.num_rows else set()


def build(kind: str, path: Path, args) -> dict:
    if getattr(args, "resume", False) and kind == "w9" and (path / ".aimcol" / "FORMAT").exists():
        # finish a build that was stopped: write only the run numbers not yet there
        have = _built_seeds(path)
        todo = [i for i in range(args.runs) if i not in have]
        chunks = [todo[k :: args.procs] for k in range(args.procs)]
        t0 = time.perf_counter()
        with Pool(args.procs) as pool:
            pool.map(_w9_seeds, [(str(path), c, args.sequences, args.steps) for c in chunks])
        seconds = time.perf_counter() - t0
        points = len(todo) * args.sequences * args.steps
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        return {
            "resumed_runs": len(todo),
            "resume_s": seconds,
            "points_resumed": points,
            "us_per_point": seconds / max(points, 1) * 1e6,
            "bytes": size,
        }
    if (path / ".aimcol" / "FORMAT").exists() and not args.rebuild:
        earlier = Path(str(path) + ".build.json")  # what the build that made it measured
        return {"reused": str(path), **(json.loads(earlier.read_text()) if earlier.exists() else {})}
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    from aimcol import Repo

    Repo(str(path), init=True)
    n = args.runs
    bounds = [n * k // args.procs for k in range(args.procs + 1)]
    if kind == "w9":
        jobs = [(str(path), bounds[k], bounds[k + 1], args.sequences, args.steps) for k in range(args.procs)]
        work = _w9_runs
    else:
        jobs = [(str(path), bounds[k], bounds[k + 1], args.metrics, args.steps) for k in range(args.procs)]
        work = _w10_runs
    t0 = time.perf_counter()
    with Pool(args.procs) as pool:
        pool.map(work, jobs)
    seconds = time.perf_counter() - t0
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    points = n * (args.sequences if kind == "w9" else args.metrics) * args.steps
    return {"build_s": seconds, "points": points, "us_per_point": seconds / points * 1e6, "bytes": size}


# -- measuring (each in a child process) -------------------------------------------------------
def child(mode: str, path: str, extra: list[str] = (), timeout: float = 3600) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    t0 = time.perf_counter()
    cp = subprocess.run(
        [sys.executable, __file__, "_child", mode, path, *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    res = parse_result(cp.stdout)
    if cp.returncode != 0 or res is None:
        return {"error": (cp.stderr or cp.stdout)[-1500:]}
    res["process_s"] = time.perf_counter() - t0
    return res


def _child(mode: str, path: str, extra: list[str]) -> dict:
    t0 = time.perf_counter()
    from aimcol import Repo

    t_import = time.perf_counter() - t0
    if mode in ("index_build", "index_first_answer"):
        from aimcol.format.index_builder import builder_running

        repo = Repo(path)
        while builder_running(repo.layout):  # one started by an earlier measurement would save its index
            time.sleep(0.2)
        # the index file removed (the change journal kept, as in any repository writers use)
        index = Path(path) / ".aimcol" / "index" / "runs.aimcolidx"
        index.unlink(missing_ok=True)
        t0 = time.perf_counter()
        if mode == "index_build":  # the whole build in this process, as Repo.wait_for_index() does it
            n = repo.wait_for_index()
            return {"import_s": t_import, "first_index_build_s": time.perf_counter() - t0, "runs": n}
        import warnings

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            n = sum(1 for _ in repo.query_runs("").iter_runs())
        first = time.perf_counter() - t0
        # the background builder the first reader started: until its file holds every run
        from aimcol.format.index_file import read_index_file
        from aimcol.format.run_index import forget_indexes

        total = len(repo.run_hashes())
        while True:
            time.sleep(0.5)
            try:
                rows = read_index_file(repo.layout)[0].num_rows
            except Exception:  # noqa: BLE001 - being replaced
                continue
            if rows >= total and not builder_running(repo.layout):
                break
        built = time.perf_counter() - t0
        forget_indexes()
        t1 = time.perf_counter()
        after = len(repo.query_runs(""))
        return {
            "import_s": t_import,
            "first_answer_s": first,
            "first_answer_runs": n,
            "warned": [str(w.message)[:160] for w in caught],
            "background_build_done_s": built,
            "runs": total,
            "query_after_build_s": time.perf_counter() - t1,
            "runs_after_build": after,
        }
    if mode == "query_runs":
        queries = json.loads(extra[0])
        out = {"import_s": t_import, "cold_s": {}, "warm_s": {}, "matches": {}}
        repo = None
        for q in queries:  # the first one is cold: it opens the repository and loads the index
            t0 = time.perf_counter()
            repo = repo or Repo(path)
            out["matches"][q] = sum(1 for _ in repo.query_runs(q).iter_runs())
            out["cold_s"][q] = time.perf_counter() - t0
        for q in queries:
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                sum(1 for _ in repo.query_runs(q).iter_runs())
                times.append(time.perf_counter() - t0)
            out["warm_s"][q] = sorted(times)[len(times) // 2]
        return out
    if mode == "one_metric":
        t0 = time.perf_counter()
        repo = Repo(path)
        points = seqs = 0
        for metric in repo.query_metrics(extra[0]):
            _steps, values = metric.sparse_numpy()
            points += len(values)
            seqs += 1
        return {"import_s": t_import, "seconds": time.perf_counter() - t0, "sequences": seqs, "points": points}
    if mode == "runs_table":
        metrics = json.loads(extra[0]) if extra else None
        t0 = time.perf_counter()
        table = Repo(path).runs_table(metrics=metrics)
        return {
            "import_s": t_import,
            "seconds": time.perf_counter() - t0,
            "rows": table.num_rows,
            "columns": table.num_columns,
        }
    if mode == "sequences_table":
        t0 = time.perf_counter()
        table = Repo(path).sequences_table()
        return {"import_s": t_import, "seconds": time.perf_counter() - t0, "rows": table.num_rows}
    if mode == "tui_sequences":  # the TUI's metric columns: what its worker loads after the first paint
        from aimcol.tui.repo_source import RepoSource

        t0 = time.perf_counter()
        table = RepoSource(Repo(path)).load_sequences()
        return {"import_s": t_import, "seconds": time.perf_counter() - t0, "rows": table.num_rows}
    if mode == "dask_last":
        return _dask_last(path, extra[0], json.loads(extra[1]), t_import)
    if mode == "arrow_last":
        return _arrow_last(path, extra[0], t_import)
    if mode == "duckdb_last":
        return _duckdb_last(path, extra[0], t_import)
    raise SystemExit(f"unknown child mode {mode}")


W9_SCANS = (
    ("metric.name == 'loss' and metric.context.subset == 'train'", ["run"]),  # one metric: 1 sequence a run
    ("", ["run"]),  # everything: the last point of each run
    ("", ["run", "name", "context"]),  # everything: the last value of each sequence
)
"""The group-by-last-value scans of W9: ``(query, group-by columns)``."""


def _dask_last(path: str, query: str, by: list[str], t_import: float) -> dict:
    """``to_dask(query)`` then ``groupby(by).value.last()`` on a 2-worker LocalCluster (the
    scheduler runs in this process, the workers in two others); each figure's parts apart."""
    t1 = time.perf_counter()
    import resource

    import dask.dataframe  # noqa: F401 - imported apart (import_s), as the workers' below
    from dask.distributed import Client, LocalCluster, get_task_stream

    from aimcol import Repo

    t_import += time.perf_counter() - t1
    repo = Repo(path)
    load = os.getloadavg()[0]
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
        ) as cluster,
        Client(cluster) as client,
    ):
        client.run(lambda: [__import__(m) for m in ("aimcol.sdk.scans", "dask.dataframe")])  # not the scan's
        rss_before = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        t0 = time.perf_counter()
        frame = repo.to_dask(query=query)
        t1 = time.perf_counter()
        with get_task_stream(client) as stream:
            last = frame.groupby(by)["value"].last().compute()
        t2 = time.perf_counter()
        workers = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    task_s: dict[str, float] = {}  # compute seconds of the workers' tasks, by kind
    for task in stream.data:
        kind = task["key"][0] if isinstance(task["key"], tuple) else task["key"]
        kind = kind.rsplit("-", 1)[0] if kind[-32:].isalnum() else kind
        for part in task["startstops"]:
            task_s[f"{kind} {part['action']}"] = (
                task_s.get(f"{kind} {part['action']}", 0.0) + part["stop"] - part["start"]
            )
    return {
        "import_s": t_import,
        "query": query,
        "by": by,
        "to_dask_s": t1 - t0,
        "compute_s": t2 - t1,
        "seconds": t2 - t0,
        "partitions": frame.npartitions,
        "tasks": len(stream.data),
        "task_s": {k: round(v, 2) for k, v in sorted(task_s.items(), key=lambda kv: -kv[1])},
        "groups": len(last),
        "sum_of_last": float(last.sum()),
        "worker_peak_rss_mb": sorted(round(v, 1) for v in workers.values()),
        "worker_rss_after_start_mb": sorted(round(v, 1) for v in rss_before.values()),
        "load_before": load,
        "load_after": os.getloadavg()[0],
    }


def _selected_keys(repo, query: str):
    """``(run, seq)`` of the sequences ``query`` selects, for joining the dataset's rows; None
    for every sequence."""
    import pyarrow as pa

    if not query:
        return None
    table = repo.sequences_table(query)
    return pa.table({"run": table.column("run"), "seq": table.column("seq_id").cast(pa.uint32())})


def _arrow_last(path: str, query: str, t_import: float) -> dict:
    """The reference: pyarrow's Acero over ``repo.to_dataset()``, the last value of each (run,
    seq) in file order (sealed files hold a sequence's rows sorted by step, once each)."""
    import pyarrow.acero as ac
    import pyarrow.compute as pc
    import pyarrow.dataset as pads

    from aimcol import Repo

    repo = Repo(path)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    dataset = repo.to_dataset()
    t1 = time.perf_counter()
    keys = _selected_keys(repo, query)
    columns = ["run", "seq", "step", "value"]
    plan = [
        ac.Declaration("scan", ac.ScanNodeOptions(dataset, columns=columns)),
        ac.Declaration("project", ac.ProjectNodeOptions([pads.field(c) for c in columns], columns)),
    ]
    scan = ac.Declaration.from_sequence(plan)
    if keys is not None:
        source = ac.Declaration("table_source", ac.TableSourceNodeOptions(keys))
        scan = ac.Declaration(
            "hashjoin", ac.HashJoinNodeOptions("left semi", ["run", "seq"], ["run", "seq"]), inputs=[scan, source]
        )
    aggregate = ac.Declaration(
        "aggregate", ac.AggregateNodeOptions([("value", "hash_last", None, "last")], keys=["run", "seq"]), inputs=[scan]
    )
    table = aggregate.to_table(use_threads=False)
    t2 = time.perf_counter()
    return {
        "import_s": t_import,
        "query": query,
        "to_dataset_s": t1 - t0,
        "scan_s": t2 - t1,
        "seconds": t2 - t0,
        "groups": table.num_rows,
        "sum_of_last": pc.sum(table.column("last")).as_py(),
        "load_before": load,
        "load_after": os.getloadavg()[0],
    }


def _duckdb_last(path: str, query: str, t_import: float) -> dict:
    """The reference: DuckDB (2 threads) over ``repo.to_dataset()``, ``arg_max(value, step)``
    per (run, seq)."""
    import duckdb

    from aimcol import Repo

    repo = Repo(path)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    dataset = repo.to_dataset()  # noqa: F841 - DuckDB reads it by its name
    t1 = time.perf_counter()
    keys = _selected_keys(repo, query)  # noqa: F841
    con = duckdb.connect()
    con.execute("SET threads = 2")
    join = "SEMI JOIN keys k ON d.run = k.run AND d.seq = k.seq" if keys is not None else ""
    n, total = con.execute(
        f"SELECT count(*), sum(v) FROM (SELECT d.run, d.seq, arg_max(d.value, d.step) AS v FROM dataset d {join} "
        "GROUP BY ALL)"
    ).fetchone()
    t2 = time.perf_counter()
    return {
        "import_s": t_import,
        "query": query,
        "to_dataset_s": t1 - t0,
        "scan_s": t2 - t1,
        "seconds": t2 - t0,
        "groups": n,
        "sum_of_last": total,
        "load_before": load,
        "load_after": os.getloadavg()[0],
    }


def last_value_scans(path: str, repeat: int) -> list[dict]:
    """Each of :data:`W9_SCANS` with ``to_dask`` on 2 workers, then the same last values with
    pyarrow and DuckDB over ``to_dataset()`` (per (run, seq): everything; pyarrow alone for the
    one-metric query), each a fresh process, the engines interleaved ``repeat`` times."""
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    out = []
    for _ in range(repeat):
        for query, by in W9_SCANS:
            res = child("dask_last", path, [query, json.dumps(by)])
            log(f"  to_dask {query!r} by {by}: {res}")
            out.append({"engine": "dask", **res})
            if by != ["run", "name", "context"]:
                continue
            for engine in ("arrow", "duckdb"):
                res = child(f"{engine}_last", path, [query])
                log(f"  {engine} {query!r}: {res}")
                out.append({"engine": engine, **res})
        # pyarrow only: DuckDB's semi-join of the one-metric query reached 20 GB on W9
        res = child("arrow_last", path, [W9_SCANS[0][0]])
        log(f"  arrow {W9_SCANS[0][0]!r}: {res}")
        out.append({"engine": "arrow", **res})
    return out


def runs_ls(path: str, repeat: int = 1) -> dict:
    """``aimcol runs ls --json`` and ``aimcol runs ls`` as a user runs them, ``repeat`` times
    each, alternating: wall time and the process's peak RSS of each, and the medians."""
    import statistics
    import tempfile

    def once(*extra: str) -> dict:
        t0 = time.perf_counter()
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "aimcol", "runs", "ls", *extra, "--repo", path],
                stdout=out,
                stderr=err,
                env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
            )
            _, status, usage = os.wait4(proc.pid, 0)
            seconds = time.perf_counter() - t0
            err.seek(0)
            if os.waitstatus_to_exitcode(status) != 0:
                return {"error": err.read().decode()[-800:]}
            return {
                "seconds": seconds,
                "cpu_s": usage.ru_utime + usage.ru_stime,
                "bytes_out": out.tell(),
                "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            }

    runs = {"json": [], "text": []}
    for _ in range(repeat):
        runs["json"].append(once("--json"))
        runs["text"].append(once())
    res: dict = {"runs": runs}
    for form, got in runs.items():
        ok = [r for r in got if "error" not in r]
        if ok:
            res[f"{form}_median_s"] = statistics.median(r["seconds"] for r in ok)
            res[f"{form}_median_cpu_s"] = statistics.median(r["cpu_s"] for r in ok)
            res[f"{form}_peak_rss_mb"] = max(r["peak_rss_mb"] for r in ok)
    return res


def first_paint(path: str, repeat: int) -> dict:
    try:
        import tui_bench
    except ImportError as e:
        return {"skipped": f"tui_bench: {e}"}
    try:
        results = tui_bench.first_paint(path, repeat)
    except (SystemExit, Exception) as e:  # a benchmark reports, it does not stop
        return {"error": str(e)[-800:]}
    secs = sorted(r["from_launch"] for r in results)
    return {
        "from_launch_s_median": secs[len(secs) // 2],
        "from_launch_s": secs,
        "in_process_s": sorted(r["seconds"] for r in results),
        "runs_listed": results[-1].get("rows"),
        "peak_rss_mb": max(r.get("peak_rss_mb", 0) for r in results),
    }


# -- driver ------------------------------------------------------------------------------------
def main(argv=None) -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        emit(_child(sys.argv[2], sys.argv[3], sys.argv[4:]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workload", choices=("w9", "w10"))
    ap.add_argument("--runs", type=int)
    ap.add_argument("--sequences", type=int, default=10, help="W9 sequences per run")
    ap.add_argument("--metrics", type=int, default=1500, help="W10 metrics per run")
    ap.add_argument("--steps", type=int)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--resume", action="store_true", help="W9: write the runs a stopped build did not")
    ap.add_argument("--skip-extras", action="store_true", help="only the index, query_runs and runs ls")
    ap.add_argument(
        "--skip-scans",
        "--skip-dask",
        dest="skip_scans",
        action="store_true",
        help="W9: no group-by-last-value scans (to_dask, pyarrow)",
    )
    ap.add_argument("--scan-repeat", type=int, default=1, help="W9: times each scan is measured (interleaved)")
    ap.add_argument("--scans-only", action="store_true", help="W9: only the group-by-last-value scans")
    ap.add_argument("--out", help="raw figures to this file (default benchmarks/results/<w>.json)")
    ap.add_argument("--path", help="the repository (default benchmarks/.work/<w>-<shape>; built there once)")
    args = ap.parse_args(argv)
    if args.workload == "w9":
        args.runs = args.runs or 100_000
        args.steps = args.steps or 1_000
        shape = f"{args.runs}x{args.sequences}x{args.steps}"
    else:
        args.runs = args.runs or 1_500
        args.steps = args.steps or 20
        shape = f"{args.runs}x{args.metrics}x{args.steps}"
    path = Path(args.path) if args.path else HERE / ".work" / f"{args.workload}-{shape}"
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    log(f"{args.workload}: building {shape} in {path} …")
    res: dict = {
        "workload": args.workload,
        "shape": shape,
        "command": " ".join(sys.argv),
        "build": build(args.workload, path, args),
    }
    log(f"  {res['build']}")
    p = str(path)
    if args.scans_only:
        res["last_value_scans"] = last_value_scans(p, args.scan_repeat)
        out = Path(args.out) if args.out else HERE / "results" / f"{args.workload}-scans.json"
        out.write_text(json.dumps(res, indent=1, default=str))
        print(json.dumps(res, indent=1, default=str))
        return 0
    res["build"]["runs_found"] = len(os.listdir(path / ".aimcol" / "runs"))
    res["first_query_index_on_disk"] = child("query_runs", p, [json.dumps([""])])
    log(f"  first query, index file as the writers left it: {res['first_query_index_on_disk']}")
    res["first_answer_without_index"] = child("index_first_answer", p)
    log(f"  no index, first answer: {res['first_answer_without_index']}")
    res["first_index_build"] = child("index_build", p)
    log(f"  index: {res['first_index_build']}")
    queries = list(W9_QUERIES) if args.workload == "w9" else ["", W10_QUERY]
    res["query_runs"] = [child("query_runs", p, [json.dumps(queries)]) for _ in range(args.repeat)]
    log(f"  query_runs: {res['query_runs'][-1]}")
    res["runs_ls"] = runs_ls(p, args.repeat)
    log(f"  runs ls: {res['runs_ls']}")
    if args.workload == "w10":
        res["one_metric"] = child("one_metric", p, ["metric.name == 'metric_0007'"])
        log(f"  one metric: {res['one_metric']}")
        res["runs_table"] = child("runs_table", p, [json.dumps(["metric_0007", "metric_0100"])])
        log(f"  runs table with metric columns: {res['runs_table']}")
        res["sequences_table"] = child("sequences_table", p)
        log(f"  sequences table: {res['sequences_table']}")
        res["tui_sequences"] = child("tui_sequences", p)
        log(f"  the TUI's metric columns: {res['tui_sequences']}")
    elif not args.skip_extras and not args.skip_scans:
        res["last_value_scans"] = last_value_scans(p, args.scan_repeat)
    if not args.skip_extras:
        res["tui_first_paint"] = first_paint(p, args.repeat)
        log(f"  first paint: {res['tui_first_paint']}")
    out = Path(args.out) if args.out else HERE / "results" / f"{args.workload}.json"
    out.write_text(json.dumps(res, indent=1, default=str))
    print(json.dumps(res, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
