"""The run index's two tables, built from manifests: ``runs`` and ``sequences``.

``runs``: one row per run — properties, the manifest's fingerprint, the params tree as
msgpack, and for every param path (inner maps included) a *kind* column plus typed payload
columns.  ``sequences``: one row per sequence — run hash, name, context, dtype and the
manifest's summary statistics, where its points are in the run's sealed files (``loc``,
msgpack of :func:`~aimcol.format.segments.sequence_locations`' parts; null while the run has
a live segment; a sealed segment named by its number), plus the same kind/payload columns
for every context path.

Column names (a path is encoded as JSON so keys may hold any character)::

    p<json path>#k   uint8    value kind (:mod:`aimcol.format.value_kinds`; 0 = no such param)
    p<json path>#n   float64  bool/int/float rows, as float
    p<json path>#i   int64    bool/int rows, exact
    p<json path>#s   string   str rows (null elsewhere)
    p#truncated      bool     rows holding paths beyond MAX_PATH_COLUMNS (read from msgpack)
    c<json path>#…   the same for a context path in the sequences table

Payloads are 0 where the kind says they do not apply, never null (zero-copy NumPy views).
Every runs row carries the fingerprint (:class:`~aimcol.format.storage.ObjectStat`) of the
manifest it was read from, and whether it was *racy* (modified within
:data:`RACY_SECONDS` of being read, when a second write could share the first one's
timestamp).
"""

from __future__ import annotations

import gc
import json
from typing import Any

import msgpack
import numpy as np
import pyarrow as pa

from aimcol.format.arrow_numpy import arrow_column, arrow_strings, to_arrow, to_numpy
from aimcol.format.last_point import recorded_last_point
from aimcol.format.param_tree import Path, collect_nodes
from aimcol.format.segment_names import is_segment_name, seal_file_name, segment_number
from aimcol.format.segments import sequence_locations
from aimcol.format.storage import ObjectStat
from aimcol.format.value_kinds import BOOL, FLOAT, INT, STR, kind_of

RACY_SECONDS = 2.0
"""A manifest modified this recently when read may change again within one timestamp tick."""

MAX_PATH_COLUMNS = 4000
"""Most param (or context) paths given typed columns; rarer paths are read from msgpack."""


def path_column(prefix: str, path: Path) -> str:
    return prefix + json.dumps(list(path), ensure_ascii=False, separators=(",", ":"))


def parse_path_column(name: str) -> tuple[str, Path, str] | None:
    """``"p[\\"a\\",\\"b\\"]#k"`` → ``("p", ("a", "b"), "k")``; None for other columns."""
    if len(name) < 4 or name[0] not in "pc" or name[1] != "[" or name[-2] != "#":
        return None
    try:
        path = tuple(json.loads(name[1:-2]))
    except ValueError:
        return None
    return name[0], path, name[-1]


def _path_columns(prefix: str, nodes: dict[Path, dict[int, Any]], n: int) -> dict[str, pa.Array]:
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
        columns[prefix + "#truncated"] = to_arrow(truncated)
    for path, by_row in nodes.items():
        kinds = np.zeros(n, dtype=np.uint8)
        nums: np.ndarray | None = None
        ints = np.zeros(0, dtype=np.int64)
        strs: list[str | None] | None = None
        for row, value in by_row.items():
            k = kind_of(value)
            kinds[row] = k
            if k in (BOOL, INT, FLOAT):
                if nums is None:
                    nums = np.zeros(n, dtype=np.float64)
                    ints = np.zeros(n, dtype=np.int64)
                nums[row] = float(value)
                if k != FLOAT:
                    ints[row] = int(value)
            elif k == STR:
                if strs is None:
                    strs = [None] * n
                strs[row] = value
        name = path_column(prefix, path)
        columns[name + "#k"] = to_arrow(kinds)
        if nums is not None:
            columns[name + "#n"] = to_arrow(nums)
            columns[name + "#i"] = to_arrow(ints)
        if strs is not None:
            columns[name + "#s"] = arrow_strings(strs)
    return columns


def _context_json(context: dict[str, Any]) -> str:
    return json.dumps(context, sort_keys=True, default=str)


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


class ManifestRecord:
    """One run's manifest with the fingerprint of the file it came from (a plain class: a
    dataclass costs ~0.2 ms to create at import, on the path of a first query)."""

    __slots__ = ("manifest", "fingerprint", "read_at")

    def __init__(self, manifest: dict[str, Any], fingerprint: ObjectStat, read_at: float):
        self.manifest = manifest
        self.fingerprint = fingerprint
        self.read_at = read_at


