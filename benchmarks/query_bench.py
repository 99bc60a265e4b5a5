#!/usr/bin/env python3
"""AimQL query benchmarks, aimcol beside real Aim 3.29.1: W2 (query side) and W6.

    .venv/bin/python benchmarks/query_bench.py w6                     # 10,000 runs (aimcol), 1,000 (Aim)
    .venv/bin/python benchmarks/query_bench.py w2                     # 200 runs x 4 x 1,000 steps
    .venv/bin/python benchmarks/query_bench.py w6 --runs 2000 --aim-runs 0 --repeat 3 [--no-journal]

W6 (shared/bench/WORKLOADS.md): runs x 20 params of mixed types (int/float/str/bool/None,
some missing, a map, a list) x 4 sequences x 100 steps; ``query_runs`` for 5 queries of
different selectivity, **warm** (same process, after one call) and **cold** (a new process:
open the repository and query; interpreter start and imports reported apart).  Aim needs
~0.3 s to write one such run, so it gets ``--aim-runs`` runs (default 1,000); aimcol is
measured at that size too, and ratios compare equal sizes.

W2: the shared W2 scripts (``aimcol_side/aimcol_w2.py``, ``peers/aim_w2.py``) write the
repositories; this script times their ``query`` mode (a new process each time): cold
``query_runs`` and ``query_metrics`` with every value read as NumPy.

Every measurement prints medians; ratios are Aim / aimcol.  The machine is shared and noisy.
Aim's side runs in its own venv (``benchmarks/.venvs/aim`` or ``/tmp/peers/aim``) and never
imports aimcol.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from bench_common import bytecode_env, emit, fresh_dir, parse_result  # noqa: E402

AIM_PYTHONS = (HERE / ".venvs" / "aim" / "bin" / "python", Path("/tmp/peers/aim/bin/python"))

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


# ---- children: aimcol ---------------------------------------------------------------------------


def child_aimcol_w6_write(repo: str, start: int, stop: int) -> dict:
    import numpy as np

    from aimcol import Run

    for i in range(start, stop):
        spec = w6_spec(i)
        run = Run(repo=repo, experiment=spec["experiment"], system_tracking_interval=None, capture_terminal_logs=False)
        for key, value in spec["params"].items():
            run[key] = value
        for tag in spec["tags"]:
            run.add_tag(tag)
        loss, acc = w6_curves(spec["seed"])
        for name, subset in SEQUENCES:
            values = np.asarray(loss if name == "loss" else acc) * (1.05 if subset == "val" else 1.0)
            run.track_array(values, name=name, context={"subset": subset})
        run.close()
    return {"written": stop - start}


def child_aimcol_query(repo: str, queries: list[str], warm_repeat: int) -> dict:
    t0 = time.perf_counter()
    import aimcol.sdk.query_results  # noqa: F401 - what Repo.query_runs imports on first use
    from aimcol import Repo

    t_import = time.perf_counter() - t0
    out = {"import_s": t_import, "cold_s": [], "warm_s": [], "matches": []}
    r = None
    for i, q in enumerate(queries):
        t0 = time.perf_counter()
        if r is None:
            r = Repo(repo)
        result = r.query_runs(q)
        n = sum(1 for _ in result.iter_runs())
        if i == 0:
            out["first_query_s"] = time.perf_counter() - t0  # cold: opens the repository and the index
        out["matches"].append(n)
    for q in queries:
        times = []
        for _ in range(warm_repeat):
            t0 = time.perf_counter()
            n = sum(1 for _ in r.query_runs(q).iter_runs())
            times.append(time.perf_counter() - t0)
        out["warm_s"].append(statistics.median(times))
    return out


# ---- children: Aim (no aimcol import here) -----------------------------------------------------------


def child_aim_w6_write(repo: str, start: int, stop: int) -> dict:
    from aim import Run

    for i in range(start, stop):
        spec = w6_spec(i)
        run = Run(repo=repo, experiment=spec["experiment"], system_tracking_interval=None, capture_terminal_logs=False)
        for key, value in spec["params"].items():
            run[key] = value
        for tag in spec["tags"]:
            run.add_tag(tag)
        loss, acc = w6_curves(spec["seed"])
        for step in range(W6_STEPS):
            for name, subset in SEQUENCES:
                value = (loss if name == "loss" else acc)[step] * (1.05 if subset == "val" else 1.0)
                run.track(value, name=name, step=step, context={"subset": subset})
        run.close()
    return {"written": stop - start}


def child_aim_init(repo: str) -> dict:
    from aim import Repo

    Repo.from_path(repo, init=True)
    return {"initialised": repo}


def child_aim_reindex(repo: str) -> dict:
    from aim import Repo

    t0 = time.perf_counter()
    Repo.from_path(repo)._recreate_index()
    return {"reindex_s": time.perf_counter() - t0}


def child_aim_query(repo: str, queries: list[str], warm_repeat: int) -> dict:
    t0 = time.perf_counter()
    from aim import Repo

    t_import = time.perf_counter() - t0
    if "aimcol" in sys.modules:
        raise SystemExit("the Aim benchmark imported aimcol")
    out = {"import_s": t_import, "warm_s": [], "matches": []}
    r = None
    for i, q in enumerate(queries):
        t0 = time.perf_counter()
        if r is None:
            r = Repo.from_path(repo)
        n = sum(1 for _ in r.query_runs(q, report_mode=0).iter_runs())
        if i == 0:
            out["first_query_s"] = time.perf_counter() - t0
        out["matches"].append(n)
    for q in queries:
        times = []
        for _ in range(warm_repeat):
            t0 = time.perf_counter()
            sum(1 for _ in r.query_runs(q, report_mode=0).iter_runs())
            times.append(time.perf_counter() - t0)
        out["warm_s"].append(statistics.median(times))
    return out


CHILDREN = {
    "aimcol_w6_write": lambda a: child_aimcol_w6_write(a.repo, a.start, a.stop),
    "aimcol_query": lambda a: child_aimcol_query(a.repo, json.loads(a.queries), a.repeat),
    "aim_w6_write": lambda a: child_aim_w6_write(a.repo, a.start, a.stop),
    "aim_init": lambda a: child_aim_init(a.repo),
    "aim_reindex": lambda a: child_aim_reindex(a.repo),
    "aim_query": lambda a: child_aim_query(a.repo, json.loads(a.queries), a.repeat),
}


# ---- driver ----------------------------------------------------------------------------------------


def aim_python() -> Path | None:
    for path in AIM_PYTHONS:
        if path.exists():
            return path
    return None


AIMCOL_ENV = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
"""Environment of aimcol's processes (``--bytecode`` adds a bytecode cache)."""


