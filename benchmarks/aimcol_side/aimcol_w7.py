"""W7 long sequence for aimcol (project venv, a fresh process per measurement).

  ingest --variant track        one run, one sequence: ``run.track(v, name="loss", step=i)``
                                ``--points`` times (default 10,000,000), then ``close()``
  ingest --variant track_array  the same points through ``run.track_array`` in 1M-point chunks
  read                          in a new process: open the run, the values and steps as NumPy,
                                the sequence as an Arrow table, and the TUI's down-sampling of
                                it to a 160-column plot (min/max per pixel column)

The values are an exact function of the step, so ``read`` also checks every point. Prints
one BENCH_RESULT line.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from bench_common import dir_bytes, emit, fresh_dir, track_w7, w7_values  # noqa: E402

CHUNK = 1_000_000


def ingest(args) -> dict:
    root = fresh_dir(args.repo)
    t0 = time.perf_counter()
    import numpy as np

    from aimcol import Run
    from aimcol.sdk.run import ACCELERATED

    t_import = time.perf_counter() - t0
    run = Run(repo=str(root), system_tracking_interval=None, capture_terminal_logs=False)
    empty = dir_bytes(root)["apparent"]
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
    size = dir_bytes(root)
    return {
        "tool": "aimcol",
        "mode": "ingest",
        "variant": args.variant,
        "c_fast_path": ACCELERATED,
        "run": run.hash,
        "points": n,
        "import_s": t_import,
        "loop_s": t_loop,
        "close_s": t_close,
        "ingest_s": t_loop + t_close,
        "us_per_point": (t_loop + t_close) / n * 1e6,
        "bytes_per_point": (size["apparent"] - empty) / n,
    }


def read(args) -> dict:
    t_start = time.perf_counter()
    import numpy as np

    from aimcol import Repo
    from aimcol.tui.downsample import minmax_buckets

    t_import = time.perf_counter() - t_start
    t0 = time.perf_counter()
    repo = Repo.from_path(args.repo)
    (run,) = list(repo.iter_runs())
    metric = run.get_metric("loss")
    t_open = time.perf_counter() - t0
    t0 = time.perf_counter()
    steps, values = metric.values.sparse_numpy()
    t_numpy = time.perf_counter() - t0
    t0 = time.perf_counter()
    table = metric.reload().to_arrow()
    t_arrow = time.perf_counter() - t0
    t0 = time.perf_counter()
    buckets = minmax_buckets(steps.astype(np.float64), values, float(steps[0]), float(steps[-1]), 160)
    t_down = time.perf_counter() - t0
    n = args.points
    correct = (
        len(values) == n
        and table.num_rows == n
        and bool(np.array_equal(steps, np.arange(n)))
        and bool(np.array_equal(values, w7_values(0, n)))
        and bool(buckets.valid.all())
    )
    return {
        "tool": "aimcol",
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
    ap.add_argument("--repo", required=True)
    ap.add_argument("--points", type=int, default=10_000_000)
    ap.add_argument("--variant", choices=("track", "track_array"), default="track")
    args = ap.parse_args()
    emit(ingest(args) if args.mode == "ingest" else read(args))


if __name__ == "__main__":
    main()
