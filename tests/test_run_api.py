"""Run / Repo / Metric behaviour as DESIGN §2 describes (Aim 3.29 compatible, then better)."""

from __future__ import annotations

import datetime
import os

import numpy as np
import pyarrow as pa
import pytest

from aimcol import MissingRunError, ReadOnlyRunError, Repo, Run, RunLockedError

# every behaviour here holds for track()'s C fast path and for its pure-Python reference
pytestmark = pytest.mark.usefixtures("track_impl")


def test_new_run_has_aim_style_hash_and_defaults(make_run):
    run = make_run()
    assert len(run.hash) == 24 and all(c in "0123456789abcdef" for c in run.hash)
    assert run.name == f"Run: {run.hash}"
    assert run.experiment == "default"
    assert run.description is None
    assert run.tags == [] and run.archived is False
    assert run.active is True and run.end_time is None
    assert isinstance(run.created_at, datetime.datetime)
    assert abs(run.creation_time - run.created_at.timestamp()) < 1e-3
    assert run.duration >= 0


def test_params_nested_tuple_keys_and_replace_semantics(make_run):
    run = make_run()
    run["hparams"] = {"lr": 0.1, "opt": {"name": "adam", "betas": (0.9, 0.99)}}
    run["hparams", "batch_size"] = 32
    assert run["hparams", "opt", "name"] == "adam"
    assert run["hparams"]["opt"]["betas"] == [0.9, 0.99]  # tuples read back as lists
    assert run["hparams"] == {"lr": 0.1, "opt": {"name": "adam", "betas": [0.9, 0.99]}, "batch_size": 32}
    run["hparams"] = {"x": 1}  # replaces the whole subtree
    assert run["hparams"] == {"x": 1}
    assert run.get("missing", 5) == 5
    assert run.get(("hparams", "x")) == 1
    del run["hparams", "x"]
    assert run["hparams"] == {}
    with pytest.raises(KeyError, match="nope"):
        run["nope"]
    with pytest.raises(KeyError, match="hparams"):
        run["hparams", "x", "y"]


def test_param_values_allowed_and_refused(make_run):
    run = make_run()
    run["misc"] = {
        "none": None,
        "b": True,
        "i": 3,
        "f": 1.5,
        "s": "x",
        "bytes": b"\x00\x01",
        "np_f": np.float32(0.5),
        "np_i": np.int64(7),
        "np_b": np.bool_(True),
    }
    misc = run["misc"]
    assert misc["bytes"] == b"\x00\x01"
    assert type(misc["np_f"]) is float and misc["np_f"] == 0.5
    assert type(misc["np_i"]) is int and misc["np_b"] is True
    with pytest.raises(TypeError, match=r"'bad'.*set"):
        run["bad"] = {1, 2}
    with pytest.raises(TypeError, match=r"'obj\.x'.*object"):
        run["obj"] = {"x": object()}
    with pytest.raises(TypeError, match="keys must be str"):
        run["intkey"] = {1: 2}
    with pytest.raises(TypeError, match="keys must be str"):
        run[1] = 2
    assert "bad" not in run and "intkey" not in run
    # nothing written before the error is lost
    assert run["misc"]["i"] == 3


def test_params_and_properties_survive_reopen(make_run, repo_path):
    run = make_run(experiment="resnet")
    run["hparams"] = {"lr": 0.01}
    run.name = "baseline"
    run.description = "first try"
    assert run.notes is None
    run.notes = "lr too high?\nretry with 0.003"
    run.add_tag("a")
    run.add_tag("a")
    run.add_tag("b")
    assert run.remove_tag("a") is True and run.remove_tag("zzz") is False
    run.archived = True
    run.close()
    again = Repo(repo_path).get_run(run.hash)
    assert again["hparams", "lr"] == 0.01
    assert (again.name, again.description, again.experiment, again.tags, again.archived) == (
        "baseline",
        "first try",
        "resnet",
        ["b"],
        True,
    )
    assert again.notes == again.props.notes == "lr too high?\nretry with 0.003"
    again.props.notes = None  # edited after the close: a new manifest, the end time kept
    assert Repo(repo_path).get_run(run.hash).notes is None
    assert again.active is False and again.end_time is not None
    assert again.duration == pytest.approx(again.end_time - again.creation_time)


