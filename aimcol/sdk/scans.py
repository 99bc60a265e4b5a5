"""Scans of a whole repository by engines that already exist: pyarrow.dataset and Dask.

aimcol does not grow its own distributed engine.  Its points are Arrow IPC files that any
Arrow reader opens, so a repository (local, or a bucket) is handed to:

* :func:`to_dataset` — a ``pyarrow.dataset.Dataset`` over exactly the sealed and delta
  segment files the run manifests name, with the run hash as a ``run`` column (from the
  ``runs/<hash>/`` folder).  Join ``Repo.sequences_table()`` on ``(run, seq_id)`` for names,
  contexts and statistics, and ``Repo.runs_table()`` on ``run`` for params.  pyarrow,
  Polars (``pl.scan_pyarrow_dataset``) and DuckDB read it.
* :func:`to_dask` — a Dask DataFrame whose partitions hold whole runs up to a number of
  points (a bigger run is split between its sequences), the AimQL query resolved once on
  the driver from the run index, so each task reads only the record batches of the
  sequences that matched, from where the index says they are.  It runs on a ``LocalCluster``
  or on any Dask cluster (dask-jobqueue on slurm, Kubernetes) unchanged, as long as the
  workers can reach the repository's location.

The tasks of :func:`to_dask` read as ``Repo.query_metrics`` does (the run store's reads by
location, or by manifest where the run changed since it was indexed), so a partition sees
what it would: sorted by step, the latest write of a re-tracked step.  A dataset from :func:`to_dataset` is the rows as stored: a step tracked
twice may appear in two files (the later file wins; see FORMAT.md).
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

POINT_COLUMNS = ("step", "value", "epoch", "time")
"""Point columns a :func:`to_dask` partition can hold, after ``run``, ``name`` and ``context``."""

LABEL_COLUMNS = ("run", "name", "context")
"""The columns that say which sequence a row belongs to: Arrow-backed strings (pandas'
``string[pyarrow]``, what Dask makes of strings anyway).  Not categoricals: each partition
would have its own categories, and Dask's P2P shuffle (a group-by of 100,000 runs) fails to
unify 100,000 categories whose codes a partition stored as int16."""

PARTITION_POINTS = 2_000_000
"""Default points per :func:`to_dask` partition (~64 MB of the four point columns): whole runs
are packed into a partition up to this many points; a run with more is split between its
sequences."""

PARTITION_RUNS = 2_000
"""At most this many runs in one partition: each run costs its task a manifest ``stat`` and a
sealed file's footer whatever its points, so many small runs make a long task."""

_DTYPES = {"step": "int64", "value": "float64", "epoch": "float64", "time": "float64"}


def _require_dask():
    try:
        import dask.dataframe as dd
    except ImportError:
        raise ImportError("Repo.to_dask() needs Dask: pip install 'aimcol[dask]'") from None
    return dd


def _columns(columns: Sequence[str] | None) -> tuple[str, ...]:
    if columns is None:
        return POINT_COLUMNS
    unknown = [c for c in columns if c not in POINT_COLUMNS and c not in LABEL_COLUMNS]
    if unknown:
        raise ValueError(f"to_dask() columns {unknown} are not point columns; choose from {list(POINT_COLUMNS)}")
    return tuple(c for c in POINT_COLUMNS if c in columns)


def _meta(point_columns: tuple[str, ...]):
    """An empty partition: the label columns, then the point columns."""
    import pandas as pd

    frame: dict[str, Any] = {name: pd.Series([], dtype=pd.StringDtype("pyarrow")) for name in LABEL_COLUMNS}
    for column in point_columns:
        frame[column] = pd.Series([], dtype=_DTYPES[column])
    return pd.DataFrame(frame)


# -- planning, on the client -------------------------------------------------------------------
def plan_partitions(run_of: np.ndarray, counts: np.ndarray, max_points: int, max_runs: int = PARTITION_RUNS):
    """``[start, stop)`` slices of the selected sequence rows, one per partition.

    ``run_of``: a run number for each row (one run's rows next to each other); ``counts``: the
    points of each row.  Whole runs are packed in order until the next would pass
    ``max_points`` points or ``max_runs`` runs; a run of more than ``max_points`` points gets
    partitions of its own, split between its sequences (never inside one: a sequence's rows
    are deduplicated by step, which needs all of them).
    """
    n = len(run_of)
    if n == 0:
        return []
    bounds = np.concatenate(([0], np.flatnonzero(run_of[1:] != run_of[:-1]) + 1, [n]))
    totals = np.add.reduceat(counts.astype(np.int64), bounds[:-1])
    out: list[tuple[int, int]] = []
    start, points, runs = 0, 0, 0
    for a, b, total in zip(bounds[:-1].tolist(), bounds[1:].tolist(), totals.tolist()):
        if total > max_points:
            if a > start:
                out.append((start, a))
            out.extend(_split_run(counts, a, b, max_points))
            start, points, runs = b, 0, 0
            continue
        if a > start and (points + total > max_points or runs >= max_runs):
            out.append((start, a))
            start, points, runs = a, 0, 0
        points += total
        runs += 1
    if start < n:
        out.append((start, n))
    return out


