"""W6 wide runs, one script for aimcol and Aim: write runs, then query them (a mode per process).

  init     what a user does once before writers race to create the repository
  write    runs ``--start``..``--stop`` of W6: 20 params of mixed types (int/float/str/bool/None,
           some missing, a map, a list), an experiment, 0-2 tags, 4 sequences x 100 steps
           (aimcol writes a sequence with ``track_array``, its bulk path; Aim with ``track()``:
           writing is not what W6 measures)
  reindex  what a tool needs before queries see finished runs (Aim's indexer)
  query    ``query_runs`` for each of ``--queries`` (a JSON list): the first in a new process
           is the cold one (opens the repository and its index); then each ``--repeat`` times
           warm, in the same process

  --impl aimcol|aim

Prints one BENCH_RESULT line. Driven by ``query_bench.py w6``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tools  # noqa: E402
from bench_common import emit  # noqa: E402

W6_EXPERIMENTS = ("exp-0", "exp-1", "exp-2", "exp-3", "exp-4")
W6_TAGS = ("tag-a", "tag-b", "tag-c", "tag-d")
W6_QUERIES = (  # ~100%, ~50%, ~25%, ~6%, ~1% of the runs
    "",
    "run.hparams.lr < 0.001",
    "run.hparams.warmup > 60 or run.p5 == 'x3'",
    "run.hparams.batch_size == 64 and run.hparams.opt == 'adam'",
    "run.p0 == 7 and run.experiment != 'exp-9'",
)
W6_STEPS = 100


def w6_spec(i: int) -> dict:
    """Run ``i`` of W6: the same for every tool."""
    rng = random.Random(1_000_003 * i + 17)
    hparams = {
        "lr": 10 ** rng.uniform(-5, -1),
        "batch_size": rng.choice((16, 32, 64, 128)),
        "opt": rng.choice(("adam", "sgd", "adamw", "lion")),
        "layers": rng.randint(1, 12),
        "flag": rng.random() < 0.5,
        "seed": rng.randrange(1 << 30),
        "warmup": None if rng.random() < 0.5 else rng.randint(0, 100),
        "wd": None if rng.random() < 0.3 else rng.uniform(0, 0.1),
    }
    if rng.random() < 0.8:
        hparams["dropout"] = rng.uniform(0, 0.5)
    if rng.random() < 0.6:
        hparams["schedule"] = rng.choice(("cosine", "linear", "step"))
    params = {
        "hparams": hparams,
        "p0": rng.randint(0, 99),
        "p1": rng.uniform(-1, 1),
        "p2": f"v{rng.randint(0, 20)}",
        "p3": rng.random() < 0.3,
        "p4": None if rng.random() < 0.5 else rng.randint(0, 9),
        "p5": rng.choice((f"x{rng.randint(0, 5)}", rng.randint(0, 5))),
        "p7": {"a": rng.randint(0, 3), "b": rng.choice(("u", "v"))},
        "p8": [rng.randint(0, 3) for _ in range(3)],
        "p9": rng.choice((rng.uniform(0, 1), "n/a")),
    }
    if rng.random() < 0.5:
        params["p6"] = rng.randint(0, 1000)
    return {
        "params": params,
        "experiment": rng.choice(W6_EXPERIMENTS),
        "tags": rng.sample(W6_TAGS, rng.randint(0, 2)),
        "seed": rng.randrange(1 << 30),
    }


def w6_curves(seed: int):
    rng = random.Random(seed)
    loss = [1.0 / (1 + i * 0.05) + rng.gauss(0, 0.01) for i in range(W6_STEPS)]
    return loss, [1.0 - v for v in loss]


SEQUENCES = (("loss", "train"), ("loss", "val"), ("acc", "train"), ("acc", "val"))


def write(tool, args) -> dict:
    for i in range(args.start, args.stop):
        spec = w6_spec(i)
        run = tool.new_run(Path(args.repo), experiment=spec["experiment"], tags=spec["tags"])
        for key, value in spec["params"].items():
            run[key] = value
        loss, acc = w6_curves(spec["seed"])
        for name, subset in SEQUENCES:
            values = [v * (1.05 if subset == "val" else 1.0) for v in (loss if name == "loss" else acc)]
            if hasattr(run, "track_array"):
                run.track_array(values, name=name, context={"subset": subset})
            else:
                for step, value in enumerate(values):
                    run.track(value, name=name, step=step, context={"subset": subset})
        run.close()
    return {"written": args.stop - args.start}


def query(tool, args) -> dict:
    queries = json.loads(args.queries)
    t_import = tool.import_sdk()
    out = {"import_s": t_import, "warm_s": [], "matches": []}
    repo = None
    for i, q in enumerate(queries):
        t0 = time.perf_counter()
        if repo is None:
            repo = tool.open_repo(Path(args.repo))
        n = tool.count_runs(repo, q)
        if i == 0:
            out["first_query_s"] = time.perf_counter() - t0  # cold: opens the repository and the index
        out["matches"].append(n)
    for q in queries:
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            tool.count_runs(repo, q)
            times.append(time.perf_counter() - t0)
        out["warm_s"].append(statistics.median(times))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=("init", "write", "reindex", "query"))
    ap.add_argument("--impl", choices=("aimcol", "aim"), required=True)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--stop", type=int, default=0)
    ap.add_argument("--queries", default="[]")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    tool = tools.load(args.impl)
    if args.mode == "init":
        tool.init_repo(Path(args.repo))
        emit({"initialised": args.repo})
    elif args.mode == "reindex":
        emit({"reindex_s": tool.reindex(Path(args.repo))})
    else:
        emit((write if args.mode == "write" else query)(tool, args))


if __name__ == "__main__":
    main()