def test_property_type_errors(make_run):
    run = make_run()
    with pytest.raises(TypeError, match="name"):
        run.name = 5
    with pytest.raises(TypeError, match="run notes must be a str"):
        run.notes = ["not", "text"]
    with pytest.raises(TypeError, match="tag"):
        run.add_tag(3)
    with pytest.raises(AttributeError):
        run.creation_time = 5


def test_track_auto_step_per_name_and_context(make_run):
    run = make_run()
    for i in range(3):
        run.track(i, name="m", context={"a": 1})
    run.track(10, name="m", step=10, context={"a": 1})
    run.track(11, name="m", context={"a": 1})
    run.track(0.5, name="m")  # another context: its own steps
    metric = run.get_metric("m", {"a": 1})
    assert metric.steps_numpy().tolist() == [0, 1, 2, 10, 11]
    assert metric.values_list() == [0, 1, 2, 10, 11]
    assert run.get_metric("m").steps_numpy().tolist() == [0]


def test_context_key_order_does_not_split_sequences(make_run):
    run = make_run()
    run.track(1.0, name="x", context={"a": 1, "b": 2})
    run.track(2.0, name="x", context={"b": 2, "a": 1})
    assert len(run.metrics()) == 1
    assert run.get_metric("x", {"b": 2, "a": 1}).values_list() == [1.0, 2.0]


def test_retracking_a_step_keeps_latest_value(make_run, repo_path):
    run = make_run()
    run.track(1.0, name="x", step=0)
    run.track(2.0, name="x", step=1)
    run.track(5.0, name="x", step=0)
    assert run.get_metric("x").sparse_numpy()[1].tolist() == [5.0, 2.0]
    run.close()
    assert Repo(repo_path).get_run(run.hash).get_metric("x").values_list() == [5.0, 2.0]


def test_values_numpy_scalars_bools_arrays_nan_inf(make_run):
    run = make_run()
    run.track(np.float32(0.5), name="f")
    run.track(np.array([1.5]), name="f")
    run.track(np.int64(3), name="i")
    run.track(True, name="i")
    run.track(float("nan"), name="n")
    run.track(float("inf"), name="n")
    assert run.get_metric("f").values_list() == [0.5, 1.5]
    assert run.get_metric("i").values_list() == [3, 1] and run.get_metric("i").dtype == "int"
    values = run.get_metric("n").values_numpy()
    assert np.isnan(values[0]) and np.isinf(values[1])


def test_int_sequence_promotes_to_float(make_run):
    run = make_run()
    run.track(1, name="m")
    run.track(1.5, name="m")
    metric = run.get_metric("m")
    assert metric.dtype == "float" and metric.values_list() == [1.0, 1.5]


def test_track_errors_are_aims_and_typed(make_run):
    run = make_run()
    with pytest.raises(ValueError, match=r"^'name' should not be None\.$"):
        run.track(1.0)
    with pytest.raises(ValueError, match=r"^'name' should be None when tracking values dictionary\.$"):
        run.track({"a": 1}, name="x")
    with pytest.raises(TypeError, match=r"track\(\) value for 'loss' must be a real number, got str"):
        run.track("x", name="loss")
    with pytest.raises(TypeError, match="got NoneType"):
        run.track(None, name="loss")
    with pytest.raises(ValueError, match="size 1"):
        run.track(np.array([1.0, 2.0]), name="loss")
    with pytest.raises(TypeError, match="step"):
        run.track(1.0, name="loss", step="a")
    with pytest.raises(TypeError, match="step"):
        run.track(1.0, name="loss", step=1.5)
    with pytest.raises(TypeError, match="name must be a non-empty str"):
        run.track(1.0, name=5)
    with pytest.raises(TypeError, match="context"):
        run.track(1.0, name="loss", context=[1])
    with pytest.raises(TypeError, match="keys must be str"):
        run.track(1.0, name="loss", context={1: 2})
    with pytest.raises(ValueError, match="out of range"):
        run.track(1.0, name="loss", step=2**70)
    # good points around the bad ones are all kept, columns aligned
    run.track(1.0, name="loss", step=0)
    run.track(2.0, name="loss", step=1.0)  # an integral float step is fine
    run.track(3.0, name="loss", epoch=np.int32(4))
    metric = run.get_metric("loss")
    assert metric.steps_numpy().tolist() == [0, 1, 2]
    assert metric.values_list() == [1.0, 2.0, 3.0]
    assert metric.epochs.values_list()[2] == 4


