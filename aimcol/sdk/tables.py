"""The SDK's tables: fixed Arrow schemas for runs and sequences, and the one home of run status,
duration and their text forms.

``Repo.runs_table()`` and ``Repo.sequences_table()`` (and ``aimcol query --runs``, the TUI's
runs screen, ``aimcol runs ls``) all read these columns, so no consumer guesses or re-normalises
a name.  The run's key is the column ``run`` (its hash) in every table, points included, so
any two of them join on one name.

Runs table (:data:`RUNS_SCHEMA`), one row per run, newest first, then one column per param
leaf (dotted path: ``hparams.lr``; a param named like a property gets a ``param.`` prefix),
then, when asked for, metric summary columns ``<metric>.<stat>`` (``loss.last``,
``loss.min``…; a context other than ``{}`` adds its values: ``loss:val.last``).

Sequences table (:data:`SEQUENCES_SCHEMA`), one row per metric sequence, then one
``context.<key>`` column per context key, then the statistics.

Status (:func:`run_status`), computed here only:

* ``active``: a writer holds the run now;
* ``finished``: closed cleanly (it has an ``end_time``);
* ``failed`` / ``interrupted``: the writer recorded, while closing, that the training script
  raised or was interrupted (the manifest's ``exit_status``);
* ``crashed``: the writer died without closing it.

Duration (:func:`run_duration`): end (or now, while active) minus creation time.  A crashed
run has no end time; its end is the time of its newest point
(:func:`aimcol.format.last_point.last_point_time`, recorded in the manifest by the writer), which
archiving, tagging, renaming or repairing the run does not change (the manifest's modification
time did).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from aimcol.format.index_tables import SEQUENCE_COLUMNS
from aimcol.format.param_tree import dotted, flatten_dotted, flatten_tree

RUN_STATUSES = ("active", "finished", "failed", "interrupted", "crashed")
RECORDED_STATUSES = ("failed", "interrupted")
"""The manifest ``exit_status`` values that name a status of their own (``finished`` is the plain one)."""


def _field(name: str, typ: pa.DataType, doc: str, nullable: bool = True) -> pa.Field:
    return pa.field(name, typ, nullable=nullable, metadata={"doc": doc})


RUNS_SCHEMA = pa.schema(
    [
        _field("run", pa.string(), "run hash (24 hex characters); the join key of every table", False),
        _field("name", pa.string(), "run name"),
        _field("experiment", pa.string(), "experiment name ('default' when none was set)"),
        _field("description", pa.string(), "free text"),
        _field("notes", pa.string(), "free-form notes (Run.notes), editable at any time"),
        _field("tags", pa.list_(pa.string()), "tags, in the order they were added"),
        _field("archived", pa.bool_(), "hidden from queries unless they mention run.archived", False),
        _field("active", pa.bool_(), "a live process holds the run's writer lock now", False),
        _field("status", pa.string(), "one of " + ", ".join(RUN_STATUSES), False),
        _field("creation_time", pa.float64(), "unix seconds", False),
        _field("end_time", pa.float64(), "unix seconds of a clean close; null while active or crashed"),
        _field("duration", pa.float64(), "seconds: end (now while active, last point if crashed) - creation"),
    ]
)
"""The leading columns of ``Repo.runs_table()``; param and metric columns follow."""

SEQUENCES_SCHEMA = pa.schema(
    [
        _field("run", pa.string(), "run hash", False),
        _field("run_name", pa.string(), "the run's name"),
        _field("experiment", pa.string(), "the run's experiment"),
        _field("seq_id", pa.int32(), "the sequence's id inside its run", False),
        _field("name", pa.string(), "metric name", False),
        _field("context", pa.string(), "context as JSON with sorted keys ('{}' for none)", False),
        _field("dtype", pa.string(), "value type of the points"),
        _field("count", pa.int64(), "number of points"),
        _field("first", pa.float64(), "first value"),
        _field("last", pa.float64(), "last value"),
        _field("min", pa.float64(), "smallest value"),
        _field("max", pa.float64(), "largest value"),
        _field("first_step", pa.int64(), "first step"),
        _field("last_step", pa.int64(), "last step"),
    ]
)
"""The columns of ``Repo.sequences_table()``; ``context.<key>`` columns sit after ``context``."""

METRIC_STATS = ("last", "min", "max", "first", "count", "last_step")
"""The statistics a runs table can carry per metric (``runs_table(metrics=...)``)."""


# ---- status and duration ---------------------------------------------------------------------------


def run_status(active: bool, end_time: float | None, recorded: str | None = None) -> str:
    """The status of one run (see the module docstring); ``recorded`` is the manifest's ``exit_status``."""
    if active:
        return "active"
    if recorded in RECORDED_STATUSES:
        return recorded
    if end_time is None or (isinstance(end_time, float) and math.isnan(end_time)):
        return "crashed"
    return "finished"


