"""Aim's Run API beyond tracking (issue 11, items 2 and 6), checked against what Aim 3.28 does."""

from __future__ import annotations

import datetime
import os

import pytest

from aimcol import Repo, Run


def test_the_whole_params_tree_reads_and_sets_with_ellipsis(make_run, repo_path):
    run = make_run()
    run["hparams"] = {"lr": 0.1}
    run["x"] = 1
    assert run[...] == {"hparams": {"lr": 0.1}, "x": 1}
    run[...] = {"a": {"b": 2}}  # replaces every param, as in Aim
    assert run[...] == {"a": {"b": 2}} and run.get("x") is None and ... in run
    tree = run[...]
    tree["a"]["b"] = 3  # a copy: the run is unchanged
    assert run["a", "b"] == 2
    with pytest.raises(TypeError, match="needs a dict"):
        run[...] = 5
    assert run[...] == {"a": {"b": 2}}
    run.set("s", 5)
    run.set(("q", "r"), 7, strict=False)
    run.close()
    stored = Repo(repo_path).get_run(run.hash)
    assert stored[...] == {"a": {"b": 2}, "s": 5, "q": {"r": 7}}
    writer = make_run(run.hash)
    del writer[...]
    assert writer[...] == {}


def test_finalized_at_and_props(make_run, repo_path):
    run = make_run()
    assert run.finalized_at is None
    props = run.props
    props.name = "baseline"
    props.description = "first try"
    props.archived = True
    props.add_tag("fast")
    assert (props.name, props.description, props.archived, props.tags) == ("baseline", "first try", True, ["fast"])
    assert props.hash == run.hash and props.experiment == "default" and props.end_time is None
    assert isinstance(props.created_at, datetime.datetime)
    with pytest.raises(AttributeError):
        props.hash = "x"
    with pytest.raises(TypeError):
        props.name = 3  # the run's validation applies
    run.close()
    stored = Repo(repo_path).get_run(run.hash)
    assert stored.props.name == "baseline" and stored.props.archived is True
    assert isinstance(stored.finalized_at, datetime.datetime)
    assert abs(stored.finalized_at.timestamp() - stored.end_time) < 1e-3


def test_progress_reports_are_stored_and_cheap(make_run, repo_path):
    run = make_run()
    assert run.progress is None and not run.successful_finish_reported
    run.report_progress(expect_next_in=3, block=True)
    first = Repo(repo_path).get_run(run.hash).progress
    assert first["expect_next_by"] - first["reported_at"] == pytest.approx(3.0)
    manifest = os.path.join(repo_path, ".aimcol", "runs", run.hash, "manifest.msgpack")
    before = os.stat(manifest).st_mtime_ns
    for _ in range(200):
        run.report_progress(expect_next_in=5)  # in a loop: at most one manifest write a second
    assert os.stat(manifest).st_mtime_ns == before
    assert run.progress["expect_next_by"] - run.progress["reported_at"] == pytest.approx(5.0)
    with pytest.raises(ValueError):
        run.report_progress(expect_next_in=-1)
    run.report_successful_finish()
    assert Repo(repo_path).get_run(run.hash).successful_finish_reported
    run.close()
    assert Repo(repo_path).get_run(run.hash).progress["expect_next_by"] - first["reported_at"] >= 5.0


def test_artifacts_are_copied_to_a_file_store_and_listed(make_run, repo_path, tmp_path):
    source = tmp_path / "config.yaml"
    source.write_text("lr: 0.1\n")
    run = make_run()
    assert run.artifacts_uri is None
    with pytest.raises(ValueError, match="set_artifacts_uri"):
        run.log_artifact(str(source))
    with pytest.raises(ValueError, match="scheme"):
        run.set_artifacts_uri(str(tmp_path / "store"))
    # an s3:// store is recorded, as in Aim (its docs set one, then a file:// one), but not written
    run.set_artifacts_uri("s3://bucket/artifacts")
    assert run.artifacts_uri == f"s3://bucket/artifacts/{run.hash}"
    with pytest.raises(ValueError, match="scheme 's3' is not supported"):
        run.log_artifact(str(source))
    assert run.artifacts == {}
    store = tmp_path / "store"
    run.set_artifacts_uri(f"file://{store}")
    assert run.artifacts_uri == f"file://{store}/{run.hash}"
    run.log_artifact(str(source), name="run-config")
    folder = tmp_path / "ckpt"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.bin").write_bytes(b"\x00\x01")
    (folder / "sub" / "b.bin").write_bytes(b"\x02")
    run.log_artifacts(str(folder), name="checkpoints")
    with pytest.raises(ValueError):
        run.log_artifact(str(source), name="../escape")
    run.close()
    stored = Repo(repo_path).get_run(run.hash).artifacts
    assert sorted(stored) == ["checkpoints/a.bin", "checkpoints/sub/b.bin", "run-config"]
    assert stored["run-config"].path == str(source)
    assert (store / run.hash / "run-config").read_text() == "lr: 0.1\n"
    assert (store / run.hash / "checkpoints" / "sub" / "b.bin").read_bytes() == b"\x02"
    assert stored["run-config"].local_path == str(store / run.hash / "run-config")
    assert not list(store.rglob("*.partial"))


def test_a_run_shorter_than_one_interval_has_a_system_metrics_sample(repo_path):
    pytest.importorskip("psutil")
    run = Run(repo=repo_path, system_tracking_interval=60, capture_terminal_logs=False)
    run.track(1.0, name="loss")
    run.close()
    stored = Repo(repo_path).get_run(run.hash)
    cpu = stored.get_metric("__system__cpu")
    assert cpu is not None and len(cpu.values.values_list()) == 1
    assert stored.get_metric("__system__memory_percent").values.values_list()[0] > 0
