"""Metric point segments: the live Arrow IPC stream and sealed Arrow IPC files.

Points are long-format rows (``POINT_SCHEMA``).  A writer appends one record batch per
flush to ``live-<n>.arrows`` (an IPC *stream*, so every complete batch is readable while the
file grows and a torn last batch is simply where reading stops).  Sealing rewrites the rows
sorted by (seq, step), keeping the latest value of a re-tracked step, into ``seg-<n>.arrow``,
a zstd-compressed IPC *file* that ``pyarrow.dataset`` and Polars open without aimcol.  In a
sealed file no record batch spans two sequences, so one sequence is read by decompressing
only its own batches.
"""

from __future__ import annotations

import bisect
import itertools
import json
import struct
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import ArrayLike

from aimcol.errors import ChecksumError
from aimcol.format.arrow_numpy import ARROW_TO_NUMPY, empty_table, to_arrow, to_numpy
from aimcol.format.integrity import check_file_checksum, sealed_checksums
from aimcol.format.ipc_file import IpcFileBatches, IpcLayoutError, file_blocks
from aimcol.format.live_scan import LiveScan, scan_live_segment
from aimcol.format.storage import Appender, Storage

POINT_SCHEMA = pa.schema(
    [
        pa.field("seq", pa.uint32(), nullable=False),
        pa.field("step", pa.int64(), nullable=False),
        pa.field("value", pa.float64(), nullable=False),
        pa.field("epoch", pa.int64(), nullable=True),
        pa.field("time", pa.float64(), nullable=False),
    ]
)

POINT_NAMES: tuple[str, ...] = tuple(POINT_SCHEMA.names)

SEALED_BATCH_ROWS = 65536
"""Largest record batch in a sealed file: bounds what one sequence read decompresses."""


def empty_points() -> pa.Table:
    return empty_table(POINT_SCHEMA)


def points_batch(
    seq: ArrayLike, step: ArrayLike, value: ArrayLike, epoch: ArrayLike | pa.Array | None, time: ArrayLike
) -> pa.RecordBatch:
    """Build a record batch from column arrays.

    ``epoch`` is ``None`` (no epochs), an Arrow array (nulls allowed) or an integer array.
    """
    seq = np.asarray(seq, dtype=np.uint32)
    n = len(seq)
    if epoch is None:
        epoch_col = pa.nulls(n, pa.int64())
    elif isinstance(epoch, pa.Array):
        epoch_col = epoch
    else:
        epoch_col = to_arrow(np.asarray(epoch, dtype=np.int64))
    return pa.RecordBatch.from_arrays(
        [
            to_arrow(seq),
            to_arrow(np.asarray(step, dtype=np.int64)),
            to_arrow(np.asarray(value, dtype=np.float64)),
            epoch_col,
            to_arrow(np.asarray(time, dtype=np.float64)),
        ],
        schema=POINT_SCHEMA,
    )


CHECKSUM_KEY = "aimcol.crc32"
"""Per-batch custom metadata in live streams: CRC-32 of the batch's column values.

A batch whose header reached the disk but whose body did not (power loss, an NFS client
reading before write-back) can read back as zeros that parse as valid Arrow; the checksum
tells it from real data.  kill -9 alone cannot produce it: the page cache keeps the bytes.
"""


def batch_checksum(batch: pa.RecordBatch) -> int:
    crc = 0
    for column in batch.columns:
        crc = zlib.crc32(np.ascontiguousarray(to_numpy(column)).view(np.uint8).data, crc)
    return crc


_END_OF_STREAM = b"\xff\xff\xff\xff\x00\x00\x00\x00"
"""The IPC stream's end marker (continuation token, zero length)."""


def _stream_bytes(batch: pa.RecordBatch, metadata: dict[str, Any] | None) -> bytes:
    """``batch`` as a complete IPC stream without its end marker (schema message first)."""
    sink = pa.BufferOutputStream()
    writer = pa.ipc.new_stream(sink, POINT_SCHEMA)
    if batch is not None:
        writer.write_batch(batch, custom_metadata=metadata)
    else:
        writer.close()
    data: bytes = sink.getvalue().to_pybytes()
    return data


