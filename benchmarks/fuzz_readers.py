"""Long fuzz run of the four readers of repository files (issue 9): counts, not a pass/fail.

Each case damages one real file once (see ``tests/fuzz_cases.py``: bytes flipped, a stretch
zeroed, the file cut) and checks what the reader returns: ``exact``, ``error`` (the typed
error of its contract), ``wrong`` (a wrong value: a bug), ``exception`` (another exception:
a bug), ``crash`` (the process died of a signal: a bug) or ``hang`` (no answer within the
timeout: a bug).  Cases run in child processes, a few hundred each, so a SIGSEGV or SIGBUS
ends one case, not the run; the parent restarts the child after the case that killed it.

    python benchmarks/fuzz_readers.py --cases 3000 --seed 1 --json benchmarks/results/fuzz.json
    python benchmarks/fuzz_readers.py --cases 3000 --pythonpath /path/to/older/aimcol   # compare

Cases are deterministic: case ``i`` of reader ``r`` with seed ``s`` is the same damage every run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.join(os.path.dirname(HERE), "tests")
READERS = ("live", "sealed", "manifest", "index")
OUTCOMES = ("exact", "error", "wrong", "exception", "crash", "hang")


def damage_for(reader: str, seed: int, case: int, size: int) -> tuple:
    rng = random.Random(f"{reader}/{seed}/{case}")
    kind = rng.choices(("flip", "zero", "cut"), weights=(6, 2, 1))[0]
    offset = rng.randrange(size)
    if kind == "flip":
        return kind, offset, bytes(rng.randrange(1, 256) for _ in range(rng.choice((1, 1, 1, 2, 4, 8))))
    if kind == "zero":
        return kind, offset, rng.randrange(1, 513)
    return kind, offset, 0


def child(reader: str, seed: int, start: int, stop: int, folder: str) -> None:
    """Run cases ``[start, stop)``, printing ``CASE i`` before and ``OUT i outcome`` after each."""
    sys.path.insert(0, TESTS)
    import fuzz_cases

    files = fuzz_cases.make_files(tempfile.mkdtemp(dir=folder))
    original = {
        "live": files.live_bytes,
        "sealed": files.sealed_bytes,
        "manifest": files.manifest_bytes,
        "index": files.index_bytes,
    }[reader]
    work = os.path.join(folder, "work")
    os.makedirs(work, exist_ok=True)
    for case in range(start, stop):
        print(f"CASE {case}", flush=True)
        bad = fuzz_cases.apply_damage(original, damage_for(reader, seed, case, len(original)))
        try:
            if reader == "live":
                outcome = fuzz_cases.check_live(files, bad)
            elif reader == "sealed":
                outcome = fuzz_cases.check_sealed(files, bad, work)
            elif reader == "manifest":
                outcome = fuzz_cases.check_manifest(files, bad)
            else:
                outcome = fuzz_cases.check_index(files, bad, work)
        except Exception as exc:  # noqa: BLE001 (any other exception is an outcome to count)
            outcome = "exception"
            print(f"EXC {case} {type(exc).__name__}: {str(exc)[:200]}", flush=True)
        print(f"OUT {case} {outcome}", flush=True)


def run_reader(reader: str, cases: int, seed: int, chunk: int, timeout: float, env: dict) -> dict:
    counts = dict.fromkeys(OUTCOMES, 0)
    examples: dict[str, list] = {}
    case = 0
    with tempfile.TemporaryDirectory() as folder:
        while case < cases:
            stop = min(cases, case + chunk)
            cmd = [sys.executable, __file__, "--child", reader, str(seed), str(case), str(stop), folder]
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
                out, rc = proc.stdout, proc.returncode
            except subprocess.TimeoutExpired as exc:
                out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
                rc = None
            done = set()
            last = None
            for line in out.splitlines():
                parts = line.split(" ", 2)
                if parts[0] == "CASE":
                    last = int(parts[1])
                elif parts[0] == "OUT":
                    counts[parts[2]] += 1
                    done.add(int(parts[1]))
                    if parts[2] != "exact" and parts[2] != "error":
                        examples.setdefault(parts[2], []).append(int(parts[1]))
                elif parts[0] == "EXC":
                    examples.setdefault("exception_types", []).append(parts[2][:120])
            if last is not None and last not in done:  # the child died or hung in this case
                kind = "hang" if rc is None else "crash"
                counts[kind] += 1
                examples.setdefault(kind, []).append((last, rc))
                case = last + 1
            elif rc != 0 and not done:
                raise RuntimeError(f"fuzz child failed before any case (rc {rc}): {proc.stderr[-2000:]}")
            else:
                case = stop
    return {"cases": cases, "counts": counts, "examples": {k: v[:10] for k, v in examples.items()}}


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        reader, seed, start, stop, folder = sys.argv[2:7]
        child(reader, int(seed), int(start), int(stop), folder)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000, help="cases per reader")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--readers", default=",".join(READERS))
    parser.add_argument("--chunk", type=int, default=250, help="cases per child process")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per child before it counts as hung")
    parser.add_argument("--pythonpath", help="import aimcol from here instead (to fuzz another version)")
    parser.add_argument("--json", help="write the counts here")
    args = parser.parse_args()
    env = dict(os.environ)
    if args.pythonpath:
        env["PYTHONPATH"] = args.pythonpath
    started = time.time()
    report = {"seed": args.seed, "pythonpath": args.pythonpath, "readers": {}}
    for reader in args.readers.split(","):
        t0 = time.time()
        result = run_reader(reader, args.cases, args.seed, args.chunk, args.timeout, env)
        result["seconds"] = round(time.time() - t0, 1)
        report["readers"][reader] = result
        counts = " ".join(f"{k}={v}" for k, v in result["counts"].items())
        print(f"{reader:9s} {args.cases} cases in {result['seconds']} s: {counts}", flush=True)
        for kind, cases in result["examples"].items():
            print(f"          {kind}: {cases}", flush=True)
    report["seconds"] = round(time.time() - started, 1)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=1, default=str)
    bad = sum(r["counts"][k] for r in report["readers"].values() for k in ("wrong", "exception", "crash", "hang"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
