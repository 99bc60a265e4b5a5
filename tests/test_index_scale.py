"""Many runs (issue 12, W9): ``runs ls`` lists from the run index, an index build reads the
manifests a chunk at a time and survives kill -9, and writers keep the index file current."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import aimcol
from aimcol.format import change_journal, index_tables
from aimcol.format import manifest as manifest_io
from aimcol.format import run_index as ri
from aimcol.format.index_file import INDEX_FILE, read_index_file


def _run_ls(repo_path: str, *extra: str) -> list[dict]:
    proc = subprocess.run(
        [sys.executable, "-m", "aimcol", "runs", "ls", "--json", "--repo", repo_path, *extra],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def _clone_runs(repo_path: str, template: str, n: int) -> list[str]:
    """``n`` copies of a closed run's folder under new hashes (fast: no writer per run)."""
    runs_dir = os.path.join(repo_path, ".aimcol", "runs")
    hashes = []
    for _ in range(n):
        h = uuid.uuid4().hex[:24]
        shutil.copytree(os.path.join(runs_dir, template), os.path.join(runs_dir, h))
        hashes.append(h)
    old = time.time() - 60  # written a minute ago: not "racy", so a saved row is trusted
    for h in [template, *hashes]:
        os.utime(os.path.join(runs_dir, h, "manifest.msgpack"), (old, old))
    return hashes


def _closed_run(repo_path: str, **params) -> str:
    run = aimcol.Run(repo=repo_path, system_tracking_interval=None, capture_terminal_logs=False)
    run["hparams"] = params
    run.track(1.0, name="loss")
    run.close()
    return run.hash


def test_runs_ls_lists_from_the_index_and_matches_the_manifests(tmp_path, monkeypatch):
    path = str(tmp_path)
    hashes = [_closed_run(path, lr=i / 10) for i in range(5)]
    aimcol.Repo(path).set_archived(hashes[1], True)
    live = aimcol.Run(repo=path, experiment="live", system_tracking_interval=None, capture_terminal_logs=False)
    live.track(2.0, name="loss")
    live.track(2.0, name="acc")
    live.flush()  # the listing and the manifests below must see the same published sequences
    try:
        rows = _run_ls(path)
        everything = _run_ls(path, "--all")
        by_hash = {r["hash"]: r for r in everything}
        assert {r["hash"] for r in rows} == set(hashes + [live.hash]) - {hashes[1]}
        assert set(by_hash) == set(hashes + [live.hash])
        repo = aimcol.Repo(path)
        for run in repo.iter_runs():
            row = by_hash[run.hash]
            manifest = run._manifest
            assert row["name"] == run.name and row["experiment"] == run.experiment
            assert row["creation_time"] == manifest["creation_time"]
            assert row["end_time"] == manifest.get("end_time")
            assert row["archived"] == bool(manifest.get("archived"))
            assert row["sequences"] == len(manifest["sequences"])
            assert row["tags"] == list(run.tags)
        assert by_hash[live.hash]["active"] and by_hash[live.hash]["status"] == "active"
        assert by_hash[hashes[0]]["status"] == "finished" and not by_hash[hashes[0]]["active"]
        times = [r["creation_time"] for r in everything]
        assert times == sorted(times, reverse=True)

        # Once the index is current, listing reads no manifest at all (the live run is closed
        # first: an open run of this process is flushed by a query, which rewrites its manifest).
        live.close()
        from aimcol.cli import main as cli_main

        reads = []
        real_unpack = manifest_io.unpack_manifest
        monkeypatch.setattr(manifest_io, "unpack_manifest", lambda *a, **k: reads.append(a) or real_unpack(*a, **k))
        monkeypatch.setattr(index_tables, "RACY_SECONDS", -1.0)
        ri.forget_indexes()
        ri.run_index(repo.layout).rebuild()  # saved with no racy rows (written within the last second)
        ri.forget_indexes()
        reads.clear()
        assert cli_main(["runs", "ls", "--json", "--all", "--repo", path]) == 0
        assert reads == []
    finally:
        live.close()


