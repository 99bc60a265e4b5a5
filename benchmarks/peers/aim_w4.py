"""W4 crash for real Aim 3.29.1 (runs in benchmarks/.venvs/aim; never imports aimcol).

  run      the parent: starts ``writer`` --kills times, each a new run in one repository,
           kill -9s it at a random moment, then runs ``check`` in a fresh process
  writer   tracks 4 sequences as fast as it can, value = crash_value(seq, step), and
           publishes its progress (newest step, points tracked) in a small file
  check    does the repository open; what a reader sees before and after a reindex
           (Aim 3.29 shows unindexed runs as empty); is every sequence a clean prefix;
           how many points survived; does each run still say active; can a killed run be
           resumed (and with force_resume=True)

Prints one BENCH_RESULT line (run and check modes).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
from bench_common import (  # noqa: E402
    CRASH_SEQUENCES,
    ProgressFile,
    assert_no_aimcol,
    crash_value,
    emit,
    fresh_dir,
    parse_result,
)
from crash_harness import kill_loop, mark_start  # noqa: E402


def writer(args) -> None:
    from aim import Run

    run = Run(repo=args.repo, system_tracking_interval=None, capture_terminal_logs=False)
    hash_file = Path(args.progress).with_suffix(".hash")
    hash_file.with_suffix(".tmp").write_text(run.hash)
    os.replace(hash_file.with_suffix(".tmp"), hash_file)
    prog = ProgressFile(args.progress)
    mark_start(args.progress)
    seqs = [(k, name, {"subset": sub}) for k, (name, sub) in enumerate(CRASH_SEQUENCES)]
    i = count = 0
    while True:  # progress after every point, so "lost" is exact
        for k, name, ctx in seqs:
            run.track(crash_value(k, i), name=name, step=i, context=ctx)
            count += 1
            prog.write(i, count)
        i += 1


def _read_runs(repo, hashes: list[str]) -> dict:
    out = {}
    for h in hashes:
        rec: dict = {}
        try:
            run = repo.get_run(h)
            rec["visible"] = run is not None
            if run is None:
                out[h] = rec
                continue
            rec["active"] = bool(run.active)
            seqs = {}
            clean = True
            for metric in run.metrics():
                sub = metric.context.to_dict().get("subset")
                k = CRASH_SEQUENCES.index((metric.name, sub))
                steps, (values,) = metric.data.view("val").numpy()
                n = len(steps)
                ok = list(steps) == list(range(n)) and all(
                    float(v) == crash_value(k, int(s)) for s, v in zip(steps, values)
                )
                clean = clean and ok
                seqs[f"{metric.name}/{sub}"] = {"points": n, "clean_prefix": ok}
                if not ok:  # say what is wrong: the first point that is not as tracked
                    for j, (s, v) in enumerate(zip(steps, values)):
                        if int(s) != j or float(v) != crash_value(k, int(s)):
                            seqs[f"{metric.name}/{sub}"]["first_bad"] = {
                                "index": j,
                                "step": int(s),
                                "value": float(v),
                                "expected_value": crash_value(k, int(s)),
                                "last_steps": [int(x) for x in steps[-3:]],
                            }
                            break
            rec["sequences"] = seqs
            rec["points"] = sum(s["points"] for s in seqs.values())
            rec["clean_prefix"] = clean
        except Exception as e:  # a benchmark reports errors, it does not stop on them
            rec["error"] = f"{type(e).__name__}: {e}"
        out[h] = rec
    return out


def check(args) -> dict:
    from aim import Repo, Run

    assert_no_aimcol()
    hashes = [h for h in args.hashes.split(",") if h]
    res: dict = {"mode": "check", "runs": len(hashes)}
    try:
        t0 = time.perf_counter()
        repo = Repo.from_path(args.repo)
        res["open_s"] = time.perf_counter() - t0
        res["repo_opens"] = True
    except Exception as e:
        res["repo_opens"] = False
        res["open_error"] = f"{type(e).__name__}: {e}"
        return res
    res["before_reindex"] = _read_runs(repo, hashes)
    try:
        n = sum(1 for _ in repo.query_runs("", report_mode=0).iter_runs())
        res["query_runs_before_reindex"] = n
    except Exception as e:
        res["query_runs_before_reindex"] = f"{type(e).__name__}: {e}"
    t0 = time.perf_counter()
    repo._recreate_index()
    res["reindex_s"] = time.perf_counter() - t0
    repo = Repo.from_path(args.repo)
    res["after_reindex"] = _read_runs(repo, hashes)
    # resume the first killed run, as a user would after a crash
    for label, kwargs in (("resume", {}), ("resume_force", {"force_resume": True})):
        if res.get("resume") == "ok":
            res[label] = "not needed"
            continue
        try:
            run = Run(hashes[0], repo=args.repo, system_tracking_interval=None, capture_terminal_logs=False, **kwargs)
            run.track(crash_value(0, 10**6), name=CRASH_SEQUENCES[0][0], context={"subset": CRASH_SEQUENCES[0][1]})
            run.close()
            res[label] = "ok"
        except Exception as e:
            res[label] = f"{type(e).__name__}: {str(e)[:200]}"
    if res.get("resume") == "ok" or res.get("resume_force") == "ok":
        try:
            repo = Repo.from_path(args.repo)
            run = repo.get_run(hashes[0])
            name, sub = CRASH_SEQUENCES[0]
            for metric in run.metrics():
                if metric.name == name and metric.context.to_dict().get("subset") == sub:
                    steps, _ = metric.data.view("val").numpy()
                    before = res["after_reindex"][hashes[0]]["sequences"][f"{name}/{sub}"]["points"]
                    res["resume_step"] = int(steps[-1])
                    res["resume_step_expected"] = before  # last_step + 1
            res["active_after_resume_close"] = bool(run.active)
        except Exception as e:
            res["resume_read_error"] = f"{type(e).__name__}: {e}"
    return res


def run_parent(args) -> dict:
    work = fresh_dir(args.repo)
    repo = work / "repo"
    repo.mkdir()
    logs = work / "logs"
    logs.mkdir()
    py = sys.executable
    me = os.path.abspath(__file__)
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    subprocess.run([py, "-m", "aim.cli.cli", "init", "--repo", str(repo)], capture_output=True, env=env)
    if not (repo / ".aim").exists():
        subprocess.run(
            [py, "-c", f"from aim import Repo; Repo.from_path({str(repo)!r}, init=True)"], env=env, capture_output=True
        )

    def make_cmd(i, progress):
        return [py, me, "writer", "--repo", str(repo), "--progress", str(progress)]

    t0 = time.perf_counter()
    records = kill_loop(make_cmd, logs, args.kills, args.seed, max_delay=args.max_delay, early_fraction=0.0, env=env)
    t_kills = time.perf_counter() - t0
    hashes = []
    for i, rec in enumerate(records):
        h = logs / f"progress-{i}.hash"
        rec["hash"] = h.read_text() if h.exists() else None
        if rec["hash"]:
            hashes.append(rec["hash"])
    cp = subprocess.run(
        [py, me, "check", "--repo", str(repo), "--hashes", ",".join(hashes)], capture_output=True, text=True, env=env
    )
    chk = parse_result(cp.stdout) or {"error": (cp.stderr or cp.stdout)[-2000:]}
    before = chk.get("before_reindex", {})
    after = chk.get("after_reindex", {})
    for rec in records:
        h = rec["hash"]
        if not h:
            continue
        b, a = before.get(h, {}), after.get(h, {})
        rec["visible_before_reindex_points"] = b.get("points", 0)
        rec["surviving_points"] = a.get("points")
        rec["clean_prefix"] = a.get("clean_prefix")
        bad = {k: v["first_bad"] for k, v in a.get("sequences", {}).items() if "first_bad" in v}
        if bad:
            rec["not_clean"] = bad
        rec["active_after_kill"] = a.get("active")
        if a.get("points") is not None:
            rec["lost_points"] = rec["tracked_points"] - a["points"]
    surv = [r for r in records if r.get("surviving_points") is not None]
    return {
        "mode": "run",
        "kills": args.kills,
        "kill_loop_s": t_kills,
        "writers_died": sum(1 for r in records if r.get("exit_before_kill") is not None),
        "repo_opens": chk.get("repo_opens"),
        "reindex_s": chk.get("reindex_s"),
        "runs_visible_before_reindex": sum(1 for r in records if r.get("visible_before_reindex_points")),
        "query_runs_before_reindex": chk.get("query_runs_before_reindex"),
        "tracked_points": sum(r["tracked_points"] for r in records),
        "surviving_points": sum(r["surviving_points"] for r in surv),
        "lost_points_max": max((r.get("lost_points", 0) for r in surv), default=None),
        "all_clean_prefix": all(r.get("clean_prefix") for r in surv) and len(surv) == len(hashes),
        "still_active_after_kill": sum(1 for r in surv if r.get("active_after_kill")),
        "not_clean_prefix": sum(1 for r in surv if r.get("clean_prefix") is False),
        "resume": chk.get("resume"),
        "resume_force": chk.get("resume_force"),
        "resume_step": chk.get("resume_step"),
        "resume_step_expected": chk.get("resume_step_expected"),
        "check_error": chk.get("error") or chk.get("open_error"),
        "kills_detail": records,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=("run", "writer", "check"))
    ap.add_argument("--repo", required=True)
    ap.add_argument("--progress")
    ap.add_argument("--hashes", default="")
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--max-delay", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=4)
    args = ap.parse_args()
    if args.mode == "writer":
        writer(args)
        return
    res = check(args) if args.mode == "check" else run_parent(args)
    from importlib.metadata import version

    res.update({"tool": "aim", "version": version("aim")})
    if args.mode == "run":
        res.pop("peak_rss_mb", None)
        res["peak_rss_mb"] = None  # the parent only orchestrates
    emit(res)


if __name__ == "__main__":
    main()
