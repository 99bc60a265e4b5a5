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
import warnings

import pytest

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
    ri.run_index(repo.layout).refresh(wait=True)  # a whole build in this process (no background builder)
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
    """A writer whose journal line crosses an upkeep boundary has the background builder fold
    the journal into the file (the writer itself never loads the index), so a new reader
    starts from that file instead of building the index from every manifest."""
    monkeypatch.setattr(change_journal, "UPKEEP_BYTES", 200)  # a fold every ~8 lines
    path = str(tmp_path)
    hashes = [_closed_run(path, lr=i) for i in range(12)]
    deadline = time.monotonic() + 60  # no reader ever runs: the builders the writers started make it
    while time.monotonic() < deadline and _index_rows(path) < 8:
        time.sleep(0.05)
    assert _index_rows(path) >= 8
    index = ri.RunIndex(aimcol.Repo(path).layout)
    snap = index.refresh()
    assert set(snap.runs.column("hash").to_pylist()) == set(hashes)
    assert index.stats["rebuilt"] == 0 and index.stats["loaded"] == 1


def _index_rows(path: str) -> int:
    try:
        runs, _ = read_index_file(aimcol.Repo(path).layout)
    except Exception:  # noqa: BLE001 - not there yet, or being replaced
        return -1
    return runs.num_rows


def _wait_for_builder(path: str, n_runs: int, timeout: float = 120.0) -> None:
    from aimcol.format.index_builder import builder_running

    layout = aimcol.Repo(path).layout
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _index_rows(path) == n_runs and not builder_running(layout):
            return
        time.sleep(0.1)
    raise AssertionError(f"the background build did not finish: {_index_rows(path)} of {n_runs} runs indexed")


@pytest.mark.parametrize("partial_scan_runs", [4096, 50], ids=["stat-all-first", "stat-per-chunk"])
def test_a_reader_without_an_index_answers_at_once_and_a_background_build_finishes(
    tmp_path, monkeypatch, partial_scan_runs
):
    """A repository copied in without its index: the first query reads manifests only for
    its time budget, answers from those runs with a warning, and a background process (a
    real one) indexes the rest; the next reader then has every run.  Above
    ``PARTIAL_SCAN_RUNS`` missing runs the reader stats a chunk at a time, not all first."""
    from aimcol.errors import IndexIncompleteWarning

    monkeypatch.setattr(ri, "PARTIAL_SCAN_RUNS", partial_scan_runs)
    path = str(tmp_path)
    template = _closed_run(path, lr=0.1)
    hashes = set(_clone_runs(path, template, 199)) | {template}
    shutil.rmtree(os.path.join(path, ".aimcol", "index"))
    monkeypatch.setattr(ri, "BUDGET_CHUNK", 10)
    monkeypatch.setattr(ri, "FIRST_ANSWER_SECONDS", 0.3)
    real = ri._read_records
    monkeypatch.setattr(ri, "_read_records", lambda layout, names: time.sleep(0.1) or real(layout, names))
    ri.forget_indexes()
    repo = aimcol.Repo(path)
    with pytest.warns(IndexIncompleteWarning, match="not yet"):
        result = repo.query_runs("run.hparams.lr > 0")
    assert 10 <= len(result) < len(hashes)
    assert set(result.run_hashes) <= hashes
    _wait_for_builder(path, len(hashes))
    ri.forget_indexes()
    monkeypatch.setattr(ri, "_read_records", real)
    with warnings.catch_warnings():
        warnings.simplefilter("error", IndexIncompleteWarning)
        assert set(aimcol.Repo(path).query_runs("run.hparams.lr > 0").run_hashes) == hashes


def test_wait_for_index_reads_every_run_first(tmp_path, monkeypatch):
    path = str(tmp_path)
    template = _closed_run(path, lr=0.1)
    hashes = set(_clone_runs(path, template, 59)) | {template}
    shutil.rmtree(os.path.join(path, ".aimcol", "index"))
    monkeypatch.setattr(ri, "FIRST_ANSWER_SECONDS", 0.0)
    monkeypatch.setattr(ri, "BUDGET_CHUNK", 5)
    monkeypatch.setattr(ri, "_start_background_build", lambda self: None, raising=False)
    ri.forget_indexes()
    repo = aimcol.Repo(path)
    assert repo.wait_for_index() == len(hashes)
    assert set(repo.query_runs("").run_hashes) == hashes