def test_track_dict_of_values(make_run):
    run = make_run()
    run.track({"loss": 0.5, "acc": 0.9}, context={"subset": "val"}, step=3)
    assert run.get_metric("loss", {"subset": "val"}).sparse_numpy()[0].tolist() == [3]
    assert run.get_metric("acc", {"subset": "val"}).last == 0.9


def test_metric_summary_and_exports(make_run):
    run = make_run()
    for i in range(100):
        run.track(100 - i, name="loss", step=i, epoch=i // 10, context={"subset": "train"})
    metric = run.get_metric("loss", {"subset": "train"})
    assert (metric.first, metric.last, metric.min, metric.max) == (100, 1, 1, 100)
    assert (metric.first_step(), metric.last_step()) == (0, 99)
    assert len(metric) == 100
    assert metric.context.subset == "train" and metric.context["subset"] == "train"
    table = metric.to_arrow()
    assert isinstance(table, pa.Table) and table.column_names == ["step", "value", "epoch", "time"]
    assert table.column("epoch").to_pylist()[15] == 1
    frame = metric.dataframe()
    assert list(frame["step"][:3]) == [0, 1, 2]
    assert metric.timestamps.values_numpy().min() >= run.creation_time - 1
    steps, values = metric.values.sparse_numpy()
    assert steps.tolist() == list(range(100)) and values[0] == 100
    assert run.dataframe().loc[0, "hash"] == run.hash


def test_resume_continues_auto_steps(make_run, repo_path):
    run = make_run()
    for _ in range(5):
        run.track(1.0, name="loss", context={"subset": "train"})
    run.track(1.0, name="acc", step=41)
    run.close()
    resumed = make_run(run.hash)
    assert resumed.hash == run.hash and resumed.active and resumed.end_time is None
    resumed.track(2.0, name="loss", context={"subset": "train"})
    resumed.track(2.0, name="acc")
    assert resumed.get_metric("loss", {"subset": "train"}).last_step() == 5
    assert resumed.get_metric("acc").steps_numpy().tolist() == [41, 42]


def test_missing_run_and_read_only(make_run, repo_path):
    from aimcol import RepoNotFoundError

    with pytest.raises(RepoNotFoundError, match="no aimcol repository"):
        Run("abc", repo=repo_path, read_only=True)
    Repo(repo_path, init=True)
    with pytest.raises(MissingRunError, match="abc"):
        Run("abc", repo=repo_path, read_only=True)
    with pytest.raises(MissingRunError):
        Run("abcdefabcdefabcdefabcdef", repo=repo_path, system_tracking_interval=None)
    assert isinstance(MissingRunError("x"), KeyError)
    run = make_run()
    run.track(1.0, name="x")
    run.flush()
    reader = Run(run.hash, repo=repo_path, read_only=True)
    assert reader.active is True
    assert reader.get_metric("x").values_list() == [1.0]
    with pytest.raises(ReadOnlyRunError):
        reader["p"] = 1
    with pytest.raises(ReadOnlyRunError):
        reader.track(1.0, name="x")
    assert Repo(repo_path).get_run("nonexistent") is None


def test_second_writer_is_refused_naming_the_holder(make_run, repo_path):
    run = make_run()
    with pytest.raises(RunLockedError, match=rf"pid {os.getpid()}"):
        Run(run.hash, repo=repo_path, system_tracking_interval=None, capture_terminal_logs=False)


def test_close_is_idempotent_and_context_manager(repo_path):
    with Run(repo=repo_path, system_tracking_interval=None, capture_terminal_logs=False) as run:
        run.track(1.0, name="x")
    assert run.active is False
    run.close()
    with pytest.raises(ReadOnlyRunError, match="closed"):
        run.track(2.0, name="x")
    with pytest.raises(ReadOnlyRunError, match="closed"):
        run["p"] = 1
    assert Repo(repo_path).get_run(run.hash).get_metric("x").values_list() == [1.0]


def test_garbage_collection_closes_the_run(repo_path):
    import gc

    run = Run(repo=repo_path, system_tracking_interval=None, capture_terminal_logs=False)
    run.track(1.0, name="x")
    run_hash = run.hash
    del run
    gc.collect()
    again = Repo(repo_path).get_run(run_hash)
    assert again.active is False and again.end_time is not None
    assert again.get_metric("x").values_list() == [1.0]


def test_track_array_bulk_path(make_run):
    run = make_run()
    run.track(0.0, name="x")
    run.track_array(np.arange(1, 1001, dtype=np.float64), name="x")
    run.track(7.0, name="x")
    metric = run.get_metric("x")
    assert len(metric) == 1002 and metric.last_step() == 1001 and metric.last == 7.0
    run.track_array(np.array([1, 2, 3]), name="y", steps=np.array([10, 20, 30]), context={"k": "v"})
    assert run.get_metric("y", {"k": "v"}).steps_numpy().tolist() == [10, 20, 30]
    with pytest.raises(ValueError, match="one-dimensional"):
        run.track_array(np.ones((2, 2)), name="z")
    with pytest.raises(TypeError, match="real numbers"):
        run.track_array(np.array(["a"]), name="z")


def test_repo_lookup_delete_and_summaries(make_run, repo_path, tmp_path, monkeypatch):
    a = make_run(experiment="e1")
    a["hparams"] = {"lr": 0.1}
    a.track(1.0, name="loss", context={"subset": "train"})
    a.close()
    b = make_run()
    b["hparams"] = {"lr": 0.2, "bs": 4}
    b.track(1.0, name="loss", context={"subset": "val"})
    repo = Repo.from_path(repo_path)
    assert {r.hash for r in repo.iter_runs()} == {a.hash, b.hash}
    info = repo.collect_sequence_info()
    assert sorted(map(str, info["metric"]["loss"])) == sorted(map(str, [{"subset": "train"}, {"subset": "val"}]))
    params = repo.collect_params_info()
    assert params["hparams"]["lr"] == {"__example_type__": "<class 'float'>"} and "bs" in params["hparams"]
    with pytest.raises(RunLockedError):
        repo.delete_run(b.hash)
    assert repo.delete_run(a.hash) is True
    assert repo.get_run(a.hash) is None
    assert repo.delete_runs([a.hash, b.hash]) == (False, [a.hash, b.hash])
    nested = tmp_path / "sub" / "dir"
    nested.mkdir(parents=True)
    monkeypatch.chdir(nested)
    assert Repo.default_repo().path == repo.path


def test_default_repo_is_created_in_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = Run(system_tracking_interval=None, capture_terminal_logs=False)
    run.close()
    assert os.path.isdir(tmp_path / ".aimcol" / "runs" / run.hash)
    assert Repo(".").get_run(run.hash) is not None


def test_terminal_logs_are_captured_and_streams_restored(repo_path, capsys):
    import sys

    before = sys.stdout
    run = Run(repo=repo_path, system_tracking_interval=None, capture_terminal_logs=True)
    print("epoch 1 done")
    print("epoch 2 done")
    run.close()
    assert sys.stdout is before
    assert run.get_terminal_logs() == ["epoch 1 done", "epoch 2 done"]
    assert "epoch 1 done" in capsys.readouterr().out


def test_system_metrics_are_tracked_in_background(repo_path):
    pytest.importorskip("psutil")
    import time

    run = Run(repo=repo_path, system_tracking_interval=0.1, capture_terminal_logs=False)
    deadline = time.time() + 10
    while time.time() < deadline:
        names = {m.name for m in run.metrics()}
        if {"__system__cpu", "__system__memory_percent"} <= names:
            break
        time.sleep(0.1)
    run.close()
    names = {m.name for m in Repo(repo_path).get_run(run.hash).metrics()}
    assert {"__system__cpu", "__system__memory_percent", "__system__p_memory_percent"} <= names


def test_log_system_params(make_run):
    run = make_run(log_system_params=True)
    params = run["__system_params"]
    assert "numpy" in {k.lower() for k in params["packages"]}
    assert params["executable"]


def test_seed_tracking_example_works_verbatim(repo_path, monkeypatch):
    monkeypatch.chdir(repo_path)
    from aimcol.sdk.run import Run as SeedRun

    run = SeedRun()
    run["params"] = {"foo": "bar"}
    for i in range(100):
        run.track(i, step=i, name="ordinals", context={})
        run.track(-i, step=i, name="negative integers", context={})
        if i % 2 == 0:
            run.track(i, step=i, name="ordinals", context={"odds": True})
    run.close()
    from aimcol.sdk.repo import Repo as SeedRepo

    got = SeedRepo.default_repo().get_run(run.hash)
    assert got.get_metric("ordinals", {"odds": True}).values_list() == list(range(0, 100, 2))
    assert got.get_metric("negative integers").last == -99


def test_iter_runs_skips_a_damaged_manifest_with_a_warning(make_run, repo_path):
    good = make_run()
    good.close()
    bad = make_run()
    bad.close()
    with open(os.path.join(repo_path, ".aimcol", "runs", bad.hash, "manifest.msgpack"), "wb") as fh:
        fh.write(b"\x00garbage")
    with pytest.warns(RuntimeWarning, match=bad.hash):
        runs = list(Repo(repo_path).iter_runs())
    assert [r.hash for r in runs] == [good.hash]


def test_flushes_happen_off_the_training_thread(make_run):
    import threading
    import time

    run = make_run(flush_points=300, flush_seconds=60)  # 1000 points: below the inline backlog limit
    writers = []
    original = run._store.append_batch

    def spy(*args, **kwargs):
        writers.append(threading.current_thread().name)
        return original(*args, **kwargs)

    run._store.append_batch = spy
    for i in range(1000):
        run.track(float(i), name="x")
    deadline = time.time() + 10
    while "aimcol-flusher" not in writers and time.time() < deadline:
        time.sleep(0.01)  # the flusher polls the buffer and writes it, not the training thread
    assert writers and set(writers) == {"aimcol-flusher"}
    run.track(1000.0, name="x")
    run.flush()  # an explicit flush is synchronous
    assert writers[-1] == threading.current_thread().name
    assert run.get_metric("x").values_list() == [float(i) for i in range(1001)]


def test_a_failed_background_flush_loses_nothing_and_is_reported(make_run, repo_path):
    import time

    run = make_run(flush_points=10, flush_seconds=60)
    original = run._store.append_batch
    failures = {"left": 1}

    def flaky(*args, **kwargs):
        if failures["left"]:
            failures["left"] -= 1
            raise OSError(28, "No space left on device")
        return original(*args, **kwargs)

    run._store.append_batch = flaky
    for i in range(20):
        run.track(float(i), name="x")
    deadline = time.time() + 10
    while (run._buffer.error is None or run._buffer.fast_lookup) and time.time() < deadline:
        time.sleep(0.01)  # the flusher tries, fails, and arms the slow path
    with pytest.raises(OSError) as info:
        run.track(20.0, name="x")  # reported here; this point is not recorded
    assert info.value.errno == 28
    for i in range(20, 200):
        run.track(float(i), name="x")
    run.close()
    assert Repo(repo_path).get_run(run.hash).get_metric("x").values_list() == [float(i) for i in range(200)]


def test_set_archived_keeps_end_time_and_crashed_state(make_run, repo_path):
    finished = make_run()
    finished.track(1.0, name="x")
    finished.close()
    repo = Repo(repo_path)
    end = repo.get_run(finished.hash).end_time
    repo.set_archived(finished.hash)
    again = repo.get_run(finished.hash)
    assert again.archived is True and again.end_time == end
    repo.set_archived(finished.hash, False)
    assert repo.get_run(finished.hash).archived is False
    live = make_run()
    repo.set_archived(live.hash)  # a live run too: its writer folds the edit in (run_edits)
    assert repo.get_run(live.hash).archived is True and live.archived is True
    with pytest.raises(MissingRunError):
        repo.set_archived("nope")


def test_a_query_in_the_writing_process_sees_buffered_points(repo_path):
    run = Run(repo=repo_path, system_tracking_interval=None, capture_terminal_logs=False, flush_seconds=60)
    for i in range(5):
        run.track(float(i), name="loss")
    metrics = list(Repo(repo_path).query_metrics("metric.name == 'loss'"))
    assert [m.values_list() for m in metrics] == [[0.0, 1.0, 2.0, 3.0, 4.0]]
    run.close()


def test_huge_int_param_is_refused_when_set(make_run):
    run = make_run()
    with pytest.raises(TypeError, match="64-bit"):
        run["big"] = 2**70
    run["ok"] = 2**63
    assert run["ok"] == 2**63
