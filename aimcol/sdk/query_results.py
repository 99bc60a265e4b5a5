"""Query results: what ``Repo.query_runs`` / ``query_metrics`` / ``runs_table`` return.

A query is answered from the run index in two steps: the vectorised engine picks rows of
the index's runs/sequences tables (no points are read), then the collection reads points
lazily, only for the sequences the caller touches, with one read-only ``Run`` per run.

Order is Aim's: newest run first; a run's sequences in the order they were created.

``len(query_runs(q))`` counts runs and ``len(query_metrics(q))`` counts sequences;
iterating either yields :class:`~aimcol.sdk.sequence.Metric` objects (for ``query_runs``,
every metric of each matching run, as Aim does).
"""

from __future__ import annotations

import abc
import datetime as _dt
import itertools
import json
import time
import warnings
import weakref
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa

from aimcol.errors import IndexIncompleteWarning
from aimcol.format.arrow_gather import take
from aimcol.format.arrow_numpy import arrow_column, arrow_strings, to_arrow, to_numpy
from aimcol.format.index_tables import parse_path_column
from aimcol.format.param_tree import dotted, flatten_tree, lookup
from aimcol.format.run_index import IndexSnapshot, run_index
from aimcol.format.value_kinds import BOOL as KIND_BOOL
from aimcol.format.value_kinds import FLOAT as KIND_FLOAT
from aimcol.format.value_kinds import INT as KIND_INT
from aimcol.format.value_kinds import MAP as KIND_MAP
from aimcol.format.value_kinds import NONE as KIND_NONE
from aimcol.format.value_kinds import STR as KIND_STR
from aimcol.format.value_kinds import UNDEF as KIND_UNDEF
from aimcol.query import match_runs, parse_query, select_sequences
from aimcol.query.ir import ParsedQuery
from aimcol.sdk.types import QueryReportMode, report_mode_of, with_progress


def _tables():
    """:mod:`aimcol.sdk.tables`, imported when a table is built (not by a first ``query_runs``)."""
    from aimcol.sdk import tables

    return tables


def check_query(query: str) -> None:
    """Raise :class:`~aimcol.errors.AimQLSyntaxError` (with the column at fault) for a query
    AimQL cannot parse, or :class:`~aimcol.errors.AimQLCostError` for one it refuses to run;
    nothing is run and no repository is opened."""
    parse_query(query)


def _snapshot(repo) -> IndexSnapshot:
    """The run index now.  Never waits long for it: where it is still being built, the
    answer covers the runs indexed so far, with an :class:`IndexIncompleteWarning`."""
    _flush_runs_of_this_process(repo)
    snap = run_index(repo.layout).refresh()
    if snap.pending:
        warnings.warn(
            IndexIncompleteWarning(
                f"the run index of {repo.path} is being built: {snap.n_runs:,} runs indexed, {snap.pending:,} "
                "not yet, and this answer leaves those out (a background process is indexing them; "
                "Repo.wait_for_index() waits for it)"
            ),
            stacklevel=3,
        )
    return snap


def wait_for_index(repo) -> int:
    """Read every manifest the run index lacks, in this process; the number of runs indexed."""
    _flush_runs_of_this_process(repo)
    return run_index(repo.layout).refresh(wait=True).n_runs


def _flush_runs_of_this_process(repo) -> None:
    """Points this process tracked but has not flushed yet become visible to its own queries.

    Uses ``aimcol.sdk.run.flush_open_runs(repo_root)`` where the SDK provides it.
    """
    from aimcol.sdk import run as run_module

    flush = getattr(run_module, "flush_open_runs", None)
    if flush is not None:
        flush(repo.path)


def _runs_of(snap: IndexSnapshot, seq_mask: np.ndarray) -> np.ndarray:
    """Run rows owning at least one selected sequence (``np.unique`` would import numpy.ma: 60 ms cold)."""
    owners = snap.seq_run[seq_mask]
    return np.flatnonzero(np.bincount(owners[owners >= 0], minlength=snap.n_runs))


def _newest_first(snap: IndexSnapshot, run_rows: np.ndarray) -> np.ndarray:
    created = to_numpy(snap.runs.column("creation_time"), 0)[run_rows]
    return run_rows[np.argsort(-created, kind="stable")]