SEQUENCE_COLUMNS = (
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
    "loc",
)
"""The columns of the run index's sequences table, in order."""


def _run_row(rec: ManifestRecord) -> tuple[dict[str, Any], dict[str, Any], list[Any]]:
    """One run's row of the runs table, its params tree and its sequence entries."""
    m = rec.manifest
    params = m.get("params") or {}
    seqs = m.get("sequences") or []
    objects = m.get("object_sequences") or []
    ino, size, mtime_ns, ctime_ns = rec.fingerprint
    tags = m.get("tags") or []
    props = {
        "hash": str(m["hash"]),
        "name": m.get("name"),
        "description": m.get("description"),
        "notes": m.get("notes"),
        "experiment": m.get("experiment"),
        "tags": [str(t) for t in tags],
        "archived": bool(m.get("archived")),
        "creation_time": float(m["creation_time"]),
        "end_time": _opt_float(m.get("end_time")),
        "exit_status": m.get("exit_status") if isinstance(m.get("exit_status"), str) else None,
        "last_point_time": recorded_last_point(m),
        "params": msgpack.packb(params, use_bin_type=True),
        "n_seq": len(seqs),
        "n_obj": len(objects),
        "m_ino": ino,
        "m_size": size,
        "m_mtime_ns": mtime_ns,
        "m_ctime_ns": ctime_ns,
        "racy": rec.read_at - mtime_ns / 1e9 < RACY_SECONDS,
    }
    for key in ("name", "description", "notes", "experiment", "exit_status"):
        if props[key] is not None and not isinstance(props[key], str):
            raise TypeError(f"{key} is not a str")
    if not isinstance(params, dict) or not isinstance(seqs, list) or not isinstance(objects, list):
        raise TypeError("params is not a map or sequences not a list")
    return props, params, seqs


class _SequenceRows:
    """The sequences table's columns, appended one run at a time.

    A run's sequences are converted whole before any is appended, so a manifest holding
    nonsense leaves no partial rows.  Contexts repeat across runs (``{"subset": "train"}``):
    each distinct one is encoded once (10 sequences a run: ~40% of a build was ``json.dumps``).
    """

    def __init__(self) -> None:
        self.cols: dict[str, list[Any]] = {k: [] for k in SEQUENCE_COLUMNS}
        self.contexts: list[dict[str, Any]] = []
        self._encoded: dict[bytes, str] = {}

    def add_run(self, run_hash: str, seqs: list[Any], manifest: dict[str, Any]) -> None:
        rows = []
        locations = sequence_locations(manifest)
        if locations:
            _number_files(locations, manifest)
        for seq in seqs:
            context = seq.get("context") or {}
            if not isinstance(context, dict):
                raise TypeError("context is not a map")
            packed = msgpack.packb(context, use_bin_type=True)
            text = self._encoded.get(packed)
            if text is None:
                text = self._encoded[packed] = _context_json(context)
            seq_id = int(seq["id"])
            rows.append(
                (
                    run_hash,
                    seq_id,
                    str(seq["name"]),
                    text,
                    packed,
                    str(seq.get("dtype", "float")),
                    int(seq.get("count") or 0),
                    _opt_float(seq.get("first")),
                    _opt_float(seq.get("last")),
                    _opt_float(seq.get("min")),
                    _opt_float(seq.get("max")),
                    _opt_int(seq.get("first_step")),
                    _opt_int(seq.get("last_step")),
                    None if locations is None else msgpack.packb(locations.get(seq_id, []), use_bin_type=True),
                    context,
                )
            )
        if not rows:
            return
        columns = list(zip(*rows))
        for key, values in zip(SEQUENCE_COLUMNS, columns):
            self.cols[key].extend(values)
        self.contexts.extend(columns[-1])


def _number_files(locations: dict[int, list[list[Any]]], manifest: dict[str, Any]) -> None:
    """In ``loc``, a sealed segment ``seg-<6 digits>.arrow`` is kept as its number (a third of
    the column with 1,500 metrics a run); any other name as it is.  See :func:`located_file`."""
    numbers = {}
    for entry in manifest.get("segments") or ():
        name = entry.get("file")
        if isinstance(name, str) and name.startswith("seg-") and is_segment_name(name):
            number = segment_number(name)
            if seal_file_name(number) == name:
                numbers[name] = number
    if numbers:
        for parts in locations.values():
            for part in parts:
                part[0] = numbers.get(part[0], part[0])


def located_file(file: str | int) -> str:
    """The segment file name a part of ``loc`` names (a number: ``seg-<number>.arrow``)."""
    return seal_file_name(file) if isinstance(file, int) and not isinstance(file, bool) else str(file)


