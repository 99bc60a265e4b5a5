"""The run index: built from manifests, refreshed incrementally, rebuilt when damaged, shared safely."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
from aimql_repos import four_runs, new_run

import aimcol
from aimcol.format import index_tables
from aimcol.format import run_index as ri
from aimcol.format import value_kinds as vk
from aimcol.format.change_journal import JOURNAL_FILE, note_manifest_changed
from aimcol.format.index_file import INDEX_FILE, read_index_file
from aimcol.format.run_index import RunIndex
from aimcol.format.run_store import RunWriterStore
from aimcol.query import match_runs, parse_query
from aimcol.query.reference import RunRecord, reference_runs


@pytest.fixture
def no_racy(monkeypatch):
    """Trust fingerprints at once (tests that count re-reads write and read within a second)."""
    monkeypatch.setattr(index_tables, "RACY_SECONDS", -1.0)


def fresh_index(repo) -> RunIndex:
    return RunIndex(repo.layout)


def test_tables_hold_properties_params_and_sequences(tmp_path):
    four_runs(tmp_path)
    repo = aimcol.Repo(str(tmp_path))
    snap = fresh_index(repo).refresh()
    assert snap.n_runs == 4 and snap.n_seqs == 12
    assert sorted(snap.runs.column("name").to_pylist()) == ["alpha", "beta", "delta", "gamma"]
    cols = snap.path_columns("runs", ("hparams", "lr"))
    assert set(cols) == {"k", "n", "i"}
    kinds = snap.path_columns("runs", ("hparams", "opt"))["k"].to_numpy()
    assert sorted(kinds.tolist()) == [vk.UNDEF, vk.INT, vk.STR, vk.STR]
    assert snap.path_columns("runs", ("hparams",))["k"].to_pylist() == [vk.MAP] * 4
    assert set(snap.seqs.column("name").to_pylist()) == {"loss", "acc"}
    assert (snap.seq_run >= 0).all()
    runs, seqs = read_index_file(repo.layout)
    assert runs.num_rows == 4 and seqs.num_rows == 12


def test_only_changed_manifests_are_reread(tmp_path, no_racy):
    hashes = four_runs(tmp_path)
    repo = aimcol.Repo(str(tmp_path))
    index = fresh_index(repo)
    index.refresh()
    assert index.stats["reread"] == 4
    index.refresh()
    assert index.stats["reread"] == 4  # nothing changed: nothing read
    with aimcol.Run(
        hashes["beta"], repo=str(tmp_path), system_tracking_interval=None, capture_terminal_logs=False
    ) as run:
        run["hparams", "lr"] = 0.5
    snap = index.refresh()
    assert index.stats["reread"] == 5
    assert len(repo.query_runs("run.hparams.lr == 0.5")) == 1
    assert match_runs(parse_query("run.hparams.lr == 0.5"), snap).sum() == 1


def test_recently_written_manifests_are_reread_until_they_settle(tmp_path, monkeypatch):
    run = new_run(tmp_path)
    run.close()
    repo = aimcol.Repo(str(tmp_path))
    index = fresh_index(repo)
    snap = index.refresh()
    assert snap.runs.column("racy").to_pylist() == [True]
    before = index.stats["reread"]
    index.refresh()
    assert index.stats["reread"] == before + 1  # same fingerprint, re-read anyway: it may hide a write
    monkeypatch.setattr(index_tables, "RACY_SECONDS", -1.0)
    index.refresh()
    after = index.stats["reread"]
    index.refresh()
    assert index.stats["reread"] == after


def test_new_runs_are_queryable_at_once(tmp_path):
    repo = aimcol.Repo(str(tmp_path), init=True)
    assert len(repo.query_runs("")) == 0
    run = new_run(tmp_path)
    run["hparams"] = {"lr": 0.1}
    assert repo.query_runs("run.hparams.lr == 0.1").run_hashes == [run.hash]
    assert repo.query_runs("run.active").run_hashes == [run.hash]
    run.track(3.0, name="loss")
    run.flush()
    metrics = list(repo.query_metrics("metric.name == 'loss' and metric.last == 3"))
    assert [m.values_list() for m in metrics] == [[3.0]]
    run.close()
    assert repo.query_runs("run.active").run_hashes == []


def test_deleted_runs_disappear(tmp_path):
    hashes = four_runs(tmp_path)
    repo = aimcol.Repo(str(tmp_path))
    assert len(repo.query_runs("")) == 3
    repo.delete_run(hashes["alpha"])
    assert sorted(repo.query_runs("").run_hashes) == sorted([hashes["beta"], hashes["delta"]])
    assert all(m.run.hash != hashes["alpha"] for m in repo.query_metrics(""))
    # and in a process that loads the saved index
    assert hashes["alpha"] not in RunIndex(repo.layout).refresh().runs.column("hash").to_pylist()


@pytest.mark.parametrize("damage", ["missing", "garbage", "truncated", "empty", "other-version"])
def test_damaged_index_is_rebuilt(tmp_path, damage):
    four_runs(tmp_path)
    repo = aimcol.Repo(str(tmp_path))
    fresh_index(repo).refresh()
    path = os.path.join(repo.layout.index_dir, INDEX_FILE)
    data = open(path, "rb").read()
    if damage == "missing":
        os.unlink(path)
    elif damage == "garbage":
        open(path, "wb").write(b"\x00garbage" * 100)
    elif damage == "truncated":
        open(path, "wb").write(data[: len(data) // 2])
    elif damage == "empty":
        open(path, "wb").close()
    else:
        open(path, "wb").write(data[:8] + (99).to_bytes(4, "little") + data[12:])
    index = fresh_index(repo)
    snap = index.refresh()
    assert index.stats["rebuilt"] == 1
    assert snap.n_runs == 4
    assert len(read_index_file(repo.layout)[0]) == 4  # rewritten whole


def test_damaged_manifest_is_skipped_not_fatal(tmp_path):
    hashes = four_runs(tmp_path)
    repo = aimcol.Repo(str(tmp_path))
    with open(repo.layout.manifest_path(hashes["beta"]), "wb") as fh:
        fh.write(b"not msgpack at all \xc1")
    assert sorted(repo.query_runs("").run_hashes) == sorted([hashes["alpha"], hashes["delta"]])


def test_saved_index_serves_a_new_process(tmp_path, no_racy):
    four_runs(tmp_path)
    repo = aimcol.Repo(str(tmp_path))
    fresh_index(repo).refresh()
    index = fresh_index(repo)  # as a new process would: load the file, follow the journal, read nothing
    snap = index.refresh()
    assert index.stats == {"loaded": 1, "rebuilt": 0, "reread": 0, "persisted": 0, "full_scans": 0}
    assert snap.n_runs == 4


def test_incremental_result_equals_rebuild(tmp_path, no_racy):
    hashes = four_runs(tmp_path)
    repo = aimcol.Repo(str(tmp_path))
    index = fresh_index(repo)
    index.refresh()
    with aimcol.Run(
        hashes["alpha"], repo=str(tmp_path), system_tracking_interval=None, capture_terminal_logs=False
    ) as run:
        run["new"] = {"deep": [1, 2]}
        run.track(1, name="extra", context={"fresh": True})
        del run["hparams"]
    run = new_run(tmp_path)
    run["hparams"] = {"lr": "text now"}
    run.close()
    repo.delete_run(hashes["delta"])
    incremental = index.refresh()
    rebuilt = fresh_index(repo).rebuild()
    queries = [
        "",
        "run.hparams.lr",
        "run.new.deep == [1, 2]",
        "metric.context.fresh",
        "run.hparams == None",
        "'text' in run.hparams.lr",
        "run.archived or True",
    ]
    for q in queries:
        parsed = parse_query(q)
        a = set(np.array(incremental.runs.column("hash").to_pylist())[match_runs(parsed, incremental)])
        b = set(np.array(rebuilt.runs.column("hash").to_pylist())[match_runs(parsed, rebuilt)])
        assert a == b, q


def test_rare_paths_beyond_the_column_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(index_tables, "MAX_PATH_COLUMNS", 3)
    for i in range(6):
        run = new_run(tmp_path)
        run["common"] = i
        run[f"rare{i}"] = {"v": i}
        run.close()
    repo = aimcol.Repo(str(tmp_path))
    snap = fresh_index(repo).refresh()
    assert sum(1 for c in snap.runs.column_names if c.endswith("#k")) <= 3
    records = [RunRecord(m) for m in repo._manifests()]
    for q in ("run.rare3.v == 3", "run.rare0", "run.common > 2 and run.rare5.v", "run['rare1', 'v'] + 1 == 2"):
        parsed = parse_query(q)
        got = sorted(np.array(snap.runs.column("hash").to_pylist())[match_runs(parsed, snap)])
        assert got == sorted(reference_runs(parsed, records, time.time())), q
        assert len(repo.query_runs(q)) == 1, q


def test_threads_share_one_index(tmp_path):
    four_runs(tmp_path)
    repo = aimcol.Repo(str(tmp_path))
    errors = []

    def worker():
        try:
            for _ in range(20):
                assert len(repo.query_runs("run.hparams.lr < 1")) == 2
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


WRITER = textwrap.dedent("""
    import sys, aimcol
    root, n, tag = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    for i in range(n):
        with aimcol.Run(repo=root, system_tracking_interval=None, capture_terminal_logs=False) as run:
            run["hparams"] = {"i": i, "writer": tag}
            run.track(float(i), name="loss")