CHILD = textwrap.dedent(
    """
    import sys, time
    from aimcol.format import run_index as ri
    from aimcol.format.repo_layout import RepoLayout
    import aimcol

    ri.BUILD_CHUNK = 10
    ri.PROGRESS_SECONDS = 0.0
    real = ri._read_records
    def slow(layout, hashes):
        time.sleep(0.2)
        return real(layout, hashes)
    ri._read_records = slow
    repo = aimcol.Repo(sys.argv[1])
    print("start", flush=True)
    ri.run_index(repo.layout).refresh()
    print("done", flush=True)
    """
)


def test_index_build_killed_with_sigkill_is_resumed(tmp_path):
    path = str(tmp_path)
    template = _closed_run(path, lr=0.1)
    hashes = set(_clone_runs(path, template, 119)) | {template}
    shutil.rmtree(os.path.join(path, ".aimcol", "index"), ignore_errors=True)
    index_file = os.path.join(path, ".aimcol", "index", INDEX_FILE)
    proc = subprocess.Popen([sys.executable, "-c", CHILD, path], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "start"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait for the second saved chunk, then kill -9
            if os.path.exists(index_file):
                runs, _ = read_index_file(aimcol.Repo(path).layout)
                if runs.num_rows >= 20:
                    break
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    saved, _ = read_index_file(aimcol.Repo(path).layout)
    kept = saved.column("hash").to_pylist()
    assert 20 <= len(kept) < len(hashes), "the build saved part of its work before it was killed"
    assert set(kept) <= hashes

    index = ri.RunIndex(aimcol.Repo(path).layout)
    snap = index.refresh()
    assert set(snap.runs.column("hash").to_pylist()) == hashes
    assert index.stats["reread"] <= len(hashes) - len(kept) + len(kept) // 2  # the saved rows are reused
    assert index.stats["rebuilt"] == 0
    again, _ = read_index_file(aimcol.Repo(path).layout)
    assert again.num_rows == len(hashes)


def test_index_build_holds_one_chunk_of_manifests_at_a_time(tmp_path, monkeypatch):
    path = str(tmp_path)
    template = _closed_run(path, lr=0.5)
    _clone_runs(path, template, 59)
    shutil.rmtree(os.path.join(path, ".aimcol", "index"), ignore_errors=True)
    monkeypatch.setattr(ri, "BUILD_CHUNK", 8)
    sizes = []
    real = ri._read_records
    monkeypatch.setattr(ri, "_read_records", lambda layout, hashes: sizes.append(len(hashes)) or real(layout, hashes))
    snap = ri.RunIndex(aimcol.Repo(path).layout).refresh()
    assert snap.n_runs == 60 and snap.n_seqs == 60
    assert sum(sizes) == 60 and max(sizes) <= 8
    assert snap.runs.column("hash").num_chunks == 1  # appended chunks are joined for queries


def test_writers_keep_the_index_file_current(tmp_path, monkeypatch):
    """A writer whose journal line crosses an upkeep boundary folds the journal into the file, so
    a new reader re-reads only the runs written since, not every manifest."""
    monkeypatch.setattr(change_journal, "UPKEEP_BYTES", 200)  # a fold every ~8 lines
    monkeypatch.setattr(index_tables, "RACY_SECONDS", -1.0)
    path = str(tmp_path)
    hashes = [_closed_run(path, lr=i) for i in range(12)]
    runs, _ = read_index_file(aimcol.Repo(path).layout)  # no reader ever ran: the writers made it
    assert runs.num_rows >= 8
    index = ri.RunIndex(aimcol.Repo(path).layout)
    snap = index.refresh()
    assert set(snap.runs.column("hash").to_pylist()) == set(hashes)
    assert index.stats["rebuilt"] == 0 and index.stats["reread"] < len(hashes) // 2