BUILDER_CHILD = textwrap.dedent(
    """
    import sys, time
    from aimcol.format import run_index as ri
    from aimcol.format import index_builder

    ri.BUILD_CHUNK = 10
    ri.PROGRESS_SECONDS = 0.0
    real = ri._read_records
    def slow(layout, hashes):
        time.sleep(0.2)
        return real(layout, hashes)
    ri._read_records = slow
    print("start", flush=True)
    index_builder.build(sys.argv[1])
    """
)


def test_a_background_builder_killed_with_sigkill_is_replaced_by_the_next_reader(tmp_path):
    path = str(tmp_path)
    template = _closed_run(path, lr=0.1)
    hashes = set(_clone_runs(path, template, 119)) | {template}
    shutil.rmtree(os.path.join(path, ".aimcol", "index"))
    root = aimcol.Repo(path).path
    proc = subprocess.Popen([sys.executable, "-c", BUILDER_CHILD, root], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "start"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _index_rows(path) < 20:
            time.sleep(0.02)
        from aimcol.format.index_builder import builder_running

        assert builder_running(aimcol.Repo(path).layout)  # it holds the build lock while it works
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert 20 <= _index_rows(path) < len(hashes)
    ri.forget_indexes()
    snap = ri.run_index(aimcol.Repo(path).layout).refresh()  # the lock died with the builder: a new one starts
    assert set(snap.runs.column("hash").to_pylist()) <= hashes
    _wait_for_builder(path, len(hashes))
    ri.forget_indexes()
    snap = ri.run_index(aimcol.Repo(path).layout).refresh()
    assert set(snap.runs.column("hash").to_pylist()) == hashes and snap.pending == 0


def test_a_query_on_runs_reads_no_sequences_and_sequences_come_from_the_same_file(tmp_path, monkeypatch):
    """The index file's sequences part is read only by a query that needs it, and then from the
    version of the file the runs came from, even when another process rewrote it meanwhile."""
    from aimcol.format import index_file

    path = str(tmp_path)
    first = [_closed_run(path, lr=i) for i in range(3)]
    layout = aimcol.Repo(path).layout
    monkeypatch.setattr(index_tables, "RACY_SECONDS", -1.0)  # saved rows are trusted at once
    ri.RunIndex(layout).rebuild()
    loads = []
    real_load = index_file.SequencesPart.load
    monkeypatch.setattr(index_file.SequencesPart, "load", lambda self: loads.append(1) or real_load(self))
    ri.forget_indexes()
    repo = aimcol.Repo(path)
    assert len(repo.query_runs("run.hparams.lr >= 1")) == 2
    assert len(repo.runs_table()) == 3
    assert loads == []
    snap = ri.run_index(layout).refresh()
    later = _closed_run(path, lr=9)
    ri.RunIndex(layout).rebuild()  # another process rewrites the file with four runs
    assert set(snap.seqs.column("run").to_pylist()) == set(first)  # the version the runs came from
    assert loads == [1] and (snap.seq_run >= 0).all()
    assert len(repo.query_metrics("metric.name == 'loss'")) == 4 and later in repo.query_runs("").run_hashes


def test_the_tui_lists_what_is_indexed_and_says_how_many_runs_are_still_being_indexed(tmp_path, monkeypatch):
    """First paint of a repository without an index does not wait for the whole build: the runs
    read so far are listed, the status line says how many are not yet, and a reload after the
    background build (a real process) lists them all."""
    pytest.importorskip("textual")
    from tui_support import make_app, run_async, settle, wait_for

    from aimcol.errors import IndexIncompleteWarning

    path = str(tmp_path)
    template = _closed_run(path, lr=0.1)
    hashes = set(_clone_runs(path, template, 149)) | {template}
    shutil.rmtree(os.path.join(path, ".aimcol", "index"))
    monkeypatch.setattr(ri, "BUDGET_CHUNK", 10)
    monkeypatch.setattr(ri, "FIRST_ANSWER_SECONDS", 0.2)
    real = ri._read_records
    monkeypatch.setattr(ri, "_read_records", lambda layout, names: time.sleep(0.1) or real(layout, names))
    warnings.simplefilter("ignore", IndexIncompleteWarning)
    ri.forget_indexes()

    @run_async
    async def drive():
        app = make_app(path)
        async with app.run_test(size=(100, 24)) as pilot:
            await settle(pilot)
            screen = app.screen
            status = str(screen.query_one("#runs-status").render())
            assert "indexing:" in status and "not listed yet" in status, status
            assert 0 < screen.table.row_count < len(hashes)
            _wait_for_builder(path, len(hashes))
            ri.forget_indexes()
            monkeypatch.setattr(ri, "_read_records", real)
            screen.load()
            await wait_for(pilot, lambda: screen.table.row_count == len(hashes), what="every run listed")
            await settle(pilot)
            assert "indexing:" not in str(screen.query_one("#runs-status").render())

    drive()


def test_a_slow_periodic_full_scan_is_left_to_the_background_builder(tmp_path, monkeypatch):
    """The periodic full scan (it catches a lost journal line) stats every manifest: where that
    is slow (100,000 runs), a reader reads the journal and has the builder do the full scan."""
    path = str(tmp_path)
    _closed_run(path, lr=0.1)
    index = ri.RunIndex(aimcol.Repo(path).layout)
    index.refresh(wait=True)
    started = []
    monkeypatch.setattr(ri.RunIndex, "_start_background_build", lambda self: started.append(1))
    index._full_scan_at = time.time() - 3600  # due long ago ...
    index._full_scan_s = 5.0  # ... and slow here
    later = _closed_run(path, lr=0.2)
    scans = index.stats["full_scans"]
    snap = index.refresh()
    assert index.stats["full_scans"] == scans and started == [1]
    assert later in snap.runs.column("hash").to_pylist()  # the journal named it
    index._full_scan_s = 0.01  # where a full scan is quick, the reader does it itself
    index.refresh()
    assert index.stats["full_scans"] == scans + 1


def test_a_reader_leaves_saving_a_big_index_to_the_background_builder(tmp_path, monkeypatch):
    """At 100,000 runs x 10 sequences saving the index takes ~2.5 s: a reader that brought it
    up to date answers without saving it and has the background builder save it (issue 12: no
    reader waits more than 2 s); below the size it saves it itself, as before."""
    from aimcol.format.index_builder import builder_running

    path = str(tmp_path)
    first = [_closed_run(path, lr=i / 100) for i in range(3)]
    aimcol.Repo(path).wait_for_index()
    before = os.stat(os.path.join(path, ".aimcol", "index", INDEX_FILE))
    later = [_closed_run(path, lr=0.5 + i / 100) for i in range(ri.PERSIST_MIN_CHANGES + 2)]
    layout = aimcol.Repo(path).layout

    monkeypatch.setattr(ri, "READER_SAVE_MAX_SEQUENCES", 2)  # this index counts as big
    reader = ri.RunIndex(layout)
    snap = reader.refresh()
    assert snap.n_runs == len(first) + len(later) and snap.pending == 0
    assert reader.stats["persisted"] == 0  # it answered without writing the file
    _wait_for_builder(path, len(first) + len(later))  # the builder saved what the reader read
    assert os.stat(os.path.join(path, ".aimcol", "index", INDEX_FILE)).st_mtime_ns != before.st_mtime_ns

    monkeypatch.setattr(ri, "READER_SAVE_MAX_SEQUENCES", 10**9)  # small again: saved by the reader
    more = [_closed_run(path, lr=0.9 + i / 100) for i in range(ri.PERSIST_MIN_CHANGES)]
    reader = ri.RunIndex(layout)
    snap = reader.refresh()
    assert snap.n_runs == len(first) + len(later) + len(more)
    assert reader.stats["persisted"] == 1 and not builder_running(layout)
    assert _index_rows(path) == len(first) + len(later) + len(more)