_SCHEMA_BYTES = _stream_bytes(None, None)[: -len(_END_OF_STREAM)]
"""The schema message every live stream starts with."""


class LiveSegmentWriter:
    """Appends record batches to a new live segment, each one reaching the store at once.

    The storage's appender is unbuffered: when ``append`` returns, the batch is in the page
    cache and survives a ``kill -9`` of this process.  Each batch is serialised in memory and
    handed over in one write; a write that fails part-way (``ENOSPC``, ``EIO``) is cut off
    again (:meth:`Appender.truncate`), so the object always ends at its last complete batch
    and a later append, once space is back, continues a valid stream.  The bytes are those
    of ``pyarrow.ipc.new_stream`` (schema message, one message per batch, end marker at
    close).
    """

    def __init__(self, storage: Storage, key: str):
        self.key = key
        if storage.exists(key):  # a counter behind the files (damaged manifest): never truncate one
            raise FileExistsError(f"{storage.uri}/{key}: segment file exists already")
        self._sink: Appender = storage.open_appender(key, truncate=True)
        self.size = 0
        self.rows = 0
        self.batches = 0

    def append(self, batch: pa.RecordBatch) -> None:
        """Write one batch, or raise with the file as it was before the call."""
        data = _stream_bytes(batch, {CHECKSUM_KEY: str(batch_checksum(batch))})
        if self.size:
            data = data[len(_SCHEMA_BYTES) :]
        self._write_all(data)
        self.rows += batch.num_rows
        self.batches += 1

    def _write_all(self, data: bytes) -> None:
        if self._sink.closed:
            raise ValueError(f"{self.key}: live segment writer is closed")
        try:
            self._sink.write(data)
        except BaseException:
            self._sink.truncate(self.size)  # back to the last complete batch
            raise
        self.size += len(data)

    def close(self) -> None:
        """End the stream (best effort: a reader stops at the last batch without it too)."""
        if self._sink.closed:
            return
        try:
            self._write_all((b"" if self.size else _SCHEMA_BYTES) + _END_OF_STREAM)
        except OSError:
            pass
        finally:
            self._sink.close()


def read_live_segment(storage: Storage, key: str) -> pa.Table:
    """Every intact record batch of a live stream; a torn tail or a damaged batch is left out.

    A missing file reads as empty (the writer may have just sealed and removed it).
    """
    return scan_live_object(storage, key).table


def scan_live_object(storage: Storage, key: str) -> LiveScan:
    """The intact batches of the live segment at ``key`` and what was skipped (``LiveScan``).

    A missing file reads as empty; one that is not a regular file raises
    :class:`DamagedRunError` naming it (the local storage's check).
    """
    try:
        data = storage.read_appended(key)
    except FileNotFoundError:
        return LiveScan(empty_points())
    assert data is not None  # no known_size given
    return scan_live_bytes(data)


def scan_live_bytes(data: bytes) -> LiveScan:
    return scan_live_segment(data, POINT_SCHEMA, CHECKSUM_KEY.encode(), batch_checksum)


def parse_live_segment(data: bytes) -> pa.Table:
    """Every intact record batch in the bytes of a live stream (see :mod:`aimcol.format.live_scan`)."""
    return scan_live_bytes(data).table


def latest_per_step(step: np.ndarray) -> np.ndarray | None:
    """For one sequence's steps in write order: the positions that sort them by step, keeping
    the latest write of each step; None when they already increase strictly (nothing to do)."""
    if len(step) <= 1 or np.all(step[1:] > step[:-1]):
        return None
    order = np.argsort(step, kind="stable")
    step_s = step[order]
    keep = np.ones(len(order), dtype=bool)
    keep[:-1] = step_s[1:] != step_s[:-1]
    return order[keep]


