"""Object-store repositories under real processes: races, crashes, stalls and signals.

Every test runs against a moto S3 server on 127.0.0.1 (``tests/s3_server.py``), the race and
the fencing also against Azurite (``tests/cloud_emulators.py``), with a short lease TTL
(``AIMCOL_LEASE_TTL``), and starts real writer processes (``tests/objstore_worker.py`` on
top of ``tests/robust_writer.py``'s workload): five
processes racing to open one run, four writers beside a reader that checks every sequence
is a clean prefix, kill -9 at each step of a flush and of a compaction, a writer stopped
with SIGSTOP past its lease and fenced after SIGCONT, SIGTERM flushing, and Polars and
pyarrow reading the bucket's files in a process where aimcol cannot be imported.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip("obstore", reason="object stores need aimcol[remote]")

from robust_writer import Proc, read_prefixes  # noqa: E402

from aimcol import Repo, Run  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "objstore_worker.py")
TTL = 2.0
NAMES = 4  # x 2 contexts: 8 sequences (the reader queries m3)


@pytest.fixture
def location(s3_uri, monkeypatch):
    monkeypatch.setenv("AIMCOL_LEASE_TTL", str(TTL))
    return s3_uri


@pytest.fixture(params=["s3", "azure"])
def cloud_location(request, monkeypatch):
    """The races and the fencing also on Azurite (Azure's ETags and conditional headers),
    where it is installed (tests/cloud_emulators.py)."""
    monkeypatch.setenv("AIMCOL_LEASE_TTL", str(TTL))
    return request.getfixturevalue("s3_uri" if request.param == "s3" else "azure_uri")


def _proc(tmp_path, mode: str, cfg: dict, tag: str) -> Proc:
    return Proc(mode, cfg, str(tmp_path / f"{tag}.err"), script=WORKER)


def _stderr(proc: Proc) -> str:
    """What a finished process printed on stderr (``Proc.finish`` closed our handle)."""
    with open(proc._stderr_path, encoding="utf-8", errors="replace") as fh:
        return fh.read()


def _writer_cfg(location: str, **cfg) -> dict:
    return {
        "repo": location,
        "names": NAMES,
        "iterations": 60,
        "flush_every": 10,
        "flush_points": 10**6,
        "flush_seconds": 3600.0,
        **cfg,
    }


def _objects(repo: Repo, run_hash: str) -> list[str]:
    return [key.rpartition("/")[2] for key, _ in repo.layout.storage.list_keys(f"runs/{run_hash}")]


def _unnamed_segments(repo: Repo, run_hash: str) -> list[str]:
    from aimcol.format.manifest import read_manifest

    named = {e["file"] for e in read_manifest(repo.layout, run_hash)["segments"]}
    return [n for n in _objects(repo, run_hash) if n.startswith("seg-") and n not in named]


def test_five_processes_racing_to_open_one_run_make_exactly_one_writer(cloud_location, tmp_path):
    location = cloud_location
    run = Run(repo=location, system_tracking_interval=None, capture_terminal_logs=False)
    run.track(1.0, name="m0")
    run.close()
    start_at = time.time() + 4.0  # every process imported aimcol by then
    procs = [
        _proc(tmp_path, "open", {"repo": location, "run_hash": run.hash, "start_at": start_at}, f"open{i}")
        for i in range(5)
    ]
    try:
        outcomes = [p.wait_for(lambda line: line == "WRITER" or line.startswith("LOCKED")) for p in procs]
        assert sum(o == "WRITER" for o in outcomes) == 1, outcomes
        assert all("open for writing by another process" in o for o in outcomes if o != "WRITER")
    finally:
        for p in procs:
            p.popen.stdin.close()
            p.finish()
    assert not Repo(location).get_run(run.hash).active


def test_four_writers_and_a_reader_see_only_clean_prefixes(location, tmp_path):
    iterations, half = 60, 30
    writers = [
        _proc(tmp_path, "writer", _writer_cfg(location, pause_after=half, params={"rank": i}), f"w{i}")
        for i in range(4)
    ]
    reader = None
    try:
        for writer in writers:
            writer.wait_for(lambda line: line == "W")
        # started once the writers made the repository: a reader started before could find none
        reader = _proc(
            tmp_path,
            "reader",
            {"repo": location, "names": NAMES, "iterations": iterations, "writers": 4, "half": half},
            "reader",
        )
        reader.wait_for(lambda line: line == "HALF")
        for writer in writers:
            writer.send()
        for writer in writers:
            writer.wait_for(lambda line: line == "D")
            assert writer.finish() == 0
        reader.send()
        report = json.loads(reader.wait_for(lambda line: line.startswith("REPORT "))[7:])
    finally:
        for proc in (*writers, *([reader] if reader is not None else [])):
            if proc.popen.poll() is None:
                proc.popen.kill()
    assert report["errors"] == []
    assert report["active_reads"] > 0 and report["queried"] > 0
    repo = Repo(location)
    assert len(repo.query_runs("run.hparams.rank >= 0")) == 4
    for run in repo.iter_runs():
        assert set(read_prefixes(run, NAMES).values()) == {iterations}
        assert not run.active and run.end_time is not None


FAULTS = ["delta_uploaded", "flush_committed", "compact_uploaded", "compact_committed", "compact_deleting"]


@pytest.mark.parametrize("at", FAULTS)
def test_kill_9_at_each_step_of_a_flush_and_a_compaction(location, tmp_path, at):
    """After the kill: the repository opens, every sequence is a clean prefix holding every
    point flushed before, the run shows active until its lease runs out and then crashed,
    and a new writer takes over, continues every sequence's steps and cleans the orphans."""
    fault = {"at": at, "n": 2 if at.startswith("compact") else 3, "max_deltas": 2}
    proc = _proc(tmp_path, "writer", _writer_cfg(location, iterations=100, fault=fault), "victim")
    rc = proc.finish()
    assert rc == -signal.SIGKILL, _stderr(proc)
    flushed = proc.last_flushed()
    run_hash = proc.run_hash
    repo = Repo(location)
    run = repo.get_run(run_hash)
    lengths = read_prefixes(run, NAMES)
    assert all(flushed <= k for k in lengths.values()), (lengths, flushed)
    assert all(k <= flushed + 10 for k in lengths.values())  # at most the flush in flight
    deadline = time.time() + TTL + 5
    while repo.get_run(run_hash).active:
        assert time.time() < deadline, "the crashed run still shows active long after its lease TTL"
        time.sleep(0.2)
    assert repo.get_run(run_hash).end_time is None  # crashed, not finished
    successor = _proc(
        tmp_path, "writer", _writer_cfg(location, run_hash=run_hash, starts=lengths, iterations=20), "successor"
    )
    assert successor.finish() == 0, _stderr(successor)
    after = read_prefixes(Repo(location).get_run(run_hash), NAMES)
    assert after == {key: k + 20 for key, k in lengths.items()}
    assert _unnamed_segments(repo, run_hash) == []


@pytest.mark.parametrize("at", ["delta_uploaded", "compact_uploaded"])
def test_repair_removes_what_a_killed_writer_left_without_a_successor(location, tmp_path, capsys, at):
    """No writer resumes the run: once its lease ran out, ``aimcol repair`` deletes the objects
    no manifest names (a delta, a compacted segment) and keeps every point committed."""
    from aimcol.cli import main

    fault = {"at": at, "n": 2 if at.startswith("compact") else 3, "max_deltas": 2}
    proc = _proc(tmp_path, "writer", _writer_cfg(location, iterations=100, fault=fault), "victim")
    assert proc.finish() == -signal.SIGKILL, _stderr(proc)
    run_hash = proc.run_hash
    repo = Repo(location)
    lengths = read_prefixes(repo.get_run(run_hash), NAMES)
    stray = _unnamed_segments(repo, run_hash)
    assert stray, "the fault left no object behind"
    deadline = time.time() + TTL + 5
    while repo.get_run(run_hash).active:  # repair leaves a run alone while its lease is live
        assert time.time() < deadline
        time.sleep(0.2)
    assert main(["repair", "--repo", location]) == 0
    assert f"{run_hash}: repaired (stray files {', '.join(stray)})" in capsys.readouterr().out
    assert _unnamed_segments(repo, run_hash) == []
    assert read_prefixes(Repo(location).get_run(run_hash), NAMES) == lengths


def test_writer_stopped_past_its_lease_is_fenced_after_sigcont(cloud_location, tmp_path):
    location = cloud_location
    stalled = _proc(tmp_path, "writer", _writer_cfg(location, iterations=40, pause_after=20), "stalled")
    stalled.wait_for(lambda line: line == "W")
    run_hash = stalled.run_hash
    os.kill(stalled.pid, signal.SIGSTOP)
    try:
        time.sleep(TTL + 1.0)
        lengths = read_prefixes(Repo(location).get_run(run_hash), NAMES)
        assert set(lengths.values()) == {20}
        successor = _proc(
            tmp_path,
            "writer",
            _writer_cfg(location, run_hash=run_hash, starts=lengths, iterations=30, close=False, hold=True),
            "successor",
        )
        successor.wait_for(lambda line: line == "C")
    finally:
        os.kill(stalled.pid, signal.SIGCONT)
    stalled.send()  # it tracks its next 20 steps and flushes: that commit must fail
    rc = stalled.finish()
    assert rc != 0
    err = _stderr(stalled)
    assert "ClaimLostError" in err and run_hash in err, err
    successor.popen.stdin.close()
    assert successor.finish() == 0, _stderr(successor)
    final = read_prefixes(Repo(location).get_run(run_hash), NAMES)
    assert set(final.values()) == {50}  # 20 of the first writer, 30 of its successor; none after the stall


def test_sigterm_flushes_what_the_writer_buffered(location, tmp_path):
    proc = _proc(tmp_path, "sigterm", {"repo": location, "points": 500}, "sigterm")
    proc.wait_for(lambda line: line == "READY")
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.finish() == -signal.SIGTERM
    run = Repo(location).get_run(proc.run_hash)
    metric = run.get_metric("m0", {"subset": "train"})
    assert len(metric.values_numpy()) == 500
    assert not run.active and run.end_time is None  # handed back at once: crashed, resumable


def test_sigterm_writes_the_images_still_queued_for_encoding(location, tmp_path):
    pil = pytest.importorskip("PIL.Image")
    import io

    import numpy as np

    proc = _proc(tmp_path, "sigterm", {"repo": location, "points": 10, "images": 40}, "sigterm-images")
    proc.wait_for(lambda line: line == "READY")
    os.kill(proc.pid, signal.SIGTERM)  # at once: most of the 40 (~200 kB of PNG each) are not encoded yet
    assert proc.finish() == -signal.SIGTERM
    images = Repo(location).get_run(proc.run_hash).get_object_sequence("img")
    assert images.indices_list() == list(range(40))
    for step in (0, 39):
        want = io.BytesIO()
        pil.fromarray(np.random.default_rng(step).integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(
            want, format="png", quality=90, optimize=False
        )
        assert images.values_list()[step].data == want.getvalue()


_OPEN_FORMAT_READER = r"""
import builtins, json, sys
real_import = builtins.__import__
def guarded(name, *args, **kwargs):
    if name == "aimcol" or name.startswith("aimcol."):
        raise ImportError("aimcol must not be needed to read the files")
    return real_import(name, *args, **kwargs)
builtins.__import__ = guarded
import pyarrow.dataset as ds, pyarrow.fs as pafs, polars as pl
location, keys = sys.argv[1], json.loads(sys.argv[2])
fs, root = pafs.FileSystem.from_uri(location)
table = ds.dataset([f"{root}/{k}" for k in keys], format="ipc", filesystem=fs).to_table()
frame = pl.concat([pl.read_ipc(f"{location}/{k}") for k in keys])
meta = json.loads(table.schema.metadata[b"aimcol"])
print(json.dumps({"pyarrow": table.num_rows, "polars": frame.height, "names": sorted(
    s["name"] for s in meta["sequences"].values()), "steps": sorted(frame["step"].to_list())[-1]}))
"""


def test_polars_and_pyarrow_read_the_bucket_without_aimcol(location, tmp_path):
    pytest.importorskip("polars")
    run = Run(repo=location, system_tracking_interval=None, capture_terminal_logs=False, flush_points=100)
    for step in range(1000):
        run.track(step * 0.5, name="loss", step=step)
        run.track(step * 2.0, name="acc", step=step)
    run.close()
    repo = Repo(location)
    from aimcol.format.manifest import read_manifest

    keys = [f"runs/{run.hash}/{e['file']}" for e in read_manifest(repo.layout, run.hash)["segments"]]
    out = subprocess.run(
        [sys.executable, "-c", _OPEN_FORMAT_READER, location, json.dumps(keys)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=str(tmp_path),
    )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got == {"pyarrow": 2000, "polars": 2000, "names": ["acc", "loss"], "steps": 999}
