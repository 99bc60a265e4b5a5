"""Query results: collections of Metric objects, per-run groups, Arrow/pandas tables, lazy points."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pytest
from aimql_repos import four_runs, new_run

import aimcol
from aimcol import Metric
from aimcol.format.run_store import RunReaderStore


@pytest.fixture(scope="module")
def repo4(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    hashes = four_runs(root)
    return aimcol.Repo(str(root)), hashes


def test_metrics_newest_run_first_then_creation_order(repo4):
    repo, h = repo4
    metrics = list(repo.query_metrics(""))
    assert all(isinstance(m, Metric) for m in metrics)
    assert [(m.run.hash, m.name, dict(m.context)) for m in metrics] == [
        (run, name, ctx)
        for run in (h["delta"], h["beta"], h["alpha"])
        for name, ctx in (("loss", {"subset": "train"}), ("loss", {"subset": "val"}), ("acc", {}))
    ]
    assert metrics[0].values_list() == [3.0 + s for s in range(10)]
    assert metrics[0].run.name == "delta" and metrics[0].run.read_only


def test_len_and_iter_runs(repo4):
    repo, h = repo4
    runs = repo.query_runs("run.hparams.lr < 0.05")
    assert len(runs) == 2  # runs
    assert runs.run_hashes == [h["beta"], h["alpha"]]
    groups = list(runs.iter_runs())
    assert [g.run.hash for g in groups] == [h["beta"], h["alpha"]]
    assert [len(g) for g in groups] == [3, 3]
    assert len(list(runs)) == 6  # iterating a runs query yields every metric of those runs, as Aim
    metrics = repo.query_metrics("metric.name == 'loss' and run.hparams.lr < 0.05")
    assert len(metrics) == 4  # sequences
    groups = list(metrics.iter_runs())
    assert [(g.run.hash, [m.context["subset"] for m in g]) for g in groups] == [
        (h["beta"], ["train", "val"]),
        (h["alpha"], ["train", "val"]),
    ]
    assert list(metrics.iter()) and len(list(metrics)) == 4
    assert len(repo.query_metrics("run.nothing")) == 0 and list(repo.query_runs("run.nothing").iter_runs()) == []


def test_points_are_read_only_for_matching_sequences(repo4, monkeypatch):
    repo, h = repo4
    reads = []
    original = RunReaderStore.read_sequence

    def counting(self, seq_id, columns=None):
        reads.append((self.run_hash, seq_id))
        return original(self, seq_id, columns)

    monkeypatch.setattr(RunReaderStore, "read_sequence", counting)
    monkeypatch.setattr(RunReaderStore, "read_all_points", lambda self: pytest.fail("read every point"))
    result = repo.query_metrics("metric.name == 'loss' and metric.context.subset == 'val' and metric.last < 0")
    assert reads == []  # selecting reads no points
    values = [m.values_numpy() for m in result]
    assert len(values) == 3 and sorted(reads) == sorted([(h["alpha"], 1), (h["beta"], 1), (h["delta"], 1)])
    np.testing.assert_array_equal(values[0], [3.0 - s for s in range(10)])


def test_to_arrow_long_table(repo4):
    repo, h = repo4
    table = repo.query_metrics("metric.name == 'loss' and run.hparams.lr >= 0.001").to_arrow()
    assert table.column_names == [
        "run",
        "run_name",
        "experiment",
        "name",
        "context",
        "context.subset",
        "step",
        "value",
        "epoch",
        "time",
        "run.hparams.lr",
    ]
    assert table.num_rows == 40
    assert table.column("run").to_pylist()[:10] == [h["beta"]] * 10  # newest first
    assert set(table.column("run_name").to_pylist()) == {"alpha", "beta"}
    assert table.column("experiment").to_pylist()[0] == "default"
    assert table.column("context.subset").to_pylist()[:11] == ["train"] * 10 + ["val"]
    assert table.column("step").to_pylist()[:3] == [0, 1, 2]
    assert table.column("value").to_pylist()[:3] == [1.0, 2.0, 3.0]
    assert table.column("run.hparams.lr").to_pylist()[0] == 0.01
    assert table.schema.field("value").type == pa.float64()


def test_to_pandas_is_arrow_backed(repo4):
    pd = pytest.importorskip("pandas")
    repo, _ = repo4
    df = repo.query_metrics("metric.name == 'acc'").to_pandas()
    assert len(df) == 30
    assert isinstance(df["value"].dtype, pd.ArrowDtype) and isinstance(df["run"].dtype, pd.ArrowDtype)
    assert df.groupby("run_name")["value"].max().round(6).to_dict() == {"alpha": 0.9, "beta": 0.9, "delta": 0.9}


def test_aim_style_dataframe(repo4):
    pytest.importorskip("pandas")
    repo, h = repo4
    df = repo.query_metrics("metric.name == 'loss' and run.name == 'alpha'").dataframe()
    assert list(df.columns[:5]) == ["idx", "step", "value", "epoch", "time"]
    for col in ("run.hash", "run.hparams.lr", "run.hparams.opt", "metric.name", "metric.context.subset"):
        assert col in df.columns
    assert len(df) == 20 and set(df["run.hash"]) == {h["alpha"]}
    assert repo.query_metrics("run.nothing").dataframe() is None
    runs_df = repo.query_runs("run.hparams.lr < 0.05").dataframe()
    assert list(runs_df["hash"]) == [h["beta"], h["alpha"]]
    assert "hparams.lr" in runs_df.columns


def test_runs_table(repo4):
    repo, h = repo4
    table = repo.runs_table("")
    assert table.column_names[:12] == [
        "run",
        "name",
        "experiment",
        "description",
        "notes",
        "tags",
        "archived",
        "active",
        "status",
        "creation_time",
        "end_time",
        "duration",
    ]
    assert table.column("run").to_pylist() == [h["delta"], h["beta"], h["alpha"]]
    assert table.column("experiment").to_pylist() == ["exp1", "default", "exp1"]
    assert table.schema.field("hparams.lr").type == pa.float64()
    assert table.schema.field("hparams.batch_size").type == pa.int64()
    assert table.column("hparams.batch_size").to_pylist() == [None, None, 32]
    assert table.schema.field("hparams.flag").type == pa.bool_()
    assert table.schema.field("hparams.opt").type == pa.string()  # "adam", "sgd" (and 5 in archived gamma)
    assert table.column("param.name").to_pylist() == [None, None, "pname0"]  # the param named like a property
    assert table.column("x").to_pylist() == ["5", None, None]
    assert table.column("active").to_pylist() == [False] * 3
    all_runs = repo.runs_table("run.archived or not run.archived")
    assert all_runs.num_rows == 4
    assert all_runs.column("hparams.opt").to_pylist()[1:] == ["5", "sgd", "adam"]  # mixed: as text


def test_sequences_table(repo4):
    repo, h = repo4
    table = repo.sequences_table("metric.name == 'loss'")
    for col in (
        "run",
        "name",
        "context",
        "context.subset",
        "dtype",
        "count",
        "first",
        "last",
        "min",
        "max",
        "first_step",
        "last_step",
    ):
        assert col in table.column_names
    assert table.num_rows == 6
    assert table.column("run").to_pylist()[:2] == [h["delta"]] * 2
    assert table.column("last").to_pylist()[:2] == [12.0, -6.0]
    assert table.column("context").to_pylist()[0] == '{"subset": "train"}'


def test_metrics_of_a_live_run(tmp_path):
    run = new_run(tmp_path)
    for step in range(5):
        run.track(step * 1.5, name="loss")
    run.flush()
    repo = aimcol.Repo(str(tmp_path))
    (metric,) = repo.query_metrics("run.active and metric.last == 6")
    assert metric.values_list() == [0.0, 1.5, 3.0, 4.5, 6.0]
    run.close()


def test_syntax_errors_surface_before_any_work(repo4):
    repo, _ = repo4
    with pytest.raises(aimcol.AimQLSyntaxError):
        repo.query_runs("run.a &&")
    with pytest.raises(SyntaxError):
        repo.runs_table("nope == 1")
    with pytest.raises(SyntaxError):
        repo.sequences_table("metric.bogus")


SEED_TRACKING = textwrap.dedent("""
    from aimcol.sdk.run import Run

    run = Run()  # create Run with default repository
    run['params'] = {'foo': 'bar'}  # set Run meta-params for

    for i in range(100):
        run.track(i, step=i, name='ordinals', context={})
        run.track(-i, step=i, name='negative integers', context={})
        if i % 2 == 0:
            run.track(i, step=i, name='ordinals', context={'odds': True})