def spawn(python, mode: str, **kw) -> subprocess.Popen:
    argv = [str(python), str(Path(__file__).resolve()), "_child", mode]
    for key, value in kw.items():
        argv += [f"--{key}", str(value)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} if "aim_" in mode else AIMCOL_ENV
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def bytecode_note() -> str:
    """How aimcol's processes got their bytecode (Aim's comes compiled with its installation)."""
    if "PYTHONPYCACHEPREFIX" in AIMCOL_ENV:
        return "aimcol imported from cached bytecode (--bytecode), as an installed aimcol is"
    if AIMCOL_ENV.get("PYTHONDONTWRITEBYTECODE"):
        return "aimcol compiled from source in every process (PYTHONDONTWRITEBYTECODE is set; see --bytecode)"
    return "aimcol with the bytecode Python caches beside its sources"


def finish(proc: subprocess.Popen, what: str) -> dict:
    out, err = proc.communicate()
    res = parse_result(out)
    if proc.returncode != 0 or res is None:
        raise SystemExit(f"{what} failed ({proc.returncode}):\n{err[-3000:]}")
    return res


def child(python, mode: str, **kw) -> dict:
    return finish(spawn(python, mode, **kw), mode)


def timed_child(python, mode: str, **kw) -> tuple[dict, float]:
    t0 = time.perf_counter()
    res = child(python, mode, **kw)
    return res, time.perf_counter() - t0


