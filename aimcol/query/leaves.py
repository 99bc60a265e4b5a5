"""The leaves of a query: run properties, params, metric statistics and contexts, read from the index.

Each leaf becomes a :class:`~aimcol.query.column.ValueColumn` built from the run index's
typed columns (:mod:`aimcol.format.run_index`): a param path's kind, float, int and string
columns are used as they are; maps, lists, huge ints and paths without typed columns are
decoded from the msgpack copy of the params (or context), only for the rows that need it.
Leaves are cached per query: ``run.hparams.lr`` read twice is built once.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from aimcol.format.arrow_gather import list_offsets, strings_equal_scalar, take, where
from aimcol.format.arrow_numpy import arrow_strings, to_numpy, valid_mask
from aimcol.format.param_tree import lookup
from aimcol.format.run_index import IndexSnapshot
from aimcol.format.value_kinds import DATETIME, FLOAT, INT, MAP, NONE, OBJ, STR, UNDEF
from aimcol.query import ir
from aimcol.query import values as scalar
from aimcol.query.column import RUN, SEQ, ValueColumn, select
from aimcol.query.values import UNDEFINED

if TYPE_CHECKING:
    from aimcol.query.array_types import BoolArray, FloatArray, IntArray

STRING_PROPS = ("hash", "name", "description", "experiment", "exit_status")


class IndexLeaves:
    """Builds the leaf columns of one query over one index snapshot, at one clock reading."""

    def __init__(
        self,
        snap: IndexSnapshot,
        now: float,
        active: BoolArray | None = None,
        run_columns: dict[tuple[Any, ...], ValueColumn] | None = None,
    ) -> None:
        self.snap = snap
        self.now = now
        self._active = active  # computed on first use of run.active/run.duration
        # run_columns: leaves of another batch of the same snapshot's sequences (see run_columns())
        self._cache: dict[tuple[Any, ...], ValueColumn] = dict(run_columns or {})

    def run_columns(self) -> dict[tuple[Any, ...], ValueColumn]:
        """The leaves built so far that hold one value per run (or a constant): the same for
        every batch of sequence rows of a snapshot (:meth:`IndexSnapshot.narrow_sequences`)."""
        return {key: v for key, v in self._cache.items() if v.domain != SEQ}

    @property
    def active_if_known(self) -> BoolArray | None:
        """Whether a writer holds each run, where a leaf needed it already (else None)."""
        return self._active

    def run_active(self) -> BoolArray:
        if self._active is None:
            self._active = self.snap.active()
        return self._active

    def _cached(self, key: tuple[Any, ...], build: Any) -> ValueColumn:
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    # -- runs ----------------------------------------------------------------------------------
    def run_prop(self, name: str) -> ValueColumn:
        """``run.<name>`` for a run property (:data:`~aimcol.query.ir.RUN_PROPERTIES`)."""
        return self._cached(("prop", name), lambda: self._run_prop(name))

    def _run_prop(self, name: str) -> ValueColumn:
        runs = self.snap.runs
        n = self.snap.n_runs
        if name in STRING_PROPS:
            col = runs.column(name).combine_chunks()
            if name == "experiment":
                col = experiment_names(col)
            null = ~valid_mask(col)
            return ValueColumn(np.where(null, NONE, STR).astype(np.uint8), RUN, strs=col)
        if name == "archived":
            return ValueColumn.bools(to_numpy(runs.column("archived"), False), np.zeros(n, dtype=bool), RUN)
        if name == "active":
            return ValueColumn.bools(self.run_active(), np.zeros(n, dtype=bool), RUN)
        if name in ("creation_time", "end_time"):
            col = runs.column(name)
            null = ~valid_mask(col)
            return ValueColumn(
                np.where(null, NONE, FLOAT).astype(np.uint8),
                RUN,
                num=to_numpy(col, 0.0),
                ints=np.zeros(n, dtype=np.int64),
            )
        if name == "duration":
            return self._duration()
        if name == "created_at":
            times = local_wallclock_us(to_numpy(runs.column("creation_time"), 0))
            return ValueColumn(np.full(n, DATETIME, dtype=np.uint8), RUN, times=times)
        if name == "finalized_at":  # None while the run has no end time (active, or crashed)
            end = runs.column("end_time")
            times = local_wallclock_us(to_numpy(end, 0.0))
            kinds = np.where(valid_mask(end), DATETIME, NONE).astype(np.uint8)
            return ValueColumn(kinds, RUN, times=times)
        if name == "tags":
            return self.tags()
        raise AssertionError(name)

    def _duration(self) -> ValueColumn:
        """Seconds from creation to end; a run without an end: to now if active, else (crashed) to
        its newest point (:mod:`aimcol.format.last_point`, the definition every duration uses)."""
        runs = self.snap.runs
        n = self.snap.n_runs
        created = to_numpy(runs.column("creation_time"), 0)
        end_col = runs.column("end_time")
        has_end = valid_mask(end_col)
        active = self.run_active()
        end = np.where(has_end, to_numpy(end_col, 0.0), np.where(active, self.now, created))
        crashed = np.flatnonzero(~has_end & ~active)
        end[crashed] = self.snap.last_points(crashed)
        values = np.maximum(0.0, end - created)
        return ValueColumn(np.full(n, FLOAT, dtype=np.uint8), RUN, num=values, ints=np.zeros(n, dtype=np.int64))

    def tags(self) -> ValueColumn:
        """``run.tags``: a list per run."""

        def build() -> ValueColumn:
            tags = self.snap.runs.column("tags").to_pylist()
            return ValueColumn.scatter(len(tags), np.arange(len(tags)), tags, None, RUN)

        return self._cached(("tags",), build)

    def tag_counts(self) -> ValueColumn:
        """``len(run.tags)`` without building the lists."""
        lengths = np.diff(list_offsets(self.snap.runs.column("tags"))).astype(np.int64)
        return ValueColumn(
            np.full(len(lengths), INT, dtype=np.uint8), RUN, num=lengths.astype(np.float64), ints=lengths
        )

    def param(self, path: tuple[str, ...]) -> ValueColumn:
        """``run.<path>`` for a param path; ``()`` is the whole params tree (``run[...]``)."""
        return self._cached(("param", path), lambda: self.path_column("runs", path, RUN))

    def path_column(self, table: str, path: tuple[str, ...], domain: int) -> ValueColumn:
        """A param (or context) path from the typed index columns; maps and lists from msgpack."""
        snap = self.snap
        n = snap.n_runs if table == "runs" else snap.n_seqs
        if not path:
            kind = np.full(n, OBJ, dtype=np.uint8)
            return self._decode_objects(table, path, ValueColumn(kind, domain), kind == OBJ)
        cols = snap.path_columns(table, path)
        if "k" not in cols:
            v = ValueColumn.filled(n, UNDEF, domain)
        else:
            kind = to_numpy(cols["k"], 0)
            if (kind == MAP).any():
                kind = np.where(kind == MAP, OBJ, kind).astype(np.uint8)
            v = ValueColumn(
                kind,
                domain,
                num=to_numpy(cols["n"], 0) if "n" in cols else None,
                ints=to_numpy(cols["i"], 0) if "i" in cols else None,
                strs=cols["s"].combine_chunks() if "s" in cols else None,
            )
        need = v.kind == OBJ
        truncated = snap.truncated_rows(table)
        if truncated is not None:
            need = need | (truncated & (v.kind == UNDEF))
        if need.any():
            v = self._decode_objects(table, path, v, need)
        return v

    def _decode_objects(self, table: str, path: tuple[str, ...], v: ValueColumn, rows_mask: BoolArray) -> ValueColumn:
        snap = self.snap
        rows = np.flatnonzero(rows_mask)
        trees = snap.params_of(rows) if table == "runs" else snap.contexts_of(rows)
        values = [lookup(tree, path, UNDEFINED) for tree in trees]
        decoded = ValueColumn.scatter(len(v), rows, values, None, v.domain)
        return select(rows_mask, decoded, v)

    def run_metric(self, node: ir.RunMetric) -> ValueColumn:
        """A statistic of the run's sequence (name, context), per run; undefined if it has none."""
        return self._cached(("run_metric", node), lambda: self._run_metric(node))

    def _run_metric(self, node: ir.RunMetric) -> ValueColumn:
        snap = self.snap
        n = snap.n_runs
        candidates = np.flatnonzero(strings_equal_scalar(snap.seqs.column("name"), node.name))
        kind = np.zeros(n, dtype=np.uint8)
        num: FloatArray = np.zeros(n, dtype=np.float64)
        ints: IntArray = np.zeros(n, dtype=np.int64)
        if len(candidates):
            contexts = snap.contexts_of(candidates)
            stat = self.metric_stat(node.attr).take(candidates, RUN)
            for i, (row, context) in enumerate(zip(candidates.tolist(), contexts)):
                run_row = snap.seq_run[row]
                if run_row < 0 or kind[run_row] != UNDEF or not scalar.eq(context, node.context):
                    continue
                kind[run_row] = stat.kind[i]
                num[run_row] = stat.num_[i]
                ints[run_row] = stat.ints_[i]
        return ValueColumn(kind, RUN, num=num, ints=ints)

    # -- sequences -------------------------------------------------------------------------------
    def metric_prop(self, name: str) -> ValueColumn:
        """``metric.name`` or one of :data:`~aimcol.query.ir.METRIC_STATS`."""

        def build() -> ValueColumn:
            if name == "name":
                col = self.snap.seqs.column("name").combine_chunks()
                return ValueColumn(np.full(len(col), STR, dtype=np.uint8), SEQ, strs=col)
            return self.metric_stat(name)

        return self._cached(("metric", name), build)

    def metric_stat(self, name: str) -> ValueColumn:
        """A manifest statistic per sequence: an int for int sequences, else a float (as ``Metric``)."""
        seqs = self.snap.seqs
        col = seqs.column(name)
        null = ~valid_mask(col)
        if name in ("count", "first_step", "last_step"):
            ints = to_numpy(col, 0).astype(np.int64)
            return ValueColumn(np.where(null, NONE, INT).astype(np.uint8), SEQ, num=ints.astype(np.float64), ints=ints)
        values = to_numpy(col, 0.0)
        is_int = strings_equal_scalar(seqs.column("dtype"), "int")
        as_int = is_int & np.isfinite(values) & (np.abs(values) < 2.0**63)
        ints = np.where(as_int, values, 0).astype(np.int64)
        kind = np.where(null, NONE, np.where(as_int, INT, FLOAT)).astype(np.uint8)
        return ValueColumn(kind, SEQ, num=np.where(as_int, ints.astype(np.float64), values), ints=ints)

    def context_all(self) -> ValueColumn:
        """``metric.context``: the whole context dict per sequence."""
        n = self.snap.n_seqs
        kind = np.full(n, OBJ, dtype=np.uint8)
        return self._decode_objects("seqs", (), ValueColumn(kind, SEQ), kind == OBJ)

    def context_path(self, path: tuple[str, ...]) -> ValueColumn:
        """``metric.context.<path>``; a missing key fails the row (as Aim)."""
        v = self.path_column("seqs", path, SEQ)
        return v.with_err(v.err | (v.kind == UNDEF))