def _sequence_rows_by_run(snap: IndexSnapshot, seq_mask: np.ndarray, run_order: np.ndarray) -> list[np.ndarray]:
    """For each run of ``run_order``, its selected sequence rows in creation order."""
    rows = np.flatnonzero(seq_mask)
    if len(rows) == 0:
        return [np.zeros(0, dtype=np.int64) for _ in run_order]
    owner = snap.seq_run[rows]
    seq_id = to_numpy(snap.seqs.column("seq_id"), 0)[rows]
    rank = np.full(max(snap.n_runs, 1), len(run_order), dtype=np.int64)
    rank[run_order] = np.arange(len(run_order))
    keys = rank[owner]
    # the index holds a run's sequences together, in id order: a stable sort by run keeps that
    # order and runs in ~linear time on such blocks (2.25 million rows: lexsort took 0.3-0.5 s)
    order = np.argsort(keys, kind="stable")
    ids = seq_id[order]
    sorted_keys = keys[order]
    if ((sorted_keys[1:] == sorted_keys[:-1]) & (ids[1:] < ids[:-1])).any():
        order = np.lexsort((seq_id, keys))
    rows, owner_rank = rows[order], keys[order]
    bounds = np.searchsorted(owner_rank, np.arange(len(run_order) + 1))
    return [rows[bounds[i] : bounds[i + 1]] for i in range(len(run_order))]


def _plain(value: Any) -> Any:
    """A param value as a table cell: lists and maps as JSON text, bytes as hex."""
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, default=str)
    if isinstance(value, bytes):
        return value.hex()
    return value


def _column_from_values(values: list) -> pa.Array:
    """An Arrow column for Python values of mixed kinds: numbers, strings, else text."""
    cells = [_plain(v) for v in values]
    kinds = {type(v) for v in cells if v is not None}
    if kinds and kinds <= {bool}:
        return arrow_column(cells, pa.bool_())
    if kinds and kinds <= {int, bool} and all(v is None or -(2**63) <= v < 2**63 for v in cells):
        return arrow_column([None if v is None else int(v) for v in cells], pa.int64())
    if kinds and kinds <= {int, float, bool}:
        return arrow_column([None if v is None else float(v) for v in cells], pa.float64())
    if not kinds or kinds <= {str}:
        return arrow_strings(cells)
    return arrow_strings([None if v is None else (v if isinstance(v, str) else _as_text(v)) for v in cells])


# ---- collections ---------------------------------------------------------------------------------


class _Runs:
    """Read-only ``Run`` objects of one result, created on first use and shared."""

    def __init__(self, repo):
        self.repo = repo
        # weak: a run lives while the caller holds one of its metrics, not as long as the result
        # (one metric of 1,500 runs of 1,500 metrics each: every manifest kept was 2 GB, and
        # the garbage collector's passes over them made each new run 5x slower to open)
        self._runs: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()

    def get(self, run_hash: str):
        run = self._runs.get(run_hash)
        if run is None:
            run = self.repo.get_run(run_hash)
            if run is not None:
                self._runs[run_hash] = run
        return run

    def get_lazily(self, run_hash: str):
        """The run, its manifest read only when something needs it (the run is known to exist)."""
        run = self._runs.get(run_hash)
        if run is None:
            from aimcol.sdk.run import Run

            run = self._runs[run_hash] = Run._read_lazily(run_hash, self.repo)
        return run


class _IndexedSequences:
    """The selected sequences of one run as the run index has them (ids, names, contexts, dtypes,
    where their points are), read for every run of a result at once when first needed."""

    def __init__(self, snap: IndexSnapshot, groups: list[np.ndarray]):
        self._snap = snap
        self._groups = groups
        self._by_group: list[tuple[list[dict], list]] | None = None

    def of(self, group: int) -> tuple[int, list[dict], list] | None:
        """``(run row, entries, locations)`` of one group, or None where a read needs the manifest
        (the run had a live segment, or its manifest is not the one indexed)."""
        rows = self._groups[group]
        if len(rows) == 0:
            return None
        if self._by_group is None:
            self._by_group = self._read()
        entries, locations = self._by_group[group]
        run_row = int(self._snap.seq_run[rows[0]])
        if any(loc is None for loc in locations) or not self._snap.manifest_unchanged(run_row):
            return None
        return run_row, entries, locations

    def _read(self) -> list[tuple[list[dict], list]]:
        snap = self._snap
        rows = np.concatenate(self._groups)
        seqs = snap.seqs
        ids = to_numpy(seqs.column("seq_id"), 0)[rows].tolist()
        names = take(seqs.column("name"), rows).to_pylist()
        dtypes = take(seqs.column("dtype"), rows).to_pylist()
        contexts = snap.contexts_of(rows)
        locations = snap.sequence_locations(rows)
        entries = [{"id": i, "name": n, "context": c, "dtype": d} for i, n, c, d in zip(ids, names, contexts, dtypes)]
        out, start = [], 0
        for group in self._groups:
            stop = start + len(group)
            out.append((entries[start:stop], locations[start:stop]))
            start = stop
        return out


