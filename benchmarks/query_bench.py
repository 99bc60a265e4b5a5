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

Both run the one script per workload that every tool shares (``workloads/w6.py``,
``workloads/w2.py``, with ``--impl aimcol|aim``). W2: the script writes the repositories;
this driver times its ``query`` mode (a new process each time): cold ``query_runs`` and
``query_metrics`` with every value read as NumPy.

Every measurement prints medians; ratios are Aim / aimcol.  The machine is shared and noisy.
Aim's side runs in its own venv (``benchmarks/.venvs/aim`` or ``/tmp/peers/aim``) and never
imports aimcol.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from bench_common import bytecode_env, fresh_dir, parse_result  # noqa: E402

AIM_PYTHONS = tuple(
    Path(p)
    for p in (
        os.environ.get("AIM_PYTHON", ""),
        HERE / ".venvs" / "aim" / "bin" / "python",
        "/tmp/peers/aim/bin/python",
        "/work/peers/aim-3.29.1/bin/python",
    )
    if p
)
"""Where Aim 3.29.1's interpreter may be (``AIM_PYTHON`` first)."""

# ---- driver ----------------------------------------------------------------------------------------


def aim_python() -> Path | None:
    for path in AIM_PYTHONS:
        if path.exists():
            return path
    return None


AIMCOL_ENV = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
"""Environment of aimcol's processes (``--bytecode`` adds a bytecode cache)."""


W6_SCRIPT = HERE / "workloads" / "w6.py"
W2_SCRIPT = HERE / "workloads" / "w2.py"
W6_QUERIES = (  # ~100%, ~50%, ~25%, ~6%, ~1% of the runs
    "",
    "run.hparams.lr < 0.001",
    "run.hparams.warmup > 60 or run.p5 == 'x3'",
    "run.hparams.batch_size == 64 and run.hparams.opt == 'adam'",
    "run.p0 == 7 and run.experiment != 'exp-9'",
)


def impl_of(python) -> str:
    return "aimcol" if str(python) == sys.executable else "aim"


def env_of(impl: str) -> dict:
    return AIMCOL_ENV if impl == "aimcol" else {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def spawn(python, mode: str, **kw) -> subprocess.Popen:
    """``workloads/w6.py <mode> --impl <tool of python> --<key> <value> ...``."""
    impl = impl_of(python)
    argv = [str(python), str(W6_SCRIPT), mode, "--impl", impl]
    for key, value in kw.items():
        argv += [f"--{key}", str(value)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env_of(impl))


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
            t = write_parallel(ours, "write", repo, n, args.procs)
            log(f"  {t:.1f} s")
            index = repo / ".aimcol" / "index"
            for f in index.glob("*"):
                f.unlink()  # the first query builds the index, as after a fresh ingest
            t0 = time.perf_counter()
            res = child(ours, "query", repo=repo, queries=json.dumps([""]), repeat=1)
            log(
                f"  first query ever (builds the index): {res['first_query_s']:.2f} s "
                f"(+{time.perf_counter() - t0 - res['first_query_s']:.2f} s process and imports)"
            )
        journal = repo / ".aimcol" / "index" / "changes"
        if args.journal:
            journal.touch()  # writers keep it (change_journal.note_manifest_changed)
        elif journal.exists():
            journal.unlink()
        results[("aimcol", n)] = measure_queries(ours, "query", repo, queries, args.repeat)
    if aim:
        n = args.aim_runs
        repo = work / f"w6-aim-{n}"
        if args.reuse and (repo / ".aim").exists():
            log(f"W6 Aim: reusing {repo}")
        else:
            fresh_dir(repo)
            child(aim, "init", repo=repo)  # once, before the writers race to create it
            log(f"W6 Aim: writing {n:,} runs with {args.procs} processes (slow) …")
            t = write_parallel(aim, "write", repo, n, args.procs)
            log(f"  {t:.1f} s; reindex …")
            log(f"  reindex {child(aim, 'reindex', repo=repo)['reindex_s']:.1f} s")
        results[("aim", n)] = measure_queries(aim, "query", repo, queries, args.repeat)
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


def w2_cmd(python, mode: str, repo: Path, runs: int, steps: int) -> list[str]:
    impl = impl_of(python)
    return [
        str(python),
        str(W2_SCRIPT),
        mode,
        "--impl",
        impl,
        "--repo",
        str(repo),
        "--runs",
        str(runs),
        "--steps",
        str(steps),
    ]


def w2_child(python, mode: str, repo: Path, runs: int, steps: int) -> dict:
    cp = subprocess.run(
        w2_cmd(python, mode, repo, runs, steps), check=True, env=env_of(impl_of(python)), capture_output=True, text=True
    )
    return parse_result(cp.stdout)


def run_w2(args) -> None:
    work = Path(args.work).resolve()
    ours = sys.executable
    aim = aim_python() if args.aim_steps else None
    repo = work / "w2-aimcol"
    if not (args.reuse and repo.exists()):
        log(f"W2 aimcol: ingest {args.w2_runs} runs x {args.steps} steps …")
        w2_child(ours, "ingest", repo, args.w2_runs, args.steps)
    ours_res = []
    aim_res = []
    aim_repo = work / f"w2-aim-{args.aim_steps}"
    if aim and not (args.reuse and aim_repo.exists()):
        log(f"W2 Aim: ingest {args.w2_runs} runs x {args.aim_steps} steps (slow) …")
        w2_child(aim, "ingest", aim_repo, args.w2_runs, args.aim_steps)
        w2_child(aim, "reindex", aim_repo, args.w2_runs, args.aim_steps)
    ours_repo = repo
    if aim and args.aim_steps != args.steps:
        # the same size as Aim's, for a same-size ratio
        ours_repo = work / f"w2-aimcol-{args.aim_steps}"
        if not (args.reuse and ours_repo.exists()):
            w2_child(ours, "ingest", ours_repo, args.w2_runs, args.aim_steps)
    full = []
    for rep in range(args.repeat):
        order = ["aimcol", "aim"] if rep % 2 == 0 else ["aim", "aimcol"]
        for tool in order:
            if tool == "aimcol":
                ours_res.append(w2_child(ours, "query", ours_repo, args.w2_runs, args.aim_steps if aim else args.steps))
                if aim and ours_repo != repo:
                    full.append(w2_child(ours, "query", repo, args.w2_runs, args.steps))
            elif aim:
                aim_res.append(w2_child(aim, "query", aim_repo, args.w2_runs, args.aim_steps))
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
