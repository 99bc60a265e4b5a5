"""A query's metrics read their points where the run index says they are, without the manifest.

The run index keeps, per sequence, its places in the run's sealed files (``loc``); a metric of
a run whose manifest is still the one indexed (same fingerprint, not racy) reads only those
batches.  A run written since, or one with a live segment, is read through its manifest.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from aimql_repos import new_run

import aimcol
from aimcol.errors import ChecksumError
from aimcol.format.ipc_file import IpcFileBatches
from aimcol.format.run_store import RunReaderStore


def _settle(root: Path) -> None:
    """Manifests last written a minute ago, as any finished run's: index rows are not racy."""
    past = time.time() - 60
    for manifest in (root / ".aimcol" / "runs").glob("*/manifest.msgpack"):
        os.utime(manifest, (past, past))


def _runs(root: Path) -> list[str]:
    """Three runs; the second sealed every 7 rows, with steps re-tracked after a seal (a
    sequence in several sealed files, the latest write of a step winning)."""
    hashes = []
    for i in range(3):
        run = new_run(root, seal_rows=7, flush_points=4) if i == 1 else new_run(root)
        run["i"] = i
        for step in range(20):
            run.track(float(i * 100 + step), name="loss", step=step, context={"subset": "train"})
            run.track(step * 2, name="acc", step=step)
        if i == 1:
            for step in (3, 11):
                run.track(-1.0 - step, name="loss", step=step, context={"subset": "train"})
        run.close()
        hashes.append(run.hash)
    return hashes


def _by_manifest(repo: aimcol.Repo, run_hash: str, seq_id: int) -> dict[str, np.ndarray]:
    return RunReaderStore(repo.layout, run_hash).read_sequence(seq_id)


def test_points_are_read_by_location_without_the_manifest(tmp_path):
    hashes = _runs(tmp_path)
    _settle(tmp_path)
    repo = aimcol.Repo(str(tmp_path))
    metrics = list(repo.query_metrics("metric.name == 'loss' or metric.name == 'acc'"))
    assert len(metrics) == 6
    for metric in metrics:
        assert metric._located is not None
        points = metric._load(("step", "value", "epoch", "time"))
        expected = _by_manifest(repo, metric.run.hash, metric._entry["id"])
        for name in ("step", "value", "epoch", "time"):
            np.testing.assert_array_equal(points[name], expected[name])
        assert metric.run._reader._manifest is None  # no manifest was read for the points
    loss_1 = next(m for m in metrics if m.run.hash == hashes[1] and m.name == "loss")
    assert loss_1.values_list()[3] == -4.0 and loss_1.values_list()[11] == -12.0
    assert len(loss_1._located) > 1  # the sequence is in several sealed files
    # the summary and the run's properties come from the manifest, read when first asked for
    assert (loss_1.last, loss_1.last_step(), loss_1.run["i"]) == (119.0, 19, 1)
    assert dict(loss_1.context) == {"subset": "train"}
    acc = next(m for m in metrics if m.name == "acc")
    assert acc.dtype == "int" and acc.values_numpy().dtype == np.int64


def test_a_run_written_after_the_query_is_read_by_its_manifest(tmp_path):
    hashes = _runs(tmp_path)
    _settle(tmp_path)
    repo = aimcol.Repo(str(tmp_path))
    result = repo.query_metrics("metric.name == 'loss'")  # the index as it is now
    run = aimcol.Run(hashes[0], repo=str(tmp_path), system_tracking_interval=None, capture_terminal_logs=False)
    for step in range(20, 25):
        run.track(float(step), name="loss", step=step, context={"subset": "train"})
    run.close()
    (metric,) = [m for m in result if m.run.hash == hashes[0]]
    assert metric._located is None  # the manifest changed since it was indexed
    assert metric.steps_numpy().tolist() == list(range(25))


def test_a_damaged_sealed_file_read_by_location_is_reported(tmp_path):
    hashes = _runs(tmp_path)
    _settle(tmp_path)
    repo = aimcol.Repo(str(tmp_path))
    result = repo.query_metrics("metric.name == 'loss'")
    (segment,) = (tmp_path / ".aimcol" / "runs" / hashes[2]).glob("seg-*.arrow")
    offset, meta_len, _body = IpcFileBatches(
        repo.layout.storage, repo.layout.segment_key(hashes[2], segment.name)
    ).blocks[0]
    data = bytearray(segment.read_bytes())
    data[offset + meta_len + 4] ^= 0xFF  # in loss's record batch (the first); the manifest is untouched
    segment.write_bytes(bytes(data))
    (metric,) = [m for m in result if m.run.hash == hashes[2]]
    assert metric._located is not None
    with pytest.raises(ChecksumError):
        metric.values_numpy()


def test_metrics_of_a_run_with_a_live_segment_are_read_by_its_manifest(tmp_path):
    hashes = _runs(tmp_path)
    run = aimcol.Run(hashes[0], repo=str(tmp_path), system_tracking_interval=None, capture_terminal_logs=False)
    run.track(5.0, name="loss", step=30, context={"subset": "train"})
    run.flush()
    _settle(tmp_path)
    try:
        (metric,) = [
            m for m in aimcol.Repo(str(tmp_path)).query_metrics("metric.name == 'loss'") if m.run.hash == hashes[0]
        ]
        assert metric._located is None
        assert metric.steps_numpy().tolist() == [*range(20), 30]
    finally:
        run.close()


def test_a_location_naming_a_file_outside_the_run_is_not_followed(tmp_path):
    hashes = _runs(tmp_path)
    _settle(tmp_path)
    repo = aimcol.Repo(str(tmp_path))
    (metric,) = [m for m in repo.query_metrics("metric.name == 'loss'") if m.run.hash == hashes[0]]
    (other,) = (tmp_path / ".aimcol" / "runs" / hashes[2]).glob("seg-*.arrow")
    # an index saying the points are in another run's file of the same shape (RepoLayout.segment_key
    # refuses the name): read by the manifest instead
    metric._located = [[f"../{hashes[2]}/{other.name}", *part[1:]] for part in metric._located]
    assert metric.values_list() == [float(step) for step in range(20)]