class RunMetrics:
    """One run of a result with its metrics (Aim's per-run collection): ``.run``, iterable of Metric."""

    def __init__(
        self,
        runs: _Runs,
        run_hash: str,
        seq_ids: list[int] | None,
        indexed: tuple[_IndexedSequences, int] | None = None,
    ):
        self._runs = runs
        self.hash = run_hash
        self._seq_ids = seq_ids  # None: every metric of the run
        self._indexed = indexed  # where the run index knows its sequences: (the result's, group)

    @property
    def run(self):
        return self._runs.get(self.hash)

    def __iter__(self) -> Iterator:
        return iter(self.metrics())

    iter = __iter__

    def metrics(self) -> list:
        from aimcol.sdk.sequence import Metric

        indexed = self._indexed_metrics()
        if indexed is not None:
            return indexed
        run = self.run
        if run is None:  # deleted since the query
            return []
        reader = run._reader_store()
        entries = reader.manifest["sequences"]
        if self._seq_ids is None:
            return [Metric(run, e, reader) for e in entries]
        by_id = {e["id"]: e for e in entries}
        return [Metric(run, by_id[i], reader) for i in self._seq_ids if i in by_id]

    def _indexed_metrics(self) -> list | None:
        """The metrics read by where the run index says their points are, without the run's
        manifest (a 1,500-metric manifest costs ~4 ms to unpack); None where the index row
        may be stale (the manifest changed since, or was being written when indexed) or the
        run had a live segment: then the manifest is read."""
        if self._indexed is None:
            return None
        from aimcol.sdk.sequence import Metric

        sequences, group = self._indexed
        known = sequences.of(group)
        if known is None:
            return None
        _run_row, entries, locations = known
        run = self._runs.get_lazily(self.hash)
        reader = run._reader_store()
        return [Metric(run, dict(e), reader, loc) for e, loc in zip(entries, locations)]

    def __len__(self) -> int:
        return len(self.metrics()) if self._seq_ids is None else len(self._seq_ids)

    def __repr__(self) -> str:
        return f"<RunMetrics {self.hash}>"

    def dataframe(self, **kwargs):
        run = self.run
        return None if run is None else run.dataframe(**kwargs)


