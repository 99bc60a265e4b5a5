"""W4 crash, one script for aimcol and Aim (the same protocol for both).

  run      the parent: starts ``writer`` --kills times on ONE run and kill -9s it at a random
           moment each time (most while tracking, some during start-up, run creation or crash
           recovery), then runs ``check`` in a fresh process
  writer   1. if the run exists: reads it read-only first (does the repository open; is every
              sequence a clean prefix, steps 0..k with the values tracked; is the run
              inactive now that its writer is dead) and records that in check-<i>.json. A tool
              whose readers see a run only after an index pass (Aim) gets that pass first,
              timed, as its user would run ``aim storage reindex``;
           2. resumes the run (or creates it; Aim: ``force_resume=True`` when a plain resume
              is refused, recorded) and tracks 4 sequences as fast as it can WITHOUT a step:
              the value it tracks is crash_value(seq, expected_step) where expected_step
              continues from the last visible step + 1, so a resume that continued at the
              wrong step shows up as values that do not match their steps
  check    the same read check after the last kill, then a clean resume: one point per
           sequence without a step must land at last_step + 1, and close() must leave the
           run inactive with an end_time

  --impl aimcol|aim   (--flush-points is aimcol's)

Prints one BENCH_RESULT line (run mode).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tools  # noqa: E402
from bench_common import CRASH_SEQUENCES, ProgressFile, crash_value, emit, fresh_dir, parse_result  # noqa: E402
from crash_harness import kill_loop, mark_start  # noqa: E402

SEQ_KEYS = [f"{name}/{sub}" for name, sub in CRASH_SEQUENCES]


def read_check(tool, repo_path: str, run_hash: str) -> dict:
    """Open the repository afresh and verify the run; never raises."""
    import numpy as np

    rec: dict = {"time": time.time()}
    try:
        t0 = time.perf_counter()
        rec["reindex_s"] = tool.reindex(Path(repo_path))
        repo = tool.open_repo(Path(repo_path))
        run = repo.get_run(run_hash)
        rec["open_s"] = time.perf_counter() - t0
        rec["repo_opens"] = True
    except Exception as e:
        rec["repo_opens"] = False
        rec["error"] = f"open: {type(e).__name__}: {e}"
        return rec
    if run is None:
        rec["run_found"] = False
        return rec
    rec["run_found"] = True
    try:
        rec["active"] = bool(run.active)
        seqs = {}
        for metric in run.metrics():
            ctx = tool.context_of(metric)
            key = f"{metric.name}/{ctx.get('subset')}"
            if key not in SEQ_KEYS:
                continue
            k = SEQ_KEYS.index(key)
            steps, values = tool.numpy(metric)
            steps, values = np.asarray(steps), np.asarray(values, dtype=np.float64)
            n = len(steps)
            clean = bool(
                np.array_equal(steps, np.arange(n)) and np.array_equal(values, steps * 0.5 + k)  # crash_value(k, step)
            )
            seqs[key] = {"points": n, "last_step": int(steps[-1]) if n else -1, "clean_prefix": clean}
            if not clean:  # say what is wrong: the first point that is not as tracked
                bad = np.nonzero((steps != np.arange(n)) | (values != steps * 0.5 + k))[0]
                if len(bad):
                    j = int(bad[0])
                    seqs[key]["first_bad"] = {
                        "index": j,
                        "step": int(steps[j]),
                        "value": float(values[j]),
                        "expected_value": crash_value(k, int(steps[j])),
                    }
        rec["sequences"] = seqs
        rec["points"] = sum(s["points"] for s in seqs.values())
        rec["clean_prefix"] = all(s["clean_prefix"] for s in seqs.values())
    except Exception as e:
        rec["error"] = f"read: {type(e).__name__}: {e}"
        rec["traceback"] = traceback.format_exc()[-1500:]
    return rec


def writer(tool, args) -> None:
    hash_file = Path(args.work) / "run.hash"
    next_step = [0] * len(CRASH_SEQUENCES)
    if hash_file.exists():
        h = hash_file.read_text()
        rec = read_check(tool, args.repo, h)
        tmp = Path(args.work) / f"check-{args.i}.json.tmp"
        tmp.write_text(json.dumps(rec))
        os.replace(tmp, Path(args.work) / f"check-{args.i}.json")
        for k, key in enumerate(SEQ_KEYS):
            next_step[k] = rec.get("sequences", {}).get(key, {}).get("last_step", -1) + 1
        run = tool.resume_run(Path(args.repo), h)
    else:
        run = tool.new_run(Path(args.repo))
        tmp = hash_file.with_suffix(".tmp")
        tmp.write_text(run.hash)
        os.replace(tmp, hash_file)
    seqs = [(k, name, {"subset": sub}) for k, (name, sub) in enumerate(CRASH_SEQUENCES)]
    prog = ProgressFile(args.progress)
    mark_start(args.progress)
    count = 0
    track = run.track
    write = prog.write
    while True:  # progress after every point, so "lost" is exact
        for k, name, ctx in seqs:
            track(crash_value(k, next_step[k]), name=name, context=ctx)
            next_step[k] += 1
            count += 1
            write(next_step[0] - 1, count)


def check(tool, args) -> dict:
    h = (Path(args.work) / "run.hash").read_text()
    before = read_check(tool, args.repo, h)
    res = {"before_resume": before}
    try:
        run = tool.resume_run(Path(args.repo), h)
        res["force_resume_needed"] = getattr(run, "_bench_forced", False)
        for k, (name, sub) in enumerate(CRASH_SEQUENCES):
            last = before.get("sequences", {}).get(f"{name}/{sub}", {}).get("last_step", -1)
            run.track(crash_value(k, last + 1), name=name, context={"subset": sub})
        run.close()
        res["resume"] = "ok"
    except Exception as e:
        res["resume"] = f"{type(e).__name__}: {e}"
        res["traceback"] = traceback.format_exc()[-1500:]
        return res
    after = read_check(tool, args.repo, h)
    res["after_resume"] = after
    steps_ok = all(
        after.get("sequences", {}).get(key, {}).get("last_step")
        == before.get("sequences", {}).get(key, {}).get("last_step", -1) + 1
        for key in SEQ_KEYS
    )
    res["resume_continues_at_last_step_plus_1"] = steps_ok and bool(after.get("clean_prefix"))
    try:
        run = tool.open_repo(Path(args.repo)).get_run(h)
        res["active_after_close"] = bool(run.active)
        res["end_time_after_close"] = run.end_time is not None
    except Exception as e:
        res["active_after_close"] = f"{type(e).__name__}: {e}"
    return res


def run_parent(tool, args) -> dict:
    work = fresh_dir(args.repo)
    repo = work / "repo"
    repo.mkdir()
    tool.init_repo(repo)
    py = sys.executable
    me = os.path.abspath(__file__)

    def make_cmd(i, progress):
        return [
            py,
            me,
            "writer",
            "--impl",
            args.impl,
            "--repo",
            str(repo),
            "--work",
            str(work),
            "--i",
            str(i),
            "--progress",
            str(progress),
            "--flush-points",
            str(args.flush_points),
        ]

    t0 = time.perf_counter()
    records = kill_loop(
        make_cmd, work, args.kills, args.seed, max_delay=args.max_delay, early_fraction=args.early_fraction
    )
    t_kills = time.perf_counter() - t0
    cp = subprocess.run(
        [py, me, "check", "--impl", args.impl, "--repo", str(repo), "--work", str(work)], capture_output=True, text=True
    )
    final = parse_result(cp.stdout) or {"error": (cp.stderr or cp.stdout)[-2000:]}

    # the read check made after kill i is the one made by writer i+1 (or the final check)
    checks = []
    for i in range(1, args.kills):
        p = work / f"check-{i}.json"
        checks.append(json.loads(p.read_text()) if p.exists() else None)
    checks.append(final.get("before_resume"))
    # A writer that tracked always made a read check first (writer 0 excepted), so between two
    # checks at most one writer tracked: the points lost since the last check are its loss.
    visible_before = pending = 0
    last_tracker = None
    lost_per_kill = []
    for rec, chk in zip(records, checks):
        rec["check_after_kill"] = (
            {k: chk.get(k) for k in ("repo_opens", "run_found", "active", "points", "clean_prefix", "error")}
            if chk
            else None
        )
        pending += rec["tracked_points"]
        if rec["tracked_points"]:
            last_tracker = rec
        if chk and chk.get("points") is not None:
            lost = visible_before + pending - chk["points"]
            if last_tracker is not None:
                last_tracker["lost_points"] = lost
                lost_per_kill.append(lost)
                if last_tracker.get("tracking_s"):
                    rate = last_tracker["tracked_points"] / last_tracker["tracking_s"]
                    last_tracker["lost_ms_of_tracking"] = lost / rate * 1e3 if rate else None
            visible_before, pending, last_tracker = chk["points"], 0, None
    done = [c for c in checks if c]
    failures = [
        {
            "kill": i,
            **{k: c.get(k) for k in ("repo_opens", "run_found", "active", "clean_prefix", "error")},
            "first_bad": {k: v["first_bad"] for k, v in (c.get("sequences") or {}).items() if "first_bad" in v},
        }
        for i, c in enumerate(checks)
        if c and not (c.get("repo_opens") and c.get("run_found") and c.get("clean_prefix") and c.get("active") is False)
    ]
    rates = [r["tracked_points"] / r["tracking_s"] for r in records if r.get("tracking_s")]
    lost_ms = [r["lost_ms_of_tracking"] for r in records if r.get("lost_ms_of_tracking") is not None]
    before = final.get("before_resume") or {}
    return {
        "mode": "run",
        "kills": args.kills,
        "flush_points": args.flush_points if tool.name == "aimcol" else None,
        "reindex_s_median": _median([c.get("reindex_s") for c in done if c.get("reindex_s") is not None]),
        "kill_loop_s": t_kills,
        "writers_died": sum(1 for r in records if r.get("exit_before_kill") is not None),
        "early_kills": sum(1 for r in records if r["early"]),
        "checks": len(done),
        "repo_opens": all(c.get("repo_opens") for c in done) if done else None,
        "all_clean_prefix": all(c.get("clean_prefix") for c in done) if done else None,
        "still_active_after_kill": sum(1 for c in done if c.get("active")),
        "not_clean_prefix": sum(1 for c in done if c.get("clean_prefix") is False),
        "check_failures": failures,
        "tracked_points": sum(r["tracked_points"] for r in records),
        "surviving_points": before.get("points"),
        "lost_points_total": (sum(r["tracked_points"] for r in records) - before["points"])
        if before.get("points") is not None
        else None,
        "lost_points_max": max(lost_per_kill) if lost_per_kill else None,
        "lost_ms_max": max(lost_ms) if lost_ms else None,
        "tracking_rate_pts_s_median": sorted(rates)[len(rates) // 2] if rates else None,
        "resume": final.get("resume"),
        "force_resume_needed": final.get("force_resume_needed"),
        "resume_continues_at_last_step_plus_1": final.get("resume_continues_at_last_step_plus_1"),
        "active_after_close": final.get("active_after_close"),
        "end_time_after_close": final.get("end_time_after_close"),
        "final_check_error": final.get("error") or final.get("traceback"),
        "kills_detail": records,
    }


def _median(values: list[float]) -> float | None:
    return sorted(values)[len(values) // 2] if values else None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=("run", "writer", "check"))
    ap.add_argument("--impl", choices=("aimcol", "aim"), required=True)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--work")
    ap.add_argument("--i", type=int, default=0)
    ap.add_argument("--progress")
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--max-delay", type=float, default=1.5)
    ap.add_argument("--flush-points", type=int, default=1000)
    ap.add_argument("--early-fraction", type=float, default=0.2, help="share of kills during start-up")
    ap.add_argument("--seed", type=int, default=4)
    args = ap.parse_args()
    tool = tools.load(args.impl, **({"flush_points": args.flush_points} if args.impl == "aimcol" else {}))
    if args.mode == "writer":
        writer(tool, args)
        return
    res = check(tool, args) if args.mode == "check" else run_parent(tool, args)
    res.update({"tool": tool.name, "impl": args.impl, "version": tool.version()})
    if args.mode == "run":
        res["peak_rss_mb"] = None  # the parent only orchestrates
    emit(res)


if __name__ == "__main__":
    main()