def dedupe_sorted_by_step(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """For the rows of one sequence in write order: sorted by step, the latest write per step."""
    rows = latest_per_step(columns["step"])
    return columns if rows is None else {name: values[rows] for name, values in columns.items()}


@dataclass
class SealedSegment:
    """What the manifest records about a sealed file."""

    file: str
    rows: int
    ranges: list[list[int]]  # [[seq_id, start_row, stop_row], ...] in row order
    batches: list[int]  # row count of each record batch, in order
    checksums: dict[str, Any] | None = None  # size, crc32, batch_crc32 (integrity.sealed_checksums)

    def to_manifest(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"file": self.file, "rows": self.rows, "ranges": self.ranges, "batches": self.batches}
        entry.update(self.checksums or {})
        return entry


def _sorted_sequence_batch(columns: dict[str, np.ndarray], rows: np.ndarray, schema: pa.Schema) -> pa.RecordBatch:
    """The rows ``rows`` (one sequence, write order) as a batch sorted by step, latest write winning."""
    order = latest_per_step(columns["step"][rows])
    if order is not None:
        rows = rows[order]
    epoch = columns["epoch"][rows]
    epoch_col = to_arrow(epoch, ~np.isnan(epoch), pa.int64())
    return pa.RecordBatch.from_arrays(
        [
            to_arrow(columns["seq"][rows]),
            to_arrow(columns["step"][rows]),
            to_arrow(columns["value"][rows]),
            epoch_col,
            to_arrow(columns["time"][rows]),
        ],
        schema=schema,
    )


def write_sealed_segment(
    storage: Storage, key: str, table: pa.Table, file_name: str, metadata: dict[str, Any]
) -> SealedSegment:
    """Write rows sorted by (seq, step), latest write per step, to an Arrow IPC file (zstd),
    atomically and durably.

    The columns are turned into NumPy arrays once; each sequence's rows are then gathered,
    sorted by step and written as their own batches, so no record batch spans two
    sequences.  ``metadata`` (run hash, sequence names and contexts) goes into the schema
    metadata as JSON, so a reader without aimcol can tell what ``seq`` means.
    """
    schema = POINT_SCHEMA.with_metadata({"aimcol": json.dumps(metadata, default=str)})
    options = pa.ipc.IpcWriteOptions(compression="zstd")
    columns = {name: to_numpy(table.column(name)) for name in POINT_SCHEMA.names}
    columns["epoch"] = columns["epoch"].astype(np.float64, copy=False)  # nulls as NaN
    seq = columns["seq"]
    order = np.argsort(seq, kind="stable")  # groups by sequence, write order kept inside each
    bounds = np.flatnonzero(np.diff(seq[order])) + 1
    groups = np.split(order, bounds) if len(order) else []
    ranges, batches, rows = [], [], 0
    buffer = pa.BufferOutputStream()  # in memory first: the checksums are computed on the bytes
    with pa.ipc.new_file(buffer, schema, options=options) as writer:
        for group in groups:
            batch = _sorted_sequence_batch(columns, group, schema)
            ranges.append([int(seq[group[0]]), rows, rows + batch.num_rows])
            rows += batch.num_rows
            for chunk_start in range(0, batch.num_rows, SEALED_BATCH_ROWS):
                chunk = batch.slice(chunk_start, SEALED_BATCH_ROWS)
                writer.write_batch(chunk)
                batches.append(chunk.num_rows)
    data = buffer.getvalue()
    view = memoryview(data)
    checksums = sealed_checksums(view, file_blocks(view, key))
    with storage.write_immutable(key) as sink:  # FileExistsError rather than replacing a sealed file
        sink.write(data)
    return SealedSegment(file=file_name, rows=rows, ranges=ranges, batches=batches, checksums=checksums)


_DIRECT_READ_ERRORS = (IpcLayoutError, struct.error, IndexError, ValueError)
"""What a direct read of a file that is not laid out as expected raises: read it with pyarrow."""

POINT_DTYPES = {f.name: np.dtype(ARROW_TO_NUMPY[f.type]) for f in POINT_SCHEMA}


def concat_columns(parts: list[np.ndarray], name: str) -> np.ndarray:
    """One column from its parts; a part with nulls (float64, NaN) makes the whole float64."""
    if not parts:
        return np.empty(0, dtype=POINT_DTYPES[name])
    if len(parts) == 1:
        return parts[0]
    if any(p.dtype != parts[0].dtype for p in parts):
        parts = [p.astype(np.float64) for p in parts]
    return np.concatenate(parts)


class SealedSegmentReader:
    """Random access to the sequences of one sealed file, decompressing only what is asked for.

    A read names the columns it wants: each column of a batch is a separately compressed
    buffer (zstd, ~20-30 µs per small buffer here), so ``sparse_numpy()`` reading only
    ``step`` and ``value`` skips three of the five.  Batches are read directly from the
    file into NumPy (:mod:`aimcol.format.ipc_file`: the footer once, then one ``pread`` per
    batch, no Arrow objects); a file it does not understand is read with pyarrow instead.
    """

    def __init__(self, storage: Storage, key: str, entry: dict[str, Any]):
        self.storage = storage
        self.key = key
        self.path = f"{storage.uri}/{key}"  # for messages
        self.entry = entry
        self._reader = None
        self._direct: IpcFileBatches | None | bool = None  # False: use pyarrow
        self.batch_starts = [0, *itertools.accumulate(entry.get("batches", []))]

    def _open(self) -> Any:
        """pyarrow's reader over the whole file, read once and checked against the manifest's
        checksum first (Arrow parses only verified bytes)."""
        if self._reader is None:
            data = self.read_verified_bytes()
            self._reader = pa.ipc.open_file(pa.py_buffer(data), options=pa.ipc.IpcReadOptions(use_threads=False))
        return self._reader

    def read_verified_bytes(self) -> bytes:
        """The whole file, checked against the manifest's ``size`` and ``crc32`` when it has them
        (:class:`ChecksumError` otherwise)."""
        size = self.entry.get("size")
        if size is not None and self.storage.stat(self.key).size != size:
            raise ChecksumError(f"{self.path}: sealed segment is not the size it was written (the file is damaged)")
        data = self.storage.read(self.key)
        check_file_checksum(self.path, data, self.entry)
        return data

    def read_all(self) -> pa.Table:
        return self._open().read_all().replace_schema_metadata(None)

    def read_rows(self, start: int, stop: int, columns: Sequence[str] = POINT_NAMES) -> dict[str, np.ndarray]:
        """Rows ``[start, stop)`` of ``columns`` as NumPy arrays, decompressing only the batches
        (and columns) needed.  A column with nulls (``epoch``) comes back as float64 with NaN."""
        if self._direct is None:
            try:
                self._direct = IpcFileBatches(self.storage, self.key, self.entry.get("batch_crc32"))
            except ChecksumError:
                raise
            except _DIRECT_READ_ERRORS:
                self._direct = False
        if self._direct:
            try:
                return self._read_direct(start, stop, columns)
            except ChecksumError:
                raise
            except _DIRECT_READ_ERRORS:
                self._direct = False
        return self._read_pyarrow(start, stop, columns)

    def _overlapping(self, start: int, stop: int, num_batches: int) -> Iterator[tuple[int, int, int]]:
        """``(batch index, first row, row count)`` of each batch overlapping rows ``[start, stop)``."""
        starts = self.batch_starts
        index = bisect.bisect_right(starts, start) - 1
        while index < num_batches and starts[index] < stop:
            lo = max(start - starts[index], 0)
            yield index, lo, min(stop, starts[index + 1]) - starts[index] - lo
            index += 1

    def _read_direct(self, start: int, stop: int, columns: Sequence[str]) -> dict[str, np.ndarray]:
        direct = self._direct
        assert isinstance(direct, IpcFileBatches)
        starts = self.batch_starts
        spans = [
            (index, lo, count, starts[index + 1] - starts[index], None)
            for index, lo, count in self._overlapping(start, stop, direct.num_record_batches)
        ]
        return read_batch_spans(direct, spans, columns)

    def _read_pyarrow(self, start: int, stop: int, columns: Sequence[str]) -> dict[str, np.ndarray]:
        reader = self._open()
        parts: dict[str, list[np.ndarray]] = {name: [] for name in columns}
        for index, lo, count in self._overlapping(start, stop, reader.num_record_batches):
            batch = reader.get_batch(index).slice(lo, count)
            for name, part in parts.items():
                part.append(to_numpy(batch.column(name)))
        return {name: concat_columns(part, name) for name, part in parts.items()}


def read_batch_spans(
    direct: IpcFileBatches, spans: Sequence[tuple[int, int, int, int, int | None]], columns: Sequence[str]
) -> dict[str, np.ndarray]:
    """``columns`` of the rows ``spans`` name in one sealed file: each span is ``(batch index,
    first row in it, row count, the batch's row count, its CRC-32 or None for the file's list)``."""
    fields = [POINT_SCHEMA.get_field_index(name) for name in columns]
    dtypes = [POINT_DTYPES[name] for name in columns]
    parts: list[list[np.ndarray]] = [[] for _ in fields]
    for index, lo, count, rows, crc in spans:
        length, arrays = direct.read_columns(index, fields, dtypes, crc)
        if length != rows:
            raise IpcLayoutError(f"{direct.path}: batch {index} has {length} rows, the manifest says otherwise")
        for part, (values, valid) in zip(parts, arrays):
            values = values[lo : lo + count]
            if valid is not None and not valid[lo : lo + count].all():  # as to_numpy: NaN for nulls
                values = np.where(valid[lo : lo + count], values, np.nan)
            part.append(values)
    return {name: concat_columns(part, name) for name, part in zip(columns, parts)}


def sequence_locations(manifest: dict[str, Any]) -> dict[int, list[list[Any]]] | None:
    """Where each sequence's points are in the run's sealed files, as the run index keeps them
    (so that reading one metric needs no manifest): ``{seq_id: [part, ...]}``, a part being
    ``[file, start, stop, batches in the file, first batch, its first row, [rows of each batch
    from it], [their CRC-32s] or None]``.  A sequence with no points has no parts.

    None when a read needs the manifest itself: a live segment (points not sealed yet), delta
    segments (replaced by compaction) or an entry without its batch list.
    """
    if manifest.get("live"):
        return None
    out: dict[int, list[list[Any]]] = {}
    for entry in manifest.get("segments") or ():
        batches = entry.get("batches")
        if entry.get("delta") or not batches:
            return None
        crcs = entry.get("batch_crc32")
        starts = list(itertools.accumulate(batches, initial=0))
        n = len(batches)
        for sid, start, stop in entry["ranges"]:
            if stop <= start:
                continue
            first = bisect.bisect_right(starts, start) - 1
            end = bisect.bisect_left(starts, stop, first)
            out.setdefault(int(sid), []).append(
                [
                    entry["file"],
                    int(start),
                    int(stop),
                    n,
                    first,
                    starts[first],
                    batches[first:end],
                    crcs[first:end] if crcs else None,
                ]
            )
    return out


def located_spans(part: Sequence[Any]) -> list[tuple[int, int, int, int, int | None]]:
    """The spans (:func:`read_batch_spans`) of one part of :func:`sequence_locations`."""
    _file, start, stop, _n, first, row, rows, crcs = part
    spans = []
    for i, count in enumerate(rows):
        lo = max(start - row, 0)
        spans.append((first + i, lo, min(stop, row + count) - row - lo, count, crcs[i] if crcs else None))
        row += count
    return spans