def run_statuses(active: np.ndarray, has_end: np.ndarray, recorded: list | None = None) -> pa.Array:
    """:func:`run_status` over arrays (``recorded``: the manifest ``exit_status`` per run, or None)."""
    from aimcol.format.arrow_gather import take
    from aimcol.format.arrow_numpy import arrow_strings

    code = {name: i for i, name in enumerate(RUN_STATUSES)}
    codes = np.where(active, code["active"], np.where(has_end, code["finished"], code["crashed"]))
    if recorded is not None:
        for i, value in enumerate(recorded):
            if value in RECORDED_STATUSES and not active[i]:
                codes[i] = code[value]
    # gathered from the five names: pa.array over Python strings would import pandas to probe them
    return take(arrow_strings(list(RUN_STATUSES)), codes.astype(np.int64))


def run_duration(creation_time: float, end_time: float | None, active: bool, now: float, last_point: float) -> float:
    """Seconds from creation to the end (``now`` while active, ``last_point`` for a crashed run)."""
    if end_time is not None and not (isinstance(end_time, float) and math.isnan(end_time)):
        end = end_time
    else:
        end = now if active else last_point
    return max(0.0, end - creation_time)


def format_duration(seconds: float | None) -> str:
    """``42s``, ``3m05s``, ``2h01m``, ``3d04h``; ``""`` for None/NaN.  The one text form of a duration."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return ""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


# ---- building the tables from an index snapshot ----------------------------------------------------


def parse_metric_columns(specs) -> list[tuple[str, tuple[str, ...]]]:
    """``["loss", "accuracy.max"]`` → ``[("loss", ("last", "min", "max")), ("accuracy", ("max",))]``.

    A spec is a metric name (its last, min and max) or ``name.stat`` with a stat of
    :data:`METRIC_STATS`; a name that itself contains dots is matched whole first.
    """
    out: dict[str, list[str]] = {}
    for spec in specs or ():
        name, _, stat = spec.rpartition(".")
        if not name or stat not in METRIC_STATS:
            name, stats = spec, ["last", "min", "max"]
        else:
            stats = [stat]
        chosen = out.setdefault(name, [])
        chosen += [s for s in stats if s not in chosen]
    return [(name, tuple(stats)) for name, stats in out.items()]


def _metric_columns(snap, rows: np.ndarray, specs) -> dict[str, pa.Array]:
    """``<metric>[:<context values>].<stat>`` columns for the runs ``rows`` (null where a run lacks it)."""
    from aimcol.format.arrow_gather import strings_equal_scalar, take
    from aimcol.format.arrow_numpy import to_numpy, valid_mask

    out: dict[str, pa.Array] = {}
    specs = parse_metric_columns(specs)
    if not specs:
        return out  # the sequences table is not read at all
    snap = snap.sequences_named(name for name, _ in specs)  # read a batch at a time: bounded memory
    seqs = snap.seqs
    for name, stats in specs:
        matching = np.flatnonzero(strings_equal_scalar(seqs.column("name"), name))
        if not len(matching):
            continue
        contexts = take(seqs.column("context"), matching).to_pylist()
        context_dicts = snap.contexts_of(matching)
        for context in dict.fromkeys(contexts):
            picked = matching[np.array([c == context for c in contexts])]
            values = [v for _, v in sorted(context_dicts[contexts.index(context)].items())]
            label = ":".join([name, *(v if isinstance(v, str) else str(v) for v in values)])
            position = np.full(snap.runs.num_rows, -1, dtype=np.int64)
            position[snap.seq_run[picked]] = picked
            found = position[rows]
            safe = np.where(found >= 0, found, 0)
            for stat in stats:
                gathered = take(seqs.column(stat), safe)
                out[f"{label}.{stat}"] = numpy_column(to_numpy(gathered, 0), (found >= 0) & valid_mask(gathered))
    return out


def build_runs_table(snap, rows: np.ndarray, now: float, metrics=None, *, params: bool = True) -> pa.Table:
    """The runs table (:data:`RUNS_SCHEMA` + params, + metric columns for ``metrics``) of ``rows``.

    ``params=False``: no param columns (a listing of 100,000 runs with many params need not
    build a column per param).
    """
    from aimcol.format.arrow_gather import take
    from aimcol.format.arrow_numpy import to_arrow, to_numpy, valid_mask
    from aimcol.query import experiment_names
    from aimcol.sdk import query_results as qr

    runs = snap.runs
    active = snap.active(rows) if len(rows) else np.zeros(0, dtype=bool)
    created = to_numpy(runs.column("creation_time"), 0)[rows]
    end = take(runs.column("end_time"), rows)
    has_end = valid_mask(end)
    end_np = to_numpy(end, np.nan)
    finish = np.where(has_end, end_np, np.where(active, now, np.nan))
    hashes = take(runs.column("hash"), rows)
    crashed = np.flatnonzero(~has_end & ~active)  # their end is their last point
    finish[crashed] = snap.last_points(np.asarray(rows)[crashed])
    recorded = take(runs.column("exit_status"), rows).to_pylist() if "exit_status" in runs.column_names else None
    out: dict[str, Any] = {
        "run": hashes,
        "name": take(runs.column("name"), rows),
        "experiment": experiment_names(take(runs.column("experiment"), rows)),
        "description": take(runs.column("description"), rows),
        "notes": take(runs.column("notes"), rows),
        "tags": take(runs.column("tags"), rows),
        "archived": take(runs.column("archived"), rows),
        "active": to_arrow(active),
        "status": run_statuses(active, has_end, recorded),
        "creation_time": to_arrow(created),
        "end_time": end,
        "duration": to_arrow(np.maximum(0.0, finish - created)),
    }
    for path in qr._param_leaf_paths(snap) if params else ():
        name = dotted(path)
        if name in out:  # a param named like a property, or "a.b" beside a → b
            name = "param." + name
        if name in out:
            import json

            name = json.dumps(list(path))
        out[name] = qr._param_column(snap, path, rows)
    for name, column in _metric_columns(snap, rows, metrics).items():
        out[name if name not in out else "metric." + name] = column
    return _as_table(out, RUNS_SCHEMA)


SEQUENCE_INDEX_COLUMNS = tuple(c for c in SEQUENCE_COLUMNS if c != "loc")
"""The columns of the run index's sequences table that :func:`build_sequences_table` reads."""


