"""The run index: every run's manifest flattened into two Arrow tables, cached on disk.

``runs``: one row per run — properties, the manifest's fingerprint, the params tree as
msgpack, and for every param path (inner maps included) a *kind* column plus typed payload
columns.  ``sequences``: one row per sequence — run hash, name, context, dtype and the
manifest's summary statistics, plus the same kind/payload columns for every context path.

Column names (a path is encoded as JSON so keys may hold any character)::

    p<json path>#k   uint8    value kind (KIND_*; 0 = the run has no such param)
    p<json path>#n   float64  bool/int/float rows, as float
    p<json path>#i   int64    bool/int rows, exact
    p<json path>#s   string   str rows (null elsewhere)
    c<json path>#…   the same for a context path in the sequences table

Payloads are 0 where the kind says they do not apply, never null (zero-copy NumPy views).

The index is a cache: ``index/runs.aimcolidx`` holds both tables (magic, version, two Arrow
IPC files) and is replaced atomically, so readers never see a torn or mixed version.  Every
row carries the fingerprint (inode, size, mtime, ctime) of the manifest it was read from;
a refresh re-reads only manifests whose fingerprint changed, plus "racy" ones (modified
within :data:`RACY_SECONDS` of being read, when a second write could share the first one's
timestamp).  Which manifests to stat: all of them (a *full scan*), or — where writers keep
the change journal ``index/changes`` (:func:`note_manifest_changed`) and a full scan is
recent — only those named in the journal since, the open ones and new run folders.  A
missing, corrupt or foreign index file is rebuilt from the manifests.  Any number of
processes may refresh and rewrite it at once: the last rename wins and every version is a
valid cache.

Whether a run is *active* is never cached: it depends on who holds the run's lock now.
"""

from __future__ import annotations

import functools
import json
import os
import struct
import threading
import time
import warnings
from dataclasses import dataclass
from zlib import crc32

import msgpack
import numpy as np
import pyarrow as pa

from aimcol.errors import FormatError
from aimcol.format import manifest as manifest_io
from aimcol.format.arrow_gather import binary_items, keep_rows, strings_equal, take
from aimcol.format.arrow_numpy import validity_bits
from aimcol.format.atomic_file import atomic_write
from aimcol.format.change_journal import JOURNAL_FILE, note_manifest_changed  # noqa: F401 (re-exported)
from aimcol.format.damaged_runs import report_damaged_run
from aimcol.format.regular_files import read_regular_file
from aimcol.format.repo_layout import RepoLayout
from aimcol.format.run_lock import is_locked
from aimcol.format.segment_names import is_run_name

# ---- value kinds (stored in the #k columns) -----------------------------------------------------

(
    KIND_UNDEF,
    KIND_NONE,
    KIND_BOOL,
    KIND_INT,
    KIND_FLOAT,
    KIND_STR,
    KIND_DATETIME,
    KIND_TIMEDELTA,
    KIND_OBJ,
    KIND_MAP,
) = range(10)
"""Kinds of a value.  DATETIME and TIMEDELTA are never stored (params cannot hold them); the
query engine uses them.  OBJ (bytes, lists, ints beyond int64) and MAP are read from the
msgpack copy of the params/context."""

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

INDEX_FILE = "runs.aimcolidx"
INDEX_MAGIC = b"AIMCOLIX"
INDEX_VERSION = 2
_HEADER = struct.Struct("<8sIQI4x")  # magic, version, length of the runs IPC file, CRC-32 of what follows

RACY_SECONDS = 2.0
"""A manifest modified this recently when read may change again within one timestamp tick."""

PERSIST_MIN_CHANGES = 16
"""Rewrite the index file when a refresh re-read at least this many manifests (or runs came
or went); fewer re-reads are cheaper to repeat than the rewrite (live runs change every
second)."""

MAX_PATH_COLUMNS = 4000
"""Most param (or context) paths given typed columns; rarer paths are read from msgpack."""


# ---- Arrow <-> NumPy without pandas -----------------------------------------------------------------
# ``pa.array()``, ``pa.scalar()`` and ``Array.to_numpy()`` import pandas on first use when it is
# installed (pyarrow checks for pandas types): half a second in every fresh process, which
# is most of a cold ``aimcol query``.  The index only needs these few layouts, built from
# buffers directly.  Compute kernels given Arrow arrays and scalars never import pandas.

_NP_TYPES = {
    pa.uint8(): np.uint8,
    pa.int32(): np.int32,
    pa.int64(): np.int64,
    pa.float64(): np.float64,
    pa.uint32(): np.uint32,
}
_ARROW_TYPES = {np.dtype(v): k for k, v in _NP_TYPES.items()}


def _chunks(column) -> list:
    return column.chunks if isinstance(column, pa.ChunkedArray) else [column]


def np_valid(column) -> np.ndarray:
    """True where a (chunked) array is not null."""
    parts = []
    for c in _chunks(column):
        if c.null_count == 0:
            parts.append(np.ones(len(c), dtype=bool))
        elif c.type == pa.null() or c.buffers()[0] is None:
            parts.append(np.zeros(len(c), dtype=bool))
        else:
            parts.append(validity_bits(c.buffers()[0], c.offset, len(c)))
    return np.concatenate(parts) if len(parts) != 1 else parts[0]


