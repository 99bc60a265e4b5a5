"""A run with many short sequences costs one manifest write per flush, not one per sequence
(W10's shape: 1,500 metrics of ~20 steps), through track() and through short track_array calls."""

from __future__ import annotations

import numpy as np
import pytest

from aimcol import Repo, Run
from aimcol.format import run_store


@pytest.fixture
def manifest_writes(monkeypatch):
    counter = {"n": 0}
    original = run_store.RunWriterStore.write_manifest

    def counting(self, *args, **kwargs):
        counter["n"] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(run_store.RunWriterStore, "write_manifest", counting)
    return counter


@pytest.mark.parametrize("how", ["track", "track_array"])
def test_many_new_sequences_write_the_manifest_per_flush_not_per_sequence(tmp_path, manifest_writes, how):
    run = Run(repo=str(tmp_path), system_tracking_interval=None, capture_terminal_logs=False, flush_seconds=3600)
    before = manifest_writes["n"]
    for m in range(300):
        if how == "track":
            for step in range(5):
                run.track(step + m * 0.5, name=f"m{m:03d}", step=step, context={"subset": "train"})
        else:
            run.track_array(np.arange(5) + m * 0.5, name=f"m{m:03d}", context={"subset": "train"})
    assert manifest_writes["n"] - before <= 2  # nothing written yet but the run's own start
    run.flush()
    assert manifest_writes["n"] - before <= 4  # one flush: name the new sequences, then publish
    run.close()
    metrics = {m.name: m for m in Repo(str(tmp_path)).get_run(run.hash).metrics()}
    assert len(metrics) == 300
    steps, values = metrics["m123"].values.sparse_numpy()
    assert steps.tolist() == [0, 1, 2, 3, 4] and values.tolist() == [v + 61.5 for v in range(5)]


def test_new_sequence_flushed_before_a_crash_survives(tmp_path):
    """The manifest names a sequence before its first points reach the live segment."""
    import subprocess
    import sys

    code = (
        "import os, sys\n"
        "from aimcol import Run\n"
        f"run = Run(repo={str(tmp_path)!r}, system_tracking_interval=None, capture_terminal_logs=False)\n"
        "for m in range(50):\n"
        "    run.track(float(m), name=f'm{m}', step=0)\n"
        "run.flush()\n"
        "print(run.hash, flush=True)\n"
        "os._exit(0)  # no close: as a kill -9 after the flush\n"
    )
    run_hash = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    run = Repo(str(tmp_path)).get_run(run_hash)
    got = {m.name: m.values.sparse_numpy()[1].tolist() for m in run.metrics()}
    assert got == {f"m{m}": [float(m)] for m in range(50)}
