"""What ``track()`` accepts (issue 11, item 5): every value type Aim 3.28 accepts for a
sequence, with Aim's ValueError when a sequence's type changes; log records (item 6).

The expectations were checked against Aim 3.28.0 itself (``/work/peers/aim-3.28.0``):
numbers, bools, NumPy scalars and size-1 arrays, and lists/tuples (of anything) are
accepted; str, bytes, None, complex and other objects are refused with ValueError; an
empty list joins any typed list sequence and takes the type of the first typed one.
Every test runs with the C fast path and the pure-Python one.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from aimcol import Repo
from aimcol.errors import ReadOnlyRunError


def _stored(repo_path, run_hash):
    return Repo(repo_path).get_run(run_hash)


def test_every_value_type_aim_accepts(make_run, repo_path, track_impl):
    run = make_run()
    accepted = {
        "float": 1.5,
        "int": 3,
        "bool": True,
        "np_float32": np.float32(1.0),
        "np_int64": np.int64(3),
        "single_item_array": np.array([1.0]),
        "single_item_3d_array": np.array([[[1.0]]]),
        "nan": float("nan"),
        "list": [1.0, 2.0],
        "tuple": (1, 2),
        "empty_list": [],
        "nested_list": [[1], [2, 3]],
        "list_of_str": ["a", "b"],
    }
    for name, value in accepted.items():
        run.track(value, name=name)
    run.close()
    stored = _stored(repo_path, run.hash)
    metrics = {m.name for m in stored.metrics()}
    assert metrics == {
        "float",
        "int",
        "bool",
        "np_float32",
        "np_int64",
        "single_item_array",
        "single_item_3d_array",
        "nan",
    }
    objects = {s.name: (s.dtype, s.values_list()) for s in stored.object_sequences()}
    assert objects == {
        "list": ("list(float)", [[1.0, 2.0]]),
        "tuple": ("list(int)", [[1, 2]]),
        "empty_list": ("list", [[]]),
        "nested_list": ("list(list(int))", [[[1], [2, 3]]]),
        "list_of_str": ("list(str)", [["a", "b"]]),
    }


@pytest.mark.parametrize("value", ["hello", b"bytes", None, complex(1, 2), object()])
def test_values_aim_refuses_raise_value_error(make_run, track_impl, value):
    run = make_run()
    with pytest.raises(ValueError):
        run.track(value, name="x")
    with pytest.raises(ValueError):
        run.track(np.array([1.0, 2.0]), name="y")  # more than one element
    assert run._store.manifest["sequences"] == [] and not run._store.manifest.get("object_sequences")


def test_a_sequence_keeps_its_type_as_in_aim(make_run, repo_path, track_impl):
    run = make_run()
    run.track(1.0, name="numbers", context={})
    with pytest.raises(ValueError) as info:
        run.track([1], name="numbers", context={})
    assert info.value.args[0] == "Cannot log value '[1]' on sequence 'numbers'. Incompatible data types."
    run.track(1, name="numbers")  # int and float mix, as in Aim
    run.track(1.0, name="numbers", context={"type": "float"})
    run.track(1, name="numbers", context={"type": "integer"})  # another context is another sequence
    run.track([], name="obj_list")
    run.track([], name="obj_list")
    run.track([1.0], name="obj_list")  # the first typed list fixes the type
    run.track([], name="obj_list")
    with pytest.raises(ValueError, match=r"Cannot log value '\[5\]' on sequence 'obj_list'"):
        run.track([5], name="obj_list")
    with pytest.raises(ValueError, match="Incompatible data types"):
        run.track(2.0, name="obj_list")
    run.close()
    stored = _stored(repo_path, run.hash)
    assert stored.get_object_sequence("obj_list").dtype == "list(float)"
    assert stored.get_object_sequence("obj_list").values_list() == [[], [], [1.0], []]
    assert stored.get_metric("numbers").values.values_list() == [1.0, 1.0]


def test_type_checks_hold_after_resume(make_run, repo_path, track_impl):
    run = make_run()
    run.track(1.0, name="numbers")
    run.track([1, 2], name="pairs", step=5)
    run.close()
    resumed = make_run(run.hash)
    with pytest.raises(ValueError, match="Incompatible data types"):
        resumed.track([1], name="numbers")
    with pytest.raises(ValueError, match="Incompatible data types"):
        resumed.track([1.5], name="pairs")
    resumed.track([3, 4], name="pairs")  # auto-step continues after step 5
    resumed.close()
    pairs = _stored(repo_path, run.hash).get_object_sequence("pairs")
    assert pairs.indices_list() == [5, 6] and pairs.values_list() == [[1, 2], [3, 4]]


def test_lists_with_steps_epochs_and_contexts(make_run, repo_path, track_impl):
    run = make_run()
    for i in range(5):
        run.track([i, i * 2], name="hist", step=i * 10, epoch=i, context={"subset": "train"})
    run.track([9, 9], name="hist", step=20, context={"subset": "train"})  # a re-tracked step: latest wins
    run.close()
    seq = _stored(repo_path, run.hash).get_object_sequence("hist", {"subset": "train"})
    assert seq.indices_list() == [0, 10, 20, 30, 40]
    assert seq.values_list() == [[0, 0], [1, 2], [9, 9], [3, 6], [4, 8]]
    assert list(_stored(repo_path, run.hash).iter_sequence_info_by_type("list(int)"))[0][:2] == (
        "hist",
        {"subset": "train"},
    )


def test_log_records(make_run, repo_path, track_impl):
    run = make_run()
    assert run.get_log_records() is None
    run.log_info("starting", lr=0.1)
    run.log_warning("slow epoch")
    run.log_error("diverged")
    run.log_debug("details")
    line = sys._getframe().f_lineno - 4
    run.close()
    records = _stored(repo_path, run.hash).get_log_records()
    got = [(r.message, r.level) for r in records.values_list()]
    assert got == [
        ("starting", logging.INFO),
        ("slow epoch", logging.WARNING),
        ("diverged", logging.ERROR),
        ("details", logging.DEBUG),
    ]
    first = records.values_list()[0]
    assert first.json()["args"] == {"lr": 0.1} and first.json()["log_level"] == "INFO"
    assert first.logger_info == (__file__, line)  # where log_info was called
    assert {m.name for m in _stored(repo_path, run.hash).metrics()} == set()  # not a metric


def test_object_points_survive_kill_9_and_a_torn_tail(repo_path):
    script = textwrap.dedent(
        """
        import os, sys, signal
        from aimcol import Run
        run = Run(repo=sys.argv[1], system_tracking_interval=None, capture_terminal_logs=False)
        for i in range(100):
            run.track([i], name="l")
        run.log_info("before the kill")
        print(run.hash, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    done = subprocess.run([sys.executable, "-c", script, repo_path], capture_output=True, text=True, timeout=60)
    run_hash = done.stdout.split()[0]
    log = os.path.join(repo_path, ".aimcol", "runs", run_hash, "objects.log")
    with open(log, "ab") as fh:
        fh.write(b"\x40\x00\x00\x00torn")  # a record whose body never reached the disk
    stored = _stored(repo_path, run_hash)
    assert stored.get_object_sequence("l").values_list() == [[i] for i in range(100)]
    from aimcol import Run

    resumed = Run(run_hash, repo=repo_path, system_tracking_interval=None, capture_terminal_logs=False)
    resumed.track([100], name="l")  # after the torn tail was cut off, appends continue a valid file
    resumed.close()
    seq = _stored(repo_path, run_hash).get_object_sequence("l")
    assert seq.values_list() == [[i] for i in range(101)] and seq.indices_list() == list(range(101))
    assert _stored(repo_path, run_hash).get_log_records().values_list()[0].message == "before the kill"


def test_closed_runs_refuse_object_points(make_run, track_impl):
    run = make_run()
    run.track([1], name="l")
    run.close()
    with pytest.raises(ReadOnlyRunError):
        run.track([2], name="l")
    with pytest.raises(ReadOnlyRunError):
        run.log_info("late")