class _QueryResult(abc.ABC):
    def __init__(
        self,
        repo,
        query: ParsedQuery,
        snap: IndexSnapshot,
        report_mode: QueryReportMode = QueryReportMode.PROGRESS_BAR,
    ):
        self.repo = repo
        self.query = query
        self._snap = snap
        self._whole = snap  # the index the query ran on (a metrics result's _snap: its rows only)
        self._runs = _Runs(repo)
        self.report_mode = report_mode_of(report_mode)

    @property
    def run_hashes(self) -> list[str]:
        """Hashes of the runs in this result, newest first."""
        return take(self._snap.runs.column("hash"), self._run_order).to_pylist()

    @property
    def hint(self) -> str | None:
        """For an empty result: the name in the query that no run has, and the nearest that
        exists (``run.hparam.lr`` → ``run.hparams.lr``); None otherwise."""
        if len(self):
            return None
        from aimcol.query import typo_hint

        return typo_hint(self.query, self._whole, runs_query=isinstance(self, RunCollection))

    def _run_groups(self) -> Iterator[RunMetrics]:
        """Each run of the result with its sequences, a progress bar drawn as they are consumed."""
        hashes = self.run_hashes
        groups = map(RunMetrics, itertools.repeat(self._runs), hashes, self._seq_ids_per_run(), self._indexed())
        return with_progress(groups, len(hashes), self.report_mode)

    def iter_runs(self) -> Iterator:
        """Each run of the result (``.run``, iterable of its metrics), newest first.

        With ``report_mode=QueryReportMode.PROGRESS_TUPLE``: ``(run_metrics, (n, total))`` pairs, as Aim.
        """
        if self.report_mode is QueryReportMode.PROGRESS_TUPLE:
            total = len(self._run_order)
            return ((group, (n, total)) for n, group in enumerate(self._run_groups(), 1))
        return self._run_groups()

    def iter(self) -> Iterator:
        return iter(self)

    def __iter__(self) -> Iterator:
        for group in self._run_groups():
            yield from group.metrics()

    def _indexed(self) -> Iterator:
        """For each run of the result, what :class:`RunMetrics` reads its metrics by (None: the manifest)."""
        return itertools.repeat(None)

    @abc.abstractmethod
    def _seq_ids_per_run(self) -> list:
        """For each run of the result (in ``run_hashes`` order), the sequence ids it yields."""

    # -- tables --------------------------------------------------------------------------------
    def to_arrow(self) -> pa.Table:
        """Every point of every selected sequence as one long table.

        Columns: ``run`` (hash), ``run_name``, ``experiment``, ``name`` (metric), ``context``
        (JSON), ``context.<key>`` (one per context key), ``step``, ``value``, ``epoch``,
        ``time`` (seconds since the epoch), then ``run.<param>`` for each param the query
        mentions.
        """
        metrics = list(self)
        return _long_table(metrics, self.query.param_paths)

    def to_pandas(self):
        """:meth:`to_arrow` as a pandas DataFrame with Arrow-backed dtypes."""
        pd = _tables().require_pandas("query results to_pandas()")
        return self.to_arrow().to_pandas(types_mapper=pd.ArrowDtype)

    def dataframe(
        self,
        only_last: bool = False,
        include_run: bool = True,
        include_name: bool = True,
        include_context: bool = True,
        include_props: bool = False,
        include_params: bool = True,
    ):
        """Aim's ``dataframe()``: one row per point of every selected metric.

        ``include_run`` adds ``run.hash`` and, with ``include_params`` (default), the run's
        params as ``run.<path>`` columns; ``include_props`` adds its properties as
        ``run.props.<name>`` columns (off by default: Aim's metric frames have none).
        Returns ``None`` for an empty result, as Aim does.
        """
        pd = _tables().require_pandas("query results dataframe()")
        frames = []
        for metric in self:
            frames.append(
                _aim_metric_frame(
                    pd, metric, only_last, include_run, include_name, include_context, include_props, include_params
                )
            )
        if not frames:
            return None
        return pd.concat(frames)


class MetricCollection(_QueryResult):
    """The sequences a ``query_metrics`` query selected, grouped by run, newest run first."""

    def __init__(self, repo, query: ParsedQuery, snap: IndexSnapshot, seq_mask: np.ndarray, report_mode=None):
        super().__init__(repo, query, snap, QueryReportMode.PROGRESS_BAR if report_mode is None else report_mode)
        self._run_order = _newest_first(snap, _runs_of(snap, seq_mask))
        self._groups = _sequence_rows_by_run(snap, seq_mask, self._run_order)
        self._count = int(seq_mask.sum())

    def __len__(self) -> int:
        return self._count

    def __repr__(self) -> str:
        return f"<MetricCollection {self._count} metrics of {len(self._run_order)} runs for {self.query.text!r}>"

    def _seq_ids_per_run(self) -> list:
        seq_id = to_numpy(self._snap.seqs.column("seq_id"), 0)
        return [seq_id[rows].tolist() for rows in self._groups]

    def _indexed(self) -> Iterator:
        sequences = _IndexedSequences(self._snap, self._groups)
        return ((sequences, group) for group in range(len(self._groups)))

    def sequences_table(self) -> pa.Table:
        rows = np.concatenate(self._groups) if self._groups else np.zeros(0, dtype=np.int64)
        return _sequences_table(self._snap, rows)