def build_sequences_table(snap, rows: np.ndarray, columns: Sequence[str] | None = None) -> pa.Table:
    """The sequences table (:data:`SEQUENCES_SCHEMA` + ``context.<key>``) of ``rows`` of a
    snapshot; only ``columns`` of it where given (no ``context.<key>`` columns unless asked)."""
    from aimcol.format.arrow_gather import take
    from aimcol.query import experiment_names
    from aimcol.sdk import query_results as qr

    def wanted(name: str) -> bool:
        return columns is None or name in columns

    seqs = snap.seqs
    run_rows = snap.seq_run[rows]
    out: dict[str, Any] = {}
    for name in ("run", "run_name", "experiment", "seq_id", "name", "context"):
        if not wanted(name):
            continue
        if name == "run_name":
            out[name] = take(snap.runs.column("name"), run_rows)
        elif name == "experiment":
            out[name] = experiment_names(take(snap.runs.column("experiment"), run_rows))
        else:
            out[name] = take(seqs.column(name), rows)
    if columns is None or any(c.startswith("context.") for c in columns):
        for path, values in _context_columns(snap, rows).items():
            if wanted("context." + dotted(path)):
                out["context." + dotted(path)] = qr._column_from_values(values)
    for name in ("dtype", "count", "first", "last", "min", "max", "first_step", "last_step"):
        if wanted(name):
            out[name] = take(seqs.column(name), rows)
    return _as_table(out, SEQUENCES_SCHEMA)


def sequence_index_columns(columns: Sequence[str] | None) -> tuple[str, ...]:
    """The columns of the run index's sequences table :func:`build_sequences_table` reads to
    build ``columns`` (all of them: None), in order."""
    if columns is None:
        return SEQUENCE_INDEX_COLUMNS
    from aimcol.errors import UnknownColumnError

    for name in columns:
        if not isinstance(name, str) or (name not in SEQUENCES_SCHEMA.names and not name.startswith("context.")):
            raise UnknownColumnError(
                f"the sequences table has no column {name!r} (its columns: {', '.join(SEQUENCES_SCHEMA.names)}, "
                "context.<key>)"
            )
    if any(c.startswith("context.") for c in columns):
        return SEQUENCE_INDEX_COLUMNS
    return tuple(c for c in SEQUENCE_INDEX_COLUMNS if c in columns or c in ("run", "seq_id"))


INDEX_PENDING_KEY = b"aimcol.index_pending"
"""Schema metadata of a runs table answered while the run index was still being built: how
many runs it leaves out (absent when none)."""


def mark_index_pending(table: pa.Table, pending: int) -> pa.Table:
    """``table`` marked as leaving out ``pending`` runs not yet indexed (unchanged when 0)."""
    if not pending:
        return table
    return table.replace_schema_metadata({**(table.schema.metadata or {}), INDEX_PENDING_KEY: str(pending).encode()})


def index_pending(table: pa.Table) -> int:
    """How many runs a runs table leaves out because the run index is still being built."""
    return int((table.schema.metadata or {}).get(INDEX_PENDING_KEY, b"0"))


