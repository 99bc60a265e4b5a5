"""track()'s C fast path (``aimcol/sdk/_fastpath.c``) against its pure-Python reference.

The C path handles only the common case and hands everything else to the Python one, so
the two must agree on every call: what is stored (sequences, steps, values, epochs, dtypes),
which calls fail, and with which error.  A hypothesis test drives both with the same random
calls, on real runs on disk, and compares what reads back.
"""

from __future__ import annotations

import gc
import inspect
import math
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aimcol.sdk.run as run_module
from aimcol import Run


def test_the_c_fast_path_is_built_and_used(repo_path):
    """The install compiles it (setup.py); without a C compiler track() is 3-4x slower."""
    assert run_module.ACCELERATED, "aimcol.sdk._fastpath is not built: install with a C compiler (gcc) present"
    run = Run(repo=repo_path, system_tracking_interval=None, capture_terminal_logs=False)
    try:
        assert type(run.track).__name__ == "builtin_function_or_method"
        # help() and IDEs see the same parameters as the Python method's
        c_params = inspect.signature(run.track).parameters.values()
        py_params = list(inspect.signature(Run.track).parameters.values())[1:]
        assert [(p.name, p.kind, p.default) for p in c_params] == [(p.name, p.kind, p.default) for p in py_params]
    finally:
        run.close()


def _open(repo_path, impl, monkeypatch, **kwargs):
    if impl == "python":
        monkeypatch.setattr(run_module, "_fastpath", None)
    try:
        return Run(repo=repo_path, system_tracking_interval=None, capture_terminal_logs=False, **kwargs)
    finally:
        monkeypatch.undo()


NAMES = st.sampled_from(["loss", "acc", "lr"])
CONTEXTS = st.sampled_from([None, {}, {"subset": "train"}, {"subset": "val"}, {"subset": "train", "k": [1, 2]}])
VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**60), max_value=2**60),
    st.integers(min_value=2**1024, max_value=2**1030),  # too big for a float64
    st.booleans(),
    st.floats(width=32).map(np.float32),
    st.floats().map(np.float64),
    st.integers(-1000, 1000).map(np.int64),
    st.floats(allow_nan=False).map(lambda v: np.array([v])),
    st.just(np.zeros(3)),
    st.sampled_from(["0.5", None, [1.0]]),
)
STEPS = st.one_of(
    st.none(),
    st.integers(0, 50),
    st.integers(-5, -1),
    st.just(2**63),  # beyond int64
    st.integers(0, 50).map(np.int64),
    st.sampled_from([3.0, 2.5, "7", True]),
)
EPOCHS = st.one_of(st.none(), st.integers(0, 5), st.sampled_from([1.0, "x", np.int32(2)]))
CALLS = st.lists(
    st.one_of(
        st.tuples(st.just("track"), VALUES, NAMES, STEPS, EPOCHS, CONTEXTS),
        st.tuples(
            st.just("dict"), st.dictionaries(NAMES, st.floats(allow_nan=False), min_size=1, max_size=2), STEPS, CONTEXTS
        ),
    ),
    max_size=40,
)


def _apply(run, calls) -> list:
    outcomes = []
    for call in calls:
        try:
            if call[0] == "track":
                _, value, name, step, epoch, context = call
                run.track(value, name=name, step=step, epoch=epoch, context=context)
            else:
                _, values, step, context = call
                run.track(values, step=step, context=context)
            outcomes.append(None)
        except Exception as exc:  # the outcome to compare: type and message
            outcomes.append((type(exc).__name__, str(exc)))
    return outcomes


def _stored(repo_path, run_hash) -> dict:
    run = Run(run_hash, repo=repo_path, read_only=True)
    stored = {}
    for metric in run.metrics():
        key = (metric.name, repr(sorted(metric.context.items())))
        steps, values = metric.sparse_numpy()
        stored[key] = (
            metric.dtype,
            steps.tolist(),
            [repr(v) for v in values.tolist()],
            [repr(e) for e in metric.epochs],
        )
    return stored


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(calls=CALLS)
def test_c_and_python_track_agree(tmp_path_factory, monkeypatch, calls):
    if not run_module.ACCELERATED:
        pytest.skip("the C fast path is not built")
    results = {}
    for impl in ("c", "python"):
        repo_path = str(tmp_path_factory.mktemp(impl))
        run = _open(repo_path, impl, monkeypatch, flush_points=7)  # small: flushes mid-sequence
        outcomes = _apply(run, calls)
        run.close()
        results[impl] = (outcomes, _stored(repo_path, run.hash))
    assert results["c"][0] == results["python"][0]
    assert results["c"][1] == results["python"][1]


@pytest.mark.parametrize("impl", ["c", "python"])
def test_threads_tracking_into_one_run_lose_nothing(repo_path, monkeypatch, impl):
    if impl == "c" and not run_module.ACCELERATED:
        pytest.skip("the C fast path is not built")
    run = _open(repo_path, impl, monkeypatch, flush_points=500, flush_seconds=0.01)
    per_thread = 5_000

    def work(k):
        for i in range(per_thread):
            run.track(float(i), name="x", step=i, context={"thread": k})

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    work(99)  # the run's own thread too
    for t in threads:
        t.join()
    run.close()
    read = Run(run.hash, repo=repo_path, read_only=True)
    for k in (0, 1, 2, 3, 99):
        steps, values = read.get_metric("x", {"thread": k}).sparse_numpy()
        assert steps.tolist() == list(range(per_thread))
        assert values.tolist() == [float(i) for i in range(per_thread)]


def test_c_path_flushes_at_flush_points_without_close(repo_path):
    if not run_module.ACCELERATED:
        pytest.skip("the C fast path is not built")
    run = Run(
        repo=repo_path, system_tracking_interval=None, capture_terminal_logs=False, flush_points=100, flush_seconds=3600
    )
    try:
        for i in range(1000):
            run.track(i * 0.5, name="loss")
        reader = Run(run.hash, repo=repo_path, read_only=True)
        deadline = 50
        while deadline and (reader.get_metric("loss") is None or len(reader.get_metric("loss").values_numpy()) < 900):
            threading.Event().wait(0.05)
            reader.refresh()
            deadline -= 1
        assert len(reader.get_metric("loss").values_numpy()) >= 900  # flushed by the background flusher
    finally:
        run.close()


def test_a_subclass_that_overrides_track_keeps_its_track(repo_path):
    seen = []

    class LoggingRun(Run):
        def track(self, value, name=None, step=None, epoch=None, *, context=None):
            seen.append(name)
            super().track(value, name=name, step=step, epoch=epoch, context=context)

    run = LoggingRun(repo=repo_path, system_tracking_interval=None, capture_terminal_logs=False)
    run.track(1.0, name="loss")
    run.track(2.0, name="loss")
    run.close()
    assert seen == ["loss", "loss"]
    assert Run(run.hash, repo=repo_path, read_only=True).get_metric("loss").values_list() == [1.0, 2.0]


def test_the_c_path_does_not_keep_the_run_alive(repo_path):
    """The C columns hold only a weak reference to the run: dropping the run closes it."""
    if not run_module.ACCELERATED:
        pytest.skip("the C fast path is not built")
    run = Run(repo=repo_path, system_tracking_interval=None, capture_terminal_logs=False)
    run.track(math.pi, name="loss")
    run_hash = run.hash
    track = run.track
    del run
    gc.collect()
    read = Run(run_hash, repo=repo_path, read_only=True)
    assert read.active is False and read.get_metric("loss").values_list() == [math.pi]
    with pytest.raises(RuntimeError, match="garbage-collected"):
        track(1.0, name="other")
