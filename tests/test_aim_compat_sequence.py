"""Aim's Sequence API on ``Metric`` (issue 11 #3): ``first_step()``/``last_step()`` methods,
ArrayView methods on ``metric.values``/``steps``/``epochs``/``timestamps``, and
``metric.data`` (Aim's SequenceData).  Expected values are what Aim 3.28 returns for the
same points through ``metric.data`` (its step-keyed view)."""

from __future__ import annotations

import numpy as np
import pytest

from aimcol import Repo


@pytest.fixture
def metric(make_run, repo_path):
    run = make_run()
    for step in (3, 1, 2, 5):  # out of order, as Aim's own probe
        run.track(float(step) * 10, name="m", step=step, epoch=step // 2)
    run.track(7, name="i", step=0)
    run.track(8, name="i", step=1)
    run.close()
    return Repo(repo_path).get_run(run.hash).get_metric("m")


def test_first_and_last_step_are_methods(metric):
    assert metric.first_step() == 1 and metric.last_step() == 5
    assert callable(metric.first_step)


def test_values_view_is_keyed_by_step(metric):
    v = metric.values
    assert v.first() == (1, 10.0) and v.last() == (5, 50.0)
    assert (v.first_idx(), v.last_idx(), v.first_value(), v.last_value()) == (1, 5, 10.0, 50.0)
    assert v.indices_list() == [1, 2, 3, 5] == list(v.keys()) == list(v.indices()) == v.keys_list()
    assert v.values_list() == [10.0, 20.0, 30.0, 50.0] == list(v.values()) == list(v) == v.tolist()
    assert list(v.items()) == [(1, 10.0), (2, 20.0), (3, 30.0), (5, 50.0)]
    assert v.sparse_list() == ([1, 2, 3, 5], [10.0, 20.0, 30.0, 50.0])
    np.testing.assert_array_equal(v.indices_numpy(), [1, 2, 3, 5])
    assert v.dtype == np.float64 and len(v) == 4 and bool(v)
    assert v[3] == 30.0 and list(v[1:3]) == [20.0, 30.0]
    with pytest.raises(KeyError):
        v[4]
    with pytest.raises(TypeError):
        v["3"]
    assert metric.epochs.values_list() == [0, 1, 1, 2] and metric.epochs.last() == (5, 2)


def test_an_int_metric_keeps_int_values(make_run, repo_path):
    run = make_run()
    run.track(7, name="i", step=0)
    run.track(8, name="i", step=1)
    m = run.get_metric("i")
    assert m.values.dtype == np.int64 and m.values.last() == (1, 8) and type(m.values.last_value()) is int


def test_empty_ends_raise_key_error(make_run):
    run = make_run()
    run.track_array(np.zeros(0), name="empty")  # no point: no sequence
    run.track(1.0, name="one", step=4)
    m = run.get_metric("one")
    assert m.values.first() == m.values.last() == (4, 1.0)
    assert run.get_metric("empty") is None


def test_sequence_data_matches_aims_layout(metric):
    d = metric.data
    assert d.indices_list() == [1, 2, 3, 5]
    values, epochs, times = d.values_list()
    assert values == [10.0, 20.0, 30.0, 50.0] and epochs == [0.0, 1.0, 1.0, 2.0] and len(times) == 4
    steps, (v, e, t) = d.numpy()
    assert steps.tolist() == [1, 2, 3, 5] and e.dtype == np.float64 and v.tolist() == values
    items = list(d.items())
    assert [s for s, _ in items] == [1, 2, 3, 5] and items[0][1][:2] == (10.0, 0.0)
    assert list(d) == items and list(d.indices()) == [1, 2, 3, 5]
    assert [p[:2] for p in d.values()] == [(10.0, 0.0), (20.0, 1.0), (30.0, 1.0), (50.0, 2.0)]
    assert [c for c, _ in d.columns] == ["val", "epoch", "time"]


def test_view_range_and_sample(metric):
    d = metric.data
    steps, (values,) = d.view("val").numpy()  # the call Aim's own explorer makes
    assert steps.tolist() == [1, 2, 3, 5] and values.tolist() == [10.0, 20.0, 30.0, 50.0]
    assert d.view(["epoch"]).items_list() == ([1, 2, 3, 5], [[0.0, 1.0, 1.0, 2.0]])
    assert d.range(2, 5).view("val").items_list() == ([2, 3], [[20.0, 30.0]])
    assert d.range(5, 2).indices_list() == []
    assert d.sample(2).indices_list() == [1, 5]  # first and last, as Aim's sample(2)
    assert d.sample(3).indices_list() == [1, 3, 5]
    assert d.sample(100).indices_list() == [1, 2, 3, 5]
    assert d.range(1, 4).sample(2).indices_list() == [1, 3]
    with pytest.raises(ValueError):
        d.view("value_typo")
    with pytest.raises(ValueError):
        d.sample(0)
    with pytest.raises(TypeError):
        d.range("a", 3)


def test_metric_dataframe_is_aims(metric):
    pytest.importorskip("pandas")
    frame = metric.dataframe()
    assert list(frame.columns) == ["idx", "step", "value", "epoch", "time"]
    assert frame["step"].tolist() == [1, 2, 3, 5] and frame["idx"].tolist() == [0, 1, 2, 3]
    frame = metric.dataframe(include_name=True, include_context=True, include_run=True, only_last=True)
    assert frame["step"].tolist() == [5] and frame["metric.name"].tolist() == ["m"]
    assert frame["run.hash"].tolist() == [metric.run.hash]
    assert list(metric.to_pandas().columns) == ["step", "value", "epoch", "time"]


def test_sequence_class_api(metric):
    assert metric.version == 2 and metric.sequence_name() == "metric"
    assert set(metric.allowed_dtypes()) == {"float", "int"} and bool(metric)
    metric.preload()
    assert metric.steps.values_list() == [1, 2, 3, 5]
