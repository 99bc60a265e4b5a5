"""W3 concurrent writers for aimcol (project venv).

  run      the parent: starts ``--writers`` writer processes at once into one repository and,
           while they write, queries it in a loop (``query_metrics("metric.name == 'loss'")``
           with every value as NumPy, a fresh ``Repo`` each time); then checks every point
  writer   one run, W1's shape (10 names x 2 contexts) at ``--steps`` steps, values an exact
           function of (sequence, step), so the check can tell a lost or wrong point

Prints one BENCH_RESULT line.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from bench_common import W1_NAMES, emit, fresh_dir, parse_result, w3_value  # noqa: E402
from concurrent_harness import start_writers, wait_writers  # noqa: E402

QUERY = "metric.name == 'loss'"


def writer(args) -> None:
    from aimcol import Run

    run = Run(repo=args.repo, system_tracking_interval=None, capture_terminal_logs=False)
    with open(os.path.join(args.hashes, f"{args.index}.hash"), "w") as f:
        f.write(run.hash)
    t0 = time.perf_counter()
    for i in range(args.steps):
        for k, name in enumerate(W1_NAMES):
            run.track(w3_value(2 * k, i), name=name, step=i, context={"subset": "train"})
            run.track(w3_value(2 * k + 1, i), name=name, step=i, context={"subset": "val"})
    run.close()
    emit({"writer_s": time.perf_counter() - t0, "run": run.hash})


def check(repo_path: str, hashes: list[str], steps: int) -> dict:
    """Every writer's every point, compared with what it tracked."""
    import numpy as np

    from aimcol import Repo

    repo = Repo(repo_path)
    missing = wrong = 0
    expected_steps = np.arange(steps)
    for h in hashes:
        run = repo.get_run(h)
        for k, name in enumerate(W1_NAMES):
            for j, subset in enumerate(("train", "val")):
                metric = run.get_metric(name, {"subset": subset}) if run is not None else None
                if metric is None:
                    missing += steps
                    continue
                got_steps, values = metric.sparse_numpy()
                missing += steps - len(np.intersect1d(got_steps, expected_steps))
                want = np.array([w3_value(2 * k + j, int(s)) for s in got_steps])
                wrong += int(np.count_nonzero(values != want))
    return {"points_missing": missing, "points_wrong": wrong}


def parent(args) -> None:
    root = fresh_dir(args.repo)
    hashes_dir = root / "hashes"
    hashes_dir.mkdir()
    from aimcol import Repo

    Repo(str(root), init=True)  # as `aimcol init` before a job array starts
    procs = start_writers(__file__, args.writers, ["--repo", str(root), "--steps", str(args.steps),
                                                   "--hashes", str(hashes_dir)])
    t0 = time.perf_counter()
    queries = errors = 0
    most_points = 0
    latencies = []
    first_error = None
    while any(p.poll() is None for p in procs):
        t = time.perf_counter()
        try:
            points = sum(len(m.values_numpy()) for m in Repo(str(root)).query_metrics(QUERY))
            most_points = max(most_points, points)
        except Exception as exc:  # what the benchmark counts: a reader error
            errors += 1
            first_error = first_error or f"{type(exc).__name__}: {exc}"
        queries += 1
        latencies.append(time.perf_counter() - t)
    results, writer_errors = wait_writers(procs, parse_result)
    total = time.perf_counter() - t0
    hashes = [(hashes_dir / f"{i}.hash").read_text() for i in range(args.writers) if (hashes_dir / f"{i}.hash").exists()]
    points = args.writers * args.steps * len(W1_NAMES) * 2
    latencies.sort()
    emit({
        "tool": "aimcol",
        "writers": args.writers,
        "steps": args.steps,
        "points": points,
        "total_s": total,
        "points_per_s": points / total,
        "writer_errors": writer_errors,
        "reader_queries": queries,
        "reader_errors": errors,
        "reader_first_error": first_error,
        "reader_most_loss_points_seen": most_points,
        "reader_query_ms_median": latencies[len(latencies) // 2] * 1e3 if latencies else None,
        **check(str(root), hashes, args.steps),
    })


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=("run", "writer"))
    ap.add_argument("--repo", required=True)
    ap.add_argument("--writers", type=int, default=8)
    ap.add_argument("--steps", type=int, default=10_000)
    ap.add_argument("--index", type=int)
    ap.add_argument("--hashes")
    args = ap.parse_args()
    if args.mode == "writer":
        writer(args)
    else:
        parent(args)


if __name__ == "__main__":
    main()