class RunCollection(_QueryResult):
    """The runs a ``query_runs`` query selected, newest first; iterating yields their metrics."""

    def __init__(
        self,
        repo,
        query: ParsedQuery,
        snap: IndexSnapshot,
        run_mask: np.ndarray,
        report_mode=None,
        offset: str | None = None,
    ):
        super().__init__(repo, query, snap, QueryReportMode.PROGRESS_BAR if report_mode is None else report_mode)
        self._run_order = _newest_first(snap, np.flatnonzero(run_mask))
        if offset is not None:
            self._run_order = self._run_order[_after_offset(snap, self._run_order, offset) :]

    def __len__(self) -> int:
        return len(self._run_order)

    def __repr__(self) -> str:
        return f"<RunCollection {len(self)} runs for {self.query.text!r}>"

    def _seq_ids_per_run(self) -> list:
        return [None] * len(self._run_order)

    def runs_table(self) -> pa.Table:
        return _runs_table(self._snap, self._run_order, time.time())

    def dataframe(
        self,
        only_last: bool = False,
        include_run: bool = True,
        include_name: bool = True,
        include_context: bool = True,
        include_props: bool = True,
        include_params: bool = True,
    ):
        """One row per run: hash, properties, flattened params (Aim's run-collection dataframe)."""
        pd = _tables().require_pandas("query results dataframe()")
        if not len(self):
            return None
        frames = [
            group.run.dataframe(include_props=include_props, include_params=include_params)
            for group in self._run_groups()
            if group.run is not None
        ]
        return pd.concat(frames) if frames else None


def _after_offset(snap: IndexSnapshot, run_order: np.ndarray, offset: str) -> int:
    """Position in ``run_order`` just after the run ``offset`` (Aim's "hash of the run to skip to")."""
    if not isinstance(offset, str):
        raise TypeError(f"offset must be a run hash (str), got {type(offset).__name__}")
    hashes = take(snap.runs.column("hash"), run_order).to_pylist()
    try:
        return hashes.index(offset) + 1
    except ValueError:
        raise ValueError(f"offset {offset!r} is not a run of this query's result") from None


# ---- tables ----------------------------------------------------------------------------------------


def _long_table(metrics: list, param_paths: tuple) -> pa.Table:
    tables = [m.to_arrow() for m in metrics]
    lengths = np.array([t.num_rows for t in tables], dtype=np.int64)
    owner = np.repeat(np.arange(len(metrics)), lengths)

    def per_metric(values: list, typ=None) -> pa.Array:
        arr = arrow_column(values, typ) if typ is not None else _column_from_values(values)
        return take(arr, owner)

    columns: dict[str, pa.Array] = {
        "run": per_metric([m.run.hash for m in metrics], pa.string()),
        "run_name": per_metric([m.run.name for m in metrics], pa.string()),
        "experiment": per_metric([m.run.experiment for m in metrics], pa.string()),
        "name": per_metric([m.name for m in metrics], pa.string()),
        "context": per_metric([json.dumps(dict(m.context), sort_keys=True, default=str) for m in metrics], pa.string()),
    }
    context_paths: dict[tuple, None] = {}
    flat_contexts = [flatten_tree(dict(m.context)) for m in metrics]
    for flat in flat_contexts:
        for path in flat:
            context_paths.setdefault(path, None)
    for path in context_paths:
        columns["context." + dotted(path)] = per_metric([f.get(path) for f in flat_contexts])
    if tables:
        points = pa.concat_tables(tables)
        for name in ("step", "value", "epoch", "time"):
            columns[name] = points.column(name).combine_chunks()
    else:
        columns.update(
            step=arrow_column([], pa.int64()),
            value=arrow_column([], pa.float64()),
            epoch=arrow_column([], pa.int64()),
            time=arrow_column([], pa.float64()),
        )
    for path in param_paths:
        if not path:
            continue
        columns["run." + dotted(path)] = per_metric([lookup(m.run._manifest["params"], path) for m in metrics])
    return pa.table(columns)


def metric_frame(metric, only_last=False, include_run=False, include_name=False, include_context=False):
    """One metric as Aim's ``Metric.dataframe()`` frame (``None``-free: an empty metric has no rows)."""
    pd = _tables().require_pandas("Metric.dataframe()")
    return _aim_metric_frame(pd, metric, only_last, include_run, include_name, include_context, False, True)


_RUN_PROPS = ("name", "experiment", "description", "tags", "archived", "creation_time", "end_time", "active")


