"""Building real runs to damage, and reading them back, for the integrity tests.

``crashed_run`` starts a real writer process that flushes batches into its live segment
and dies without closing (``os._exit``): its run folder is byte for byte what a crashed
aimcol leaves.  ``read_everything`` reads every sequence of a repository the way users do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

PYTHON = sys.executable
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}


def aimcol_cli(*args, timeout=60):
    """``python -m aimcol ARGS`` in a new process: (returncode, stdout, stderr)."""
    proc = subprocess.run(
        [PYTHON, "-m", "aimcol", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
        stdin=subprocess.DEVNULL,
    )
    return proc.returncode, proc.stdout, proc.stderr


def python(code: str, *args, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, "-c", code, *args], capture_output=True, text=True, timeout=timeout, env=ENV, stdin=subprocess.DEVNULL
    )


_WRITER = """
import os, sys, json
import numpy as np
from aimcol import Run
repo, batches, rows, names, seal = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
run = Run(repo=repo, system_tracking_interval=None, capture_terminal_logs=False, seal_rows=seal,
          flush_points=10**9, flush_seconds=3600)
run["hparams"] = {"lr": 0.001}
for b in range(batches):
    for j in range(names):
        steps = np.arange(b * rows, (b + 1) * rows)
        run.track_array(steps * 0.5 + j, name=f"m{j}", steps=steps)
    run.flush()
print(run.hash, flush=True)
os._exit(0)  # dies without closing: a crashed run with its live segment
"""


def crashed_run(repo: str, batches: int = 10, rows: int = 1000, names: int = 1, seal_rows: int = 10**9) -> str:
    """A run whose writer flushed ``batches`` batches (``rows`` points per sequence each) and died."""
    proc = python(_WRITER, repo, str(batches), str(rows), str(names), str(seal_rows), timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()[-1]


def expected_points(batches: int, rows: int, j: int = 0, skip_batches=()) -> tuple[np.ndarray, np.ndarray]:
    """Steps and values of sequence ``m<j>`` written by :func:`crashed_run`, without ``skip_batches``."""
    steps = np.concatenate(
        [np.arange(b * rows, (b + 1) * rows) for b in range(batches) if b not in skip_batches] or [np.zeros(0, int)]
    ).astype(np.int64)
    return steps, steps * 0.5 + j


def closed_run(repo: str, names: int = 3, steps: int = 3000, seal_rows: int = 10**9) -> str:
    """A finished run with ``names`` sequences, sealed into one file (several batches per sequence)."""
    from aimcol import Run

    run = Run(repo=repo, system_tracking_interval=None, capture_terminal_logs=False, seal_rows=seal_rows)
    run["hparams"] = {"lr": 0.01, "layers": [1, 2]}
    for j in range(names):
        s = np.arange(steps)
        run.track_array(np.sin(s * (j + 1)) * 100, name=f"m{j}", steps=s, context={"k": j})
    run.close()
    return run.hash


def sequences_of(repo: str, run_hash: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every metric of a run as ``{name: (steps, values)}``, read by a fresh reader."""
    from aimcol import Repo

    run = Repo(repo).get_run(run_hash)
    return {m.name: m.values.sparse_numpy() for m in run.metrics()}


def flip(path: str, offset: int, mask: int = 0xFF) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)[0]
        fh.seek(offset)
        fh.write(bytes([byte ^ mask]))


def manifest_of(repo: str, run_hash: str) -> dict:
    from aimcol import Repo
    from aimcol.format.manifest import read_manifest

    return read_manifest(Repo(repo).layout, run_hash)


def rewrite_manifest(repo: str, run_hash: str, **changes) -> None:
    """Replace manifest keys as a hand edit (or a damaged disk) would, then re-seal it."""
    from aimcol import Repo
    from aimcol.format.manifest import write_manifest

    manifest = manifest_of(repo, run_hash)
    manifest.update(changes)
    write_manifest(Repo(repo).layout, run_hash, manifest)


def dump(obj) -> str:
    return json.dumps(obj, default=str)
