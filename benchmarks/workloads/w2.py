"""W2 many runs, one script for every tool; each mode in its own fresh process.

  ingest   --runs runs x (loss, acc) x (train, val) x --steps steps, with hparams
           (lr, batch_size), an experiment and 0-2 tags from the same plan for every tool
  reindex  what a tool needs before queries see finished runs (Aim's indexer; nothing else)
  query    a new process: select the runs with batch_size > 32, then fetch the selective
           query (those runs' loss/train) and every loss, every value as NumPy; counts are
           checked against the plan

  --impl aimcol|aim|mlflow|trackio|tensorboard   (benchmarks/tools.py says how each reads)
  --repo a folder, or for aimcol an object-store location (objstore_workloads.py)

Prints one BENCH_RESULT line.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tools  # noqa: E402
from bench_common import emit, fresh_repo, is_uri, repo_location, store_bytes, w2_expected, w2_plan  # noqa: E402

MIN_BATCH = 32  # W2_QUERY_RUNS: run.hparams.batch_size > 32


def ingest(tool, args) -> dict:
    root = fresh_repo(args.repo)
    t_import = tool.import_sdk()
    plan = w2_plan(args.runs)
    t_create = t_track = t_close = 0.0
    t_all = time.perf_counter()
    for spec in plan:
        rng = random.Random(spec["seed"])
        noise = [rng.gauss(0.0, 0.01) for _ in range(args.steps)]
        t0 = time.perf_counter()
        run = tool.new_run(root, experiment=spec["experiment"], hparams=spec["hparams"], tags=spec["tags"])
        t1 = time.perf_counter()
        track = run.track
        for i in range(args.steps):
            loss = 1.0 / (1 + i * 0.01) + noise[i]
            acc = 1.0 - loss
            track(loss, name="loss", step=i, context={"subset": "train"})
            track(loss * 1.05, name="loss", step=i, context={"subset": "val"})
            track(acc, name="acc", step=i, context={"subset": "train"})
            track(acc * 0.95, name="acc", step=i, context={"subset": "val"})
        t2 = time.perf_counter()
        run.close()
        t3 = time.perf_counter()
        t_create += t1 - t0
        t_track += t2 - t1
        t_close += t3 - t2
    t_all = time.perf_counter() - t_all
    points = args.runs * 4 * args.steps
    size = store_bytes(root if is_uri(root) else tool.store_dir(root))
    return {
        "mode": "ingest",
        "runs": args.runs,
        "steps": args.steps,
        "points": points,
        "import_s": t_import,
        "ingest_s": t_all,
        "create_s": t_create,
        "track_s": t_track,
        "close_s": t_close,
        "us_per_point": t_all / points * 1e6,
        "bytes": size,
        "bytes_per_point": size / points,
    }


def reindex(tool, args) -> dict:
    t_import = tool.import_sdk()
    return {"mode": "reindex", "import_s": t_import, "reindex_s": tool.reindex(repo_location(args.repo))}


def query(tool, args) -> dict:
    root = repo_location(args.repo)
    t_start = time.perf_counter()
    t_import = tool.import_sdk()

    t0 = time.perf_counter()
    n_runs = tool.select_runs(root, MIN_BATCH)
    t_runs = time.perf_counter() - t0

    def fetch(subset, min_batch) -> tuple[float, int, int]:
        t = time.perf_counter()
        seqs = points = 0
        for _steps, values in tool.select_metrics(root, "loss", subset, min_batch):
            seqs += 1
            points += len(values)
        return time.perf_counter() - t, seqs, points

    t_sel, sel_seqs, sel_points = fetch("train", MIN_BATCH)
    t_all, all_seqs, all_points = fetch(None, None)
    expected = w2_expected(args.runs, args.steps)
    got = {
        "runs_batch_gt_32": n_runs,
        "selective_sequences": sel_seqs,
        "selective_points": sel_points,
        "all_loss_sequences": all_seqs,
        "all_loss_points": all_points,
    }
    return {
        "mode": "query",
        "runs": args.runs,
        "steps": args.steps,
        "import_s": t_import,
        "query_runs_s": t_runs,
        "query_metrics_selective_s": t_sel,
        "query_metrics_all_loss_s": t_all,
        "total_after_import_s": time.perf_counter() - t_start - t_import,
        **got,
        "expected": expected,
        "correct": got == expected,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=("ingest", "reindex", "query"))
    ap.add_argument("--impl", choices=tools.IMPLS, required=True)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--api", choices=("log_metric", "log_batch"), default="log_batch", help="MLflow's write API")
    args = ap.parse_args()
    tool = tools.load(args.impl, **({"api": args.api} if args.impl == "mlflow" else {}))
    tool.prepare(repo_location(args.repo))
    res = {"ingest": ingest, "reindex": reindex, "query": query}[args.mode](tool, args)
    res.update({"tool": tool.name, "impl": args.impl, "version": tool.version()})
    emit(res)


if __name__ == "__main__":
    main()
