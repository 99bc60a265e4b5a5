"""The command line against object-store repositories: ``--repo s3://…`` and ``aimcol sync``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

pytest.importorskip("obstore", reason="object stores need aimcol[remote]")

from aimcol import Repo, Run  # noqa: E402
from aimcol.cli import main  # noqa: E402


def _write(location, n: int = 3, **params) -> list[str]:
    hashes = []
    for i in range(n):
        with Run(repo=location, system_tracking_interval=None, capture_terminal_logs=False, flush_points=50) as run:
            run["hparams"] = {"lr": 0.01 * (i + 1), **params}
            for step in range(120):
                run.track(step * 0.5 + i, name="loss", step=step, context={"subset": "train"})
            hashes.append(run.hash)
    return hashes


def _points(location) -> dict:
    repo = Repo(location)
    return {
        (m.run.hash, m.name, json.dumps(dict(m.context))): (m.steps_numpy().tolist(), m.values_numpy().tolist())
        for m in repo.query_metrics("")
    }


def test_runs_ls_and_query_with_repo_s3(s3_uri, capsys):
    hashes = _write(s3_uri)
    assert main(["runs", "ls", "--repo", s3_uri, "--json"]) == 0
    listed = capsys.readouterr().out
    assert all(h in listed for h in hashes)
    assert main(["query", "--repo", s3_uri, "--format", "csv", "run.hparams.lr > 0.015 and metric.name == 'loss'"]) == 0
    out = capsys.readouterr().out
    assert sum(h in out for h in hashes) == 2


def test_sync_local_to_s3_and_back_is_idempotent(tmp_path, s3_uri, capsys):
    local = str(tmp_path / "offline")
    _write(local, n=2)
    # a crashed run: its live segment becomes a sealed segment in the bucket
    crashed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, signal, sys\n"
            "from aimcol import Run\n"
            "run = Run(repo=sys.argv[1], system_tracking_interval=None, capture_terminal_logs=False, flush_points=10)\n"
            "[run.track(float(i), name='loss', step=i) for i in range(95)]\n"
            "run.flush(); print(run.hash, flush=True)\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n",
            local,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    expected = _points(local)
    assert main(["sync", local, s3_uri]) == 0
    assert "3 copied" in capsys.readouterr().out
    assert _points(s3_uri) == expected
    remote_run = Repo(s3_uri).get_run(crashed.stdout.split()[0])
    assert len(remote_run.get_metric("loss").values_numpy()) == 95 and remote_run.end_time is None
    assert main(["sync", local, s3_uri]) == 0
    assert "0 copied, 0 updated, 3 unchanged" in capsys.readouterr().out
    back = str(tmp_path / "back")
    assert main(["sync", s3_uri, back]) == 0
    assert "3 copied" in capsys.readouterr().out
    assert _points(back) == expected
    assert main(["sync", back, s3_uri]) == 0
    assert "3 unchanged" in capsys.readouterr().out
    # a run resumed offline is updated, not copied again
    run_hash = sorted(Repo(local).run_hashes())[0]
    with Run(run_hash, repo=local, system_tracking_interval=None, capture_terminal_logs=False) as run:
        run.track(-1.0, name="loss", context={"subset": "train"})
    assert main(["sync", local, s3_uri, "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {"run": run_hash, "action": "updated", "files": 1} in lines
    assert _points(s3_uri) == _points(local)


def test_sync_refuses_a_missing_run_with_one_line(tmp_path, memory_uri, capsys):
    local = str(tmp_path / "p")
    _write(local, n=1)
    assert main(["sync", local, memory_uri, "--run", "0" * 24]) == 1
    assert "no run" in capsys.readouterr().err


def test_active_runs_are_skipped_unless_asked(tmp_path, memory_uri, capsys):
    local = str(tmp_path / "p")
    run = Run(repo=local, system_tracking_interval=None, capture_terminal_logs=False)
    run.track(1.0, name="x")
    run.flush()
    try:
        assert main(["sync", local, memory_uri]) == 0
        assert "1 skipped (active)" in capsys.readouterr().out
        assert main(["sync", local, memory_uri, "--include-active"]) == 0
        assert "1 copied" in capsys.readouterr().out
    finally:
        run.close()
    assert os.path.isdir(local)


def test_repair_aborts_a_dead_writers_multipart_upload_in_a_clean_run(s3_uri, capsys):
    """A writer killed while uploading a big segment in parts leaves an upload S3 bills but
    never lists; the run itself is clean (no stray object).  ``aimcol check`` names it and
    ``aimcol repair`` aborts it, leaving the run's points as they were."""
    import boto3

    from aimcol.format.object_storage import ObjectStorage

    (run_hash,) = _write(s3_uri, n=1)
    before = _points(s3_uri)
    storage = ObjectStorage(s3_uri)
    client = boto3.client("s3")
    key = f"{storage.prefix}/runs/{run_hash}/seg-000099-g1.arrow"
    upload = client.create_multipart_upload(Bucket=storage.container, Key=key)
    client.upload_part(Bucket=storage.container, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=b"x" * 1024)
    assert main(["check", "--repo", s3_uri]) == 0
    assert f"{run_hash}: repairable: incomplete multipart uploads seg-000099-g1.arrow" in capsys.readouterr().out
    assert main(["repair", "--repo", s3_uri]) == 0
    assert f"{run_hash}: repaired (incomplete multipart uploads seg-000099-g1.arrow)" in capsys.readouterr().out
    assert client.list_multipart_uploads(Bucket=storage.container).get("Uploads", []) == []
    assert _points(s3_uri) == before
    assert main(["check", "--repo", s3_uri]) == 0
    assert "repairable" not in capsys.readouterr().out
