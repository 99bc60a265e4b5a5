"""The index file's sequences part is read a record batch at a time (issue 12, W10: 2.25
million sequences): queries over sequences keep only the rows they select and never hold the
whole table, with the same answers as the whole-table read; a damaged batch is reported and
answered from the manifests; an index file of an older version is rebuilt."""

from __future__ import annotations

import os
import struct
import warnings
from zlib import crc32

import msgpack
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aimcol
from aimcol.format import index_file, index_tables
from aimcol.format import run_index as ri
from aimcol.format.index_file import INDEX_FILE, read_index_file, read_index_runs
from aimcol.query import match_sequences, parse_query, select_sequences, typo_hint

QUERIES = [
    "",
    "metric.name == 'loss'",
    "metric.name == 'loss' and metric.context.subset == 'train'",
    "metric.context.subset == 'val' or metric.name == 'acc'",
    "run.hparams.lr > 0.25 and metric.name != 'acc'",
    "run.metrics['loss', {'subset': 'train'}].last < 3 and metric.name == 'acc'",
    "metric.last > 2 and run.experiment == 'b'",
    "run.archived == True",
    "metric.context.extra == 1",
]


def _make_repo(path: str) -> list[str]:
    """Seven closed runs, 2-5 sequences each (two names, two contexts, one extra context key);
    the third archived."""
    hashes = []
    for i in range(7):
        run = aimcol.Run(repo=path, experiment="ab"[i % 2], system_tracking_interval=None, capture_terminal_logs=False)
        run["hparams"] = {"lr": i / 10}
        for step in range(3):
            run.track(float(i + step), step=step, name="loss", context={"subset": "train"})
            run.track(float(i - step), step=step, name="loss", context={"subset": "val"})
            if i % 2:
                run.track(float(step), step=step, name="acc", context={"subset": "train"})
            if i % 3 == 0:
                run.track(float(step), step=step, name="acc", context={"subset": "val", "extra": 1})
                run.track(float(step), step=step, name="lr", context={})
        run.close()
        hashes.append(run.hash)
    aimcol.Repo(path).set_archived(hashes[2], True)
    return hashes


@pytest.fixture(scope="module")
def repo_path(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("batches"))
    _make_repo(path)
    return path


@pytest.fixture(autouse=True)
def _trusted_rows(monkeypatch):
    monkeypatch.setattr(index_tables, "RACY_SECONDS", -1.0)  # saved rows are trusted at once
    yield
    ri.forget_indexes()


def _write_index(path: str, batch_rows: int) -> ri.IndexSnapshot:
    """The repository's index file rewritten with sequence batches of ``batch_rows`` rows; a
    snapshot of it read afresh (its sequences part not read yet)."""
    saved = index_file.SEQ_BATCH_ROWS
    index_file.SEQ_BATCH_ROWS = batch_rows
    try:
        ri.RunIndex(aimcol.Repo(path).layout).rebuild()
    finally:
        index_file.SEQ_BATCH_ROWS = saved
    ri.forget_indexes()
    snap = ri.run_index(aimcol.Repo(path).layout).refresh()
    assert isinstance(snap._seqs, ri.StoredSequences)
    return snap


def _keys(snap: ri.IndexSnapshot, rows: np.ndarray | None = None) -> list[tuple]:
    table = snap.seqs if rows is None else snap.seqs.take(pa.array(rows, pa.int64()))
    return list(zip(table.column("run").to_pylist(), table.column("seq_id").to_pylist()))


def _whole(snap: ri.IndexSnapshot) -> ri.IndexSnapshot:
    """The same tables as one snapshot holding the whole sequences table (the reference)."""
    runs, seqs = read_index_file(snap.layout)
    return ri.IndexSnapshot.from_tables(runs, seqs, snap.layout)


def test_the_batches_of_a_multi_batch_part_are_the_whole_table(repo_path):
    snap = _write_index(repo_path, 4)
    _, part = read_index_runs(snap.layout)
    assert part.num_batches > 3 and part.num_rows == snap.n_seqs
    batches = list(part.batches())
    assert [b.num_rows for b in batches[:-1]] == [4] * (len(batches) - 1)
    assert pa.Table.from_batches(batches).equals(part.load())
    assert part.load().num_rows == sum(len(r._manifest["sequences"]) for r in aimcol.Repo(repo_path).iter_runs())
    # `loc` names a sealed file seg-<n>.arrow by its number; the snapshot hands out the name
    parts = msgpack.unpackb(part.load().column("loc")[0].as_py())
    assert parts and all(type(p[0]) is int for p in parts)
    names = [p[0] for p in snap.sequence_locations(np.array([0]))[0]]
    assert names == [f"seg-{p[0]:06d}.arrow" for p in parts]
    assert all(
        os.path.exists(snap.layout.local_path(snap.layout.segment_key(snap.seqs.column("run")[0].as_py(), n)))
        for n in names
    )
    # an Arrow IPC stream: any Arrow reader reads the part without aimcol
    runs_len = struct.unpack_from("<Q", open(os.path.join(snap.layout.index_dir, INDEX_FILE), "rb").read(24), 12)[0]
    with open(os.path.join(snap.layout.index_dir, INDEX_FILE), "rb") as fh:
        fh.seek(48 + runs_len)
        assert pa.ipc.open_stream(fh).read_all().equals(part.load())


