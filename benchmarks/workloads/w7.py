"""W7 long sequence, one script for aimcol and Aim (a fresh process per measurement).

  ingest --variant track        one run, one sequence: ``run.track(v, name="loss", step=i)``
                                ``--points`` times, then ``close()`` (and, for Aim, the reindex
                                without which its readers do not find the run)
  ingest --variant track_array  aimcol only: the same points through ``track_array`` in
                                1M-point chunks
  read                          in a new process: open the run and read the sequence's steps
                                and values as NumPy; aimcol also as an Arrow table and
                                down-sampled to a 160-column plot with the TUI's min/max
                                reduction (Aim has neither API)

  --impl aimcol|aim   (Aim runs fewer points: its per-call cost makes 10M take an hour)

The values are an exact function of the step (``bench_common.w7_values``), so ``read`` checks
every point. Prints one BENCH_RESULT line.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tools  # noqa: E402
from bench_common import dir_bytes, emit, fresh_dir, track_w7, w7_values  # noqa: E402

CHUNK = 1_000_000


def ingest(tool, args) -> dict:
    root = fresh_dir(args.repo)
    t_import = tool.import_sdk()
    import numpy as np

    run = tool.new_run(root)
    run_hash = run.hash
    store = tool.store_dir(root)
    empty = dir_bytes(store)["apparent"]
    n = args.points
    if args.variant == "track":
        t_loop = track_w7(run.track, n)
    else:
        t0 = time.perf_counter()
        for lo in range(0, n, CHUNK):
            hi = min(n, lo + CHUNK)
            run.track_array(w7_values(lo, hi), name="loss", steps=np.arange(lo, hi, dtype=np.int64))
        t_loop = time.perf_counter() - t0
    t0 = time.perf_counter()
    run.close()
    t_close = time.perf_counter() - t0
    size = dir_bytes(store)
    return {
        "mode": "ingest",
        "variant": args.variant,
        "run": run_hash,
        "points": n,
        "import_s": t_import,
        "loop_s": t_loop,
        "close_s": t_close,
        "ingest_s": t_loop + t_close,
        "us_per_point": (t_loop + t_close) / n * 1e6,
        "bytes_per_point": (size["apparent"] - empty) / n,
        "reindex_s": tool.reindex(root),
    }


def read(tool, args) -> dict:
    t_import = tool.import_sdk()
    import numpy as np

    t0 = time.perf_counter()
    repo = tool.open_repo(Path(args.repo))
    (run,) = list(repo.iter_runs())
    metric = tool.get_metric(run, "loss", {})
    t_open = time.perf_counter() - t0
    t0 = time.perf_counter()
    steps, values = tool.numpy(metric)
    t_numpy = time.perf_counter() - t0
    n = args.points
    correct = (
        len(values) == n
        and bool(np.array_equal(np.asarray(steps), np.arange(n)))
        and bool(np.array_equal(np.asarray(values, dtype=np.float64), w7_values(0, n)))
    )
    t_arrow = t_down = None
    if tool.name == "aimcol":
        from aimcol.tui.downsample import minmax_buckets

        t0 = time.perf_counter()
        table = metric.reload().to_arrow()
        t_arrow = time.perf_counter() - t0
        t0 = time.perf_counter()
        buckets = minmax_buckets(steps.astype(np.float64), values, float(steps[0]), float(steps[-1]), 160)
        t_down = time.perf_counter() - t0
        correct = correct and table.num_rows == n and bool(buckets.valid.all())
    return {
        "mode": "read",
        "points": n,
        "import_s": t_import,
        "open_s": t_open,
        "read_numpy_s": t_numpy,
        "read_arrow_s": t_arrow,
        "downsample_s": t_down,
        "read_numpy_ns_per_point": t_numpy / n * 1e9,
        "correct": correct,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=("ingest", "read"))
    ap.add_argument("--impl", choices=("aimcol", "aim"), required=True)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--points", type=int, default=10_000_000)
    ap.add_argument("--variant", choices=("track", "track_array"), default="track")
    args = ap.parse_args()
    if args.variant == "track_array" and args.impl != "aimcol":
        raise SystemExit("--variant track_array is aimcol's")
    tool = tools.load(args.impl)
    res = ingest(tool, args) if args.mode == "ingest" else read(tool, args)
    emit({"tool": tool.name, "impl": args.impl, "version": tool.version(), **res})


if __name__ == "__main__":
    main()
