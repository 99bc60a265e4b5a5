"""W2-S3: the W2 shape (runs x loss/acc x train/val x steps) written to and queried from a
moto S3 server on 127.0.0.1 and a local folder, side by side in one invocation.

    python benchmarks/w2_s3.py --runs 20 --steps 1000 --reps 2

Prints one JSON line per (repository, repetition) and a summary with medians, S3/local
ratios and the PUT requests the S3 server received per 1M points.  moto is an in-memory
Python server, far slower than S3 per request: read the S3 figures as an upper bound of
aimcol's own cost plus moto's, never as S3 latency.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

SERVER = r"""
import logging, sys
from moto.server import ThreadedMotoServer
logging.basicConfig(filename=sys.argv[1], level=logging.INFO, format="%(message)s")
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=True)
server.start()
host, port = server.get_host_and_port()
print("PORT", port, flush=True)
sys.stdin.read()
"""

QUERY = r"""
import json, sys, time
t0 = time.perf_counter()
from aimcol import Repo
repo = Repo(sys.argv[1])
t1 = time.perf_counter()
n_runs = len(repo.query_runs("run.hparams.batch_size > 32"))
t2 = time.perf_counter()
points = sum(len(m.values_numpy()) for m in repo.query_metrics(
    "run.hparams.batch_size > 32 and metric.name == 'loss' and metric.context.subset == 'train'"))
t3 = time.perf_counter()
every = sum(len(m.values_numpy()) for m in repo.query_metrics("metric.name == 'loss'"))
t4 = time.perf_counter()
print(json.dumps({"open_s": t1 - t0, "query_runs_s": t2 - t1, "selective_s": t3 - t2, "all_loss_s": t4 - t3,
                  "runs": n_runs, "selective_points": points, "all_loss_points": every}))
"""


def ingest(location: str, runs: int, steps: int) -> float:
    from aimcol import Run

    t0 = time.perf_counter()
    for r in range(runs):
        rng = random.Random(r)
        run = Run(repo=location, experiment=f"exp{r % 3}", system_tracking_interval=None, capture_terminal_logs=False)
        run["hparams"] = {"lr": rng.uniform(1e-5, 1e-1), "batch_size": rng.choice([16, 32, 64, 128])}
        for i in range(steps):
            loss = 1.0 / (1 + i * 0.01) + rng.gauss(0.0, 0.01)
            run.track(loss, name="loss", step=i, context={"subset": "train"})
            run.track(loss * 1.05, name="loss", step=i, context={"subset": "val"})
            run.track(1.0 - loss, name="acc", step=i, context={"subset": "train"})
            run.track(0.95 - loss, name="acc", step=i, context={"subset": "val"})
        run.close()
    return time.perf_counter() - t0


def count_puts(log_path: str) -> int:
    with open(log_path, encoding="utf-8", errors="replace") as fh:
        return sum(1 for line in fh if '"PUT /' in line)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=2)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="w2s3-")
    log_path = os.path.join(work, "moto.log")
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, log_path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    port = next(int(line.split()[1]) for line in server.stdout if line.startswith("PORT "))
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_REGION="us-east-1"
    )
    points = args.runs * args.steps * 4
    results: dict[str, list[dict]] = {"local": [], "s3": []}
    try:
        for rep in range(args.reps):
            for kind in ("local", "s3"):
                if kind == "s3":
                    bucket = f"w2s3-{uuid.uuid4().hex[:12]}"
                    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/{bucket}", method="PUT")).read()
                    location = f"s3://{bucket}/repo"
                else:
                    location = os.path.join(work, f"local{rep}")
                puts_before = count_puts(log_path)
                ingest_s = ingest(location, args.runs, args.steps)
                puts = count_puts(log_path) - puts_before
                out = subprocess.run(
                    [sys.executable, "-c", QUERY, location], capture_output=True, text=True, check=True
                )
                row = {
                    "repo": kind,
                    "rep": rep,
                    "ingest_s": ingest_s,
                    "us_per_point": ingest_s / points * 1e6,
                    **json.loads(out.stdout),
                }
                if kind == "s3":
                    row["puts"] = puts
                    row["puts_per_1M_points"] = puts / points * 1e6
                print(json.dumps(row), flush=True)
                results[kind].append(row)
    finally:
        server.stdin.close()
        server.wait(timeout=30)
    summary = {}
    for key in ("ingest_s", "query_runs_s", "selective_s", "all_loss_s"):
        local = statistics.median(r[key] for r in results["local"])
        s3 = statistics.median(r[key] for r in results["s3"])
        summary[key] = {"local": round(local, 4), "s3": round(s3, 4), "s3_over_local": round(s3 / local, 2)}
    summary["puts_per_1M_points"] = statistics.median(r["puts_per_1M_points"] for r in results["s3"])
    summary["points_per_repo"] = points
    print(json.dumps({"summary": summary}))


if __name__ == "__main__":
    main()