""")

SEED_RETRIEVAL = textwrap.dedent("""
    from aimcol.sdk.repo import Repo

    repo = Repo.default_repo()  # get default repository instance

    q = '''
    metric.run['params', 'foo'] == 'bar' and metric.name = 'ordinals' and metric.context['odds'] = True
    '''

    metrics = repo.query_metrics(query=q)  # query metric sequences.
    for metric in metrics:
        odd_ordinals = metric.values.values_list()  # return tracked values as list
        print(odd_ordinals)
""")


def test_seed_tracking_and_retrieval_examples_verbatim(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    subprocess.run([sys.executable, "-c", SEED_TRACKING], cwd=tmp_path, env=env, check=True, timeout=120)
    out = subprocess.run(
        [sys.executable, "-c", SEED_RETRIEVAL],
        cwd=tmp_path,
        env=env,
        check=True,
        timeout=120,
        capture_output=True,
        text=True,
    ).stdout
    assert out.strip().splitlines() == [str(list(range(0, 100, 2)))]


def test_points_of_a_live_run_keep_their_dtypes(make_run, repo_path):
    run = make_run()
    for step in range(5):
        run.track(float(step), name="with_epochs", step=step, epoch=step // 2)
        run.track(float(step), name="without", step=step)
    run.flush()  # in the live segment, epochs are null in the rows of "without"
    metrics = {m.name: m for m in aimcol.Repo(repo_path).get_run(run.hash).metrics()}
    epochs = metrics["with_epochs"].epochs.values_numpy()
    assert epochs.dtype == np.int64 and epochs.tolist() == [0, 0, 1, 1, 2]
    assert np.isnan(metrics["without"].epochs.values_numpy()).all()
    assert metrics["with_epochs"].to_arrow().column("epoch").to_pylist() == [0, 0, 1, 1, 2]
    assert metrics["without"].to_arrow().column("epoch").null_count == 5
