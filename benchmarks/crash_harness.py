"""The kill -9 loop of W4, shared by aimcol's and Aim's W4 scripts (standard library only).

``kill_loop`` starts a writer command again and again, kills it with SIGKILL at a random
moment, and records what the writer had tracked by then (from its progress file).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

from bench_common import read_progress


def wait_for(predicate, timeout: float, proc: subprocess.Popen | None = None, poll: float = 0.005) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if proc is not None and proc.poll() is not None:
            return predicate()
        time.sleep(poll)
    return False


def kill_loop(
    make_cmd,
    workdir: Path,
    kills: int,
    seed: int,
    min_delay: float = 0.05,
    max_delay: float = 1.5,
    early_fraction: float = 0.2,
    ready_timeout: float = 120.0,
    env: dict | None = None,
) -> list[dict]:
    """Run ``make_cmd(i, progress_path)`` ``kills`` times, SIGKILL each at a random moment.

    Most kills happen a random ``min_delay..max_delay`` seconds after the writer reports that it
    is tracking; ``early_fraction`` of them (never the first) at a random moment from spawn,
    which may fall in start-up, run creation or crash recovery. Returns one record per kill.
    """
    rng = random.Random(seed)
    records = []
    startup_s = None
    for i in range(kills):
        progress = workdir / f"progress-{i}.bin"
        log = open(workdir / f"writer-{i}.log", "wb")
        early = i > 0 and startup_s is not None and rng.random() < early_fraction
        t_spawn = time.monotonic()
        proc = subprocess.Popen(make_cmd(i, progress), stdout=log, stderr=subprocess.STDOUT, env=env)
        rec = {"i": i, "early": early}
        if early:
            delay = rng.uniform(0.0, startup_s + min_delay)
            time.sleep(delay)
            rec["delay_from_spawn_s"] = delay
        else:
            ready = wait_for(lambda p=progress: read_progress(p) is not None, ready_timeout, proc)
            t_ready = time.monotonic()
            if startup_s is None and ready:
                startup_s = t_ready - t_spawn
            delay = rng.uniform(min_delay, max_delay)
            time.sleep(delay)
            rec["delay_after_ready_s"] = delay
            rec["ready"] = ready
        exited = proc.poll()
        if exited is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        log.close()
        rec["exit_before_kill"] = exited
        if exited is not None:  # it died on its own: keep why
            tail = (workdir / f"writer-{i}.log").read_bytes()[-1200:].decode(errors="replace")
            rec["writer_log_tail"] = tail
        prog = read_progress(progress)
        rec["tracked_points"] = prog[1] if prog else 0
        rec["tracked_last_step"] = prog[0] if prog else None
        if prog:
            rec["tracking_s"] = max(prog[2] - _first_time(progress, prog), 0.0)
        records.append(rec)
    return records


def _first_time(progress: Path, prog) -> float:
    start = progress.with_suffix(".start")
    try:
        return float(start.read_text())
    except (FileNotFoundError, ValueError):
        return prog[2]


def mark_start(progress: str | os.PathLike) -> None:
    """Writers call this right before their first tracked point (for the tracking rate)."""
    p = Path(progress).with_suffix(".start")
    tmp = p.with_suffix(".start.tmp")
    tmp.write_text(repr(time.time()))
    os.replace(tmp, p)