def _context_columns(snap, rows: np.ndarray) -> dict[tuple, list]:
    """``{context path: value per row}`` for sequence ``rows``.  Each distinct context is
    decoded once: 1,500 runs x 1,500 metrics are 2.25 million rows with a handful of contexts."""
    import msgpack

    from aimcol.format.arrow_gather import binary_items

    if not len(rows):
        return {}
    blobs = binary_items(snap.seqs.column("context_mp"), rows)
    flat: dict[bytes, dict] = {}
    for blob in dict.fromkeys(blobs):  # in order of first appearance: columns in a stable order
        flat[blob] = flatten_tree(msgpack.unpackb(blob, raw=False, strict_map_key=False)) if blob else {}
    paths: dict[tuple, None] = {}
    for tree in flat.values():
        for p in tree:
            paths.setdefault(p, None)
    return {path: [flat[b].get(path) for b in blobs] for path in paths}


def _as_table(columns: dict[str, Any], schema: pa.Schema) -> pa.Table:
    """A table whose schema's columns have exactly the documented types (and field docs)."""
    arrays = {}
    fields = []
    for name, column in columns.items():
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        index = schema.get_field_index(name)
        if index >= 0:
            field = schema.field(index)
            if column.type != field.type:
                column = column.cast(field.type)
            fields.append(field.with_nullable(True) if column.null_count else field)
        else:
            fields.append(pa.field(name, column.type))
        arrays[name] = column
    return pa.Table.from_arrays(list(arrays.values()), schema=pa.schema(fields))


# ---- pandas and params -----------------------------------------------------------------------------


def require_pandas(what: str):
    """Import pandas or explain which extra to install."""
    try:
        import pandas
    except ImportError:
        raise ImportError(f"{what} needs pandas: pip install 'aimcol[pandas]' (or pip install pandas)") from None
    return pandas


flatten_params = flatten_dotted
"""``{"hparams": {"lr": 1}}`` → ``{"hparams.lr": 1}``; lists stay as values (the one flatten
lives in :mod:`aimcol.format.param_tree`)."""


def run_row(run, *, include_props: bool = True, include_params: bool = True) -> dict:
    row = {"hash": run.hash}
    if include_props:
        row.update(
            name=run.name,
            experiment=run.experiment,
            description=run.description,
            tags=run.tags,
            archived=run.archived,
            creation_time=run.creation_time,
            end_time=run.end_time,
            active=run.active,
        )
    if include_params:
        row.update(flatten_params(run._manifest["params"]))
    return row


# ---- one run, read-only ------------------------------------------------------------------------------


def status_of(run) -> str:
    """:func:`run_status` of a ``Run`` object."""
    return run_status(run.active, run.end_time, run._manifest.get("exit_status"))


def duration_of(run, now: float | None = None) -> float:
    """:func:`run_duration` of a ``Run`` object (a crashed run ends at its last point)."""
    import time

    from aimcol.format.last_point import last_point_time

    active = run.active
    end = run.end_time
    last = float(run.creation_time)
    if end is None and not active:
        last = last_point_time(run.repo.layout, run._manifest)
    return run_duration(run.creation_time, end, active, time.time() if now is None else now, last)


# ---- column helpers for consumers of these tables (the TUI, the CLI) -----------------------------------
# Thin, public names over the format layer's Arrow<->NumPy functions: they avoid pyarrow.compute,
# whose import costs ~0.3 s before a first paint.


def take_rows(data: pa.Table | pa.Array | pa.ChunkedArray, rows: np.ndarray):
    """Rows ``rows`` (int64 indices) of a table or column, without importing pyarrow.compute."""
    from aimcol.format.arrow_gather import take, take_table

    return take_table(data, rows) if isinstance(data, pa.Table) else take(data, rows)


def column_numpy(column, fill=0) -> np.ndarray:
    """A bool or numeric column as NumPy values; nulls become ``fill``."""
    from aimcol.format.arrow_numpy import to_numpy

    return to_numpy(column, fill)


def column_valid(column) -> np.ndarray:
    """A column's validity as a bool array (True: not null)."""
    from aimcol.format.arrow_numpy import valid_mask

    return valid_mask(column)


def numpy_column(values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """A NumPy array as an Arrow column, null where ``valid`` is False."""
    from aimcol.format.arrow_numpy import to_arrow

    return to_arrow(values, valid)


def string_column(values: list) -> pa.Array:
    """Python strings (or None) as an Arrow string column, without pa.array's pandas probe."""
    from aimcol.format.arrow_numpy import arrow_strings

    return arrow_strings(values)


def strings_equal(column, value: str) -> np.ndarray:
    """Bool mask of the rows of a string column equal to ``value``."""
    from aimcol.format.arrow_gather import strings_equal_scalar

    return strings_equal_scalar(column, value)
