"""What the sealed-segment checksums cost readers (issue 9 #2): aimcol with them against aimcol without.

Two shapes, each written by the version under test into its own repository, then read in
fresh processes, alternating the two versions, median of ``--repeat``; then, to isolate the
checks from everything else that changed (and from a loaded machine's noise), the same
files read in one process with and without the manifest's checksum keys, alternating,
minimum of ``--repeat``:

- W2 fetch: 200 runs x 4 sequences x 1,000 steps; a new process runs
  ``query_metrics("metric.name == 'loss'")`` and reads every value as NumPy;
- 10M read: one run, one sequence of 10,000,000 points; a new process reads steps and values
  as NumPy (``sparse_numpy()``).

    python benchmarks/integrity_read_cost.py --before /path/to/aimcol-without-checksums --repeat 5

``--before`` is a source tree (a ``git archive`` of the commit before the checksums); the
version after is the one this script is run with.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

WRITE = r"""
import sys, numpy as np
from aimcol import Run
repo, shape = sys.argv[1], sys.argv[2]
if shape == "w2":
    for r in range(200):
        run = Run(repo=repo, system_tracking_interval=None, capture_terminal_logs=False)
        run["hparams"] = {"lr": 0.001 * (r + 1), "batch_size": 16 << (r % 3)}
        steps = np.arange(1000)
        for name in ("loss", "acc"):
            for subset in ("train", "val"):
                run.track_array(np.random.default_rng(r).random(1000), name=name, steps=steps,
                                context={"subset": subset})
        run.close()
else:
    run = Run(repo=repo, system_tracking_interval=None, capture_terminal_logs=False)
    n = 10_000_000
    run.track_array(np.random.default_rng(0).random(n), name="loss", steps=np.arange(n))
    run.close()
"""

READ = r"""
import sys, time
from aimcol import Repo
repo, shape = Repo(sys.argv[1]), sys.argv[2]
t0 = time.perf_counter()
if shape == "w2":
    points = sum(len(m.values.sparse_numpy()[1]) for m in repo.query_metrics("metric.name == 'loss'"))
else:
    (run,) = list(repo.iter_runs())
    points = len(run.get_metric("loss", {}).values.sparse_numpy()[1])
print(time.perf_counter() - t0, points)
"""


ISOLATE = r"""
import sys, time, json
from aimcol import Repo
from aimcol.format.run_store import RunReaderStore
repo, repeat = Repo(sys.argv[1]), int(sys.argv[2])
layout = repo.layout
def strip(manifest):
    for entry in manifest["segments"]:
        for key in ("size", "crc32", "batch_crc32"):
            entry.pop(key, None)
    return manifest
def read_all(checked):
    t0 = time.perf_counter()
    n = 0
    for run_hash in repo.run_hashes():
        store = RunReaderStore(layout, run_hash)
        if not checked:
            strip(store.manifest)
        for seq in store.manifest["sequences"]:
            n += len(store.read_sequence(seq["id"], ("step", "value"))["value"])
    return time.perf_counter() - t0, n
best = {True: [], False: []}
for _ in range(repeat):
    for checked in (False, True):
        best[checked].append(read_all(checked)[0])
print(json.dumps({"unchecked": best[False], "checked": best[True], "points": read_all(True)[1]}))
"""


def run(code: str, pythonpath: str | None, *args: str) -> str:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=1800)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-3000:])
    return proc.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", required=True, help="source tree of aimcol without the checksums")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json")
    args = ap.parse_args()
    versions = {"before": args.before, "after": None}
    report = {}
    with tempfile.TemporaryDirectory() as folder:
        for shape in ("w2", "10m"):
            repos = {v: os.path.join(folder, f"{shape}-{v}") for v in versions}
            for v, path in versions.items():
                run(WRITE, path, repos[v], shape)
            times: dict[str, list[float]] = {v: [] for v in versions}
            points = {}
            for _ in range(args.repeat):
                for v, path in versions.items():
                    seconds, n = run(READ, path, repos[v], shape).split()
                    times[v].append(float(seconds))
                    points[v] = int(n)
            med = {v: statistics.median(t) for v, t in times.items()}
            iso = json.loads(run(ISOLATE, None, repos["after"], str(args.repeat)))
            report.setdefault("same_files", {})[shape] = iso
            print(
                f"{shape} same files, one process, min of {args.repeat}: without checking "
                f"{min(iso['unchecked']) * 1e3:.1f} ms, with {min(iso['checked']) * 1e3:.1f} ms "
                f"({min(iso['checked']) / min(iso['unchecked']):.3f}x), {iso['points']} points",
                flush=True,
            )
            report[shape] = {
                "median_s": med,
                "runs_s": times,
                "points": points,
                "after/before": med["after"] / med["before"],
            }
            print(
                f"{shape}: before {med['before'] * 1e3:.1f} ms, after {med['after'] * 1e3:.1f} ms "
                f"({med['after'] / med['before']:.3f}x), points {points}",
                flush=True,
            )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=1)


if __name__ == "__main__":
    main()