def write_parallel(python, mode: str, repo: Path, n: int, procs: int) -> float:
    t0 = time.perf_counter()
    bounds = [n * k // procs for k in range(procs + 1)]
    running = [spawn(python, mode, repo=repo, start=bounds[k], stop=bounds[k + 1]) for k in range(procs)]
    for p in running:
        finish(p, mode)
    return time.perf_counter() - t0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def fmt_ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1e3:,.1f} ms"


def measure_queries(python, mode: str, repo: Path, queries: list[str], repeat: int) -> dict:
    """Cold (one query per new process, ``repeat`` times) and warm (same process) medians per query."""
    cold = {q: [] for q in queries}
    imports = []
    warm = None
    matches = None
    for _ in range(repeat):
        for q in queries:
            res = child(python, mode, repo=repo, queries=json.dumps([q]), repeat=1)
            cold[q].append(res["first_query_s"])
            imports.append(res["import_s"])
    res = child(python, mode, repo=repo, queries=json.dumps(queries), repeat=max(5, repeat * 3))
    warm = dict(zip(queries, res["warm_s"]))
    matches = dict(zip(queries, res["matches"]))
    return {
        "cold": {q: statistics.median(v) for q, v in cold.items()},
        "warm": warm,
        "matches": matches,
        "import_s": statistics.median(imports),
    }


def run_w6(args) -> None:
    work = Path(args.work).resolve()
    ours = sys.executable
    aim = aim_python() if args.aim_runs else None
    sizes = sorted({args.runs} | ({args.aim_runs} if aim else set()))
    queries = list(W6_QUERIES)
    results = {}
    for n in sizes:
        repo = work / f"w6-aimcol-{n}"
        if args.reuse and (repo / ".aimcol").exists():
            log(f"W6 aimcol: reusing {repo}")
        else:
            fresh_dir(repo)
            log(f"W6 aimcol: writing {n:,} runs with {args.procs} processes …")
            t = write_parallel(ours, "aimcol_w6_write", repo, n, args.procs)
            log(f"  {t:.1f} s")
            index = repo / ".aimcol" / "index"
            for f in index.glob("*"):
                f.unlink()  # the first query builds the index, as after a fresh ingest
            t0 = time.perf_counter()
            res = child(ours, "aimcol_query", repo=repo, queries=json.dumps([""]), repeat=1)
            log(
                f"  first query ever (builds the index): {res['first_query_s']:.2f} s "
                f"(+{time.perf_counter() - t0 - res['first_query_s']:.2f} s process and imports)"
            )
        journal = repo / ".aimcol" / "index" / "changes"
        if args.journal:
            journal.touch()  # writers keep it (change_journal.note_manifest_changed)
        elif journal.exists():
            journal.unlink()
        results[("aimcol", n)] = measure_queries(ours, "aimcol_query", repo, queries, args.repeat)
    if aim:
        n = args.aim_runs
        repo = work / f"w6-aim-{n}"
        if args.reuse and (repo / ".aim").exists():
            log(f"W6 Aim: reusing {repo}")
        else:
            fresh_dir(repo)
            child(aim, "aim_init", repo=repo)  # once, before the writers race to create it
            log(f"W6 Aim: writing {n:,} runs with {args.procs} processes (slow) …")
            t = write_parallel(aim, "aim_w6_write", repo, n, args.procs)
            log(f"  {t:.1f} s; reindex …")
            log(f"  reindex {child(aim, 'aim_reindex', repo=repo)['reindex_s']:.1f} s")
        results[("aim", n)] = measure_queries(aim, "aim_query", repo, queries, args.repeat)
    print_w6(results, args)


