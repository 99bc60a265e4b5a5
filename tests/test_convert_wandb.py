"""``aimcol convert wandb``: offline run folders written by the real ``wandb`` package (no network)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

pytest.importorskip("wandb")

from aimcol import Repo  # noqa: E402
from aimcol.convert.wandb import BLOCK, FILE_HEADER, iter_records, system_metric  # noqa: E402
from aimcol.errors import ImportSourceError  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from wandb_writer import STEPS, VOCAB, history  # noqa: E402


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """A folder with W&B's ``wandb/`` of two offline runs, and the time after they were written."""
    folder = tmp_path_factory.mktemp("wandb_project")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env["HOME"] = str(folder)  # W&B's settings and caches stay in the test's folder
    done = subprocess.run(
        [sys.executable, os.path.join(HERE, "wandb_writer.py"), str(folder)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    time.sleep(0.05)
    return folder, float(done.stdout.strip().splitlines()[-1])


def _run_files(folder) -> dict[str, str]:
    """``{W&B display name: .wandb file}``: read from the files themselves, not via aimcol."""
    from wandb.proto import wandb_internal_pb2

    found = {}
    for root, _, files in os.walk(folder):
        for name in files:
            if name.endswith(".wandb"):
                path = os.path.join(root, name)
                for payload in iter_records(path):
                    rec = wandb_internal_pb2.Record()
                    rec.ParseFromString(payload)
                    if rec.WhichOneof("record_type") == "run":
                        found[rec.run.display_name] = path
                        break
    return found


def _records(path: str, kind: str) -> list:
    """The records of one kind in a .wandb file, decoded by W&B's own protobuf class."""
    from wandb.proto import wandb_internal_pb2

    found = []
    for payload in iter_records(path):
        rec = wandb_internal_pb2.Record()
        rec.ParseFromString(payload)
        if rec.WhichOneof("record_type") == kind:
            found.append(getattr(rec, kind))
    return found


def _system_points(path: str) -> dict:
    """``{(aimcol name, context items): [values]}`` from the file's W&B ``stats`` samples."""
    want: dict = {}
    for stats in _records(path, "stats"):
        for item in stats.item:
            target = system_metric(item.key)
            if target is not None:
                want.setdefault((target[0], tuple(sorted(target[1].items()))), []).append(float(item.value_json))
    return want


def _copy(written_folder, tmp_path) -> str:
    src = os.path.join(written_folder, "wandb")
    dst = tmp_path / "src" / "wandb"
    shutil.copytree(src, dst, symlinks=True)
    return str(dst)


def _convert(*args):
    from aimcol.cli import main

    return main(["convert", "wandb", *args])


def _runs(target: str) -> dict:
    return {run.name: run for run in Repo(target).iter_runs()}


def test_every_param_point_and_time(written, tmp_path, capsys):
    folder, written_at = written
    target = str(tmp_path / "repo")
    before_import = time.time()
    assert _convert(str(folder), "--repo", target) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    files = _run_files(folder)
    system = {name: _system_points(path) for name, path in files.items()}
    system_points = sum(len(v) for points in system.values() for v in points.values())
    assert f"imported 2 runs, {5 * STEPS + 5 + system_points:,} points" in out
    assert "not imported: 1 image-file" in out and "1 text" in out

    runs = _runs(target)
    run = runs["trained"]
    assert run.experiment == "vision" and run.description == "a tiny net"
    assert sorted(run.tags) == ["baseline", "cpu"]
    params = {"lr": 0.1, "model": {"layers": 3, "act": "relu"}, "batch": 32, "seed": 7, "vocab": VOCAB}
    assert run["params"] == params
    assert run["wandb_run_name"] == "trained" and len(run["wandb_run_id"]) == 8
    summary = run["summary"]
    assert summary["best_acc"] == 0.99 and summary["train/loss"] == 1.0 / STEPS and "sample" not in summary
    assert not any(k.startswith("_") for k in summary)

    rows = [history(i) for i in range(STEPS)]
    steps = [3 * i for i in range(STEPS)]
    expected = {
        ("loss", (("subset", "train"), ("tag", "train"))): [r["train/loss"] for r in rows],
        ("acc", (("subset", "val"), ("tag", "val"))): [r["val/acc"] for r in rows],
        ("lr", ()): [r["lr"] for r in rows],
        ("grad.norm", ()): [r["grad"]["norm"] for r in rows],
        ("epoch", ()): [r["epoch"] for r in rows],
    }
    got = {(m.name, tuple(sorted(m.context.items()))): m for m in run.metrics()}
    # W&B's system samples as aimcol's own __system__ sequences, one step per sample (W&B
    # samples once at init, so a run of any length has some)
    assert ("__system__memory_percent", ()) in system["trained"]
    assert {k for k in got if k[0].startswith("__system__")} == set(system["trained"])
    for key, values in system["trained"].items():
        s, v = got.pop(key).values.sparse_numpy()
        assert s.tolist() == list(range(len(values))) and v.tolist() == values, key
    assert set(got) == set(expected)
    for key, values in expected.items():
        metric = got[key]
        s, v = metric.values.sparse_numpy()
        assert s.tolist() == steps and v.tolist() == values, key
        assert metric.epochs.values_list() == [r["epoch"] for r in rows]
        times = metric.timestamps.values_list()
        assert times == sorted(times) and run.creation_time <= times[0] and times[-1] <= written_at

    # the source's times, not the import's: in the run, in AimQL
    assert run.creation_time < run.end_time <= written_at < before_import
    assert run.exit_status == "finished"
    repo = Repo(target)
    both = {run.hash, runs["diverged"].hash}
    assert set(repo.query_runs(f"run.created_at < datetime.fromtimestamp({before_import})").run_hashes) == both
    assert (
        set(repo.query_runs(f"run.end_time < {before_import} and run.end_time > {run.creation_time}").run_hashes)
        == both
    )

    failed = runs["diverged"]
    assert failed.exit_status == "failed" and failed.exit_error == "exit code 1"
    assert failed["params"] == {"lr": 10.0}
    s, v = failed.get_metric("loss", {}).values.sparse_numpy()
    assert s.tolist() == [0, 1, 2, 3, 4] and v.tolist() == [1.0, 10.0, 100.0, 1000.0, 10000.0]

    # idempotent: the same folder again imports nothing
    assert _convert(str(folder), "--repo", target) == 0
    out = capsys.readouterr().out
    assert "imported 0 runs" in out and "2 runs were imported before" in out
    assert Repo(target).total_runs_count() == 2


def test_dry_run_writes_nothing(written, tmp_path, capsys):
    folder, _ = written
    target = tmp_path / "repo"
    assert _convert(os.path.join(folder, "wandb"), "--dry-run", "--repo", str(target)) == 0
    out = capsys.readouterr().out
    files = _run_files(folder)
    system = {name: _system_points(path) for name, path in files.items()}
    total = 5 * STEPS + 5 + sum(len(v) for points in system.values() for v in points.values())
    assert f"would import 2 runs, {total:,} points" in out
    trained = 5 + len(system["trained"]), 5 * STEPS + sum(len(v) for v in system["trained"].values())
    run_dir = os.path.basename(os.path.dirname(files["trained"]))
    assert f"{run_dir}: {trained[0]} series, {trained[1]:,} points" in out and not target.exists()


def test_damaged_run_is_skipped_and_named_the_other_imported(written, tmp_path, capsys):
    folder, _ = written
    copy = _copy(folder, tmp_path)
    path = _run_files(copy)["trained"]
    with open(path, "r+b") as f:  # one flipped byte in a record's payload
        f.seek(len(FILE_HEADER) + 200)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))
    target = str(tmp_path / "repo")
    assert _convert(copy, "--repo", target) == 1
    err = capsys.readouterr().err
    run_dir = os.path.basename(os.path.dirname(path))
    assert f"skipped unreadable run {run_dir}" in err and "checksum mismatch" in err
    assert set(_runs(target)) == {"diverged"}


