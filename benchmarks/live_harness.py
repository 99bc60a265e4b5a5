"""W5 live read, the parts shared by aimcol's and Aim's scripts (standard library only).

``paced_writer`` tracks one point every 1/rate seconds and publishes the newest tracked step
in a progress file; ``poll_reader`` asks a tool-specific function for the newest step a fresh
reader can see, every ``interval`` seconds, and compares it with the writer's progress.
Staleness is measured in points: at 1,000 points/s one point is one millisecond.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from bench_common import ProgressFile, fresh_dir, parse_result, percentile, read_progress


def stop_file_for(progress: str | os.PathLike) -> Path:
    return Path(progress).with_suffix(".stop")


def paced_writer(track, rate: float, seconds: float, progress: str, on_ready=None) -> dict:
    """Call ``track(step)`` at ``rate`` points per second until the reader asks it to stop
    (its stop file appears) or ``seconds`` pass; returns the rate reached."""
    stop = str(stop_file_for(progress))
    prog = ProgressFile(progress)
    if on_ready:
        on_ready()
    start = time.perf_counter()
    end = start + seconds
    i = 0
    worst_lag = 0.0
    while True:
        now = time.perf_counter()
        if now >= end or (i % 50 == 0 and os.path.exists(stop)):
            break
        due = start + i / rate
        if now < due:
            time.sleep(due - now)
        else:
            worst_lag = max(worst_lag, now - due)
        track(i)
        prog.write(i, i + 1)
        i += 1
    elapsed = time.perf_counter() - start
    prog.close()
    return {"points": i, "writer_s": elapsed, "rate_reached": i / elapsed, "writer_worst_lag_s": worst_lag}


def poll_reader(newest_visible, progress: str, seconds: float, interval: float = 0.1) -> dict:
    """Every ``interval`` s: v = newest_visible() (None when nothing is visible), then the
    writer's newest tracked step. Exceptions are counted, never raised."""
    stale, latencies = [], []
    errors: dict[str, int] = {}
    polls = invisible = 0
    first_error = None
    start = time.perf_counter()
    end = start + seconds
    k = 0
    while time.perf_counter() < end:
        due = start + k * interval
        now = time.perf_counter()
        if now < due:
            time.sleep(due - now)
        k += 1
        polls += 1
        t0 = time.perf_counter()
        try:
            v = newest_visible()
        except Exception as e:  # what a reader of a live run hits
            key = type(e).__name__
            errors[key] = errors.get(key, 0) + 1
            if first_error is None:
                first_error = f"{key}: {str(e)[:300]}"
            continue
        finally:
            latencies.append(time.perf_counter() - t0)
        prog = read_progress(progress)
        tracked = prog[0] if prog else -1
        if v is None:
            invisible += 1
            continue
        stale.append(tracked - v)
    stop_file_for(progress).touch()  # the writer stops (and closes its run) only now
    return {
        "polls": polls,
        "polls_nothing_visible": invisible,
        "polls_with_data": len(stale),
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "first_error": first_error,
        "staleness_points_median": percentile(stale, 0.5),
        "staleness_points_p95": percentile(stale, 0.95),
        "staleness_points_max": max(stale) if stale else None,
        "poll_s_median": percentile(latencies, 0.5),
        "poll_s_p95": percentile(latencies, 0.95),
    }


def run_pair(
    writer_cmd: list[str],
    reader_cmd: list[str],
    progress: Path,
    seconds: float,
    env: dict | None = None,
    ready_timeout: float = 120.0,
) -> tuple[str, str, int, int]:
    """Start the writer, wait until it tracks, start the reader (which polls for ``seconds`` and
    then tells the writer to stop); wait for both. Returns both outputs and exit codes."""
    w = subprocess.Popen(writer_cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    deadline = time.monotonic() + ready_timeout
    while read_progress(progress) is None and time.monotonic() < deadline and w.poll() is None:
        time.sleep(0.01)
    r = subprocess.run(reader_cmd, capture_output=True, text=True, env=env, timeout=seconds + 300)
    try:
        w_out, _ = w.communicate(timeout=seconds + 300)
    except subprocess.TimeoutExpired:
        w.kill()
        w_out, _ = w.communicate()
    return w_out, r.stdout + r.stderr, w.returncode, r.returncode


def run_live_pair(script: str, args, extra: list[str] = (), env: dict | None = None) -> dict:
    """The W5 parent: a fresh work folder, ``script``'s writer and reader processes on it
    (``extra``: more arguments for both), and their results merged into one."""
    work = fresh_dir(args.repo)
    repo = work / "repo"
    repo.mkdir()
    progress = work / "progress.bin"
    common = [
        "--repo",
        str(repo),
        "--progress",
        str(progress),
        "--seconds",
        str(args.seconds),
        "--rate",
        str(args.rate),
        "--interval",
        str(args.interval),
        *extra,
    ]
    me = os.path.abspath(script)
    w_out, r_out, _, _ = run_pair(
        [sys.executable, me, "writer", *common],
        [sys.executable, me, "reader", *common],
        progress,
        args.seconds,
        env=env,
    )
    w = parse_result(w_out) or {"writer_error": w_out[-1500:]}
    r = parse_result(r_out) or {"reader_error": r_out[-1500:]}
    w.pop("peak_rss_mb", None)
    r.pop("peak_rss_mb", None)
    return {
        "mode": "run",
        "seconds": args.seconds,
        "rate": args.rate,
        "interval_s": args.interval,
        **{f"writer_{k}" if not k.startswith("writer") else k: v for k, v in w.items()},
        **r,
    }


def hash_file_for(progress: str | os.PathLike) -> Path:
    return Path(progress).with_suffix(".hash")


def publish_hash(progress: str | os.PathLike, run_hash: str) -> None:
    p = hash_file_for(progress)
    tmp = p.with_suffix(".hash.tmp")
    tmp.write_text(run_hash)
    os.replace(tmp, p)


def wait_hash(progress: str | os.PathLike, timeout: float = 120.0) -> str:
    p = hash_file_for(progress)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if p.exists():
            return p.read_text()
        time.sleep(0.01)
    sys.exit("writer never published its run hash")