def np_values(column, null_fill=0) -> np.ndarray:
    """The values of a bool or fixed-width numeric (chunked) array; nulls become ``null_fill``."""
    dtype = np.dtype(bool) if column.type == pa.bool_() else np.dtype(_NP_TYPES.get(column.type, np.float64))
    parts = []
    for c in _chunks(column):
        n = len(c)
        if c.type == pa.null():
            parts.append(np.full(n, null_fill, dtype=dtype))
            continue
        buffers = c.buffers()
        if c.type == pa.bool_():
            data = validity_bits(buffers[1], c.offset, n) if n else np.zeros(0, dtype=bool)
        else:
            data = (
                np.frombuffer(buffers[1], dtype=dtype, count=n, offset=c.offset * dtype.itemsize)
                if n
                else np.zeros(0, dtype=dtype)
            )
        if c.null_count:
            data = np.where(np_valid(c), data, np.asarray(null_fill).astype(dtype))
        parts.append(data)
    if not parts:
        return np.zeros(0, dtype=dtype)
    return np.concatenate(parts) if len(parts) != 1 else parts[0]


def arrow_values(values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """A bool or fixed-width numeric Arrow array over ``values`` (null where ``valid`` is False)."""
    values = np.ascontiguousarray(values)
    null_count = 0
    validity = None
    if valid is not None and not valid.all():
        validity = pa.py_buffer(np.packbits(valid, bitorder="little"))
        null_count = int(len(valid) - valid.sum())
    if values.dtype == np.bool_:
        return pa.Array.from_buffers(
            pa.bool_(),
            len(values),
            [validity, pa.py_buffer(np.packbits(values, bitorder="little"))],
            null_count=null_count,
        )
    arrow_type = _ARROW_TYPES[values.dtype]
    return pa.Array.from_buffers(arrow_type, len(values), [validity, pa.py_buffer(values)], null_count=null_count)


def arrow_strings(items: list, binary: bool = False) -> pa.Array:
    """A string (or binary) array from Python str (bytes) and None."""
    encoded = [b"" if v is None else (v if binary else v.encode("utf-8")) for v in items]
    lengths = np.fromiter((len(b) for b in encoded), dtype=np.int64, count=len(encoded))
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    large = offsets[-1] >= 2**31
    valid = np.fromiter((v is not None for v in items), dtype=bool, count=len(items))
    validity = None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))
    typ = (pa.large_binary() if binary else pa.large_string()) if large else (pa.binary() if binary else pa.string())
    arr = pa.Array.from_buffers(
        typ,
        len(items),
        [validity, pa.py_buffer(offsets if large else offsets.astype(np.int32)), pa.py_buffer(b"".join(encoded))],
        null_count=int(len(valid) - valid.sum()),
    )
    return arr


