"""W2 many runs for aimcol (project venv; each mode in its own fresh process).

  ingest   200 runs x (loss, acc) x (train, val) x --steps steps with hparams, experiment,
           tags: the same plan and loop as peers/aim_w2.py
  query    a new process: open the repo, query_runs("run.hparams.batch_size > 32"), then
           query_metrics for the selective query and for every 'loss', every value as NumPy.
           If this aimcol has no AimQL yet, prints a result with "skipped" and the reason.

aimcol needs no reindex step: its runs are queryable the moment they are written.
Prints one BENCH_RESULT line.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from bench_common import (  # noqa: E402
    W2_QUERY_ALL_LOSS,
    W2_QUERY_RUNS,
    W2_QUERY_SELECTIVE,
    dir_bytes,
    emit,
    fresh_dir,
    w2_expected,
    w2_plan,
)


def ingest(args) -> dict:
    root = fresh_dir(args.repo)
    t0 = time.perf_counter()
    from aimcol import Run

    t_import = time.perf_counter() - t0
    plan = w2_plan(args.runs)
    t_create = t_track = t_close = 0.0
    t_all = time.perf_counter()
    for spec in plan:
        rng = random.Random(spec["seed"])
        noise = [rng.gauss(0.0, 0.01) for _ in range(args.steps)]
        t0 = time.perf_counter()
        run = Run(
            repo=str(root),
            experiment=spec["experiment"],
            system_tracking_interval=None,
            capture_terminal_logs=False,
        )
        run["hparams"] = spec["hparams"]
        for tag in spec["tags"]:
            run.add_tag(tag)
        t1 = time.perf_counter()
        for i in range(args.steps):
            loss = 1.0 / (1 + i * 0.01) + noise[i]
            acc = 1.0 - loss
            run.track(loss, name="loss", step=i, context={"subset": "train"})
            run.track(loss * 1.05, name="loss", step=i, context={"subset": "val"})
            run.track(acc, name="acc", step=i, context={"subset": "train"})
            run.track(acc * 0.95, name="acc", step=i, context={"subset": "val"})
        t2 = time.perf_counter()
        run.close()
        t3 = time.perf_counter()
        t_create += t1 - t0
        t_track += t2 - t1
        t_close += t3 - t2
    t_all = time.perf_counter() - t_all
    points = args.runs * 4 * args.steps
    size = dir_bytes(root)
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
        "bytes": size["apparent"],
        "bytes_per_point": size["apparent"] / points,
    }


def query(args) -> dict:
    t_start = time.perf_counter()
    from aimcol import Repo

    t_import = time.perf_counter() - t_start
    t0 = time.perf_counter()
    repo = Repo(args.repo)
    t_open = time.perf_counter() - t0

    t0 = time.perf_counter()
    try:
        result = repo.query_runs(W2_QUERY_RUNS)
        n_runs = sum(1 for _ in result.iter_runs())
    except (ImportError, NotImplementedError, AttributeError) as e:
        return {
            "mode": "query",
            "skipped": f"aimcol has no working query_runs yet ({type(e).__name__}: {e})",
            "import_s": t_import,
            "open_s": t_open,
        }
    t_runs = time.perf_counter() - t0

    def fetch(q: str) -> tuple[float, int, int]:
        t = time.perf_counter()
        seqs = points = 0
        for metric in repo.query_metrics(q):
            steps, values = metric.sparse_numpy()
            seqs += 1
            points += len(values)
        return time.perf_counter() - t, seqs, points

    t_sel, sel_seqs, sel_points = fetch(W2_QUERY_SELECTIVE)
    t_all, all_seqs, all_points = fetch(W2_QUERY_ALL_LOSS)
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
        "open_s": t_open,
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
    ap.add_argument("mode", choices=("ingest", "query"))
    ap.add_argument("--repo", required=True)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--steps", type=int, default=1000)
    args = ap.parse_args()
    res = ingest(args) if args.mode == "ingest" else query(args)
    import aimcol

    res.update({"tool": "aimcol", "version": aimcol.__version__})
    emit(res)


if __name__ == "__main__":
    main()
