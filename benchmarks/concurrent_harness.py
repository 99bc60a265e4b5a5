"""W3's shared parts: start the writer processes together, poll while they write, collect
them, and the writer's loop (standard library only: the peer scripts use it too, inside the
peers' virtual environments)."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from bench_common import W1_NAMES, parse_result, w3_value


def write_w3_run(track, steps: int) -> None:
    """One writer's points: W1's 10 names x 2 contexts, values exact functions of the step."""
    for i in range(steps):
        for k, name in enumerate(W1_NAMES):
            track(w3_value(2 * k, i), name=name, step=i, context={"subset": "train"})
            track(w3_value(2 * k + 1, i), name=name, step=i, context={"subset": "val"})


def start_writers(script: str, n: int, args: list[str]) -> list[subprocess.Popen]:
    """``n`` processes of ``script writer --index i ...``, started back to back."""
    return [
        subprocess.Popen(
            [sys.executable, script, "writer", "--index", str(i), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(n)
    ]


def poll_while_writing(procs: list[subprocess.Popen], count_points) -> dict:
    """Call ``count_points()`` (a reader query) back to back until every writer has exited."""
    queries = errors = most = 0
    latencies: list[float] = []
    first_error = None
    while any(p.poll() is None for p in procs):
        t = time.perf_counter()
        try:
            most = max(most, count_points())
        except Exception as exc:  # what the benchmark counts: a reader error
            errors += 1
            first_error = first_error or f"{type(exc).__name__}: {exc}"
        queries += 1
        latencies.append(time.perf_counter() - t)
    latencies.sort()
    return {
        "reader_queries": queries,
        "reader_errors": errors,
        "reader_first_error": first_error,
        "reader_most_loss_points_seen": most,
        "reader_query_ms_median": latencies[len(latencies) // 2] * 1e3 if latencies else None,
    }


def wait_writers(procs: list[subprocess.Popen]) -> list[str]:
    """Wait for every writer; one line per writer that failed."""
    errors = []
    for i, p in enumerate(procs):
        out, err = p.communicate()
        if p.returncode != 0 or parse_result(out) is None:
            errors.append(f"writer {i}: exit {p.returncode}: {(err or out).strip().splitlines()[-1:]}")
    return errors


def run_parent(tool: str, args, root, hashes_dir, script: str, count_points, finish) -> dict:
    """Start the writers, poll, wait; ``finish(hashes)`` returns the tool's checks."""
    procs = start_writers(
        script,
        args.writers,
        ["--impl", args.impl, "--repo", str(root), "--steps", str(args.steps), "--hashes", str(hashes_dir)],
    )
    t0 = time.perf_counter()
    reader = poll_while_writing(procs, count_points)
    writer_errors = wait_writers(procs)
    total = time.perf_counter() - t0
    hashes = [
        (hashes_dir / f"{i}.hash").read_text() for i in range(args.writers) if (hashes_dir / f"{i}.hash").exists()
    ]
    points = args.writers * args.steps * len(W1_NAMES) * 2
    return {
        "tool": tool,
        "writers": args.writers,
        "steps": args.steps,
        "points": points,
        "total_s": total,
        "points_per_s": points / total,
        "writer_errors": writer_errors,
        **reader,
        **finish(hashes),
    }


def main(writer, parent, impls: tuple[str, ...], load) -> None:
    """``writer(tool, args)`` or ``parent(tool, args)`` with ``tool = load(args.impl)``."""
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=("run", "writer"))
    ap.add_argument("--impl", choices=impls, required=True)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--writers", type=int, default=8)
    ap.add_argument("--steps", type=int, default=10_000)
    ap.add_argument("--index", type=int)
    ap.add_argument("--hashes")
    args = ap.parse_args()
    tool = load(args.impl)
    if args.mode == "writer":
        writer(tool, args)
    else:
        parent(tool, args)