def print_w6(results: dict, args) -> None:
    mode = "with the change journal" if args.journal else "without the change journal (a stat per run per query)"
    print(
        f"\nW6 query_runs — median of {args.repeat} cold (new process each) / warm (same process) runs; aimcol {mode}"
    )
    print(f"command: {' '.join(sys.argv)}; {bytecode_note()}\n")
    print("| query | tool | runs | matches | cold | warm | Aim/aimcol cold | Aim/aimcol warm |")
    print("|---|---|---|---|---|---|---|---|")
    for q in W6_QUERIES:
        for (tool, n), res in sorted(results.items(), key=lambda kv: (kv[0][1], kv[0][0] != "aimcol")):
            ratio_c = ratio_w = ""
            if tool == "aim" and ("aimcol", n) in results:
                ours = results[("aimcol", n)]
                ratio_c = f"{res['cold'][q] / ours['cold'][q]:,.0f}×"
                ratio_w = f"{res['warm'][q] / ours['warm'][q]:,.0f}×"
            share = res["matches"][q] / n if n else 0
            print(
                f"| `{q or '(empty)'}` | {tool} | {n:,} | {res['matches'][q]:,} ({share:.0%}) | "
                f"{fmt_ms(res['cold'][q])} | {fmt_ms(res['warm'][q])} | {ratio_c} | {ratio_w} |"
            )
    for (tool, n), res in results.items():
        print(f"\n{tool} at {n:,} runs: import {res['import_s']:.2f} s (not included in 'cold')")