def _split_run(counts: np.ndarray, a: int, b: int, max_points: int) -> list[tuple[int, int]]:
    out, start, points = [], a, 0
    for i, count in enumerate(counts[a:b].tolist(), a):
        if i > start and points + count > max_points:
            out.append((start, i))
            start, points = i, 0
        points += count
    out.append((start, b))
    return out


class _Partition:
    """What one task reads: the selected sequences of some runs, with where the run index
    says their points are (``loc``, msgpack) and the fingerprint of each run's manifest then.

    Arrow and NumPy buffers of exactly these rows, so the task graph holds no Python object
    per sequence (a million sequences would be a million lists on the client)."""

    __slots__ = ("location", "runs", "fingerprints", "sequences", "token")

    def __init__(self, location: str, runs: list[str], fingerprints: np.ndarray, sequences: pa.Table):
        self.location = location
        self.runs = runs
        self.fingerprints = fingerprints
        # run (int32: position in runs), seq_id, name and context (dictionary-encoded), loc
        self.sequences = sequences
        self.token = uuid.uuid4().hex

    def __getstate__(self):
        return (self.location, self.runs, self.fingerprints, self.sequences, self.token)

    def __setstate__(self, state):
        self.location, self.runs, self.fingerprints, self.sequences, self.token = state

    def __dask_tokenize__(self):
        # what a task reads depends on the repository when it runs, not only on these
        # arguments; and hashing every partition's buffers would cost the client seconds
        return self.token


def _partitions(repo, query: str, max_points: int, max_runs: int) -> list[_Partition]:
    from aimcol.format.arrow_gather import take
    from aimcol.format.arrow_numpy import to_numpy
    from aimcol.sdk.query_results import selected_sequences

    snap, rows = selected_sequences(repo, query, wait=True)  # a batch scan covers every run
    if len(rows) == 0:
        return []
    seqs = snap.seqs
    run_rows = snap.seq_run[rows]
    counts = to_numpy(seqs.column("count"), 0)[rows]
    has_loc = "loc" in seqs.column_names
    hashes = snap.runs.column("hash")
    out = []
    for a, b in plan_partitions(run_rows, counts, max_points, max_runs):
        part_rows = rows[a:b]
        owners = run_rows[a:b]
        changes = owners[1:] != owners[:-1]
        firsts = np.concatenate(([0], np.flatnonzero(changes) + 1))
        position = np.concatenate(([0], np.cumsum(changes)))
        index = pa.array(part_rows)
        table = pa.table(
            {
                "run": pa.array(position.astype(np.int32)),
                "seq_id": take(seqs.column("seq_id"), part_rows),
                "name": seqs.column("name").take(index).combine_chunks().dictionary_encode(),
                "context": seqs.column("context").take(index).combine_chunks().dictionary_encode(),
                "loc": seqs.column("loc").take(index) if has_loc else pa.nulls(b - a, pa.binary()),
            }
        )
        run_rows_here = owners[firsts]
        out.append(
            _Partition(
                repo.path,
                take(hashes, run_rows_here).to_pylist(),
                snap.manifest_fingerprints(run_rows_here),
                table,
            )
        )
    return out


