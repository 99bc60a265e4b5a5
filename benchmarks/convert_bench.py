"""``aimcol convert`` against the source tool's own read speed.

    python benchmarks/convert_bench.py tensorboard [--runs 10 --tags 10 --steps 10000]   # 1M points
    python benchmarks/convert_bench.py mlflow [--runs 200 --metrics 3 --steps 500]       # 200 runs
    python benchmarks/convert_bench.py wandb [--runs 10 --tags 10 --steps 10000]         # 1M points

tensorboard: a log dir written with PyTorch's ``SummaryWriter``; aimcol's conversion (read the
event files, write every point with ``track_array``, close the runs) is timed against tbparse
reading the same scalars into a DataFrame (``SummaryReader(logdir, extra_columns={"wall_time"})``).
mlflow: a sqlite store filled with ``MlflowClient.log_batch``; the conversion is timed against
MLflow reading the same data (``search_runs`` + ``get_metric_history`` of every metric).
wandb: offline runs written by ``wandb.log`` (WANDB_MODE=offline); W&B has no local reader of
its own any more (``wandb sync`` uploads), so the conversion is timed against the floor of any
reader: every record of the ``.wandb`` files decoded by W&B's protobuf ``Record`` class.  Each
measurement runs in a fresh process (imports included, interpreter start-up not), alternating
tools, ``--repeat`` times; the medians are printed as a Markdown table.  Sources are cached under
``--workdir`` between invocations.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

AIMCOL_CONVERT = r"""
import json, sys, time, io
t0 = time.perf_counter()
from aimcol import Repo
from aimcol.convert.importer import convert
from aimcol.convert.progress import Progress
kind, src, target = sys.argv[1:4]
if kind == "tensorboard":
    from aimcol.convert.tensorboard import TensorBoardSource as S
    source = S(src)
elif kind == "wandb":
    from aimcol.convert.wandb import WandbSource as S
    source = S(src)
else:
    from aimcol.convert.mlflow import MlflowSource as S
    source = S(src)
refs = source.list_runs()
report = convert(Repo(target, init=True), source, refs=refs, progress=Progress(len(refs), stream=io.StringIO(), bar=False))
elapsed = time.perf_counter() - t0
print(json.dumps({"seconds": elapsed, "points": report.points, "runs": len(report.imported)}))
"""

TBPARSE_READ = r"""
import json, sys, time
t0 = time.perf_counter()
from tbparse import SummaryReader
df = SummaryReader(sys.argv[1], extra_columns={"wall_time", "dir_name"}).scalars
print(json.dumps({"seconds": time.perf_counter() - t0, "points": len(df)}))
"""

WANDB_DECODE = r"""
import json, sys, time
t0 = time.perf_counter()
from wandb.proto.wandb_internal_pb2 import Record
from aimcol.convert.wandb import find_run_files, iter_records
points = 0
for path in find_run_files(sys.argv[1]):
    for payload in iter_records(path):
        rec = Record()
        rec.ParseFromString(payload)
        if rec.WhichOneof("record_type") == "history":
            points += sum(1 for item in rec.history.item if not (item.key or item.nested_key[0]).startswith("_"))
print(json.dumps({"seconds": time.perf_counter() - t0, "points": points}))
"""

MLFLOW_READ = r"""
import json, sys, time
t0 = time.perf_counter()
from mlflow.tracking import MlflowClient
client = MlflowClient(tracking_uri=sys.argv[1])
points = runs = 0
for exp in client.search_experiments():
    token = None
    while True:
        page = client.search_runs([exp.experiment_id], max_results=1000, page_token=token)
        for run in page:
            runs += 1
            for key in run.data.metrics:
                points += len(client.get_metric_history(run.info.run_id, key))
        token = page.token
        if not token:
            break
print(json.dumps({"seconds": time.perf_counter() - t0, "points": points, "runs": runs}))
"""


def make_tensorboard(path: str, runs: int, tags: int, steps: int) -> int:
    marker = os.path.join(path, f".complete-{runs}-{tags}-{steps}")
    if os.path.exists(marker):
        return runs * tags * steps
    shutil.rmtree(path, ignore_errors=True)
    from torch.utils.tensorboard import SummaryWriter

    for r in range(runs):
        writer = SummaryWriter(os.path.join(path, f"run{r:03d}"), max_queue=10_000, flush_secs=600)
        for step in range(steps):
            for t in range(tags):
                writer.add_scalar(f"metric{t}", (r + 1) * 0.001 * step + t, step)
        writer.close()
    open(marker, "w").close()
    return runs * tags * steps


WANDB_WRITE = r"""
import os, sys
os.environ["WANDB_MODE"] = "offline"
os.environ["WANDB_SILENT"] = "true"
import wandb
folder, runs, tags, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
for r in range(runs):
    run = wandb.init(project="bench", name=f"run{r:03d}", dir=folder, settings=wandb.Settings(x_disable_stats=True))
    for step in range(steps):
        run.log({f"metric{t}": (r + 1) * 0.001 * step + t for t in range(tags)}, step=step)
    run.finish()