def arrow_string_lists(lists: list[list[str]]) -> pa.Array:
    lengths = np.fromiter((len(v) for v in lists), dtype=np.int32, count=len(lists))
    offsets = np.zeros(len(lists) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    flat = arrow_strings([s for v in lists for s in v])
    return pa.ListArray.from_arrays(arrow_values(offsets), flat)


def arrow_scalar(value) -> pa.Scalar:
    """A typed Arrow scalar for a Python str/bytes/bool/int/float (for compute kernels)."""
    if isinstance(value, (str, bytes)):
        return arrow_strings([value], binary=isinstance(value, bytes))[0]
    if isinstance(value, bool):
        return arrow_values(np.array([value]))[0]
    if isinstance(value, int):
        return arrow_values(np.array([value], dtype=np.int64))[0]
    return arrow_values(np.array([value], dtype=np.float64))[0]


def arrow_column(items: list, typ: pa.DataType) -> pa.Array:
    """``pa.array(items, typ)`` for the index's column types, without importing pandas."""
    if typ in (pa.string(), pa.binary()):
        return arrow_strings(items, binary=typ == pa.binary())
    if typ == pa.list_(pa.string()):
        return arrow_string_lists(items)
    valid = np.fromiter((v is not None for v in items), dtype=bool, count=len(items))
    dtype = np.dtype(bool) if typ == pa.bool_() else np.dtype(_NP_TYPES[typ])
    values = np.fromiter((0 if v is None else v for v in items), dtype=dtype, count=len(items))
    return arrow_values(values, valid)


def stored_kind(value) -> int:
    t = type(value)
    if t is bool:
        return KIND_BOOL
    if t is int:
        return KIND_INT if INT64_MIN <= value <= INT64_MAX else KIND_OBJ
    if t is float:
        return KIND_FLOAT
    if t is str:
        return KIND_STR
    if value is None:
        return KIND_NONE
    if t is dict:
        return KIND_MAP
    return KIND_OBJ


def path_column(prefix: str, path: tuple) -> str:
    return prefix + json.dumps(list(path), ensure_ascii=False, separators=(",", ":"))


def parse_path_column(name: str) -> tuple[str, tuple, str] | None:
    """``"p[\\"a\\",\\"b\\"]#k"`` → ``("p", ("a", "b"), "k")``; None for other columns."""
    if len(name) < 4 or name[0] not in "pc" or name[1] != "[" or name[-2] != "#":
        return None
    try:
        path = tuple(json.loads(name[1:-2]))
    except ValueError:
        return None
    return name[0], path, name[-1]


# ---- building tables from manifests ----------------------------------------------------------------


def _walk_tree(tree: dict, prefix: tuple, out: dict, row: int) -> None:
    """Every node of a params/context tree (inner maps too) as ``out[path][row] = value``."""
    for key, value in tree.items():
        path = prefix + (key,)
        out.setdefault(path, {})[row] = value
        if type(value) is dict:
            _walk_tree(value, path, out, row)


def _path_columns(prefix: str, nodes: dict, n: int) -> dict[str, pa.Array]:
    """Kind and payload columns for each path, from ``{path: {row: value}}``.

    With more than :data:`MAX_PATH_COLUMNS` distinct paths the rarest ones get no columns;
    the rows that hold them are flagged in ``<prefix>#truncated`` and the engine reads
    those paths from the msgpack copy.
    """
    columns: dict[str, pa.Array] = {}
    if len(nodes) > MAX_PATH_COLUMNS:
        ranked = sorted(nodes, key=lambda p: (-len(nodes[p]), len(p)))
        truncated = np.zeros(n, dtype=bool)
        for path in ranked[MAX_PATH_COLUMNS:]:
            truncated[list(nodes[path])] = True
        nodes = {p: nodes[p] for p in ranked[:MAX_PATH_COLUMNS]}
        columns[prefix + "#truncated"] = arrow_values(truncated)
    for path, by_row in nodes.items():
        kinds = np.zeros(n, dtype=np.uint8)
        nums = ints = strs = None
        for row, value in by_row.items():
            k = stored_kind(value)
            kinds[row] = k
            if k in (KIND_BOOL, KIND_INT, KIND_FLOAT):
                if nums is None:
                    nums = np.zeros(n, dtype=np.float64)
                    ints = np.zeros(n, dtype=np.int64)
                nums[row] = float(value)
                if k != KIND_FLOAT:
                    ints[row] = int(value)
            elif k == KIND_STR:
                if strs is None:
                    strs = [None] * n
                strs[row] = value
        name = path_column(prefix, path)
        columns[name + "#k"] = arrow_values(kinds)
        if nums is not None:
            columns[name + "#n"] = arrow_values(nums)
            columns[name + "#i"] = arrow_values(ints)
        if strs is not None:
            columns[name + "#s"] = arrow_strings(strs)
    return columns


def _context_json(context: dict) -> str:
    return json.dumps(context, sort_keys=True, default=str)


def _opt_float(value):
    return None if value is None else float(value)


def _opt_int(value):
    return None if value is None else int(value)


@dataclass
class ManifestRecord:
    """One run's manifest with the fingerprint of the file it came from."""

    manifest: dict
    fingerprint: tuple[int, int, int, int]  # inode, size, mtime_ns, ctime_ns
    read_at: float


def _record_rows(rec: ManifestRecord) -> tuple[dict, dict, list]:
    """One run's row of the runs table, its params tree, and its sequences' rows with contexts."""
    m = rec.manifest
    params = m.get("params") or {}
    seqs = m.get("sequences") or []
    ino, size, mtime_ns, ctime_ns = rec.fingerprint
    tags = m.get("tags") or []
    props = {
        "hash": str(m["hash"]),
        "name": m.get("name"),
        "description": m.get("description"),
        "experiment": m.get("experiment"),
        "tags": [str(t) for t in tags],
        "archived": bool(m.get("archived")),
        "creation_time": float(m["creation_time"]),
        "end_time": _opt_float(m.get("end_time")),
        "params": msgpack.packb(params, use_bin_type=True),
        "n_seq": len(seqs),
        "m_ino": ino,
        "m_size": size,
        "m_mtime_ns": mtime_ns,
        "m_ctime_ns": ctime_ns,
        "racy": rec.read_at - mtime_ns / 1e9 < RACY_SECONDS,
    }
    for key in ("name", "description", "experiment"):
        if props[key] is not None and not isinstance(props[key], str):
            raise TypeError(f"{key} is not a str")
    if not isinstance(params, dict):
        raise TypeError("params is not a map")
    rows = []
    for seq in seqs:
        context = seq.get("context") or {}
        if not isinstance(context, dict):
            raise TypeError("context is not a map")
        row = {
            "run": props["hash"],
            "seq_id": int(seq["id"]),
            "name": str(seq["name"]),
            "context": _context_json(context),
            "context_mp": msgpack.packb(context, use_bin_type=True),
            "dtype": str(seq.get("dtype", "float")),
            "count": int(seq.get("count") or 0),
            "first_step": _opt_int(seq.get("first_step")),
            "last_step": _opt_int(seq.get("last_step")),
        }
        for key in ("first", "last", "min", "max"):
            row[key] = _opt_float(seq.get(key))
        rows.append((row, context))
    return props, params, rows


def build_tables(records: list[ManifestRecord]) -> tuple[pa.Table, pa.Table]:
    """The runs and sequences tables for these manifests (one row per run / sequence).

    A manifest whose fields have the wrong types is left out (``aimcol check`` reports it).
    """
    props: dict[str, list] = {
        k: []
        for k in (
            "hash",
            "name",
            "description",
            "experiment",
            "tags",
            "archived",
            "creation_time",
            "end_time",
            "params",
            "n_seq",
            "m_ino",
            "m_size",
            "m_mtime_ns",
            "m_ctime_ns",
            "racy",
        )
    }
    param_nodes: dict[tuple, dict] = {}
    seq_cols: dict[str, list] = {
        k: []
        for k in (
            "run",
            "seq_id",
            "name",
            "context",
            "context_mp",
            "dtype",
            "count",
            "first",
            "last",
            "min",
            "max",
            "first_step",
            "last_step",
        )
    }
    context_nodes: dict[tuple, dict] = {}
    s = 0
    row = 0
    for rec in records:
        try:
            run_props, run_params, run_seqs = _record_rows(rec)
        except (KeyError, TypeError, ValueError, OverflowError, AttributeError):
            continue  # a manifest that passed validation but still holds nonsense: leave it out
        for key, value in run_props.items():
            props[key].append(value)
        _walk_tree(run_params, (), param_nodes, row)
        for seq_row, context in run_seqs:
            for key, value in seq_row.items():
                seq_cols[key].append(value)
            _walk_tree(context, (), context_nodes, s)
            s += 1
        row += 1
    n = row
    runs = {
        "hash": arrow_column(props["hash"], pa.string()),
        "name": arrow_column(props["name"], pa.string()),
        "description": arrow_column(props["description"], pa.string()),
        "experiment": arrow_column(props["experiment"], pa.string()),
        "tags": arrow_column(props["tags"], pa.list_(pa.string())),
        "archived": arrow_column(props["archived"], pa.bool_()),
        "creation_time": arrow_column(props["creation_time"], pa.float64()),
        "end_time": arrow_column(props["end_time"], pa.float64()),
        "params": arrow_column(props["params"], pa.binary()),
        "n_seq": arrow_column(props["n_seq"], pa.int32()),
        "m_ino": arrow_column(props["m_ino"], pa.int64()),
        "m_size": arrow_column(props["m_size"], pa.int64()),
        "m_mtime_ns": arrow_column(props["m_mtime_ns"], pa.int64()),
        "m_ctime_ns": arrow_column(props["m_ctime_ns"], pa.int64()),
        "racy": arrow_column(props["racy"], pa.bool_()),
    }
    runs.update(_path_columns("p", param_nodes, n))
    seqs = {
        "run": arrow_column(seq_cols["run"], pa.string()),
        "seq_id": arrow_column(seq_cols["seq_id"], pa.int32()),
        "name": arrow_column(seq_cols["name"], pa.string()),
        "context": arrow_column(seq_cols["context"], pa.string()),
        "context_mp": arrow_column(seq_cols["context_mp"], pa.binary()),
        "dtype": arrow_column(seq_cols["dtype"], pa.string()),
        "count": arrow_column(seq_cols["count"], pa.int64()),
        "first": arrow_column(seq_cols["first"], pa.float64()),
        "last": arrow_column(seq_cols["last"], pa.float64()),
        "min": arrow_column(seq_cols["min"], pa.float64()),
        "max": arrow_column(seq_cols["max"], pa.float64()),
        "first_step": arrow_column(seq_cols["first_step"], pa.int64()),
        "last_step": arrow_column(seq_cols["last_step"], pa.int64()),
    }
    seqs.update(_path_columns("c", context_nodes, s))
    return pa.table(runs), pa.table(seqs)


def _fill_payload_nulls(table: pa.Table) -> pa.Table:
    """After concatenating tables with different path columns: absent means kind 0, payload 0."""
    for i, name in enumerate(table.column_names):
        col = table.column(i)
        if col.null_count == 0:
            continue
        if name[-2:] in ("#k", "#n", "#i"):
            table = table.set_column(i, name, arrow_values(np_values(col, 0)))  # same type: np_values keeps it
        elif name.endswith("#truncated"):
            table = table.set_column(i, name, arrow_values(np_values(col, False)))
    return table


def _concat(old: pa.Table, new: pa.Table) -> pa.Table:
    if old.num_rows == 0:
        return new
    if new.num_rows == 0:
        return old
    return _fill_payload_nulls(pa.concat_tables([old, new], promote_options="default"))


def _drop_empty_path_columns(table: pa.Table) -> pa.Table:
    """Path columns no row uses any more (a param was deleted everywhere)."""
    drop = []
    names = table.column_names
    for name in names:
        if name.endswith("#k"):
            col = table.column(name)
            if not (np_values(col) != 0).any():
                base = name[:-2]
                drop.extend(n for n in (base + "#k", base + "#n", base + "#i", base + "#s") if n in names)
    return table.drop_columns(drop) if drop else table


# ---- the on-disk cache -------------------------------------------------------------------------------


def _serialize(table: pa.Table) -> pa.Buffer:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def write_index_file(path: str, runs: pa.Table, seqs: pa.Table) -> None:
    runs_buf = _serialize(runs)
    seqs_buf = _serialize(seqs)
    body = runs_buf.to_pybytes() + seqs_buf.to_pybytes()
    header = _HEADER.pack(INDEX_MAGIC, INDEX_VERSION, runs_buf.size, crc32(body))
    atomic_write(path, header + body, fsync=False)


class IndexFileError(Exception):
    """The index file is missing, from another version, or damaged: rebuild it.

    ``damaged`` is True when the file is there, of this version, and its bytes are wrong."""

    def __init__(self, reason: str, damaged: bool = False):
        super().__init__(reason)
        self.damaged = damaged


def read_index_file(path: str) -> tuple[pa.Table, pa.Table]:
    """Both tables of the index file, after checking all of its bytes against the header's CRC.

    Nothing of a damaged file reaches Arrow: the bytes are read into memory (never
    memory-mapped: a file truncated under a map kills the process with SIGBUS) and
    checksummed first.  Raises :class:`IndexFileError`; anything wrong means "rebuild".
    """
    try:
        data, _ = read_regular_file(path, what="run index")
    except FileNotFoundError:
        raise IndexFileError("missing") from None
    except (OSError, FormatError) as exc:
        raise IndexFileError(str(exc), damaged=True) from None
    if len(data) < _HEADER.size:
        raise IndexFileError("truncated", damaged=True)
    magic, version, runs_len, crc = _HEADER.unpack_from(data, 0)
    if magic != INDEX_MAGIC or version != INDEX_VERSION:
        raise IndexFileError(f"not a version {INDEX_VERSION} run index", damaged=magic != INDEX_MAGIC)
    start = _HEADER.size
    if start + runs_len > len(data) or crc32(memoryview(data)[start:]) != crc:
        raise IndexFileError("its checksum does not match", damaged=True)
    try:
        buf = pa.py_buffer(data)
        runs = pa.ipc.open_file(buf.slice(start, runs_len)).read_all()
        seqs = pa.ipc.open_file(buf.slice(start + runs_len)).read_all()
        if runs.num_rows:
            runs.validate(full=False)
        if seqs.num_rows:
            seqs.validate(full=False)
    except (pa.ArrowException, ValueError, struct.error, OSError) as exc:
        raise IndexFileError(str(exc), damaged=True) from None
    for name in ("hash", "m_mtime_ns", "params", "n_seq"):
        if name not in runs.column_names:
            raise IndexFileError(f"no column {name}", damaged=True)
    for name in ("run", "seq_id", "name", "context_mp"):
        if name not in seqs.column_names:
            raise IndexFileError(f"no column {name}", damaged=True)
    return runs, seqs


# ---- the index of one repository ------------------------------------------------------------------


def _sequence_owners(runs: pa.Table, seqs: pa.Table) -> np.ndarray:
    """For each row of ``seqs``, the row of its run in ``runs`` (-1 if none).

    The tables are built run by run, so a run's ``n_seq`` sequences follow each other in
    run order; that layout is checked with one vectorised string comparison, and a dict
    maps the hashes only if it does not hold.
    """
    if seqs.num_rows == 0:
        return np.zeros(0, dtype=np.int64)
    owners = np.repeat(np.arange(runs.num_rows, dtype=np.int64), np_values(runs.column("n_seq")).astype(np.int64))
    run_col = seqs.column("run")
    if len(owners) == seqs.num_rows and strings_equal(run_col, take(runs.column("hash"), owners)).all():
        return owners
    row_of = {h: i for i, h in enumerate(runs.column("hash").to_pylist())}
    return np.fromiter((row_of.get(h, -1) for h in run_col.to_pylist()), dtype=np.int64, count=seqs.num_rows)


@dataclass
class IndexSnapshot:
    """Consistent runs and sequences tables at one moment.

    ``seq_run`` maps each sequence row to its run row.  Treat the tables as read-only.
    """

    runs: pa.Table
    seqs: pa.Table
    seq_run: np.ndarray
    layout: RepoLayout

    @property
    def n_runs(self) -> int:
        return self.runs.num_rows

    @property
    def n_seqs(self) -> int:
        return self.seqs.num_rows

    @classmethod
    def from_tables(cls, runs: pa.Table, seqs: pa.Table, layout: RepoLayout) -> IndexSnapshot:
        return cls(runs, seqs, _sequence_owners(runs, seqs), layout)

    def active(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Whether a writer holds each run now (rows of the runs table; all by default).

        Runs with an ``end_time`` were closed and are not active; the lock is tried only
        for the others (running or crashed), so this is cheap with many finished runs.
        """
        end = self.runs.column("end_time")
        open_mask = ~np_valid(end)
        if rows is not None:
            open_mask = open_mask[rows]
        out = np.zeros(len(open_mask), dtype=bool)
        hashes = self.runs.column("hash")
        for i in np.flatnonzero(open_mask):
            row = int(rows[i]) if rows is not None else int(i)
            out[i] = is_locked(self.layout.lock_path(hashes[row].as_py()))
        return out

    def last_write(self) -> np.ndarray:
        """The manifest mtime of each run, seconds (for a crashed run's duration)."""
        return np_values(self.runs.column("m_mtime_ns")) / 1e9

    def path_columns(self, table: str, path: tuple) -> dict[str, pa.ChunkedArray]:
        """The ``k``/``n``/``i``/``s`` columns of a param (``table="runs"``) or context path."""
        t, names = (self.runs, self._runs_columns) if table == "runs" else (self.seqs, self._seqs_columns)
        base = path_column("p" if table == "runs" else "c", path)
        out = {}
        for suffix in ("k", "n", "i", "s"):
            name = f"{base}#{suffix}"
            if name in names:
                out[suffix] = t.column(name)
        return out

    @functools.cached_property
    def _runs_columns(self) -> frozenset[str]:
        return frozenset(self.runs.column_names)  # column_names builds a list per call

    @functools.cached_property
    def _seqs_columns(self) -> frozenset[str]:
        return frozenset(self.seqs.column_names)

    def truncated_rows(self, table: str) -> np.ndarray | None:
        """Rows whose rarest paths have no typed columns (see :func:`_path_columns`), or None."""
        t = self.runs if table == "runs" else self.seqs
        name = ("p" if table == "runs" else "c") + "#truncated"
        if name not in t.column_names:
            return None
        flags = np_values(t.column(name), False)
        return flags if flags.any() else None

    def params_of(self, rows: np.ndarray) -> list[dict]:
        blobs = binary_items(self.runs.column("params"), rows)
        return [msgpack.unpackb(b, raw=False, strict_map_key=False) for b in blobs]

    def contexts_of(self, rows: np.ndarray) -> list[dict]:
        blobs = binary_items(self.seqs.column("context_mp"), rows)
        return [msgpack.unpackb(b, raw=False, strict_map_key=False) for b in blobs]


def _stat_manifests(layout: RepoLayout, names: list[str] | None = None) -> tuple[list[str], np.ndarray]:
    """Hashes of runs with a manifest and their fingerprints (n × 4 int64).

    ``names``: only these run folders (default: every folder in ``runs/``).
    """
    runs_dir = layout.runs_dir
    if names is None:
        try:
            names = [name for name in os.listdir(runs_dir) if is_run_name(name)]
        except FileNotFoundError:
            return [], np.zeros((0, 4), dtype=np.int64)
    try:
        dir_fd = os.open(runs_dir, os.O_RDONLY)
    except OSError:
        dir_fd = None
    hashes = []
    prints: list[int] = []
    stat = os.stat
    add = prints.extend
    try:
        for name in names:  # 10,000 runs: keep the loop lean
            try:
                st = (
                    stat(name + "/manifest.msgpack", dir_fd=dir_fd)
                    if dir_fd is not None
                    else stat(os.path.join(runs_dir, name, "manifest.msgpack"))
                )
            except (FileNotFoundError, NotADirectoryError):
                continue
            hashes.append(name)
            add((st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    finally:
        if dir_fd is not None:
            os.close(dir_fd)
    return hashes, np.array(prints, dtype=np.int64).reshape(-1, 4)


def _read_records(layout: RepoLayout, hashes: list[str]) -> list[ManifestRecord]:
    """Read manifests with the fingerprint of exactly the file read (a run gone meanwhile is skipped)."""
    records = []
    for run_hash in hashes:
        path = layout.manifest_path(run_hash)
        try:
            manifest, st = manifest_io.read_manifest_file(path)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except FormatError as exc:  # queries go on without it, and say so
            report_damaged_run(layout.root, run_hash, str(exc))
            continue
        now = time.time()
        if manifest.get("hash") != run_hash:  # a copied run folder: the folder name is what opens it
            manifest = dict(manifest, hash=run_hash)
        records.append(ManifestRecord(manifest, (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns), now))
    return records


# ---- the change journal ------------------------------------------------------------------------------

"""``index/changes``: one line per manifest replacement, ``<run hash>\n``, appended by writers."""

FULL_SCAN_SECONDS = 30.0
"""Even with a journal, stat every manifest at least this often (a lost line costs at most this)."""

JOURNAL_MAX_DELTA = 1 << 20
"""Read at most this many new journal bytes; more means a full scan is as cheap."""

JOURNAL_ROTATE_BYTES = 8 << 20
"""A reader that just stat'ed everything empties a journal larger than this."""


def _journal_state(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size


def _journal_names(path: str, start: int, stop: int) -> tuple[set[str], int]:
    """Run hashes named in ``[start, stop)`` of the journal, and the offset after the last whole line."""
    try:
        with open(path, "rb") as fh:
            fh.seek(start)
            data = fh.read(stop - start)
    except OSError:
        return set(), start
    end = data.rfind(b"\n") + 1
    names = set()
    for raw in data[:end].split(b"\n"):
        try:
            name = raw.decode("ascii")
        except UnicodeDecodeError:
            continue  # a torn or interleaved line (NFS): the next full scan covers it
        if name and name.isalnum():
            names.add(name)
    return names, start + end


# ---- the index of one repository ------------------------------------------------------------------


class RunIndex:
    """The index of one repository, kept in memory between queries of this process.

    Freshness: a *full scan* stats every manifest (``runs/`` listing plus one ``stat`` per
    run).  When writers keep the change journal (:func:`note_manifest_changed`), a refresh
    within :data:`FULL_SCAN_SECONDS` of a full scan stats only the runs named in the journal
    since, the runs that are open or recently written, and new/removed run folders.

    Thread-safe: refreshes are serialised; snapshots are immutable.
    """

    def __init__(self, layout: RepoLayout):
        self.layout = layout
        self.path = os.path.join(layout.index_dir, INDEX_FILE)
        self.journal_path = os.path.join(layout.index_dir, JOURNAL_FILE)
        self._lock = threading.Lock()
        self._runs: pa.Table | None = None
        self._seqs: pa.Table | None = None
        self._row_of: dict[str, int] = {}
        self._hashes: list[str] = []
        self._snap: IndexSnapshot | None = None
        self._journal: tuple[int, int] | None = None  # (inode, bytes consumed) the tables reflect
        self._full_scan_at = 0.0
        self._runs_dir_mtime: int | None = None
        self.stats = {"loaded": 0, "rebuilt": 0, "reread": 0, "persisted": 0, "full_scans": 0}

    # -- loading -------------------------------------------------------------------------------
    def _load(self) -> bool:
        """Load the index file; False (the caller rebuilds it) when it is missing, old or damaged.

        A damaged file is reported with a ``RuntimeWarning``: the cache is rebuilt from the
        manifests, which hold everything it held.
        """
        try:
            runs, seqs = read_index_file(self.path)
        except IndexFileError as exc:
            if exc.damaged:
                self._warn_damaged(str(exc))
            return False
        meta = runs.schema.metadata or {}
        try:
            self._journal = (int(meta[b"journal_ino"]), int(meta[b"journal_offset"]))
            self._full_scan_at = float(meta[b"full_scan_at"])
        except (KeyError, ValueError):
            self._journal, self._full_scan_at = None, 0.0
        try:
            self._set(runs, seqs)
            if any(not is_run_name(h) for h in self._hashes):
                raise ValueError("a run hash that is not a plain name")
        except (pa.ArrowException, ValueError, TypeError, KeyError, IndexError, SystemError) as exc:
            self._runs = self._seqs = self._snap = None
            self._warn_damaged(str(exc))
            return False
        self.stats["loaded"] += 1
        return True

    def _warn_damaged(self, reason: str) -> None:
        self.stats["damaged"] = self.stats.get("damaged", 0) + 1
        warnings.warn(
            f"{self.path}: damaged run index ({reason}); rebuilt from the run manifests", RuntimeWarning, stacklevel=4
        )

    def _set(self, runs: pa.Table, seqs: pa.Table) -> None:
        self._snap = None
        self._runs = runs
        self._seqs = seqs
        self._hashes = runs.column("hash").to_pylist()
        self._row_of = {h: i for i, h in enumerate(self._hashes)}

    # -- refreshing ----------------------------------------------------------------------------
    def refresh(self) -> IndexSnapshot:
        """Bring the index up to date with the manifests on disk and return a snapshot."""
        with self._lock:
            if self._runs is None and not self._load():
                self._full_scan(rebuild=True)
                return self._snapshot()
            journal = _journal_state(self.journal_path)
            if self._journal_usable(journal):
                self._journal_scan(journal)
            else:
                self._full_scan()
            return self._snapshot()

    def rebuild(self) -> IndexSnapshot:
        """Re-read every manifest and rewrite the index file."""
        with self._lock:
            self._full_scan(rebuild=True)
            return self._snapshot()

    def _journal_usable(self, journal: tuple[int, int] | None) -> bool:
        return (
            journal is not None
            and self._journal is not None
            and journal[0] == self._journal[0]
            and self._journal[1] <= journal[1] <= self._journal[1] + JOURNAL_MAX_DELTA
            and time.time() - self._full_scan_at < FULL_SCAN_SECONDS
        )

    def _full_scan(self, rebuild: bool = False) -> None:
        started = time.time()
        journal = _journal_state(self.journal_path)  # before the scan: later lines are re-read later
        self._runs_dir_mtime = self._runs_dir_state()
        hashes, prints = _stat_manifests(self.layout)
        self.stats["full_scans"] += 1
        self._journal = journal
        self._full_scan_at = started
        if rebuild:
            records = _read_records(self.layout, hashes)
            runs, seqs = build_tables(records)
            self._set(runs, seqs)
            self.stats["rebuilt"] += 1
            self.stats["reread"] += len(records)
            self._persist()
        else:
            self._update(hashes, prints, gone=None)
        if journal is not None and journal[1] > JOURNAL_ROTATE_BYTES:
            try:
                atomic_write(self.journal_path, b"", fsync=False)  # readers see a new inode: full scan
                self._journal = _journal_state(self.journal_path)
            except OSError:
                pass

    def _runs_dir_state(self) -> int | None:
        try:
            return os.stat(self.layout.runs_dir).st_mtime_ns
        except OSError:
            return None

    def _journal_scan(self, journal: tuple[int, int]) -> None:
        """Stat only what may have changed since the tables were made (see the class doc)."""
        names, consumed = _journal_names(self.journal_path, self._journal[1], journal[1])
        gone: set[str] = set()
        runs_mtime = self._runs_dir_state()
        if runs_mtime != self._runs_dir_mtime or runs_mtime is None or time.time() - runs_mtime / 1e9 < RACY_SECONDS:
            # run folders came or went (or may have, within one timestamp tick)
            try:
                present = {e.name for e in os.scandir(self.layout.runs_dir) if is_run_name(e.name)}
            except FileNotFoundError:
                present = set()
            self._runs_dir_mtime = runs_mtime
            names |= present.difference(self._row_of)
            gone = set(self._row_of).difference(present)
        runs = self._runs
        unsettled = ~np_valid(runs.column("end_time")) | np_values(runs.column("racy"), False)
        names.update(self._hashes[i] for i in np.flatnonzero(unsettled))
        names -= gone
        hashes, prints = _stat_manifests(self.layout, sorted(names))
        gone |= names.difference(hashes)  # named, but its manifest is gone
        self._update(hashes, prints, gone=gone)
        self._journal = (journal[0], consumed)

    def _update(self, hashes: list[str], prints: np.ndarray, gone: set[str] | None) -> None:
        """Re-read the manifests whose fingerprint changed; drop runs that are gone.

        ``gone=None``: ``hashes`` lists every run, so a run not in it is gone.
        """
        runs, seqs = self._runs, self._seqs
        row_of = self._row_of
        rows = np.fromiter((row_of.get(h, -1) for h in hashes), dtype=np.int64, count=len(hashes))
        known = rows >= 0
        changed = ~known
        if known.any():
            kr = rows[known]
            cached = np.stack(
                [np_values(runs.column(c))[kr] for c in ("m_ino", "m_size", "m_mtime_ns", "m_ctime_ns")], axis=1
            )
            racy = np_values(runs.column("racy"), False)[kr]
            changed[known] = (cached != prints[known]).any(axis=1) | racy
        if gone is None:
            keep = np.zeros(runs.num_rows, dtype=bool)
            keep[rows[known]] = True
        else:
            keep = np.ones(runs.num_rows, dtype=bool)
            for h in gone:
                r = row_of.get(h)
                if r is not None:
                    keep[r] = False
        n_gone = int(runs.num_rows - keep.sum())
        todo = [hashes[i] for i in np.flatnonzero(changed)]
        if not todo and n_gone == 0:
            return
        records = _read_records(self.layout, todo)
        for h in todo:
            r = row_of.get(h)
            if r is not None:
                keep[r] = False  # replaced by the fresh copy (or gone)
        new_runs, new_seqs = build_tables(records)
        kept_runs = keep_rows(runs, keep)
        owner = self._snapshot().seq_run
        kept_seqs = keep_rows(seqs, (owner >= 0) & keep[owner])
        self._set(_concat(kept_runs, new_runs), _concat(kept_seqs, new_seqs))
        self.stats["reread"] += len(records)
        significant = (
            n_gone > 0 or len(records) >= PERSIST_MIN_CHANGES or any(r.manifest["hash"] not in row_of for r in records)
        )
        if significant:
            self._persist()

    def _persist(self) -> None:
        runs = _drop_empty_path_columns(self._runs)
        seqs = _drop_empty_path_columns(self._seqs)
        meta = {b"full_scan_at": repr(self._full_scan_at).encode()}
        if self._journal is not None:
            meta[b"journal_ino"] = str(self._journal[0]).encode()
            meta[b"journal_offset"] = str(self._journal[1]).encode()
        try:
            os.makedirs(self.layout.index_dir, exist_ok=True)
            write_index_file(self.path, runs.replace_schema_metadata(meta), seqs)
            self.stats["persisted"] += 1
        except OSError:
            pass  # a read-only repository still answers queries, from memory

    def _snapshot(self) -> IndexSnapshot:
        if self._snap is not None:
            return self._snap
        self._snap = IndexSnapshot.from_tables(self._runs, self._seqs, self.layout)
        return self._snap


_INDEXES: dict[str, RunIndex] = {}
_INDEXES_LOCK = threading.Lock()


def run_index(layout: RepoLayout) -> RunIndex:
    """The process-wide :class:`RunIndex` of a repository (one per ``.aimcol`` folder)."""
    with _INDEXES_LOCK:
        index = _INDEXES.get(layout.root)
        if index is None:
            index = _INDEXES[layout.root] = RunIndex(layout)
        return index


def forget_indexes() -> None:
    """Drop the in-memory indexes (tests; a process that wants a cold start)."""
    with _INDEXES_LOCK:
        _INDEXES.clear()
