"""Scans by other engines: ``Repo.to_dask()`` on a two-worker LocalCluster and ``Repo.to_dataset()``."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from aimcol import Repo, Run


def _write_runs(location, n_runs: int = 4) -> None:
    for i in range(n_runs):
        run = Run(repo=location, system_tracking_interval=None, capture_terminal_logs=False)
        run["hparams"] = {"lr": 0.001 * (i + 1), "i": i}
        for step in range(50 + 10 * i):
            run.track(float(step * (i + 1)), name="loss", step=step, context={"subset": "train"})
            if step % 5 == 0:
                run.track(1.0 / (step + 1), name="loss", step=step, epoch=step // 10, context={"subset": "val"})
                run.track(step + i, name="acc", step=step)
        run.track(-1.0, name="loss", step=3, context={"subset": "train"})  # re-tracked: the latest wins
        run.close()


def _expected(repo: Repo, query: str) -> dict:
    out = {}
    for metric in repo.query_metrics(query):
        key = (metric.run.hash, metric.name, json.dumps(dict(metric.context), sort_keys=True, separators=(",", ":")))
        out[key] = metric.to_arrow()
    return out


def _assert_frame_matches(frame, expected: dict, columns=("step", "value", "epoch", "time")) -> None:
    got = {key: group for key, group in frame.groupby(["run", "name", "context"], sort=False)}
    assert set(got) == set(expected)
    for key, table in expected.items():
        group = got[key]
        assert np.array_equal(group["step"].to_numpy(), table.column("step").to_numpy())
        if "value" in columns:
            assert np.array_equal(group["value"].to_numpy(), table.column("value").to_numpy().astype(float))
        if "epoch" in columns:
            epoch = table.column("epoch").to_numpy(zero_copy_only=False).astype(float)
            assert np.array_equal(group["epoch"].to_numpy(), epoch, equal_nan=True)


@pytest.fixture(scope="module")
def dask_client(s3_server):  # the S3 variables are set before the workers start, so they inherit them
    pytest.importorskip("dask.dataframe", reason="to_dask needs aimcol[dask]")
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def test_to_dask_on_two_workers_equals_query_metrics(tmp_path, dask_client):
    _write_runs(str(tmp_path))
    repo = Repo(str(tmp_path))
    query = "metric.name == 'loss' and run.hparams.lr > 0.0015"
    frame = repo.to_dask(query)
    assert frame.npartitions == 3  # one per matching run
    result = frame.compute()
    expected = _expected(repo, query)
    assert len(expected) == 6
    _assert_frame_matches(result, expected)
    assert (result[result["step"] == 3]["value"] == -1.0).sum() == 3  # latest write of a re-tracked step


def test_to_dask_columns_and_empty_result(tmp_path, dask_client):
    _write_runs(str(tmp_path), n_runs=2)
    repo = Repo(str(tmp_path))
    frame = repo.to_dask("metric.name == 'acc'", columns=["step", "value"])
    assert list(frame.columns) == ["run", "name", "context", "step", "value"]
    _assert_frame_matches(frame.compute(), _expected(repo, "metric.name == 'acc'"), columns=("step", "value"))
    assert len(repo.to_dask("metric.name == 'nothing'").compute()) == 0
    with pytest.raises(ValueError, match="not point columns"):
        repo.to_dask(columns=["bogus"])


def test_to_dataset_reads_every_segment_with_run_column(tmp_path):
    import pyarrow.compute as pc

    _write_runs(str(tmp_path), n_runs=3)
    repo = Repo(str(tmp_path))
    dataset = repo.to_dataset()
    table = dataset.to_table()
    seqs = repo.sequences_table()
    assert set(table.column("run").to_pylist()) == set(seqs.column("run").to_pylist())
    # join names by (run, seq): every loss/train row of each run is there (re-tracked step twice at most)
    names = seqs.select(["run", "seq_id", "name", "context"])
    names = names.set_column(1, "seq_id", names.column("seq_id").cast("uint32"))
    joined = table.join(names, ["run", "seq"], ["run", "seq_id"])
    train_context = next(c for c in seqs.column("context").to_pylist() if json.loads(c) == {"subset": "train"})
    train = joined.filter(pc.and_(pc.equal(joined["name"], "loss"), pc.equal(joined["context"], train_context)))
    for metric in repo.query_metrics("metric.name == 'loss' and metric.context.subset == 'train'"):
        rows = train.filter(pc.equal(train["run"], metric.run.hash))
        assert set(rows.column("step").to_pylist()) == set(metric.steps_numpy().tolist())


def test_to_dask_and_to_dataset_on_s3(s3_uri, dask_client):
    _write_runs(s3_uri, n_runs=3)
    repo = Repo(s3_uri)
    query = "metric.name == 'loss' and metric.context.subset == 'val'"
    frame = repo.to_dask(query)
    assert frame.npartitions == 3
    _assert_frame_matches(frame.compute(), _expected(repo, query))
    table = repo.to_dataset().to_table()
    per_run = {h: 0 for h in repo.run_hashes()}
    for run_hash in table.column("run").to_pylist():
        per_run[run_hash] += 1
    for run in repo.iter_runs():
        assert per_run[run.hash] == sum(len(m.steps_numpy()) for m in run.metrics())  # sealed on close: deduplicated


def test_to_dataset_on_memory_store(memory_uri):
    _write_runs(memory_uri, n_runs=2)
    repo = Repo(memory_uri)
    table = repo.to_dataset().to_table()
    assert set(table.column("run").to_pylist()) == set(repo.run_hashes())
    assert table.schema.names == ["seq", "step", "value", "epoch", "time", "run"]


def test_to_dask_and_to_dataset_on_azure(azure_uri, azurite_server, dask_client):
    """pyarrow reads the container with its own Azure client, configured from the same
    AZURE_STORAGE_CONNECTION_STRING (Azurite here); Dask workers read through aimcol's.  The
    workers started before Azurite did: they get its variables as a running cluster would."""
    dask_client.run(lambda env: os.environ.update(env), azurite_server.env)  # in each worker process
    _write_runs(azure_uri, n_runs=2)
    repo = Repo(azure_uri)
    query = "metric.name == 'loss' and metric.context.subset == 'train'"
    _assert_frame_matches(repo.to_dask(query).compute(), _expected(repo, query))
    table = repo.to_dataset().to_table()
    assert set(table.column("run").to_pylist()) == set(repo.run_hashes())
    assert table.num_rows == sum(len(m.steps_numpy()) for run in repo.iter_runs() for m in run.metrics())
