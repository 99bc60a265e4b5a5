"""W3 concurrent writers, one script for aimcol and Aim.

  run      the parent: starts ``--writers`` writer processes at once into one repository and,
           while they write, queries it in a loop (``query_metrics("metric.name == 'loss'")``
           with every value as NumPy, a fresh repository object each time); then does what the
           tool needs before readers see finished runs (Aim: its reindex) and checks every point
  writer   one run, W1's shape (10 names x 2 contexts) at ``--steps`` steps, values an exact
           function of (sequence, step), so the check can tell a lost or wrong point

  --impl aimcol|aim
  --repo a folder, or for aimcol an object-store location (objstore_workloads.py)

Prints one BENCH_RESULT line.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tools  # noqa: E402
from bench_common import W1_NAMES, emit, fresh_dir, fresh_repo, is_uri, repo_location, w3_value  # noqa: E402
from concurrent_harness import main, run_parent, write_w3_run  # noqa: E402

QUERY = "metric.name == 'loss'"


def writer(tool, args) -> None:
    run = tool.new_run(repo_location(args.repo))
    with open(os.path.join(args.hashes, f"{args.index}.hash"), "w") as f:
        f.write(run.hash)
    t0 = time.perf_counter()
    write_w3_run(run.track, args.steps)
    run.close()
    emit({"writer_s": time.perf_counter() - t0, "run": run.hash})


def check(tool, root: Path, hashes: list[str], steps: int) -> dict:
    """Every writer's every point, compared with what it tracked."""
    import numpy as np

    repo = tool.open_repo(root)
    expected_steps = np.arange(steps)
    missing = wrong = 0
    for h in hashes:
        run = repo.get_run(h)
        for k, name in enumerate(W1_NAMES):
            for j, subset in enumerate(("train", "val")):
                metric = tool.get_metric(run, name, {"subset": subset}) if run is not None else None
                if metric is None:
                    missing += steps
                    continue
                got_steps, values = tool.numpy(metric)
                got_steps = np.asarray(got_steps)
                missing += steps - len(np.intersect1d(got_steps, expected_steps))
                want = np.array([w3_value(2 * k + j, int(s)) for s in got_steps])
                wrong += int(np.count_nonzero(np.asarray(values, dtype=np.float64) != want))
    return {"points_missing": missing, "points_wrong": wrong}


def parent(tool, args) -> None:
    root = fresh_repo(args.repo)
    hashes_dir = Path(tempfile.mkdtemp(prefix="w3-hashes-")) if is_uri(root) else root.parent / (root.name + "-hashes")
    fresh_dir(hashes_dir)
    tool.init_repo(root)  # as `aimcol init` / `aim init` before a job array starts

    def count_points() -> int:
        repo = tool.open_repo(root)
        return sum(len(tool.numpy(m)[1]) for m in tool.query_metrics(repo, QUERY))

    def finish(hashes: list[str]) -> dict:
        reindex_s = tool.reindex(root)
        return {"reindex_s": reindex_s, **check(tool, root, hashes, args.steps)}

    result = run_parent(tool.name, args, root, hashes_dir, __file__, count_points, finish)
    emit({**result, "impl": args.impl, "version": tool.version()})


if __name__ == "__main__":
    main(writer, parent, impls=("aimcol", "aim"), load=tools.load)