def decode_locations(blob: bytes | None) -> list[list[Any]] | None:
    """A sequence's ``loc`` (msgpack) as its parts with file names; None where the index does
    not know where its points are (the run had a live segment)."""
    if not blob:
        return None
    parts: list[list[Any]] = msgpack.unpackb(blob, raw=False)
    for part in parts:
        part[0] = located_file(part[0])
    return parts


def build_tables(records: list[ManifestRecord]) -> tuple[pa.Table, pa.Table]:
    """The runs and sequences tables for these manifests (one row per run / sequence).

    A manifest whose fields have the wrong types is left out (``aimcol check`` reports it).
    """
    props: dict[str, list[Any]] = {
        k: []
        for k in (
            "hash",
            "name",
            "description",
            "notes",
            "experiment",
            "tags",
            "archived",
            "creation_time",
            "end_time",
            "exit_status",
            "last_point_time",
            "params",
            "n_seq",
            "n_obj",
            "m_ino",
            "m_size",
            "m_mtime_ns",
            "m_ctime_ns",
            "racy",
        )
    }
    param_nodes: dict[Path, dict[int, Any]] = {}
    seq_rows = _SequenceRows()
    row = 0
    # the rows are millions of small containers and none is part of a cycle: with the cyclic GC
    # running, its passes over the manifests held meanwhile were 3/4 of a 1,500-metric build
    collecting = gc.isenabled()
    gc.disable()
    try:
        for rec in records:
            try:
                run_props, run_params, run_seqs = _run_row(rec)
                seq_rows.add_run(run_props["hash"], run_seqs, rec.manifest)
            except (KeyError, TypeError, ValueError, OverflowError, AttributeError):
                continue  # a manifest that passed validation but still holds nonsense: leave it out
            for key, value in run_props.items():
                props[key].append(value)
            collect_nodes(run_params, param_nodes, row)
            row += 1
    finally:
        if collecting:
            gc.enable()
    n = row
    context_nodes: dict[Path, dict[int, Any]] = {}
    for s, context in enumerate(seq_rows.contexts):
        if context:
            collect_nodes(context, context_nodes, s)
    seq_cols = seq_rows.cols
    s = len(seq_cols["run"])
    runs = {
        "hash": arrow_column(props["hash"], pa.string()),
        "name": arrow_column(props["name"], pa.string()),
        "description": arrow_column(props["description"], pa.string()),
        "notes": arrow_column(props["notes"], pa.string()),
        "experiment": arrow_column(props["experiment"], pa.string()),
        "tags": arrow_column(props["tags"], pa.list_(pa.string())),
        "archived": arrow_column(props["archived"], pa.bool_()),
        "creation_time": arrow_column(props["creation_time"], pa.float64()),
        "end_time": arrow_column(props["end_time"], pa.float64()),
        "exit_status": arrow_column(props["exit_status"], pa.string()),
        "last_point_time": arrow_column(props["last_point_time"], pa.float64()),
        "params": arrow_column(props["params"], pa.binary()),
        "n_seq": arrow_column(props["n_seq"], pa.int32()),
        "n_obj": arrow_column(props["n_obj"], pa.int32()),
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
        "loc": arrow_column(seq_cols["loc"], pa.binary()),
    }
    seqs.update(_path_columns("c", context_nodes, s))
    return pa.table(runs), pa.table(seqs)


def fill_payload_nulls(table: pa.Table) -> pa.Table:
    """After concatenating tables with different path columns: absent means kind 0, payload 0."""
    for i, name in enumerate(table.column_names):
        col = table.column(i)
        if col.null_count == 0:
            continue
        if name[-2:] in ("#k", "#n", "#i"):
            table = table.set_column(i, name, to_arrow(to_numpy(col, 0)))  # to_numpy keeps the type: 0 fits
        elif name.endswith("#truncated"):
            table = table.set_column(i, name, to_arrow(to_numpy(col, False)))
    return table


def concat_tables(old: pa.Table, new: pa.Table) -> pa.Table:
    if old.num_rows == 0:
        return new
    if new.num_rows == 0:
        return old
    return fill_payload_nulls(pa.concat_tables([old, new], promote_options="default"))


def drop_empty_path_columns(table: pa.Table) -> pa.Table:
    """Path columns no row uses any more (a param was deleted everywhere)."""
    drop: list[str] = []
    names = table.column_names
    for name in names:
        if name.endswith("#k"):
            col = table.column(name)
            if not (to_numpy(col, 0) != 0).any():
                base = name[:-2]
                drop.extend(n for n in (base + "#k", base + "#n", base + "#i", base + "#s") if n in names)
    return table.drop_columns(drop) if drop else table
