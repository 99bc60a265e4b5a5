"""W5 live read for real Aim 3.29.1 (runs in benchmarks/.venvs/aim; never imports aimcol).

  run      the parent: starts ``writer``, then ``reader``, collects both
  writer   tracks 'loss' {subset: train} at 1,000 points/s (explicit steps)
  reader   every 100 ms opens ``Repo.from_path(path).get_run(hash)`` afresh, reads the
           metric's steps as NumPy and compares the newest visible step with the writer's
           newest tracked step (published in a progress file). Aim 3.29 does not show a
           live run to other processes until its indexer has run, so "nothing visible"
           is counted, not treated as an error.

Prints one BENCH_RESULT line.
"""

from __future__ import annotations

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
from bench_common import assert_no_aimcol, crash_value, emit  # noqa: E402
from live_harness import paced_writer, poll_reader, publish_hash, run_live_pair, wait_hash  # noqa: E402


def writer(args) -> None:
    from aim import Run

    run = Run(repo=args.repo, system_tracking_interval=None, capture_terminal_logs=False)
    ctx = {"subset": "train"}

    def track(i: int) -> None:
        run.track(crash_value(0, i), name="loss", step=i, context=ctx)

    res = paced_writer(
        track, args.rate, args.seconds + 120, args.progress, on_ready=lambda: publish_hash(args.progress, run.hash)
    )
    run.close()
    emit(res)


def reader(args) -> None:
    from aim import Repo

    assert_no_aimcol()
    h = wait_hash(args.progress)
    why = {"polls_run_not_found": 0, "polls_run_without_points": 0}

    def newest_visible():
        run = Repo.from_path(args.repo).get_run(h)
        if run is None:
            why["polls_run_not_found"] += 1
            return None
        for metric in run.metrics():
            if metric.name == "loss":
                steps, _ = metric.data.view("val").numpy()
                if len(steps):
                    return int(steps[-1])
        why["polls_run_without_points"] += 1
        return None

    res = poll_reader(newest_visible, args.progress, args.seconds, args.interval)
    emit({**res, **why})


def run_parent(args) -> dict:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return run_live_pair(__file__, args, env=env)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=("run", "writer", "reader"))
    ap.add_argument("--repo", required=True)
    ap.add_argument("--progress")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=1000.0)
    ap.add_argument("--interval", type=float, default=0.1)
    args = ap.parse_args()
    if args.mode == "writer":
        writer(args)
    elif args.mode == "reader":
        reader(args)
    else:
        res = run_parent(args)
        from importlib.metadata import version

        res.update({"tool": "aim", "version": version("aim"), "peak_rss_mb": None})
        emit(res)


if __name__ == "__main__":
    main()