def to_dask(
    repo,
    query: str | None = None,
    columns: Sequence[str] | None = None,
    *,
    partition_points: int | None = None,
):
    """A Dask DataFrame of the points of every metric sequence ``query`` (AimQL) matches.

    Columns: ``run`` (hash), ``name``, ``context`` (canonical JSON: sorted keys, no spaces) as
    ``string[pyarrow]`` (:data:`LABEL_COLUMNS`), then the chosen point
    ``columns`` (default ``step`` int64, ``value``, ``epoch`` — NaN when none —, ``time``:
    float64).  Rows of one sequence are sorted by step (latest write of a re-tracked step) and
    never split between partitions.  Partitions follow ``query_metrics``' order (newest run
    first) and hold whole runs up to ``partition_points`` points (default
    :data:`PARTITION_POINTS`) and :data:`PARTITION_RUNS` runs; a bigger run is split between
    its sequences.  Divisions are unknown (each
    partition's index starts at 0).

    The query runs here, on the client, against the run index (waiting for it to hold every
    run); each task reads only the record batches of its sequences, from where the index says
    they are, and a run whose manifest changed since (or that was live) through its manifest.
    Raises ``AimQLSyntaxError`` for a bad query, ``ValueError`` for bad ``columns`` or
    ``partition_points``, ``ImportError`` naming the extra when Dask is missing.
    """
    dd = _require_dask()
    point_columns = _columns(columns)
    if partition_points is None:
        partition_points = PARTITION_POINTS
    if not isinstance(partition_points, int) or isinstance(partition_points, bool) or partition_points < 1:
        raise ValueError(f"to_dask() partition_points must be a positive int, not {partition_points!r}")
    parts = _partitions(repo, query or "", partition_points, PARTITION_RUNS)
    meta = _meta(point_columns)
    if not parts:
        return dd.from_pandas(meta, npartitions=1)
    return dd.from_map(
        _PartitionReader(point_columns),
        parts,
        meta=meta,
        label="aimcol-points",
        enforce_metadata=False,
    )


# -- reading, on a worker ----------------------------------------------------------------------
@functools.lru_cache(maxsize=8)
def _layout(location: str):
    from aimcol.sdk.repo import Repo

    return Repo(location).layout


class _PartitionReader:
    """The function of each task: one :class:`_Partition` as a pandas DataFrame.  Takes
    ``columns`` so that Dask's optimiser pushes a selection into it (a group-by of ``run``
    and ``value`` reads and builds only those)."""

    def __init__(self, point_columns: tuple[str, ...]):
        self.point_columns = point_columns

    def __call__(self, part: _Partition, columns: Sequence[str] | None = None):
        import pandas as pd

        wanted = list(LABEL_COLUMNS + self.point_columns) if columns is None else list(columns)
        point_columns = tuple(c for c in self.point_columns if c in wanted)
        pieces, owners = _read_points(part, point_columns)
        lengths = np.array([len(p["step"]) for p in pieces], dtype=np.int64)
        rows = np.repeat(owners, lengths)
        seqs = part.sequences
        frame: dict[str, Any] = {}
        for name in wanted:
            if name == "run":
                codes = pa.array(seqs.column("run").to_numpy()[rows])
                frame[name] = pd.arrays.ArrowStringArray(pa.array(part.runs, pa.string()).take(codes))
            elif name in ("name", "context"):
                frame[name] = _label_column(seqs.column(name), rows, canonical=name == "context")
            else:
                parts = [p[name] for p in pieces]
                column = np.concatenate(parts) if parts else np.empty(0)
                frame[name] = column.astype(_DTYPES[name], copy=False)
        return pd.DataFrame(frame, columns=wanted)


def _label_column(values: pa.ChunkedArray, rows: np.ndarray, canonical: bool):
    """One label per point (``values`` is dictionary-encoded by the client, which also makes
    the graph smaller); a context in canonical JSON."""
    import pandas as pd

    encoded = values.combine_chunks()
    labels = encoded.dictionary
    if canonical:
        labels = pa.array([_canonical_context(text) for text in labels.to_pylist()], pa.string())
    codes = encoded.indices.to_numpy(zero_copy_only=False)[rows]
    return pd.arrays.ArrowStringArray(labels.take(pa.array(codes)))


def _read_points(part: _Partition, point_columns: tuple[str, ...]) -> tuple[list[dict], np.ndarray]:
    """The points of each sequence of the partition (NumPy columns, step included) and the
    row of each in ``part.sequences``; a run deleted since the query gives none."""
    from aimcol.format.index_tables import decode_locations
    from aimcol.format.run_index import manifest_matches
    from aimcol.format.run_store import RunReaderStore

    layout = _layout(part.location)
    seqs = part.sequences
    run_pos = seqs.column("run").to_numpy()
    seq_ids = seqs.column("seq_id").to_numpy()
    locs = seqs.column("loc").to_pylist()
    pieces: list[dict] = []
    owners: list[int] = []
    bounds = np.concatenate(([0], np.flatnonzero(run_pos[1:] != run_pos[:-1]) + 1, [len(run_pos)])).tolist()
    for a, b in zip(bounds[:-1], bounds[1:]):
        r = int(run_pos[a])
        run_hash = part.runs[r]
        trusted = manifest_matches(layout, run_hash, part.fingerprints[r])
        reader = RunReaderStore(layout, run_hash, lazy=True)
        try:
            for i in range(a, b):
                seq_id, loc = int(seq_ids[i]), decode_locations(locs[i])
                if trusted and loc is not None:
                    points = reader.read_located(seq_id, loc, point_columns)
                else:  # live when indexed, or the manifest changed since: read as it is now
                    points = reader.read_sequence(seq_id, point_columns)
                pieces.append(points)
                owners.append(i)
        except FileNotFoundError:
            continue  # the run was deleted meanwhile
    return pieces, np.array(owners, dtype=np.int64)