def run_w2(args) -> None:
    work = Path(args.work).resolve()
    ours = sys.executable
    aim = aim_python() if args.aim_steps else None
    repo = work / "w2-aimcol"
    script = HERE / "aimcol_side" / "aimcol_w2.py"
    env = AIMCOL_ENV
    if not (args.reuse and repo.exists()):
        log(f"W2 aimcol: ingest {args.w2_runs} runs x {args.steps} steps …")
        subprocess.run(
            [ours, str(script), "ingest", "--repo", str(repo), "--runs", str(args.w2_runs), "--steps", str(args.steps)],
            check=True,
            env=env,
            capture_output=True,
        )
    ours_res = []
    aim_res = []
    aim_repo = work / f"w2-aim-{args.aim_steps}"
    aim_script = HERE / "peers" / "aim_w2.py"
    aim_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if aim and not (args.reuse and aim_repo.exists()):
        log(f"W2 Aim: ingest {args.w2_runs} runs x {args.aim_steps} steps (slow) …")
        subprocess.run(
            [
                str(aim),
                str(aim_script),
                "ingest",
                "--repo",
                str(aim_repo),
                "--runs",
                str(args.w2_runs),
                "--steps",
                str(args.aim_steps),
            ],
            check=True,
            env=aim_env,
            capture_output=True,
        )
        subprocess.run(
            [str(aim), str(aim_script), "reindex", "--repo", str(aim_repo)],
            check=True,
            env=aim_env,
            capture_output=True,
        )
    ours_repo = repo
    if aim and args.aim_steps != args.steps:
        # the same size as Aim's, for a same-size ratio
        ours_repo = work / f"w2-aimcol-{args.aim_steps}"
        if not (args.reuse and ours_repo.exists()):
            subprocess.run(
                [
                    ours,
                    str(script),
                    "ingest",
                    "--repo",
                    str(ours_repo),
                    "--runs",
                    str(args.w2_runs),
                    "--steps",
                    str(args.aim_steps),
                ],
                check=True,
                env=env,
                capture_output=True,
            )
    full = []
    for rep in range(args.repeat):
        order = ["aimcol", "aim"] if rep % 2 == 0 else ["aim", "aimcol"]
        for tool in order:
            if tool == "aimcol":
                out = subprocess.run(
                    [
                        ours,
                        str(script),
                        "query",
                        "--repo",
                        str(ours_repo),
                        "--runs",
                        str(args.w2_runs),
                        "--steps",
                        str(args.aim_steps if aim else args.steps),
                    ],
                    check=True,
                    env=env,
                    capture_output=True,
                    text=True,
                ).stdout
                ours_res.append(parse_result(out))
                if aim and ours_repo != repo:
                    out = subprocess.run(
                        [
                            ours,
                            str(script),
                            "query",
                            "--repo",
                            str(repo),
                            "--runs",
                            str(args.w2_runs),
                            "--steps",
                            str(args.steps),
                        ],
                        check=True,
                        env=env,
                        capture_output=True,
                        text=True,
                    ).stdout
                    full.append(parse_result(out))
            elif aim:
                out = subprocess.run(
                    [
                        str(aim),
                        str(aim_script),
                        "query",
                        "--repo",
                        str(aim_repo),
                        "--runs",
                        str(args.w2_runs),
                        "--steps",
                        str(args.aim_steps),
                    ],
                    check=True,
                    env=aim_env,
                    capture_output=True,
                    text=True,
                ).stdout
                aim_res.append(parse_result(out))
    keys = ("query_runs_s", "query_metrics_selective_s", "query_metrics_all_loss_s", "total_after_import_s")

    def med(rows, key):
        return statistics.median(r[key] for r in rows) if rows else None

    steps = args.aim_steps if aim else args.steps
    print(
        f"\nW2 query side — {args.w2_runs} runs x 4 sequences x {steps:,} steps, new process each, "
        f"median of {args.repeat}"
    )
    print(f"command: {' '.join(sys.argv)}; {bytecode_note()}\n")
    print("| measurement | aimcol | Aim 3.29.1 | Aim / aimcol |")
    print("|---|---|---|---|")
    for key in keys:
        a, b = med(ours_res, key), med(aim_res, key)
        ratio = f"{b / a:,.0f}×" if a and b else ""
        print(f"| {key} | {fmt_ms(a)} | {fmt_ms(b)} | {ratio} |")
    print(f"| import | {fmt_ms(med(ours_res, 'import_s'))} | {fmt_ms(med(aim_res, 'import_s'))} | |")
    print(f"\naimcol correct: {all(r['correct'] for r in ours_res)}; Aim correct: {all(r['correct'] for r in aim_res)}")
    if full:
        print(
            f"\naimcol at the full {args.steps:,} steps: "
            + ", ".join(f"{k} {fmt_ms(med(full, k))}" for k in keys)
            + f"; correct: {all(r['correct'] for r in full)}"
        )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        ap = argparse.ArgumentParser()
        ap.add_argument("_child")
        ap.add_argument("mode", choices=sorted(CHILDREN))
        ap.add_argument("--repo", required=True)
        ap.add_argument("--start", type=int, default=0)
        ap.add_argument("--stop", type=int, default=0)
        ap.add_argument("--queries", default="[]")
        ap.add_argument("--repeat", type=int, default=1)
        a = ap.parse_args()
        emit(CHILDREN[a.mode](a))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("workload", choices=("w2", "w6"))
    ap.add_argument("--runs", type=int, default=10_000, help="W6 runs for aimcol")
    ap.add_argument("--aim-runs", type=int, default=1_000, help="W6 runs for Aim (0: no Aim)")
    ap.add_argument("--w2-runs", type=int, default=200)
    ap.add_argument("--steps", type=int, default=1_000, help="W2 steps for aimcol")
    ap.add_argument("--aim-steps", type=int, default=1_000, help="W2 steps for Aim (0: no Aim)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--procs", type=int, default=2, help="writer processes")
    ap.add_argument("--work", default=str(HERE / ".work" / "query"))
    ap.add_argument("--reuse", action="store_true", help="reuse repositories written by an earlier run")
    ap.add_argument(
        "--no-journal",
        dest="journal",
        action="store_false",
        help="W6: measure aimcol without the change journal (index/changes) that writers keep, "
        "as on a filesystem that lost it: every refresh then stats every manifest",
    )
    ap.add_argument(
        "--bytecode",
        action="store_true",
        help="aimcol's processes import it from cached bytecode, as an installed aimcol does and as Aim's "
        "always do (matters where PYTHONDONTWRITEBYTECODE is set: see bench_common.bytecode_env)",
    )
    args = ap.parse_args()
    if args.bytecode:
        env = bytecode_env(
            AIMCOL_ENV, sys.executable, Path(args.work).resolve() / "pycache", REPO_ROOT / "aimcol", REPO_ROOT / "tui"
        )
        AIMCOL_ENV.clear()
        AIMCOL_ENV.update(env)
    (run_w6 if args.workload == "w6" else run_w2)(args)


if __name__ == "__main__":
    main()
