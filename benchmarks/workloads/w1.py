"""W1 ingest, one loop for every tool (a fresh process per measurement; prints one BENCH_RESULT).

One run, 10 metric names x 2 contexts, ``--steps`` steps:
``track(v, name=name, step=i, context={"subset": ...})`` with the context a dict literal in the
call. ``track`` is the tool's own ``Run.track`` for aimcol and Aim, and a thin adapter for a
tool without contexts (benchmarks/tools.py). System tracking and terminal capture off.

  --impl aimcol|aim|mlflow|trackio|tensorboard
  --variant track        the loop above (the default)
  --variant track_pure   aimcol only: the same loop on track()'s pure-Python fallback
  --variant track_array  aimcol only: the bulk NumPy path, one ``track_array`` per sequence
  --variant floor        the same loop calling a do-nothing ``track`` (the price of the loop)
  --store sqlite|file, --api log_metric|log_batch, --batch N   MLflow's options
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tools  # noqa: E402
from bench_common import W1_NAMES, curve, dir_bytes, emit, fresh_dir  # noqa: E402


class _NoopRun:
    def track(self, value, name=None, step=None, epoch=None, *, context=None):
        pass

    def close(self):
        pass


API = {
    "track": "run.track(v, name, step, context={...})",
    "track_pure": "run.track(v, name, step, context={...}), pure Python",
    "track_array": "run.track_array(values, name, steps, context) per sequence",
    "floor": "the same loop, do-nothing track()",
}


def loop(run, vals: list[float], steps: int) -> None:
    """The measured loop: the same source for every tool."""
    track = run.track
    for i in range(steps):
        v = vals[i]
        for name in W1_NAMES:
            track(v, name=name, step=i, context={"subset": "train"})
            track(v * 1.1, name=name, step=i, context={"subset": "val"})


def bulk(run, vals: list[float], steps: int) -> None:
    import numpy as np

    arr = np.asarray(vals, dtype=np.float64)
    idx = np.arange(steps, dtype=np.int64)
    for name in W1_NAMES:
        run.track_array(arr, name=name, steps=idx, context={"subset": "train"})
        run.track_array(arr * 1.1, name=name, steps=idx, context={"subset": "val"})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--impl", choices=tools.IMPLS, required=True)
    ap.add_argument("--repo", required=True, help="scratch folder (emptied first)")
    ap.add_argument("--steps", type=int, default=50_000)
    ap.add_argument("--variant", choices=tuple(API), default="track")
    ap.add_argument("--store", choices=("sqlite", "file"), default="sqlite")
    ap.add_argument("--api", choices=("log_metric", "log_batch"), default="log_metric")
    ap.add_argument("--batch", type=int, default=1000)
    args = ap.parse_args()
    if args.variant in ("track_pure", "track_array") and args.impl != "aimcol":
        raise SystemExit(f"--variant {args.variant} is aimcol's")
    root = fresh_dir(args.repo)

    options = {"store": args.store, "api": args.api, "batch": args.batch} if args.impl == "mlflow" else {}
    if args.impl == "aimcol":
        options = {"pure": args.variant == "track_pure"}
    tool = tools.load(args.impl, **options)
    tool.prepare(root)
    t_import = tool.import_sdk()
    vals = curve(args.steps)

    t0 = time.perf_counter()
    run = _NoopRun() if args.variant == "floor" else tool.new_run(root, experiment="w1")
    t_open = time.perf_counter() - t0
    store = tool.store_dir(root)
    empty = dir_bytes(store)["apparent"]

    t0 = time.perf_counter()
    (bulk if args.variant == "track_array" else loop)(run, vals, args.steps)
    t_loop = time.perf_counter() - t0
    t0 = time.perf_counter()
    run.close()
    t_close = time.perf_counter() - t0

    points = args.steps * len(W1_NAMES) * 2
    calls = points if args.variant != "track_array" else len(W1_NAMES) * 2
    size = dir_bytes(store)
    api = API[args.variant]
    if args.impl == "mlflow":
        api = "client.log_metric(key, v, step)" if args.api == "log_metric" else f"log_batch({args.batch})"
    result = {
        "tool": tool.name if args.variant != "floor" else "python",
        "impl": args.impl,
        "version": tool.version(),
        "variant": args.variant,
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
    if args.impl == "aimcol":
        from aimcol.sdk.run import ACCELERATED

        result["c_fast_path"] = ACCELERATED
    if args.impl == "mlflow":
        result["store"] = args.store
    emit(result)


if __name__ == "__main__":
    main()
