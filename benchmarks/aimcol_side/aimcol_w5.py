"""W5 live read for aimcol (project venv).

  run      the parent: starts ``writer``, then ``reader``, collects both
  writer   tracks 'loss' {subset: train} at 1,000 points/s with the SDK's default flush
           settings (or --flush-points / --flush-seconds)
  reader   every 100 ms: ``Repo(path).get_run(hash)`` afresh, the metric's steps as NumPy,
           newest visible step vs the writer's newest tracked step (from its progress file)

Prints one BENCH_RESULT line.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from bench_common import crash_value, emit  # noqa: E402
from live_harness import paced_writer, poll_reader, publish_hash, run_live_pair, wait_hash  # noqa: E402


def writer(args) -> None:
    from aimcol import Run

    kw = {}
    if args.flush_points:
        kw["flush_points"] = args.flush_points
    if args.flush_seconds:
        kw["flush_seconds"] = args.flush_seconds
    run = Run(repo=args.repo, system_tracking_interval=None, capture_terminal_logs=False, **kw)
    ctx = {"subset": "train"}

    def track(i: int) -> None:
        run.track(crash_value(0, i), name="loss", step=i, context=ctx)

    res = paced_writer(
        track, args.rate, args.seconds + 120, args.progress, on_ready=lambda: publish_hash(args.progress, run.hash)
    )
    run.close()
    emit(res)


def reader(args) -> None:
    from aimcol import Repo

    h = wait_hash(args.progress)
    why = {"polls_run_not_found": 0, "polls_run_without_points": 0}

    def newest_visible():
        run = Repo(args.repo).get_run(h)
        if run is None:
            why["polls_run_not_found"] += 1
            return None
        metric = run.get_metric("loss", {"subset": "train"})
        if metric is not None:
            steps = metric.steps_numpy()
            if len(steps):
                return int(steps[-1])
        why["polls_run_without_points"] += 1
        return None

    res = poll_reader(newest_visible, args.progress, args.seconds, args.interval)
    emit({**res, **why})


def run_parent(args) -> dict:
    from aimcol.sdk.run import DEFAULT_FLUSH_POINTS, DEFAULT_FLUSH_SECONDS

    flush = ["--flush-points", str(args.flush_points), "--flush-seconds", str(args.flush_seconds)]
    return {
        **run_live_pair(__file__, args, flush),
        "flush_points": args.flush_points or DEFAULT_FLUSH_POINTS,
        "flush_seconds": args.flush_seconds or DEFAULT_FLUSH_SECONDS,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=("run", "writer", "reader"))
    ap.add_argument("--repo", required=True)
    ap.add_argument("--progress")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=1000.0)
    ap.add_argument("--interval", type=float, default=0.1)
    ap.add_argument("--flush-points", type=int, default=0, help="0: the SDK default")
    ap.add_argument("--flush-seconds", type=float, default=0.0, help="0: the SDK default")
    args = ap.parse_args()
    if args.mode == "writer":
        writer(args)
    elif args.mode == "reader":
        reader(args)
    else:
        res = run_parent(args)
        import aimcol

        res.update({"tool": "aimcol", "version": aimcol.__version__, "peak_rss_mb": None})
        emit(res)


if __name__ == "__main__":
    main()