def _aim_metric_frame(pd, metric, only_last, include_run, include_name, include_context, include_props, include_params):
    table = metric.to_arrow()
    if only_last and table.num_rows:
        table = table.slice(table.num_rows - 1, 1)
    n = table.num_rows
    times = table.column("time").to_pylist()
    data: dict[str, Any] = {
        "idx": list(range(n)),
        "step": table.column("step").to_pylist(),
        "value": metric.values_numpy()[len(metric.values_numpy()) - n :].tolist(),
        "epoch": table.column("epoch").to_pylist(),
        "time": [_dt.datetime.fromtimestamp(t) for t in times],
    }
    if include_run:
        data["run.hash"] = [metric.run.hash] * n
        if include_props:
            for prop in _RUN_PROPS:
                data["run.props." + prop] = [_plain(getattr(metric.run, prop))] * n
        if include_params:
            for path, value in flatten_tree(metric.run._manifest["params"]).items():
                data["run." + dotted(path)] = [_plain(value)] * n
    if include_name:
        data["metric.name"] = [metric.name] * n
    if include_context:
        for path, value in flatten_tree(dict(metric.context)).items():
            data["metric.context." + dotted(path)] = [_plain(value)] * n
    return pd.DataFrame(data)


def _param_leaf_paths(snap: IndexSnapshot) -> list[tuple]:
    """Param paths that hold something other than a map in some run, in column order."""
    paths = []
    for name in snap.runs.column_names:
        parsed = parse_path_column(name)
        if parsed is None or parsed[0] != "p" or parsed[2] != "k":
            continue
        kinds = to_numpy(snap.runs.column(name), 0)
        if ((kinds != KIND_UNDEF) & (kinds != KIND_MAP)).any():
            paths.append(parsed[1])
    return paths


def _param_column(snap: IndexSnapshot, path: tuple, rows: np.ndarray) -> pa.Array:
    """One param as a typed column: bool, int64, float64 or string; maps and missing as null."""
    cols = snap.path_columns("runs", path)
    kinds = to_numpy(cols["k"], 0)[rows]
    present = set(np.flatnonzero(np.bincount(kinds, minlength=16)).tolist()) - {KIND_UNDEF, KIND_NONE, KIND_MAP}
    missing = ~np.isin(kinds, list(present)) if present else np.ones(len(rows), dtype=bool)
    if present and present <= {KIND_BOOL}:
        return to_arrow(to_numpy(cols["i"], 0)[rows] != 0, ~missing)
    if present and present <= {KIND_INT, KIND_BOOL}:
        return to_arrow(to_numpy(cols["i"], 0)[rows], ~missing)
    if present and present <= {KIND_INT, KIND_BOOL, KIND_FLOAT}:
        return to_arrow(to_numpy(cols["n"], 0)[rows], ~missing)
    if present and present <= {KIND_STR}:
        return take(cols["s"], rows)
    if not present:
        return pa.nulls(len(rows), pa.string())
    cells = []
    for params in snap.params_of(rows):
        value = lookup(params, path)
        cells.append(
            None if value is None or isinstance(value, dict) else value if isinstance(value, str) else _as_text(value)
        )
    return arrow_strings(cells)


def _as_text(value: Any) -> str:
    """A non-str cell of a mixed column: numbers as Python writes them, the rest as JSON."""
    if isinstance(value, (bool, int, float)):
        return repr(value)
    if isinstance(value, bytes):
        return value.hex()
    return json.dumps(value, default=str)


def _runs_table(snap: IndexSnapshot, rows: np.ndarray, now: float) -> pa.Table:
    return _tables().build_runs_table(snap, rows, now)


def _sequences_table(snap: IndexSnapshot, rows: np.ndarray) -> pa.Table:
    return _tables().build_sequences_table(snap, rows)


# ---- entry points (Repo delegates here) --------------------------------------------------------------


def query_runs(
    repo,
    query: str = "",
    *,
    offset: str | None = None,
    report_mode: QueryReportMode = QueryReportMode.PROGRESS_BAR,
) -> RunCollection:
    """Runs matching ``query``, newest first; with ``offset`` (a run hash of the result), the
    runs after it.  Raises ``AimQLSyntaxError`` for a bad query."""
    mode = report_mode_of(report_mode)
    parsed = parse_query(query)
    snap = _snapshot(repo)
    return RunCollection(repo, parsed, snap, match_runs(parsed, snap), mode, offset)


def query_metrics(
    repo, query: str = "", *, report_mode: QueryReportMode = QueryReportMode.PROGRESS_BAR
) -> MetricCollection:
    """Metric sequences matching ``query``, newest run first."""
    mode = report_mode_of(report_mode)
    parsed = parse_query(query)
    whole = _snapshot(repo)
    snap = select_sequences(parsed, whole)  # only the selected rows: bounded memory
    result = MetricCollection(repo, parsed, snap, np.ones(snap.n_seqs, dtype=bool), mode)
    result._whole = whole  # a hint for an empty result looks at every sequence (a batch at a time)
    return result