""")

READER = textwrap.dedent("""
    import sys, time, aimcol
    repo = aimcol.Repo(sys.argv[1])
    deadline = time.time() + float(sys.argv[2])
    seen = 0
    while time.time() < deadline:
        runs = repo.query_runs("run.hparams.i >= 0")
        assert len(runs) >= seen, (len(runs), seen)   # runs only ever appear
        seen = len(runs)
        for m in repo.query_metrics("metric.name == 'loss' and run.hparams.i < 3"):
            m.values_numpy()
    print(seen)
""")


@pytest.mark.slow
def test_many_writers_and_readers_at_once(tmp_path):
    aimcol.Repo(str(tmp_path), init=True)
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), "12", f"w{i}"]) for i in range(3)]
    readers = [
        subprocess.Popen(
            [sys.executable, "-c", READER, str(tmp_path), "6"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for w in writers:
        assert w.wait(timeout=120) == 0
    for r in readers:
        out, err = r.communicate(timeout=120)
        assert r.returncode == 0, err
    repo = aimcol.Repo(str(tmp_path))
    assert len(repo.query_runs("run.hparams.i >= 0")) == 36
    assert len(RunIndex(repo.layout).refresh().runs) == 36  # the saved file is a valid cache
    assert len(repo.query_metrics("metric.name == 'loss'")) == 36


# ---- the change journal ---------------------------------------------------------------------------


@pytest.fixture
def journaling(monkeypatch):
    """Writers that note every manifest they replace (RunWriterStore does; kept explicit here)."""
    original = RunWriterStore.write_manifest

    def write_and_note(self, *, fsync=False):
        original(self, fsync=fsync)
        note_manifest_changed(self.layout, self.run_hash)

    monkeypatch.setattr(RunWriterStore, "write_manifest", write_and_note)


def _age_manifests(repo, seconds=3600):
    """Make every manifest (and runs/) look old: nothing is "recently written" any more."""
    old = time.time() - seconds
    for name in os.listdir(repo.layout.runs_dir):
        path = repo.layout.manifest_path(name)
        if os.path.exists(path):
            os.utime(path, (old, old))
    os.utime(repo.layout.runs_dir, (old, old))


def test_journal_replaces_the_full_scan(tmp_path, journaling):
    hashes = four_runs(tmp_path)
    repo = aimcol.Repo(str(tmp_path))
    assert os.path.exists(os.path.join(repo.layout.index_dir, JOURNAL_FILE))
    _age_manifests(repo)
    index = fresh_index(repo)
    index.refresh()
    index.refresh()  # settles the rows read while "racy"
    scans, reread = index.stats["full_scans"], index.stats["reread"]
    index.refresh()
    assert (index.stats["full_scans"], index.stats["reread"]) == (scans, reread)  # no stat of every run
    with aimcol.Run(
        hashes["beta"], repo=str(tmp_path), system_tracking_interval=None, capture_terminal_logs=False
    ) as run:
        run.archived = True
    snap = index.refresh()
    assert index.stats["full_scans"] == scans
    assert index.stats["reread"] == reread + 1
    assert hashes["beta"] not in np.array(snap.runs.column("hash").to_pylist())[match_runs(parse_query(""), snap)]
    # a new run and a deleted run, still without a full scan
    run = new_run(tmp_path)
    snap = index.refresh()
    assert run.hash in snap.runs.column("hash").to_pylist()
    run.close()
    repo.delete_run(hashes["alpha"])
    snap = index.refresh()
    assert hashes["alpha"] not in snap.runs.column("hash").to_pylist()
    assert index.stats["full_scans"] == scans


def test_journal_is_trusted_only_for_a_while(tmp_path, journaling, monkeypatch):
    four_runs(tmp_path)
    repo = aimcol.Repo(str(tmp_path))
    index = fresh_index(repo)
    index.refresh()
    scans = index.stats["full_scans"]
    monkeypatch.setattr(ri, "FULL_SCAN_SECONDS", 0.0)
    index.refresh()
    assert index.stats["full_scans"] == scans + 1


def test_a_replaced_journal_means_a_full_scan(tmp_path, journaling):
    four_runs(tmp_path)
    repo = aimcol.Repo(str(tmp_path))
    index = fresh_index(repo)
    index.refresh()
    scans = index.stats["full_scans"]
    path = os.path.join(repo.layout.index_dir, JOURNAL_FILE)
    os.replace(path, path + ".old")
    with open(path, "wb") as fh:
        fh.write(b"garbage\xff\n")
    index.refresh()
    assert index.stats["full_scans"] == scans + 1


def test_torn_journal_lines_are_ignored(tmp_path, journaling):
    hashes = four_runs(tmp_path)
    repo = aimcol.Repo(str(tmp_path))
    index = fresh_index(repo)
    index.refresh()
    with open(os.path.join(repo.layout.index_dir, JOURNAL_FILE), "ab") as fh:
        fh.write(b"\xff\xfe\n../../etc\n" + hashes["beta"][:10].encode())  # junk, and a line still being written
    snap = index.refresh()
    assert snap.n_runs == 4


def test_without_a_journal_every_refresh_is_a_full_scan(tmp_path):
    four_runs(tmp_path)
    repo = aimcol.Repo(str(tmp_path))
    os.unlink(os.path.join(repo.layout.index_dir, JOURNAL_FILE))  # e.g. a filesystem that lost it
    index = fresh_index(repo)
    for _ in range(3):
        index.refresh()
    assert index.stats["full_scans"] == 3


def test_a_new_process_continues_from_the_saved_journal_offset(tmp_path, journaling):
    hashes = four_runs(tmp_path)
    repo = aimcol.Repo(str(tmp_path))
    fresh_index(repo).rebuild()
    with aimcol.Run(
        hashes["delta"], repo=str(tmp_path), system_tracking_interval=None, capture_terminal_logs=False
    ) as run:
        run["hparams", "lr"] = 7.0
    index = fresh_index(repo)  # loads the file saved by the rebuild above, with its journal offset
    snap = index.refresh()
    assert index.stats["full_scans"] == 0
    assert match_runs(parse_query("run.hparams.lr == 7"), snap).sum() == 1
