"""W7 long sequence for real Aim 3.29.1 (runs in benchmarks/.venvs/aim; never imports aimcol).

  ingest   one run, one sequence: ``run.track(v, name="loss", step=i)`` ``--points`` times
           (fewer than aimcol's 10,000,000: Aim's per-call cost makes that take an hour), then
           the reindex without which Aim's readers do not find the run
  read     in a new process: open the run and read the sequence's steps and values as NumPy
           (``metric.data.view(...).numpy()``, as Aim's own explorer does); Aim has no Arrow
           output and no down-sampling API to compare.

Same values as aimcol's side (``bench_common.w7_values``), checked point by point.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from bench_common import assert_no_aimcol, dir_bytes, emit, fresh_dir, track_w7, w7_values  # noqa: E402


def ingest(args) -> dict:
    root = fresh_dir(args.repo)
    t0 = time.perf_counter()
    from aim import Run

    t_import = time.perf_counter() - t0
    assert_no_aimcol()
    run = Run(repo=str(root), system_tracking_interval=None, capture_terminal_logs=False)
    run_hash = run.hash
    empty = dir_bytes(root / ".aim")["apparent"]
    n = args.points
    t_loop = track_w7(run.track, n)
    t0 = time.perf_counter()
    run.close()
    t_close = time.perf_counter() - t0
    size = dir_bytes(root / ".aim")
    from aim import Repo

    t0 = time.perf_counter()
    Repo.from_path(str(root))._recreate_index()  # what `aim storage reindex --yes` calls
    t_reindex = time.perf_counter() - t0
    return {
        "tool": "aim",
        "mode": "ingest",
        "variant": "track",
        "run": run_hash,
        "points": n,
        "import_s": t_import,
        "loop_s": t_loop,
        "close_s": t_close,
        "ingest_s": t_loop + t_close,
        "us_per_point": (t_loop + t_close) / n * 1e6,
        "bytes_per_point": (size["apparent"] - empty) / n,
        "reindex_s": t_reindex,
    }


def read(args) -> dict:
    t_start = time.perf_counter()
    import numpy as np
    from aim import Repo
    from aim.storage.context import Context

    t_import = time.perf_counter() - t_start
    assert_no_aimcol()
    t0 = time.perf_counter()
    repo = Repo.from_path(args.repo)
    (run,) = list(repo.iter_runs())  # ingest ran the reindex Aim needs before this finds it
    metric = run.get_metric("loss", Context({}))
    t_open = time.perf_counter() - t0
    t0 = time.perf_counter()
    steps, (values,) = metric.data.view("val").numpy()
    t_numpy = time.perf_counter() - t0
    n = args.points
    correct = (
        len(values) == n
        and bool(np.array_equal(np.asarray(steps), np.arange(n)))
        and bool(np.array_equal(np.asarray(values, dtype=np.float64), w7_values(0, n)))
    )
    return {
        "tool": "aim",
        "mode": "read",
        "points": n,
        "import_s": t_import,
        "open_s": t_open,
        "read_numpy_s": t_numpy,
        "read_arrow_s": None,
        "downsample_s": None,
        "read_numpy_ns_per_point": t_numpy / n * 1e9,
        "correct": correct,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=("ingest", "read"))
    ap.add_argument("--repo", required=True)
    ap.add_argument("--points", type=int, default=100_000)
    args = ap.parse_args()
    emit(ingest(args) if args.mode == "ingest" else read(args))


if __name__ == "__main__":
    main()