@pytest.mark.parametrize("query", QUERIES)
def test_a_batched_selection_equals_the_whole_table_and_reads_no_whole_table(repo_path, query, monkeypatch):
    snap = _write_index(repo_path, 3)
    loads = []
    real_load = index_file.SequencesPart.load
    monkeypatch.setattr(index_file.SequencesPart, "load", lambda self: loads.append(1) or real_load(self))
    parsed = parse_query(query)
    now = 1e10
    picked = select_sequences(parsed, snap, now=now)
    assert loads == []  # a batch at a time only
    whole = _whole(snap)
    want = np.flatnonzero(match_sequences(parsed, whole, now=now))
    assert _keys(picked) == _keys(whole, want)
    assert (picked.seq_run == whole.seq_run[want]).all()
    assert picked.seqs.column_names == whole.seqs.column_names


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch_rows=st.integers(min_value=1, max_value=40), query=st.sampled_from(QUERIES))
def test_any_batch_size_selects_the_same_rows(repo_path, batch_rows, query):
    snap = _write_index(repo_path, batch_rows)
    parsed = parse_query(query)
    whole = _whole(snap)
    want = np.flatnonzero(match_sequences(parsed, whole, now=1e10))
    assert _keys(select_sequences(parsed, snap, now=1e10)) == _keys(whole, want)


def test_sdk_queries_over_sequences_read_the_part_a_batch_at_a_time(repo_path, monkeypatch):
    """query_metrics, sequences_table, runs_table's metric columns, run.metrics in a runs query
    and the typo hint: the same answers as with one batch, and no whole-table read."""
    repo = aimcol.Repo(repo_path)

    def answers():
        return (
            [(m.run.hash, m.name, dict(m.context), m.values_numpy().tolist()) for m in repo.query_metrics(QUERIES[2])],
            repo.sequences_table("metric.name != 'lr'").to_pylist(),
            repo.runs_table(metrics=["loss:train.last", "acc"]).drop_columns(["duration"]).to_pylist(),
            repo.query_runs("run.metrics['loss', {'subset': 'val'}].min < 0").run_hashes,
            typo_hint(parse_query("metric.name == 'los'"), ri.run_index(repo.layout).refresh()),
        )

    _write_index(repo_path, 1_000_000)  # one batch
    want = answers()
    _write_index(repo_path, 2)
    loads = []
    real_load = index_file.SequencesPart.load
    monkeypatch.setattr(index_file.SequencesPart, "load", lambda self: loads.append(1) or real_load(self))
    assert answers() == want
    assert loads == []
    assert want[4] == "no metric is named 'los'; did you mean 'loss'?"
    assert len(want[0]) == 6 and len(want[3]) == 2  # loss:val has i - 2 < 0 for runs 0 and 1


def test_a_damaged_batch_is_reported_and_the_answer_comes_from_the_manifests(repo_path):
    snap = _write_index(repo_path, 3)
    want = _keys(select_sequences(parse_query(QUERIES[1]), _whole(snap)))
    ri.forget_indexes()
    _, part = read_index_runs(snap.layout)
    start = int(part._offset + part._entries[3, 0])  # the third batch's message
    part.close()
    path = os.path.join(snap.layout.index_dir, INDEX_FILE)
    data = bytearray(open(path, "rb").read())
    data[start + 40] ^= 0xFF
    open(path, "wb").write(bytes(data))
    snap = ri.run_index(snap.layout).refresh()  # the runs part and the directory are intact
    with pytest.warns(RuntimeWarning, match="damaged run index"):
        got = select_sequences(parse_query(QUERIES[1]), snap)
    assert _keys(got) == want
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ri.forget_indexes()
        healed = ri.run_index(snap.layout).refresh()  # the file was rewritten whole
        assert _keys(select_sequences(parse_query(QUERIES[1]), healed)) == want


def test_an_index_file_of_version_6_is_rebuilt_without_a_warning(repo_path):
    snap = _write_index(repo_path, 5)
    runs, seqs = read_index_file(snap.layout)
    want = [_keys(select_sequences(parse_query(q), _whole(snap), now=1e10)) for q in QUERIES]
    runs_part, seqs_part = index_file._serialize(runs), index_file._serialize(seqs)
    header = struct.pack(
        "<8sIQIQI4x", b"AIMCOLIX", 6, runs_part.size, crc32(runs_part), seqs_part.size, crc32(seqs_part)
    )
    path = os.path.join(snap.layout.index_dir, INDEX_FILE)
    with open(path, "wb") as fh:
        fh.write(header + runs_part.to_pybytes() + seqs_part.to_pybytes())
    ri.forget_indexes()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        index = ri.run_index(snap.layout)
        again = index.refresh()
    assert index.stats["loaded"] == 0 and index.stats["rebuilt"] == 1
    assert [_keys(select_sequences(parse_query(q), again, now=1e10)) for q in QUERIES] == want
    with open(path, "rb") as fh:
        assert struct.unpack("<8sI", fh.read(12)) == (b"AIMCOLIX", index_file.INDEX_VERSION)


def test_sequences_table_builds_only_the_columns_asked_for(repo_path):
    from aimcol.errors import UnknownColumnError

    _write_index(repo_path, 3)
    repo = aimcol.Repo(repo_path)
    whole = repo.sequences_table("metric.name != 'lr'")
    for columns in (["run", "name", "context", "last", "min", "max", "count", "last_step"], ["context.subset", "name"]):
        got = repo.sequences_table("metric.name != 'lr'", columns=columns)  # in the table's own order
        assert sorted(got.column_names) == sorted(columns) and got.select(columns).equals(whole.select(columns))
    assert "context.subset" in whole.column_names
    with pytest.raises(UnknownColumnError, match="'lats'"):
        repo.sequences_table("", columns=["run", "lats"])
