"""Values a run cannot store are refused before anything changes (issue 9, items 7, 8, 13).

Before: a lone surrogate or a 10,000-part key path stayed in the in-memory manifest, every
later flush failed and re-appended the whole backlog; ints >= 2**63 read back as -2**63
and an auto-step after 2**63-1 wrapped in the C path; NaN in a context made a new sequence
per call; params 1,000 levels deep stored but broke every reader with RecursionError.
Every test runs with the C fast path and the pure-Python one.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from aimcol import Repo
from aimcol.errors import UnstorableValueError
from aimcol.sdk.params import MAX_PARAM_DEPTH

LONE = "bad\udcff"


def _files_bytes(repo_path: str, run_hash: str) -> int:
    run_dir = os.path.join(repo_path, ".aimcol", "runs", run_hash)
    return sum(os.path.getsize(os.path.join(run_dir, n)) for n in os.listdir(run_dir))


def _loss_reads_back(repo_path: str, run_hash: str, n: int) -> None:
    metric = Repo(repo_path).get_run(run_hash).get_metric("loss")
    assert metric.values.values_list() == [float(i) for i in range(n)]


@pytest.mark.parametrize(
    "poison",
    [
        lambda run: run.__setitem__("p", LONE),
        lambda run: run.__setitem__(("a", LONE), 1),
        lambda run: run.__setitem__("cfg", {LONE: 1}),
        lambda run: run.__setitem__(tuple(f"k{i}" for i in range(10_000)), 1),
        lambda run: setattr(run, "name", LONE),
        lambda run: setattr(run, "description", LONE),
        lambda run: setattr(run, "experiment", LONE),
        lambda run: run.add_tag(LONE),
        lambda run: run.track(1.0, name=LONE),
        lambda run: run.track(1.0, name="acc", context={"split": LONE}),
        lambda run: run.track(1.0, name="acc", context={LONE: "x"}),
    ],
    ids=[
        "param-value",
        "param-key-part",
        "nested-key",
        "10000-part-path",
        "name",
        "description",
        "experiment",
        "tag",
        "metric-name",
        "context-value",
        "context-key",
    ],
)
def test_an_unencodable_value_is_refused_and_the_run_goes_on(make_run, repo_path, track_impl, poison):
    run = make_run(flush_points=50)
    before = run.params, run.name, run.tags, len(run._store.manifest["sequences"])
    with pytest.raises(ValueError) as info:
        poison(run)
    assert isinstance(info.value, UnstorableValueError)
    assert (run.params, run.name, run.tags, len(run._store.manifest["sequences"])) == before
    sizes = []
    for i in range(2_000):
        run.track(float(i), name="loss")
        if i % 250 == 249:
            run.flush()  # every flush works: nothing poisoned the manifest
            sizes.append(_files_bytes(repo_path, run.hash))
    run["after"] = 1
    run.close()
    _loss_reads_back(repo_path, run.hash, 2_000)
    assert Repo(repo_path).get_run(run.hash)["after"] == 1
    growth = np.diff(sizes)
    assert growth.max() < 4 * max(growth.min(), 1) + 4096  # linear growth, no re-appended backlog


def test_params_nested_too_deep_are_refused_at_set_time(make_run, repo_path):
    run = make_run()
    deep: dict = {}
    node = deep
    for _ in range(1_000):
        node["x"] = {}
        node = node["x"]
    with pytest.raises(UnstorableValueError, match="deeper than"):
        run["deep"] = deep
    deep_list: list = []
    for _ in range(1_000):
        deep_list = [deep_list]
    with pytest.raises(UnstorableValueError):
        run["deep"] = deep_list
    ok: dict = {}
    node = ok
    for _ in range(MAX_PARAM_DEPTH - 2):
        node["x"] = {}
        node = node["x"]
    run["ok"] = ok  # just inside the limit
    run.close()
    again = Repo(repo_path).get_run(run.hash)
    assert again.params["ok"] == ok and "deep" not in again.params


def test_nan_in_a_context_is_refused(make_run, track_impl):
    run = make_run()
    for _ in range(3):
        with pytest.raises(ValueError, match="NaN"):
            run.track(1.0, name="loss", context={"lr": float("nan")})
        with pytest.raises(ValueError, match="NaN"):
            run.track(1.0, name="loss", context={"lr": [np.float32("nan")]})
    assert run._store.manifest["sequences"] == []


# -- integers: one rule for both paths: stored exactly or refused -----------------------------


@pytest.mark.parametrize("value", [2**53 + 1, -(2**53) - 1, 2**63, 2**64 - 1, -(2**63) - 1, 10**30])
def test_ints_beyond_float64_exactness_are_refused(make_run, repo_path, track_impl, value):
    run = make_run()
    run.track(5, name="n")
    with pytest.raises(UnstorableValueError, match="2\\*\\*53"):
        run.track(value, name="n")
    with pytest.raises(UnstorableValueError):
        run.track(np.uint64(2**64 - 1), name="n")
    run.track(2**53, name="n")
    run.track(-(2**53), name="n")
    run.close()
    assert Repo(repo_path).get_run(run.hash).get_metric("n").values.values_list() == [5, 2**53, -(2**53)]


def test_auto_step_after_the_largest_step_is_refused_not_wrapped(make_run, repo_path, track_impl):
    run = make_run()
    run.track(1.0, name="x", step=2**63 - 1)
    for _ in range(2):
        with pytest.raises(UnstorableValueError, match="auto-step"):
            run.track(2.0, name="x")
    run.track(3.0, name="x", step=7)  # an explicit step still works
    with pytest.raises(UnstorableValueError, match="auto-step"):
        run.track(4.0, name="x")  # and does not bring auto-steps back
    with pytest.raises(ValueError):
        run.track(5.0, name="x", step=2**63)
    run.close()
    steps, values = Repo(repo_path).get_run(run.hash).get_metric("x").values.sparse_numpy()
    assert steps.tolist() == [7, 2**63 - 1] and values.tolist() == [3.0, 1.0]


def test_resumed_sequence_at_the_largest_step_refuses_auto_step(make_run, repo_path, track_impl):
    run = make_run()
    run.track(1.0, name="x", step=2**63 - 1)
    run.close()
    resumed = make_run(run.hash)
    with pytest.raises(UnstorableValueError, match="auto-step"):
        resumed.track(2.0, name="x")
    with pytest.raises(UnstorableValueError, match="auto-step"):
        resumed.track_array(np.ones(3), name="x")
    resumed.track(3.0, name="x", step=7)  # an explicit step does not bring auto-steps back
    with pytest.raises(UnstorableValueError, match="auto-step"):
        resumed.track(4.0, name="x")


def test_epochs_beyond_float64_exactness_are_refused(make_run, repo_path, track_impl):
    run = make_run()
    for epoch in (-(2**63), 2**53 + 1, -(2**53) - 1, 2**63 - 1):
        with pytest.raises(UnstorableValueError):
            run.track(1.0, name="x", step=0, epoch=epoch)
    run.track(1.0, name="x", step=0, epoch=2**53)
    run.track(1.0, name="x", step=1, epoch=-(2**53))
    run.close()
    epochs = Repo(repo_path).get_run(run.hash).get_metric("x").epochs.values_list()
    assert epochs == [2**53, -(2**53)]


def test_track_array_refuses_what_int64_or_float64_cannot_hold(make_run, repo_path):
    run = make_run()
    with pytest.raises(UnstorableValueError):
        run.track_array(np.ones(3), name="x", steps=np.array([0, 1, 2**64 - 1], dtype=np.uint64))
    with pytest.raises(UnstorableValueError):
        run.track_array(np.array([1, 2**60], dtype=np.int64), name="x")
    with pytest.raises(UnstorableValueError):
        run.track_array(np.ones(2), name="x", epochs=np.array([0, 2**63], dtype=np.uint64))
    with pytest.raises(UnstorableValueError):
        run.track_array(np.ones(2), name="x", epochs=np.array([0, 2**53 + 1]))
    assert run._store.manifest["sequences"] == []  # refused before the sequence was made
    run.track_array(np.ones(3), name="x", steps=np.array([0, 1, 2**63 - 1], dtype=np.uint64))
    run.close()
    steps, _ = Repo(repo_path).get_run(run.hash).get_metric("x").values.sparse_numpy()
    assert steps.tolist() == [0, 1, 2**63 - 1]