def _canonical_context(context_json: str) -> str:
    return json.dumps(json.loads(context_json), sort_keys=True, separators=(",", ":"))


def _segment_keys(repo) -> list[tuple[str, str]]:
    """``(run hash, key)`` of every segment file the runs hold now, run by run.

    A run whose manifest is still the one the run index was read from (one ``stat``) and whose
    every sequence the index locates (``loc``: the sealed files holding its points) takes its
    files from the index; any other run (live, changed or racy since, or with a sequence the
    index does not locate) from its manifest.  At 100,000 runs reading every manifest took
    19-21 s.
    """
    from aimcol.format import manifest as manifest_io
    from aimcol.format.arrow_numpy import to_numpy
    from aimcol.format.run_index import manifest_matches
    from aimcol.sdk.query_results import whole_snapshot

    layout = repo.layout
    snap = whole_snapshot(repo)
    no_metrics = np.flatnonzero(to_numpy(snap.runs.column("n_seq"), 0) == 0).tolist()
    files: dict[int, set[str] | None] = {row: set() for row in no_metrics}  # run row -> files; None: not all located

    def collect(part) -> np.ndarray:  # one record batch of the sequences table at a time, none kept
        for row, parts in zip(part.seq_run.tolist(), part.sequence_locations(np.arange(part.n_seqs))):
            known = files.setdefault(row, set())
            if parts is None or known is None:
                files[row] = None
            else:
                known.update(p[0] for p in parts)
        return np.zeros(part.n_seqs, dtype=bool)

    snap.narrow_sequences(collect, columns=["run"])
    hashes = snap.runs.column("hash").to_pylist()
    prints = snap.manifest_fingerprints(np.arange(snap.n_runs))
    from_index = {
        hashes[row]: names
        for row, names in files.items()
        if names is not None and manifest_matches(layout, hashes[row], prints[row])
    }
    out = []
    for run_hash in sorted(repo.run_hashes()):
        names = from_index.get(run_hash)
        if names is None:
            try:
                manifest = manifest_io.read_manifest(layout, run_hash)
            except FileNotFoundError:
                continue  # deleted meanwhile
            names = [e["file"] for e in manifest["segments"]]
        out.extend((run_hash, layout.segment_key(run_hash, name)) for name in sorted(names))
    return out


def to_dataset(repo):
    """A ``pyarrow.dataset`` over every segment file the run manifests name, with a ``run`` column.

    Columns: ``run`` (the run hash, from the ``runs/<hash>/`` folder), ``seq``, ``step``,
    ``value``, ``epoch``, ``time``.  Rows as stored (see the module docstring).  Join
    ``repo.sequences_table()`` on ``run`` = ``run`` and ``seq`` = ``seq_id`` for names and
    contexts.  For ``memory://`` repositories (which no filesystem library sees) the
    dataset is built in memory from the same files.
    """
    import pyarrow.dataset as ds

    from aimcol.format.segments import POINT_SCHEMA

    files = _segment_keys(repo)
    schema = POINT_SCHEMA.append(pa.field("run", pa.string()))
    found = repo.layout.storage.arrow_filesystem()
    if found is None:
        storage = repo.layout.storage
        tables = []
        for run_hash, key in files:
            with storage.open_input(key) as source:
                table = pa.ipc.open_file(source).read_all().replace_schema_metadata(None)
            tables.append(table.append_column("run", pa.array([run_hash] * table.num_rows, pa.string())))
        return ds.dataset(tables or [schema.empty_table()], schema=schema)
    filesystem, root = found
    paths = [f"{root}/{key}" for _, key in files]
    return ds.dataset(
        paths,
        schema=schema,
        format="ipc",
        filesystem=filesystem,
        partitioning=ds.partitioning(pa.schema([pa.field("run", pa.string())])),
        partition_base_dir=f"{root}/runs",
    )
