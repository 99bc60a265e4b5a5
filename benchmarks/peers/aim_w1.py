"""W1 ingest for real Aim 3.29.1 (runs in benchmarks/.venvs/aim; never imports aimcol).

One run, 10 names x 2 contexts, ``--steps`` steps each: ``run.track(v, name=..., step=i,
context={"subset": ...})`` with the context written as a dict literal in the call, system
tracking and terminal capture off. Prints one BENCH_RESULT line.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from bench_common import W1_NAMES, assert_no_aimcol, curve, dir_bytes, emit, fresh_dir  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", required=True, help="scratch folder (emptied first)")
    ap.add_argument("--steps", type=int, default=5000)
    args = ap.parse_args()
    root = fresh_dir(args.repo)

    t0 = time.perf_counter()
    from aim import Run

    t_import = time.perf_counter() - t0
    assert_no_aimcol()

    vals = curve(args.steps)
    names = W1_NAMES
    t0 = time.perf_counter()
    run = Run(repo=str(root), system_tracking_interval=None, capture_terminal_logs=False)
    t_open = time.perf_counter() - t0
    empty = dir_bytes(root / ".aim")["apparent"]

    t0 = time.perf_counter()
    for i in range(args.steps):
        v = vals[i]
        for name in names:
            run.track(v, name=name, step=i, context={"subset": "train"})
            run.track(v * 1.1, name=name, step=i, context={"subset": "val"})
    t_loop = time.perf_counter() - t0
    t0 = time.perf_counter()
    run.close()
    t_close = time.perf_counter() - t0

    calls = args.steps * len(names) * 2
    size = dir_bytes(root / ".aim")
    emit(
        {
            "tool": "aim",
            "version": _version(),
            "api": "run.track(v, name, step, context={...})",
            "steps": args.steps,
            "calls": calls,
            "points": calls,
            "import_s": t_import,
            "open_s": t_open,
            "loop_s": t_loop,
            "close_s": t_close,
            "us_per_call_loop": t_loop / calls * 1e6,
            "us_per_call_total": (t_loop + t_close) / calls * 1e6,
            "bytes": size["apparent"],
            "bytes_allocated": size["allocated"],
            "files": size["files"],
            "bytes_empty": empty,
            "bytes_per_point": (size["apparent"] - empty) / calls,
        }
    )


def _version() -> str:
    from importlib.metadata import version

    return version("aim")


if __name__ == "__main__":
    main()
