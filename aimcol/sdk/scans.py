"""Scans of a whole repository by engines that already exist: pyarrow.dataset and Dask.

aimcol does not grow its own distributed engine.  Its points are Arrow IPC files that any
Arrow reader opens, so a repository (local, or a bucket) is handed to:

* :func:`to_dataset` — a ``pyarrow.dataset.Dataset`` over exactly the sealed and delta
  segment files the run manifests name, with the run hash as a ``run`` column (from the
  ``runs/<hash>/`` folder).  Join ``Repo.sequences_table()`` on ``(run, seq_id)`` for names,
  contexts and statistics, and ``Repo.runs_table()`` on ``run`` for params.  pyarrow,
  Polars (``pl.scan_pyarrow_dataset``) and DuckDB read it.
* :func:`to_dask` — a Dask DataFrame with one partition per run (or per sequence of a run
  whose sealed data is large), the AimQL query resolved once on the driver from the run
  index, so each task reads only the sequences that matched.  It runs on a ``LocalCluster``
  or on any Dask cluster (dask-jobqueue on slurm, Kubernetes) unchanged, as long as the
  workers can reach the repository's location.

The tasks of :func:`to_dask` read through the public SDK (``Run(read_only=True)``), so a
partition sees what ``Repo.query_metrics`` would: sorted by step, the latest write of a
re-tracked step.  A dataset from :func:`to_dataset` is the rows as stored: a step tracked
twice may appear in two files (the later file wins; see FORMAT.md).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

POINT_COLUMNS = ("step", "value", "epoch", "time")
"""Point columns a :func:`to_dask` partition can hold, after ``run``, ``name`` and ``context``."""

PARTITION_ROWS = 2_000_000
"""A run with more points than this (by its sequences' counts) is split into one partition
per sequence, so no task holds a whole big run in memory."""


def _require_dask():
    try:
        import dask.dataframe as dd
    except ImportError:
        raise ImportError("Repo.to_dask() needs Dask: pip install 'aimcol[dask]'") from None
    return dd


def _columns(columns: Sequence[str] | None) -> tuple[str, ...]:
    if columns is None:
        return POINT_COLUMNS
    unknown = [c for c in columns if c not in POINT_COLUMNS and c not in ("run", "name", "context")]
    if unknown:
        raise ValueError(f"to_dask() columns {unknown} are not point columns; choose from {list(POINT_COLUMNS)}")
    return tuple(c for c in POINT_COLUMNS if c in columns)


def _meta(point_columns: tuple[str, ...]):
    import pandas as pd

    frame: dict[str, Any] = {
        "run": pd.Series([], dtype=object),
        "name": pd.Series([], dtype=object),
        "context": pd.Series([], dtype=object),
    }
    dtypes = {"step": "int64", "value": "float64", "epoch": "float64", "time": "float64"}
    for column in point_columns:
        frame[column] = pd.Series([], dtype=dtypes[column])
    return pd.DataFrame(frame)


def _read_partition(task: tuple) -> Any:
    """One Dask partition: the given sequences of one run, read through the SDK (on a worker)."""
    import pandas as pd

    from aimcol.sdk.repo import Repo

    location, run_hash, sequences, point_columns = task
    run = Repo(location).get_run(run_hash)
    frames = []
    for name, context_json in sequences if run is not None else ():
        metric = run.get_metric(name, json.loads(context_json))
        if metric is None:
            continue  # the run was deleted and replaced meanwhile
        points = metric.to_arrow()
        n = points.num_rows
        frame: dict[str, Any] = {
            "run": np.full(n, run_hash, dtype=object),
            "name": np.full(n, name, dtype=object),
            "context": np.full(n, context_json, dtype=object),
        }
        for column in point_columns:
            values = points.column(column)
            if column == "step":
                frame[column] = values.to_numpy()
            else:  # epoch: NaN where a point has none
                frame[column] = values.cast(pa.float64()).to_numpy(zero_copy_only=False)
        frames.append(pd.DataFrame(frame))
    if not frames:
        return _meta(point_columns)
    return pd.concat(frames, ignore_index=True)


def _canonical_context(context_json: str) -> str:
    return json.dumps(json.loads(context_json), sort_keys=True, separators=(",", ":"))


def to_dask(repo, query: str | None = None, columns: Sequence[str] | None = None):
    """A Dask DataFrame of the points of every metric sequence ``query`` (AimQL) matches.

    Columns: ``run`` (hash), ``name``, ``context`` (canonical JSON: sorted keys), then the
    chosen point ``columns`` (default ``step``, ``value``, ``epoch`` — NaN when none —,
    ``time``).  Rows of one sequence are sorted by step.  One partition per run, or per
    sequence for a run of more than :data:`PARTITION_ROWS` points.  The query runs here,
    on the client, against the run index; tasks only read.  Raises ``AimQLSyntaxError``
    for a bad query and ``ImportError`` naming the extra when Dask is missing.
    """
    dd = _require_dask()
    point_columns = _columns(columns)
    repo.wait_for_index()  # a batch scan covers every run, never a first answer from a partial index
    table = repo.sequences_table(query or "")
    location = repo.path
    by_run: dict[str, list[tuple[str, str, int]]] = {}
    runs = table.column("run").to_pylist()
    names = table.column("name").to_pylist()
    contexts = table.column("context").to_pylist()
    counts = table.column("count").to_pylist()
    for run_hash, name, context, count in zip(runs, names, contexts, counts):
        by_run.setdefault(run_hash, []).append((name, _canonical_context(context), int(count or 0)))
    tasks = []
    for run_hash, sequences in by_run.items():
        total = sum(count for _, _, count in sequences)
        if total > PARTITION_ROWS and len(sequences) > 1:
            tasks.extend((location, run_hash, [(n, c)], point_columns) for n, c, _ in sequences)
        else:
            tasks.append((location, run_hash, [(n, c) for n, c, _ in sequences], point_columns))
    meta = _meta(point_columns)
    if not tasks:
        return dd.from_pandas(meta, npartitions=1)
    return dd.from_map(_read_partition, tasks, meta=meta, enforce_metadata=False)


def _segment_keys(repo) -> list[tuple[str, str]]:
    """``(run hash, key)`` of every segment file the run manifests name now."""
    from aimcol.format import manifest as manifest_io

    layout = repo.layout
    out = []
    for run_hash in sorted(repo.run_hashes()):
        try:
            manifest = manifest_io.read_manifest(layout, run_hash)
        except FileNotFoundError:
            continue  # deleted meanwhile
        out.extend((run_hash, layout.segment_key(run_hash, e["file"])) for e in manifest["segments"])
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