def runs_table(repo, query: str = "", metrics=None) -> pa.Table:
    """One row per matching run, newest first: properties, params as dotted columns, and
    ``<metric>.<stat>`` columns for ``metrics`` (see ``aimcol.sdk.tables``)."""
    parsed = parse_query(query)
    snap = _snapshot(repo)
    now = time.time()
    mask = match_runs(parsed, snap, now)
    table = _tables().build_runs_table(snap, _newest_first(snap, np.flatnonzero(mask)), now, metrics)
    return _tables().mark_index_pending(table, snap.pending)


def runs_listing(repo, *, include_archived: bool = False) -> pa.Table:
    """Every run, newest first, for ``aimcol runs ls``: the runs table's property columns
    (:data:`~aimcol.sdk.tables.RUNS_SCHEMA`, no params) plus ``sequences`` (how many each run has).

    Read from the run index, not from every manifest: 100,000 runs list in a fraction of a
    second once the index exists.  Archived runs only with ``include_archived``.  A crashed
    run's duration ends at its newest point, recorded in the index (only a manifest written
    before ``last_point_time`` existed costs a read of its newest segment).
    """
    snap = _snapshot(repo)
    now = time.time()
    if include_archived:
        rows = np.arange(snap.n_runs, dtype=np.int64)
    else:
        rows = np.flatnonzero(~to_numpy(snap.runs.column("archived"), False))
    rows = _newest_first(snap, rows)
    table = _tables().build_runs_table(snap, rows, now, params=False)
    n_seq = to_numpy(snap.runs.column("n_seq"), 0)[rows].astype(np.int64)
    return _tables().mark_index_pending(table.append_column("sequences", to_arrow(n_seq)), snap.pending)


def query_hint(repo, query: str, runs_query: bool = False) -> str | None:
    """Why ``query`` may match nothing: a name it uses that no run has, and the nearest that exists;
    for a runs query (``runs_query``) also that ``metric`` is undefined there."""
    from aimcol.query import typo_hint

    return typo_hint(parse_query(query), _snapshot(repo), runs_query=runs_query)


def whole_snapshot(repo) -> IndexSnapshot:
    """The run index with every run in it (as ``Repo.wait_for_index()``), refreshed as a query
    refreshes it (a periodic full scan of 100,000 runs is left to the builder), waiting only
    while runs are pending."""
    _flush_runs_of_this_process(repo)
    index = run_index(repo.layout)
    snap = index.refresh()
    return index.refresh(wait=True) if snap.pending else snap


def selected_sequences(
    repo, query: str = "", *, wait: bool = False, columns: list[str] | None = None
) -> tuple[IndexSnapshot, np.ndarray]:
    """The run index narrowed to the sequences ``query`` selects (read and filtered a record
    batch at a time: memory is the selected rows, not the whole sequences table), and the
    order of its rows as ``query_metrics`` gives them: newest run first, a run's sequences in
    creation order (one run's rows next to each other).  ``wait``: the whole index
    (``Repo.wait_for_index()``), never a first answer from a partial one.  ``columns``: only
    these index columns of the selected rows.  Raises ``AimQLSyntaxError`` for a bad query."""
    parsed = parse_query(query)
    snap = whole_snapshot(repo) if wait else _snapshot(repo)
    snap = select_sequences(parsed, snap, columns=columns)
    mask = np.ones(snap.n_seqs, dtype=bool)
    run_order = _newest_first(snap, _runs_of(snap, mask))
    groups = _sequence_rows_by_run(snap, mask, run_order)
    return snap, (np.concatenate(groups) if groups else np.zeros(0, dtype=np.int64))


def sequences_table(repo, query: str = "", columns: list[str] | None = None) -> pa.Table:
    """One row per matching sequence (newest run first): run hash, name, context, statistics
    (only ``columns`` of them where given: the rest is neither read nor built)."""
    # only the index columns the table shows (never `loc`, a third of the index): with every
    # sequence selected (the TUI's metric columns) the rows kept are the whole sequences table
    snap, rows = selected_sequences(repo, query, columns=_tables().sequence_index_columns(columns))
    return _tables().build_sequences_table(snap, rows, columns)
