"""W5 live read, one script for aimcol and Aim.

  run      the parent: starts ``writer``, then ``reader``, collects both
  writer   tracks 'loss' {subset: train} at 1,000 points/s (explicit steps) with the SDK's
           default flush settings (aimcol: or --flush-points / --flush-seconds)
  reader   every 100 ms: a fresh repository object, ``get_run(hash)``, the metric's steps as
           NumPy, newest visible step vs the writer's newest tracked step (from its progress
           file). A run or metric not visible yet (Aim 3.29 shows a live run to other
           processes only after its indexer ran) is counted, not treated as an error.

  --impl aimcol|aim

Prints one BENCH_RESULT line.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tools  # noqa: E402
from bench_common import crash_value, emit  # noqa: E402
from live_harness import paced_writer, poll_reader, publish_hash, run_live_pair, wait_hash  # noqa: E402

CONTEXT = {"subset": "train"}


def writer(tool, args) -> None:
    run = tool.new_run(Path(args.repo))

    def track(i: int) -> None:
        run.track(crash_value(0, i), name="loss", step=i, context=CONTEXT)

    res = paced_writer(
        track, args.rate, args.seconds + 120, args.progress, on_ready=lambda: publish_hash(args.progress, run.hash)
    )
    run.close()
    emit(res)


def reader(tool, args) -> None:
    tool.import_sdk()
    h = wait_hash(args.progress)
    why = {"polls_run_not_found": 0, "polls_run_without_points": 0}

    def newest_visible():
        run = tool.open_repo(Path(args.repo)).get_run(h)
        if run is None:
            why["polls_run_not_found"] += 1
            return None
        metric = tool.get_metric(run, "loss", CONTEXT)
        if metric is not None:
            steps, _values = tool.numpy(metric)
            if len(steps):
                return int(steps[-1])
        why["polls_run_without_points"] += 1
        return None

    res = poll_reader(newest_visible, args.progress, args.seconds, args.interval)
    emit({**res, **why})


def run_parent(tool, args) -> dict:
    extra = ["--impl", args.impl]
    res = {}
    if tool.name == "aimcol":
        from aimcol.sdk.run import DEFAULT_FLUSH_POINTS, DEFAULT_FLUSH_SECONDS

        extra += ["--flush-points", str(args.flush_points), "--flush-seconds", str(args.flush_seconds)]
        res = {
            "flush_points": args.flush_points or DEFAULT_FLUSH_POINTS,
            "flush_seconds": args.flush_seconds or DEFAULT_FLUSH_SECONDS,
        }
    return {**run_live_pair(__file__, args, extra), **res}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=("run", "writer", "reader"))
    ap.add_argument("--impl", choices=("aimcol", "aim"), required=True)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--progress")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=1000.0)
    ap.add_argument("--interval", type=float, default=0.1)
    ap.add_argument("--flush-points", type=int, default=0, help="aimcol: 0 = the SDK default")
    ap.add_argument("--flush-seconds", type=float, default=0.0, help="aimcol: 0 = the SDK default")
    args = ap.parse_args()
    options = {"flush_points": args.flush_points, "flush_seconds": args.flush_seconds} if args.impl == "aimcol" else {}
    tool = tools.load(args.impl, **options)
    if args.mode == "writer":
        writer(tool, args)
    elif args.mode == "reader":
        reader(tool, args)
    else:
        emit(
            {
                **run_parent(tool, args),
                "tool": tool.name,
                "impl": args.impl,
                "version": tool.version(),
                "peak_rss_mb": None,
            }
        )


if __name__ == "__main__":
    main()
