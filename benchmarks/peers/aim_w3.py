"""W3 concurrent writers for real Aim 3.29.1 (runs in benchmarks/.venvs/aim; never imports aimcol).

  run      the parent: starts ``--writers`` writer processes at once into one repository and,
           while they write, queries it in a loop (``query_metrics("metric.name == 'loss'")``
           with every value as NumPy); then reindexes (Aim's readers find finished runs only
           after it) and checks every point
  writer   one run, W1's shape (10 names x 2 contexts) at ``--steps`` steps, the same values
           as aimcol's writers (``bench_common.w3_value``)

Prints one BENCH_RESULT line.
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from bench_common import W1_NAMES, assert_no_aimcol, emit, fresh_dir, w3_value  # noqa: E402
from concurrent_harness import main, run_parent, write_w3_run  # noqa: E402

QUERY = "metric.name == 'loss'"


def writer(args) -> None:
    from aim import Run

    run = Run(repo=args.repo, system_tracking_interval=None, capture_terminal_logs=False)
    with open(os.path.join(args.hashes, f"{args.index}.hash"), "w") as f:
        f.write(run.hash)
    t0 = time.perf_counter()
    write_w3_run(run.track, args.steps)
    run.close()
    emit({"writer_s": time.perf_counter() - t0, "run": run.hash})


def check(repo, hashes: list[str], steps: int) -> dict:
    from aim.storage.context import Context

    missing = wrong = 0
    for h in hashes:
        run = repo.get_run(h)
        for k, name in enumerate(W1_NAMES):
            for j, subset in enumerate(("train", "val")):
                metric = run.get_metric(name, Context({"subset": subset})) if run is not None else None
                if metric is None:
                    missing += steps
                    continue
                got_steps, (values,) = metric.data.view("val").numpy()
                got = dict(zip((int(s) for s in got_steps), (float(v) for v in values)))
                missing += sum(1 for s in range(steps) if s not in got)
                wrong += sum(1 for s, v in got.items() if v != w3_value(2 * k + j, s))
    return {"points_missing": missing, "points_wrong": wrong}


def parent(args) -> None:
    root = fresh_dir(args.repo)
    hashes_dir = root / "hashes"
    hashes_dir.mkdir()
    from aim import Repo

    assert_no_aimcol()
    Repo.from_path(str(root), init=True)  # as `aim init` before a job array starts

    def count_points() -> int:
        repo = Repo.from_path(str(root))
        return sum(len(m.data.view("val").numpy()[1][0]) for m in repo.query_metrics(QUERY, report_mode=0))

    def finish(hashes: list[str]) -> dict:
        t0 = time.perf_counter()
        Repo.from_path(str(root))._recreate_index()  # what `aim storage reindex --yes` calls
        t_reindex = time.perf_counter() - t0
        return {"reindex_s": t_reindex, **check(Repo.from_path(str(root)), hashes, args.steps)}

    emit(run_parent("aim", args, root, hashes_dir, __file__, count_points, finish))


if __name__ == "__main__":
    main(writer, parent, default_steps=500)
