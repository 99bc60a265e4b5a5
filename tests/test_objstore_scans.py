"""Scans by other engines: ``Repo.to_dask()`` on a two-worker LocalCluster and ``Repo.to_dataset()``."""

from __future__ import annotations

import json
import os
import time

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
    expected = _expected(repo, query)
    assert len(expected) == 6
    frame = repo.to_dask(query)
    assert frame.npartitions == 1  # 3 runs of 80 to 100 points: one partition holds them all
    result = frame.compute()
    _assert_frame_matches(result, expected)
    assert (result[result["step"] == 3]["value"] == -1.0).sum() == 3  # latest write of a re-tracked step
    assert [str(t) for t in result.dtypes] == ["string"] * 3 + ["int64", "float64", "float64", "float64"]
    split = repo.to_dask(query, partition_points=1)
    assert split.npartitions == 6  # every run more than 1 point: one partition per sequence
    _assert_frame_matches(split.compute(), expected)


def test_to_dask_columns_and_empty_result(tmp_path, dask_client):
    _write_runs(str(tmp_path), n_runs=2)
    repo = Repo(str(tmp_path))
    frame = repo.to_dask("metric.name == 'acc'", columns=["step", "value"])
    assert list(frame.columns) == ["run", "name", "context", "step", "value"]
    _assert_frame_matches(frame.compute(), _expected(repo, "metric.name == 'acc'"), columns=("step", "value"))
    assert len(repo.to_dask("metric.name == 'nothing'").compute()) == 0
    with pytest.raises(ValueError, match="not point columns"):
        repo.to_dask(columns=["bogus"])


def _write_big_run(location, n_sequences: int = 3, steps: int = 400) -> str:
    run = Run(repo=location, system_tracking_interval=None, capture_terminal_logs=False)
    run["hparams"] = {"lr": 1.0, "i": 99}
    for k in range(n_sequences):
        run.track_array(np.arange(steps, dtype=float) * (k + 1), name="loss", context={"subset": f"big{k}"})
    run.close()
    return run.hash


def _partition_frames(frame) -> list:
    import dask

    return list(dask.compute(*frame.to_delayed()))


def test_to_dask_packs_small_runs_and_splits_a_big_one(tmp_path, dask_client):
    _write_runs(str(tmp_path), n_runs=4)  # 81, 93, 105, 117 points a run (3 sequences)
    big = _write_big_run(str(tmp_path))  # 3 sequences of 400 points
    repo = Repo(str(tmp_path))
    frame = repo.to_dask(partition_points=300)
    parts = _partition_frames(frame)
    assert len(parts) == frame.npartitions
    runs_of = [set(p["run"].astype(str)) for p in parts]
    assert any(len(runs) >= 2 for runs in runs_of)  # small runs share a partition...
    assert all(len(p) <= 300 for p, runs in zip(parts, runs_of) if big not in runs)  # ...up to 300 points
    assert sum(big in runs for runs in runs_of) == 3  # the big run: one partition per sequence
    assert all(runs == {big} for runs in runs_of if big in runs)
    keys = [set(zip(p["run"].astype(str), p["name"].astype(str), p["context"].astype(str))) for p in parts]
    assert sum(len(k) for k in keys) == len(set().union(*keys)) == 15  # no sequence split between partitions
    _assert_frame_matches(frame.compute(), _expected(repo, ""))


def test_to_dask_query_selects_a_subset_of_sequences(tmp_path, dask_client):
    _write_runs(str(tmp_path), n_runs=4)
    _write_big_run(str(tmp_path))
    repo = Repo(str(tmp_path))
    query = "metric.context.subset == 'val' and run.hparams.i >= 1 and run.hparams.i < 90"
    expected = _expected(repo, query)
    assert len(expected) == 3
    result = repo.to_dask(query, partition_points=25).compute()
    assert set(result["name"].astype(str)) == {"loss"}
    assert set(result["context"].astype(str)) == {'{"subset":"val"}'}
    _assert_frame_matches(result, expected)


def test_group_by_run_last_value_reads_only_run_and_value(tmp_path, dask_client):
    _write_runs(str(tmp_path), n_runs=3)
    repo = Repo(str(tmp_path))
    query = "metric.name == 'loss' and metric.context.subset == 'train'"
    frame = repo.to_dask(query, partition_points=60)
    assert frame.npartitions == 3
    last = frame.groupby("run")["value"].last().compute()
    expected = {m.run.hash: m.values_numpy()[-1] for m in repo.query_metrics(query)}
    assert {str(k): v for k, v in last.items()} == expected
    projected = frame[["run", "value"]].partitions[0].compute()  # Dask hands the selection to the reader
    assert list(projected.columns) == ["run", "value"] and len(projected) > 0


def test_to_dask_tasks_read_by_index_location_and_see_later_writes(tmp_path, monkeypatch):
    """Tasks read the record batches where the run index says they are, without a manifest;
    a run written after the graph was made is read through its manifest as it is then."""
    from aimcol.format import manifest as manifest_io
    from aimcol.format.index_tables import RACY_SECONDS

    _write_runs(str(tmp_path), n_runs=3)
    time.sleep(RACY_SECONDS)  # a manifest indexed within this of its last write is read again
    repo = Repo(str(tmp_path))
    frame = repo.to_dask("metric.name == 'acc'", partition_points=15)
    assert frame.npartitions == 3
    expected = _expected(repo, "metric.name == 'acc'")

    def no_manifest(layout, run_hash):
        raise AssertionError(f"task read the manifest of {run_hash}")

    with monkeypatch.context() as patch:
        patch.setattr(manifest_io, "read_manifest", no_manifest)
        _assert_frame_matches(frame.compute(scheduler="synchronous"), expected)
    resumed = Run(run_hash=next(iter(expected))[0], repo=str(tmp_path), system_tracking_interval=None)
    resumed.track(123.0, name="acc", step=1000)
    resumed.close()
    result = frame.compute(scheduler="synchronous")
    assert (result["value"] == 123.0).sum() == 1
    _assert_frame_matches(result, _expected(repo, "metric.name == 'acc'"))


