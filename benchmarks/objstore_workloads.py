"""W2 and W3 (benchmarks/workloads/w2.py, w3.py, unchanged) on a moto S3 server on 127.0.0.1
and on a local folder, side by side in one invocation, alternating within each repetition.

    python benchmarks/objstore_workloads.py --w2-runs 20 --w2-steps 1000 --w3-writers 8 --w3-steps 1000 --reps 2

Each measurement is the workload script in its own fresh process (``--repo s3://<fresh
bucket>/w2`` or a fresh folder); the moto server runs in another process and logs every
request, so the PUTs a workload made are counted.  Prints one JSON line per measurement and
then a Markdown table of medians with the S3/local ratio.

moto is an in-memory Python server on the same 2 cores, at a few ms per request: far slower
per request than S3 (and it competes with the workload for the CPU), but with no network
latency.  Read the S3 column as aimcol's own cost plus moto's, not as S3's latency.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import urllib.request
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_common import parse_result  # noqa: E402

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

W2_KEYS = (
    "ingest_s",
    "us_per_point",
    "close_s",
    "bytes_per_point",
    "query_runs_s",
    "query_metrics_selective_s",
    "query_metrics_all_loss_s",
)
W3_KEYS = (
    "total_s",
    "points_per_s",
    "reader_queries",
    "reader_query_ms_median",
    "reader_most_loss_points_seen",
    "points_missing",
    "points_wrong",
)


class MotoServer:
    """moto's S3 server in its own process, logging one line per request to ``log_path``."""

    def __init__(self, log_path: str):
        self.log_path = log_path
        self._proc = subprocess.Popen(
            [sys.executable, "-c", SERVER, log_path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        port = next(int(line.split()[1]) for line in self._proc.stdout if line.startswith("PORT "))
        self.endpoint = f"http://127.0.0.1:{port}"
        self.env = {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def new_location(self, name: str) -> str:
        bucket = f"bench-{uuid.uuid4().hex[:12]}"
        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/{bucket}", method="PUT"), timeout=30).read()
        return f"s3://{bucket}/{name}"

    def requests(self) -> dict[str, int]:
        counts = {"PUT": 0, "GET": 0, "HEAD": 0, "DELETE": 0, "POST": 0}
        with open(self.log_path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                for method in counts:
                    if f'"{method} /' in line:
                        counts[method] += 1
        return counts

    def stop(self) -> None:
        self._proc.stdin.close()
        self._proc.wait(timeout=30)


def workload(script: str, *args, env: dict[str, str]) -> dict:
    """``python workloads/<script> ...`` in a fresh process; its BENCH_RESULT line."""
    proc = subprocess.run(
        [sys.executable, str(HERE / "workloads" / script), *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=3600,
    )
    result = parse_result(proc.stdout)
    if proc.returncode != 0 or result is None:
        raise SystemExit(f"{script} {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return result


def measure(kind: str, server: MotoServer, work: Path, rep: int, args, env: dict[str, str]) -> dict:
    def location(name: str) -> str:
        return server.new_location(name) if kind == "s3" else str(work / f"{name}-{kind}-{rep}")

    row: dict = {"repo": kind, "rep": rep}
    before = server.requests()
    w2 = location("w2")
    common = ["--impl", "aimcol", "--repo", w2, "--runs", args.w2_runs, "--steps", args.w2_steps]
    ingest = workload("w2.py", "ingest", *common, env=env)
    after_ingest = server.requests()
    query = workload("w2.py", "query", *common, env=env)
    if not query["correct"]:
        raise SystemExit(f"W2 query on {kind} read wrong counts: {query}")
    after_query = server.requests()
    row.update({k: ingest[k] for k in ("ingest_s", "us_per_point", "close_s", "bytes_per_point")})
    row.update({k: query[k] for k in ("query_runs_s", "query_metrics_selective_s", "query_metrics_all_loss_s")})
    w3 = workload(
        "w3.py",
        "run",
        "--impl",
        "aimcol",
        "--repo",
        location("w3"),
        "--writers",
        args.w3_writers,
        "--steps",
        args.w3_steps,
        env=env,
    )
    if w3["writer_errors"] or w3["reader_errors"]:
        raise SystemExit(f"W3 on {kind}: {w3['writer_errors']} {w3['reader_first_error']}")
    row.update({k: w3[k] for k in W3_KEYS})
    if kind == "s3":
        points = ingest["points"]
        row["w2_ingest_puts_per_run"] = (after_ingest["PUT"] - before["PUT"]) / args.w2_runs
        row["w2_query_requests"] = sum(after_query.values()) - sum(after_ingest.values())
        row["w2_ingest_puts_per_1M_points"] = (after_ingest["PUT"] - before["PUT"]) / points * 1e6
    return row


def table(rows: list[dict]) -> str:
    lines = ["| measure | local | S3 (moto) | S3 / local |", "| --- | ---: | ---: | ---: |"]
    for key in (*W2_KEYS, *W3_KEYS):
        local = statistics.median(r[key] for r in rows if r["repo"] == "local")
        s3 = statistics.median(r[key] for r in rows if r["repo"] == "s3")
        ratio = f"{s3 / local:.2f}" if local else "-"
        lines.append(f"| {key} | {local:.4g} | {s3:.4g} | {ratio} |")
    for key in ("w2_ingest_puts_per_run", "w2_ingest_puts_per_1M_points", "w2_query_requests"):
        lines.append(f"| {key} | - | {statistics.median(r[key] for r in rows if r['repo'] == 's3'):.4g} | - |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--w2-runs", type=int, default=20)
    ap.add_argument("--w2-steps", type=int, default=1000)
    ap.add_argument("--w3-writers", type=int, default=8)
    ap.add_argument("--w3-steps", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=2)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="objstore-bench-"))
    server = MotoServer(str(work / "moto.log"))
    env = {**os.environ, **server.env, "PYTHONPATH": str(HERE.parent)}
    rows = []
    try:
        for rep in range(args.reps):
            for kind in ("local", "s3") if rep % 2 == 0 else ("s3", "local"):
                row = measure(kind, server, work, rep, args, env)
                print(json.dumps(row), flush=True)
                rows.append(row)
    finally:
        server.stop()
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    print(table(rows))


if __name__ == "__main__":
    main()