def test_killed_run_without_exit_record_reads_as_crashed(written, tmp_path, capsys):
    folder, written_at = written
    copy = _copy(folder, tmp_path)
    path = _run_files(copy)["trained"]
    with open(path, "rb") as f:
        data = f.read()
    # cut the file inside its last record (the exit record comes last): as a killed writer leaves it
    assert len(data) > 3 * BLOCK  # the config's record spans blocks
    with open(path, "wb") as f:
        f.write(data[:-3])
    target = str(tmp_path / "repo")
    assert _convert(copy, "--repo", target) == 0, capsys.readouterr().err
    run = _runs(target)["trained"]
    assert run.end_time is None and run.crashed and run.exit_status is None
    assert run.creation_time <= written_at
    s, _ = run.get_metric("lr", {}).values.sparse_numpy()
    assert len(s) == STEPS


def test_not_a_wandb_file(tmp_path):
    bad = tmp_path / "run-x.wandb"
    bad.write_bytes(b"PK\x03\x04 not a log")
    with pytest.raises(ImportSourceError, match="run-x.wandb: not a W&B transaction log"):
        list(iter_records(str(bad)))


def test_without_wandb_the_error_names_the_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "wandb", None)
    monkeypatch.delitem(sys.modules, "wandb.proto", raising=False)
    monkeypatch.delitem(sys.modules, "wandb.proto.wandb_internal_pb2", raising=False)
    assert _convert(str(tmp_path), "--repo", str(tmp_path / "repo")) == 1
    assert "pip install 'aimcol[wandb]'" in capsys.readouterr().err