def experiment_names(col: pa.Array) -> pa.Array:
    """As ``Run.experiment``: a run without an experiment (or with "") is in "default"."""
    missing = ~valid_mask(col) | strings_equal_scalar(col, "")
    if not missing.any():
        return col
    default = take(arrow_strings(["default"]), np.zeros(len(missing), dtype=np.int64))
    return where(missing, default, col)


def local_wallclock_us(ts: FloatArray) -> IntArray:
    """``datetime.fromtimestamp(t)`` as microseconds since the naive epoch, for many ``t`` at once.

    Splits each float as CPython does (modf, microseconds rounded half to even) and adds the
    local UTC offset, looked up once per distinct quarter hour (and per second where the
    offset changes inside one).
    """
    ts = np.asarray(ts, dtype=np.float64)
    if len(ts) == 0:
        return np.zeros(0, dtype=np.int64)
    intpart = np.trunc(ts)
    frac_us = np.rint((ts - intpart) * 1e6)
    carry = frac_us >= 1e6
    frac_us = np.where(carry, frac_us - 1e6, frac_us)
    intpart = np.where(carry, intpart + 1, intpart)
    neg = frac_us < 0
    frac_us = np.where(neg, frac_us + 1e6, frac_us)
    intpart = np.where(neg, intpart - 1, intpart)
    secs = intpart.astype(np.int64)
    buckets, inverse = np.unique(secs // 900, return_inverse=True)
    start_off = np.array([time.localtime(int(b) * 900).tm_gmtoff for b in buckets], dtype=np.int64)
    end_off = np.array([time.localtime(int(b) * 900 + 899).tm_gmtoff for b in buckets], dtype=np.int64)
    offsets = start_off[inverse]
    mixed = (start_off != end_off)[inverse]
    for i in np.flatnonzero(mixed):
        offsets[i] = time.localtime(int(secs[i])).tm_gmtoff
    result: IntArray = (secs + offsets) * 1_000_000 + frac_us.astype(np.int64)
    return result
