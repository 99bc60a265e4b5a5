"""W1 ingest for aimcol (runs with the project's venv, in a fresh process per measurement).

  --variant track        ``run.track(v, name=..., step=i, context={"subset": ...})``, the context a
                         dict literal in the call (the same loop as peers/aim_w1.py)
  --variant track_pure   the same loop with track()'s pure-Python fallback (AIMCOL_PURE_PYTHON=1),
                         what a machine without a C compiler at install time gets
  --variant track_array  the bulk NumPy path: one ``run.track_array`` per sequence
  --variant floor        the same loop calling a do-nothing ``track`` (the price of the loop itself)

Prints one BENCH_RESULT line.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from bench_common import W1_NAMES, curve, dir_bytes, emit, fresh_dir  # noqa: E402


class _NoopRun:
    def track(self, value, name=None, step=None, epoch=None, *, context=None):
        pass

    def close(self):
        pass


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", required=True, help="scratch folder (emptied first)")
    ap.add_argument("--steps", type=int, default=50_000)
    ap.add_argument("--variant", choices=("track", "track_pure", "track_array", "floor"), default="track")
    args = ap.parse_args()
    root = fresh_dir(args.repo)

    if args.variant == "track_pure":
        os.environ["AIMCOL_PURE_PYTHON"] = "1"
    t0 = time.perf_counter()
    import aimcol
    from aimcol import Run
    from aimcol.sdk.run import ACCELERATED

    t_import = time.perf_counter() - t0
    vals = curve(args.steps)
    names = W1_NAMES

    t0 = time.perf_counter()
    if args.variant == "floor":
        run = _NoopRun()
    else:
        run = Run(repo=str(root), system_tracking_interval=None, capture_terminal_logs=False)
    t_open = time.perf_counter() - t0
    empty = dir_bytes(root)["apparent"]

    t0 = time.perf_counter()
    if args.variant == "track_array":
        import numpy as np

        arr = np.asarray(vals, dtype=np.float64)
        steps = np.arange(args.steps, dtype=np.int64)
        for name in names:
            run.track_array(arr, name=name, steps=steps, context={"subset": "train"})
            run.track_array(arr * 1.1, name=name, steps=steps, context={"subset": "val"})
    else:
        for i in range(args.steps):
            v = vals[i]
            for name in names:
                run.track(v, name=name, step=i, context={"subset": "train"})
                run.track(v * 1.1, name=name, step=i, context={"subset": "val"})
    t_loop = time.perf_counter() - t0
    t0 = time.perf_counter()
    run.close()
    t_close = time.perf_counter() - t0

    points = args.steps * len(names) * 2
    calls = points if args.variant != "track_array" else len(names) * 2
    size = dir_bytes(root)
    api = {
        "track": "run.track(v, name, step, context={...})",
        "track_pure": "run.track(v, name, step, context={...}), pure Python",
        "track_array": "run.track_array(values, name, steps, context) per sequence",
        "floor": "the same loop, do-nothing track()",
    }[args.variant]
    emit(
        {
            "tool": "aimcol" if args.variant != "floor" else "python",
            "version": aimcol.__version__,
            "variant": args.variant,
            "c_fast_path": ACCELERATED,
            "api": api,
            "steps": args.steps,
            "calls": calls,
            "points": points,
            "import_s": t_import,
            "open_s": t_open,
            "loop_s": t_loop,
            "close_s": t_close,
            # per point for every variant, so the bulk path compares with track()
            "us_per_call_loop": t_loop / points * 1e6,
            "us_per_call_total": (t_loop + t_close) / points * 1e6,
            "bytes": size["apparent"],
            "bytes_allocated": size["allocated"],
            "files": size["files"],
            "bytes_empty": empty,
            "bytes_per_point": (size["apparent"] - empty) / points if args.variant != "floor" else None,
        }
    )


if __name__ == "__main__":
    main()
