"""``Repo.query_images`` / ``query_texts`` / ``query_distributions`` / ``query_audios`` /
``query_figure_objects``: AimQL over object sequences, as Aim names them.

A query calls the sequence by its collection name (``images.name == "samples" and
images.context.subset == "val" and run.hparams.lr < 0.01``); the AimQL engine is the one
``query_metrics`` uses, with the same whitelist and cost bounds.  The run index holds the
metric sequences only and, per run, how many object sequences it has (``n_obj``), so the
object sequences of the candidate runs (not archived, unless the query mentions
``run.archived``; having objects) come from their manifests: a table of them in the
index's sequence layout joins the index's snapshot, the engine selects rows of it, and only
the object rows are kept.  Points are read from ``objects.log`` when the caller iterates or
asks for a table; blobs only when an object's bytes are used.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa

from aimcol.errors import FormatError
from aimcol.format.arrow_numpy import arrow_column, arrow_strings, to_arrow, to_numpy
from aimcol.format.damaged_runs import report_damaged_run
from aimcol.format.index_tables import ManifestRecord, build_tables
from aimcol.format.manifest import read_manifest
from aimcol.format.run_index import IndexSnapshot
from aimcol.format.storage import ObjectStat
from aimcol.query import match_sequences, parse_query
from aimcol.sdk.object_sequences import Audios, Distributions, Figures, Images, ObjectSequence, Texts
from aimcol.sdk.query_results import (
    _column_from_values,
    _newest_first,
    _Runs,
    _runs_of,
    _sequence_rows_by_run,
    _snapshot,
)
from aimcol.sdk.types import QueryReportMode, report_mode_of, with_progress

_NO_STAT = ObjectStat(0, 0, 0, 0)


def _object_snapshot(repo, snap: IndexSnapshot, dtypes: tuple[str, ...], include_archived: bool):
    """The snapshot whose sequences table holds the candidate runs' object sequences of
    ``dtypes``; ``(snapshot, manifests by run hash)``."""
    candidates = ~to_numpy(snap.runs.column("archived"), False) if not include_archived else None
    if "n_obj" in snap.runs.column_names:  # only the runs whose manifests list object sequences
        with_objects = to_numpy(snap.runs.column("n_obj"), 0) > 0
        candidates = with_objects if candidates is None else candidates & with_objects
    hashes = snap.runs.column("hash").to_pylist()
    rows = range(len(hashes)) if candidates is None else np.flatnonzero(candidates).tolist()
    records, manifests = [], {}
    for run_hash in (hashes[r] for r in rows):
        try:
            manifest = read_manifest(repo.layout, run_hash)
        except FileNotFoundError:
            continue  # deleted since the snapshot
        except FormatError as exc:
            report_damaged_run(repo.layout.root, run_hash, str(exc))
            continue
        entries = [e for e in manifest.get("object_sequences") or [] if e.get("dtype") in dtypes]
        if entries:
            manifests[run_hash] = manifest
            view = {**manifest, "sequences": entries}
            records.append(ManifestRecord(view, _NO_STAT, time.time()))
    # the object sequences alone: the metrics' sequences table (W10: 2.25 million rows) is not read
    _, object_seqs = build_tables(records)
    return IndexSnapshot.from_tables(snap.runs, object_seqs, snap.layout), manifests


class RunObjects:
    """One run of an object query with its selected sequences (Aim's per-run collection)."""

    def __init__(self, runs: _Runs, run_hash: str, seq_ids: list[int]):
        self._runs = runs
        self.hash = run_hash
        self._seq_ids = seq_ids

    @property
    def run(self):
        return self._runs.get(self.hash)

    def sequences(self) -> list[ObjectSequence]:
        run = self.run
        if run is None:  # deleted since the query
            return []
        return run._object_sequences(self._seq_ids)

    def __iter__(self) -> Iterator[ObjectSequence]:
        return iter(self.sequences())

    iter = __iter__

    def __len__(self) -> int:
        return len(self._seq_ids)

    def __repr__(self) -> str:
        return f"<RunObjects {self.hash}: {len(self._seq_ids)} sequences>"


class ObjectCollection:
    """The object sequences a query selected, newest run first (Aim's ``QuerySequenceCollection``):
    iterate for the sequences (``.name``, ``.context``, ``.run``, ``.values``, ``.data``),
    :meth:`iter_runs` for them by run, :meth:`to_arrow` for the points as a table."""

    def __init__(self, repo, seq_cls: type[ObjectSequence], query: str, report_mode=QueryReportMode.PROGRESS_BAR):
        self.repo = repo
        self.seq_cls = seq_cls
        self.report_mode = report_mode_of(report_mode)
        self.query = parse_query(query, seq_cls.sequence_name())
        snap = _snapshot(repo)
        snap, _ = _object_snapshot(repo, snap, seq_cls.allowed_dtypes(), self.query.mentions_archived)
        mask = match_sequences(self.query, snap)
        self._snap = snap
        self._runs = _Runs(repo)
        self._run_order = _newest_first(snap, _runs_of(snap, mask))
        seq_id = to_numpy(snap.seqs.column("seq_id"), 0)
        self._ids = [seq_id[rows].tolist() for rows in _sequence_rows_by_run(snap, mask, self._run_order)]
        self._count = int(mask.sum())

    @property
    def run_hashes(self) -> list[str]:
        hashes = self._snap.runs.column("hash")
        return [hashes[int(i)].as_py() for i in self._run_order]

    def __len__(self) -> int:
        """How many sequences matched."""
        return self._count

    def __repr__(self) -> str:
        name = self.seq_cls.sequence_name()
        return f"<ObjectCollection {self._count} {name} of {len(self._run_order)} runs for {self.query.text!r}>"

    def _groups(self) -> Iterator[RunObjects]:
        groups = (RunObjects(self._runs, h, ids) for h, ids in zip(self.run_hashes, self._ids))
        return with_progress(groups, len(self._ids), self.report_mode)

    def iter_runs(self) -> Iterator:
        """Each run with its matching sequences; ``(group, (n, total))`` with ``PROGRESS_TUPLE``, as Aim."""
        if self.report_mode is QueryReportMode.PROGRESS_TUPLE:
            total = len(self._ids)
            for n, group in enumerate(self._groups(), 1):
                yield group, (n, total)
            return
        yield from self._groups()

    def __iter__(self) -> Iterator[ObjectSequence]:
        for group in self._groups():
            yield from group.sequences()

    def iter(self) -> Iterator[ObjectSequence]:
        return iter(self)

    def to_arrow(self) -> pa.Table:
        """One row per tracked object (each item of a list per step has its own ``index``):
        ``run``, ``name``, ``context`` (JSON), ``context.<key>``, ``step``, ``index``, ``epoch``,
        ``time``, then the type's metadata (:data:`METADATA_COLUMNS`).  Texts and
        distributions carry their values; images, audio and figures carry ``blob_file``,
        ``blob_offset``, ``blob_length`` instead of their bytes (read no blob)."""
        return objects_table(list(self), self.seq_cls)

    def to_pandas(self):
        from aimcol.sdk.tables import require_pandas

        pd = require_pandas("query results to_pandas()")
        return self.to_arrow().to_pandas(types_mapper=pd.ArrowDtype)


METADATA_COLUMNS: dict[str, tuple[tuple[str, pa.DataType], ...]] = {
    "texts": (("text", pa.string()),),
    "distributions": (
        ("bin_count", pa.int64()),
        ("range_low", pa.float64()),
        ("range_high", pa.float64()),
        ("weights", pa.list_(pa.float64())),
    ),
    "images": (("caption", pa.string()), ("format", pa.string()), ("width", pa.int64()), ("height", pa.int64())),
    "audios": (("caption", pa.string()), ("format", pa.string()), ("rate", pa.int64())),
    "figures": (("source", pa.string()), ("format", pa.string()), ("version", pa.string())),
}
"""The per-type columns of :meth:`ObjectCollection.to_arrow` (a fixed schema for each type)."""

_BLOB_COLUMNS = (("blob_file", pa.string()), ("blob_offset", pa.int64()), ("blob_length", pa.int64()))


def _metadata(kind: str, obj: Any) -> dict[str, Any]:
    if kind == "texts":
        return {"text": obj.data}
    if kind == "distributions":
        low, high = obj.range
        return {"bin_count": obj.bin_count, "range_low": low, "range_high": high, "weights": obj.weights.tolist()}
    meta = obj._meta
    row = {name: meta.get(name) for name, _ in METADATA_COLUMNS[kind]}
    ref = obj._ref
    if isinstance(ref, list):
        row.update(blob_file=f"blobs-{ref[0]:06d}.arrows", blob_offset=ref[1], blob_length=ref[2])
    else:
        row.update(blob_file=None, blob_offset=None, blob_length=obj.blob_size)
    return row


def objects_table(sequences: list[ObjectSequence], seq_cls: type[ObjectSequence]) -> pa.Table:
    """The long table of :meth:`ObjectCollection.to_arrow` for these sequences."""
    kind = seq_cls.sequence_name()
    extra = METADATA_COLUMNS[kind] + (_BLOB_COLUMNS if kind in ("images", "audios", "figures") else ())
    base: dict[str, list] = {k: [] for k in ("run", "name", "context", "step", "index", "epoch", "time")}
    meta: dict[str, list] = {name: [] for name, _ in extra}
    context_keys: dict[str, None] = {}
    contexts: list[dict] = []
    for seq in sequences:
        context_json = json.dumps(seq.context, sort_keys=True, default=str)
        for key in seq.context:
            context_keys.setdefault(key)
        for step, value, epoch, when in zip(seq.data._steps, seq.data._values, seq.data._epochs, seq._times):
            for index, obj in enumerate(value if isinstance(value, list) else [value]):
                base["run"].append(seq.run.hash)
                base["name"].append(seq.name)
                base["context"].append(context_json)
                base["step"].append(step)
                base["index"].append(index)
                base["epoch"].append(epoch)
                base["time"].append(when)
                contexts.append(seq.context)
                row = _metadata(kind, obj)
                for name in meta:
                    meta[name].append(row.get(name))
    columns = {
        "run": arrow_strings(base["run"]),
        "name": arrow_strings(base["name"]),
        "context": arrow_strings(base["context"]),
    }
    for key in context_keys:
        columns[f"context.{key}"] = _column_from_values([c.get(key) for c in contexts])
    columns.update(
        step=arrow_column(base["step"], pa.int64()),
        index=arrow_column(base["index"], pa.int64()),
        epoch=arrow_column(base["epoch"], pa.int64()),
        time=arrow_column(base["time"], pa.float64()),
    )
    for name, typ in extra:
        columns[name] = _list_column(meta[name]) if pa.types.is_list(typ) else arrow_column(meta[name], typ)
    return pa.table(columns)


def _list_column(lists: list[list[float]]) -> pa.Array:
    """A list<float64> column (distribution weights) built from NumPy, not from Python values."""
    lengths = np.fromiter((len(v) for v in lists), dtype=np.int32, count=len(lists))
    offsets = np.zeros(len(lists) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    flat = np.fromiter((x for v in lists for x in v), dtype=np.float64, count=int(offsets[-1]))
    return pa.ListArray.from_arrays(to_arrow(offsets), to_arrow(flat))


COLLECTIONS = {"images": Images, "texts": Texts, "distributions": Distributions, "audios": Audios, "figures": Figures}


def query_objects(repo, kind: str, query: str = "", report_mode=QueryReportMode.PROGRESS_BAR) -> ObjectCollection:
    """The ``kind`` sequences (``images``, ``texts`` …) matching ``query``; ``AimQLSyntaxError`` for a bad query."""
    return ObjectCollection(repo, COLLECTIONS[kind], query, report_mode)
