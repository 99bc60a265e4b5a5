"""``aimcol convert mlflow``: a file store and a sqlite store written by the real MLflow client."""

from __future__ import annotations

import time

import pytest

mlflow = pytest.importorskip("mlflow")

from aimcol import Repo  # noqa: E402


class _Done:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def _aimcol(capsys):
    """The CLI in this process (importing mlflow once per test run, not once per call)."""
    from aimcol.cli import main

    def call(*args):
        capsys.readouterr()
        code = main(list(args))
        out = capsys.readouterr()
        return _Done(code, out.out, out.err)

    return call


@pytest.fixture(autouse=True)
def _allow_file_store(monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3.x writes file stores only when asked


def _fill(uri: str) -> dict:
    """Two experiments, three runs; returns what each run holds, by MLflow run id."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    expected = {}
    for exp_name, runs in (("vision", ("small", "large")), ("text", ("tiny",))):
        exp_id = client.create_experiment(exp_name)
        for i, run_name in enumerate(runs):
            run = client.create_run(exp_id, run_name=run_name, tags={"team": "ml", "mlflow.note.content": "notes"})
            rid = run.info.run_id
            client.log_param(rid, "lr", str(0.1 * (i + 1)))
            client.log_param(rid, "layers", "3")
            points = {
                "loss": [(s, 1.0 / (s + 1 + i), 1_700_000_000_000 + 1000 * s) for s in range(40)],
                "acc": [(s * 10, 0.5 + s / 100, 1_700_000_000_000 + 7 * s) for s in range(5)],
            }
            for key, values in points.items():
                for step, value, ts in values:
                    client.log_metric(rid, key, value, timestamp=ts, step=step)
            client.set_terminated(rid)
            expected[rid] = {"experiment": exp_name, "name": run_name, "lr": str(0.1 * (i + 1)), "points": points}
    return expected


def _check(target: str, expected: dict) -> None:
    runs = {run["mlflow_run_id"]: run for run in Repo(target).iter_runs()}
    assert set(runs) == set(expected)
    for rid, want in expected.items():
        run = runs[rid]
        assert run.experiment == want["experiment"] and run.name == want["name"]
        assert run.description == "notes"
        assert run["params"] == {"lr": want["lr"], "layers": "3"}
        assert run["tags"] == {"team": "ml"}
        assert run["imported_from"]["source"] == "mlflow" and run["imported_from"]["complete"] is True
        for key, points in want["points"].items():
            metric = run.get_metric(key, {})
            steps, values = metric.values.sparse_numpy()
            assert steps.tolist() == [p[0] for p in points]
            assert values.tolist() == [p[1] for p in points]
            assert metric.timestamps.values_list() == [p[2] / 1000.0 for p in points]


@pytest.mark.parametrize("store", ["file", "sqlite"])
def test_every_run_param_tag_and_point(tmp_path, store, _aimcol):
    uri = str(tmp_path / "mlruns") if store == "file" else f"sqlite:///{tmp_path / 'mlflow.db'}"
    if store == "file":
        (tmp_path / "mlruns").mkdir()
    expected = _fill(uri)
    target = str(tmp_path / "repo")
    done = _aimcol("convert", "mlflow", "--tracking-uri", uri, "--repo", target)
    assert done.returncode == 0, done.stderr
    assert "imported 3 runs, 135 points" in done.stdout
    _check(target, expected)
    again = _aimcol("convert", "mlflow", "--tracking-uri", uri, "--repo", target)
    assert again.returncode == 0 and "imported 0 runs" in again.stdout
    assert Repo(target).total_runs_count() == 3


def test_one_experiment_and_dry_run(tmp_path, _aimcol):
    uri = str(tmp_path / "mlruns")
    (tmp_path / "mlruns").mkdir()
    _fill(uri)
    done = _aimcol(
        "convert", "mlflow", "--tracking-uri", uri, "--experiment", "text", "--dry-run", "--repo", str(tmp_path / "r")
    )
    assert done.returncode == 0, done.stderr
    assert "would import 1 runs, 45 points" in done.stdout and "text/tiny: 2 series, 45 points" in done.stdout
    assert not (tmp_path / "r").exists()
    missing = _aimcol("convert", "mlflow", "--tracking-uri", uri, "--experiment", "nope", "--repo", str(tmp_path / "r"))
    assert missing.returncode == 1 and "no MLflow experiment with id or name 'nope'" in missing.stderr


def test_runs_keep_mlflow_times_and_status(tmp_path, _aimcol):
    """Start and end times and FINISHED/FAILED/KILLED/RUNNING come over as the run's own."""
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    exp_id = client.create_experiment("times")
    start = 1_600_000_000_000
    for i, status in enumerate(("FINISHED", "FAILED", "KILLED", "RUNNING")):
        rid = client.create_run(exp_id, run_name=status.lower(), start_time=start + i * 1000).info.run_id
        client.log_metric(rid, "loss", 1.0, timestamp=start + 10, step=0)
        if status != "RUNNING":
            client.set_terminated(rid, status=status, end_time=start + i * 1000 + 3_600_000)
    before = time.time()
    target = str(tmp_path / "repo")
    assert _aimcol("convert", "mlflow", "--tracking-uri", uri, "--repo", target).returncode == 0
    runs = {run.name: run for run in Repo(target).iter_runs()}
    for i, (name, status, error) in enumerate(
        (
            ("finished", "finished", None),
            ("failed", "failed", "MLflow status FAILED"),
            ("killed", "interrupted", "MLflow status KILLED"),
        )
    ):
        run = runs[name]
        assert run.creation_time == 1_600_000_000.0 + i
        assert run.end_time == 1_600_000_000.0 + i + 3600
        assert (run.exit_status, run.exit_error) == (status, error)
    running = runs["running"]
    assert running.creation_time == 1_600_000_003.0 and running.end_time is None and running.crashed
    assert len(Repo(target).query_runs(f"run.created_at < datetime.fromtimestamp({before})").run_hashes) == 4
    assert len(Repo(target).query_runs("run.end_time < 1600010000").run_hashes) == 3


def test_a_run_still_running_is_imported_again_with_what_came_since(tmp_path, _aimcol):
    """A source run without an end may go on: the next conversion replaces its import."""
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    exp_id = client.create_experiment("live")
    rid = client.create_run(exp_id, run_name="training").info.run_id
    done_id = client.create_run(exp_id, run_name="done").info.run_id
    client.set_terminated(done_id)
    for step in range(3):
        client.log_metric(rid, "loss", 1.0 / (step + 1), step=step)
    target = str(tmp_path / "repo")
    assert _aimcol("convert", "mlflow", "--tracking-uri", uri, "--repo", target).returncode == 0
    first = {run.name: run.hash for run in Repo(target).iter_runs()}
    for step in range(3, 6):
        client.log_metric(rid, "loss", 1.0 / (step + 1), step=step)
    client.set_terminated(rid)
    again = _aimcol("convert", "mlflow", "--tracking-uri", uri, "--repo", target)
    assert again.returncode == 0 and "imported 1 runs" in again.stdout and "1 runs were imported before" in again.stdout
    runs = {run.name: run for run in Repo(target).iter_runs()}
    assert Repo(target).total_runs_count() == 2 and runs["done"].hash == first["done"]
    assert runs["training"].hash != first["training"] and runs["training"].exit_status == "finished"
    assert runs["training"].get_metric("loss", {}).values.sparse_numpy()[0].tolist() == list(range(6))
    third = _aimcol("convert", "mlflow", "--tracking-uri", uri, "--repo", target)
    assert "imported 0 runs" in third.stdout and "2 runs were imported before" in third.stdout