"""


def make_wandb(path: str, runs: int, tags: int, steps: int) -> int:
    marker = os.path.join(path, f".complete-{runs}-{tags}-{steps}")
    if not os.path.exists(marker):
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path)
        env = dict(os.environ, HOME=path)
        subprocess.run([sys.executable, "-c", WANDB_WRITE, path, str(runs), str(tags), str(steps)], check=True, env=env)
        open(marker, "w").close()
    return runs * tags * steps


def make_mlflow(path: str, runs: int, metrics: int, steps: int) -> str:
    uri = f"sqlite:///{os.path.join(path, 'mlflow.db')}"
    marker = os.path.join(path, f".complete-{runs}-{metrics}-{steps}")
    if os.path.exists(marker):
        return uri
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("bench")
    for r in range(runs):
        rid = client.create_run(exp, run_name=f"run{r}").info.run_id
        client.log_batch(rid, params=[Param("lr", str(0.001 * (r + 1))), Param("layers", str(r % 5))])
        batch = [
            Metric(f"m{m}", 1.0 / (s + 1) + m, 1_700_000_000_000 + s, s) for m in range(metrics) for s in range(steps)
        ]
        for lo in range(0, len(batch), 1000):
            client.log_batch(rid, metrics=batch[lo : lo + 1000])
        client.set_terminated(rid)
    open(marker, "w").close()
    return uri


def timed(script: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", choices=["tensorboard", "mlflow", "wandb"])
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--tags", type=int, default=10, help="tensorboard, wandb: scalar keys per run")
    parser.add_argument("--metrics", type=int, default=3, help="mlflow: metrics per run")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", default="/tmp/aimcol-convert-bench")
    args = parser.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    if args.source == "tensorboard":
        runs, steps = args.runs or 10, args.steps or 10_000
        src = os.path.join(args.workdir, "tb")
        t0 = time.perf_counter()
        total = make_tensorboard(src, runs, args.tags, steps)
        print(
            f"source: {runs} runs x {args.tags} tags x {steps} steps = {total:,} points ({time.perf_counter() - t0:.1f} s to make)"
        )
        peer_name, peer = "tbparse SummaryReader(...).scalars", (TBPARSE_READ, src)
    elif args.source == "wandb":
        runs, steps = args.runs or 10, args.steps or 10_000
        src = os.path.join(args.workdir, "wandb")
        t0 = time.perf_counter()
        total = make_wandb(src, runs, args.tags, steps)
        print(
            f"source: {runs} runs x {args.tags} keys x {steps} steps = {total:,} points ({time.perf_counter() - t0:.1f} s to make)"
        )
        peer_name, peer = "every record decoded by W&B's protobuf Record", (WANDB_DECODE, src)
    else:
        runs, steps = args.runs or 200, args.steps or 500
        src = make_mlflow(os.path.join(args.workdir, "mlflow"), runs, args.metrics, steps)
        total = runs * args.metrics * steps
        print(f"source: {runs} runs x {args.metrics} metrics x {steps} steps = {total:,} points (sqlite store)")
        peer_name, peer = "MLflow search_runs + get_metric_history", (MLFLOW_READ, src)
    ours, theirs = [], []
    for i in range(args.repeat):
        target = os.path.join(args.workdir, f"target-{args.source}")
        shutil.rmtree(target, ignore_errors=True)
        got = timed(AIMCOL_CONVERT, args.source, src, target)
        assert got["points"] == total, got
        ours.append(got["seconds"])
        got = timed(peer[0], peer[1])
        assert got["points"] == total, got
        theirs.append(got["seconds"])
        print(f"  round {i + 1}: aimcol convert {ours[-1]:.2f} s, {peer_name} {theirs[-1]:.2f} s", flush=True)
    a, p = statistics.median(ours), statistics.median(theirs)
    print()
    print(f"| what | median s (n={args.repeat}) | points/s |")
    print("|---|---|---|")
    print(f"| `aimcol convert {args.source}` (read + write every point + close) | {a:.2f} | {total / a:,.0f} |")
    print(f"| {peer_name} (read only) | {p:.2f} | {total / p:,.0f} |")
    print(f"\naimcol converts at {p / a:.2f}x the source tool's own read speed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