def test_to_dask_reads_a_run_still_being_written(tmp_path, dask_client):
    _write_runs(str(tmp_path), n_runs=2)
    live = Run(repo=str(tmp_path), system_tracking_interval=None, capture_terminal_logs=False)
    for step in range(30):
        live.track(step * 0.5, name="loss", step=step, context={"subset": "train"})
    try:
        repo = Repo(str(tmp_path))
        query = "metric.name == 'loss' and metric.context.subset == 'train'"
        result = repo.to_dask(query).compute()  # the live run's points are not sealed: no index location
        assert (result["run"].astype(str) == live.hash).sum() == 30
        _assert_frame_matches(result, _expected(repo, query))
    finally:
        live.close()


@pytest.mark.parametrize(
    ("runs", "counts", "max_points", "max_runs", "plan"),
    [
        ([], [], 10, 5, []),
        ([0, 0, 1, 2, 2], [3, 3, 4, 1, 1], 10, 5, [(0, 3), (3, 5)]),  # runs packed up to 10 points
        ([0, 1, 2, 3], [1, 1, 1, 1], 10, 2, [(0, 2), (2, 4)]),  # at most 2 runs a partition
        ([0, 1, 1, 1, 2], [2, 6, 6, 30, 2], 10, 5, [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]),  # big run split
        ([0, 0, 0], [4, 4, 4], 10, 5, [(0, 2), (2, 3)]),  # split between sequences, 10 points at most
        ([0, 1], [0, 0], 10, 5, [(0, 2)]),  # runs with no points yet
    ],
)
def test_plan_partitions(runs, counts, max_points, max_runs, plan):
    from aimcol.sdk.scans import plan_partitions

    assert plan_partitions(np.array(runs, dtype=np.int64), np.array(counts), max_points, max_runs) == plan


def test_to_dask_partition_points_must_be_positive(tmp_path):
    pytest.importorskip("dask.dataframe", reason="to_dask needs aimcol[dask]")
    _write_runs(str(tmp_path), n_runs=1)
    with pytest.raises(ValueError, match="partition_points"):
        Repo(str(tmp_path)).to_dask(partition_points=0)


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
    frame = repo.to_dask(query, partition_points=20)
    assert frame.npartitions == 3  # 11 to 15 points a run: one run a partition
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


def _keys_from_manifests(repo: Repo) -> list[tuple[str, str]]:
    """The reference: every run's segment files as its manifest names them."""
    from aimcol.format import manifest as manifest_io

    out = []
    for run_hash in sorted(repo.run_hashes()):
        manifest = manifest_io.read_manifest(repo.layout, run_hash)
        names = sorted(e["file"] for e in manifest["segments"])
        out.extend((run_hash, repo.layout.segment_key(run_hash, name)) for name in names)
    return out


def test_to_dataset_takes_finished_runs_files_from_the_index(tmp_path, monkeypatch):
    """``to_dataset()`` lists a finished run's files from the run index (one stat, not its
    manifest: 19-21 s for W9's 100,000 manifests); a live run (its points not all in sealed
    files) as its manifest says; a run changed since it was indexed is re-read by the refresh
    first, and a run of no metrics has no files."""
    import pyarrow as pa

    from aimcol.format import index_tables, run_index
    from aimcol.format import manifest as manifest_io
    from aimcol.sdk import scans

    monkeypatch.setattr(index_tables, "RACY_SECONDS", 0.0)  # rows read just after writing are trusted here
    path = str(tmp_path)
    _write_runs(path, n_runs=3)
    sealed = Run(repo=path, system_tracking_interval=None, capture_terminal_logs=False, seal_rows=20)
    for step in range(70):  # several sealed files, and a re-tracked step in another one
        sealed.track(float(step), name="loss", step=step)
        sealed.flush()
    sealed.track(-1.0, name="loss", step=5)
    sealed.close()
    empty = Run(repo=path, system_tracking_interval=None, capture_terminal_logs=False)
    empty["hparams"] = {"x": 1}
    empty.close()
    run_index.forget_indexes()
    repo = Repo(path)
    repo.wait_for_index()
    changed = next(h for h in sorted(repo.run_hashes()) if h not in (sealed.hash, empty.hash))
    repo.set_archived(changed, True)  # its manifest changes after it was indexed (still listed)
    live = Run(repo=path, system_tracking_interval=None, capture_terminal_logs=False)
    live.track(1.0, name="loss", step=0)
    live.flush()
    try:
        read = []
        real = manifest_io.read_manifest
        monkeypatch.setattr(
            manifest_io, "read_manifest", lambda layout, h, *a, **k: read.append(h) or real(layout, h, *a, **k)
        )
        keys = scans._segment_keys(repo)
        monkeypatch.setattr(manifest_io, "read_manifest", real)
        assert keys == _keys_from_manifests(repo)
        assert len([k for k in keys if k[0] == sealed.hash]) >= 3
        assert set(read) == {live.hash}
        rows = 0
        for _, key in keys:
            with pa.memory_map(os.path.join(path, ".aimcol", key)) as source:
                rows += pa.ipc.open_file(source).read_all().num_rows
        assert repo.to_dataset().to_table().num_rows == rows
    finally:
        live.close()
