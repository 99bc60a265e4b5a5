"""W1 ingest for MLflow (runs in benchmarks/.venvs/mlflow; never imports aimcol).

MLflow has no metric contexts, so each (name, context) pair becomes one key
(``loss/train``): 20 keys, as in W1.

  --store sqlite|file      local sqlite database, or the file store (``file:`` URI)
  --api log_metric|log_batch
      log_metric: ``mlflow.log_metric(key, v, step=i)`` per point, synchronous (the default).
                  It costs milliseconds per point, so it is measured on a few thousand points
                  and the figure per call is extrapolated to W1's 1,000,000.
      log_batch:  ``MlflowClient().log_batch(run_id, metrics=[...1000 Metric...])``.

Prints one BENCH_RESULT line.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from bench_common import W1_NAMES, assert_no_aimcol, curve, dir_bytes, emit, fresh_dir  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", required=True, help="scratch folder (emptied first)")
    ap.add_argument("--store", choices=("sqlite", "file"), default="sqlite")
    ap.add_argument("--api", choices=("log_metric", "log_batch"), default="log_metric")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--batch", type=int, default=1000)
    args = ap.parse_args()
    root = fresh_dir(args.repo)
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    # MLflow 3.17 refuses the file store ("maintenance mode") unless this is set
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    warnings.simplefilter("ignore")

    t0 = time.perf_counter()
    import mlflow
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    t_import = time.perf_counter() - t0
    assert_no_aimcol()

    if args.store == "sqlite":
        uri = f"sqlite:///{root / 'mlflow.db'}"
        artifacts = (root / "artifacts").as_uri()
    else:
        uri = (root / "mlruns").as_uri()
        artifacts = None
    mlflow.set_tracking_uri(uri)
    t0 = time.perf_counter()
    client = MlflowClient(tracking_uri=uri)
    exp_id = client.create_experiment("w1", artifact_location=artifacts)
    mlflow.set_experiment(experiment_id=exp_id)
    active = mlflow.start_run()
    run_id = active.info.run_id
    t_open = time.perf_counter() - t0
    empty = dir_bytes(root)["apparent"]

    keys = [(f"{n}/train", f"{n}/val") for n in W1_NAMES]
    vals = curve(args.steps)
    calls = args.steps * len(W1_NAMES) * 2
    t0 = time.perf_counter()
    if args.api == "log_metric":
        log_metric = mlflow.log_metric
        for i in range(args.steps):
            v = vals[i]
            for k_train, k_val in keys:
                log_metric(k_train, v, step=i)
                log_metric(k_val, v * 1.1, step=i)
    else:
        buf: list = []
        for i in range(args.steps):
            v = vals[i]
            ts = int(time.time() * 1000)
            for k_train, k_val in keys:
                buf.append(Metric(k_train, v, ts, i))
                buf.append(Metric(k_val, v * 1.1, ts, i))
            if len(buf) >= args.batch:
                client.log_batch(run_id, metrics=buf)
                buf = []
        if buf:
            client.log_batch(run_id, metrics=buf)
    t_loop = time.perf_counter() - t0
    t0 = time.perf_counter()
    mlflow.end_run()
    t_close = time.perf_counter() - t0

    size = dir_bytes(root)
    emit(
        {
            "tool": "mlflow",
            "version": mlflow.__version__,
            "store": args.store,
            "api": args.api if args.api == "log_metric" else f"log_batch({args.batch})",
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


if __name__ == "__main__":
    main()
