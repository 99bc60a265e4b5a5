"""W3 concurrent writers for aimcol (project venv).

  run      the parent: starts ``--writers`` writer processes at once into one repository and,
           while they write, queries it in a loop (``query_metrics("metric.name == 'loss'")``
           with every value as NumPy, a fresh ``Repo`` each time); then checks every point
  writer   one run, W1's shape (10 names x 2 contexts) at ``--steps`` steps, values an exact
           function of (sequence, step), so the check can tell a lost or wrong point

Prints one BENCH_RESULT line.
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from bench_common import W1_NAMES, emit, fresh_dir, w3_value  # noqa: E402
from concurrent_harness import main, run_parent, write_w3_run  # noqa: E402

QUERY = "metric.name == 'loss'"


def writer(args) -> None:
    from aimcol import Run

    run = Run(repo=args.repo, system_tracking_interval=None, capture_terminal_logs=False)
    with open(os.path.join(args.hashes, f"{args.index}.hash"), "w") as f:
        f.write(run.hash)
    t0 = time.perf_counter()
    write_w3_run(run.track, args.steps)
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

    def count_points() -> int:
        return sum(len(m.values_numpy()) for m in Repo(str(root)).query_metrics(QUERY))

    emit(
        run_parent(
            "aimcol",
            args,
            root,
            hashes_dir,
            __file__,
            count_points,
            lambda hashes: check(str(root), hashes, args.steps),
        )
    )


if __name__ == "__main__":
    main(writer, parent, default_steps=10_000)
