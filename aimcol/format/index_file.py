"""The run index's file ``index/runs.aimcolidx``: both index tables in one object.

Layout (version 7): a 48-byte header (magic ``AIMCOLIX``, version, the length and CRC-32 of
the runs part, the length of the sequences part, the length and CRC-32 of that part's
directory), then the runs table as an Arrow IPC file, then the sequences part: an Arrow IPC
stream of record batches of at most :data:`SEQ_BATCH_ROWS` rows (the schema message, one
message per batch, the end-of-stream marker), then its *directory*, little-endian int64
``(offset in the part, length, CRC-32, rows)`` for the schema message and then each batch.

A reader that needs only the runs (``aimcol runs ls``, a query on run properties and params)
reads and checks only the runs part.  The sequences part (W10: 2.25 million rows, ~390 MB)
is read from the same open version of the file when a query first needs it
(:class:`SequencesPart`), one batch at a time, each checked against its own CRC before
Arrow parses it: a query keeps only the rows it selects and never holds the whole table.
A file of another version (an older aimcol's) is rebuilt, without a warning.

The object is replaced atomically, so readers never see a torn or mixed version; any number
of processes may rewrite it at once (the last replace wins and every version is a valid
cache).  A missing, damaged or foreign file raises :class:`IndexFileError` and the index is
rebuilt from the manifests.  Every CRC is checked before Arrow parses the bytes it covers.
"""

from __future__ import annotations

import itertools
import struct
import threading
from collections.abc import Iterator
from zlib import crc32

import numpy as np
import pyarrow as pa

from aimcol.errors import FormatError
from aimcol.format.arrow_numpy import empty_table
from aimcol.format.repo_layout import RepoLayout
from aimcol.format.storage import PinnedObject

INDEX_FILE = "runs.aimcolidx"
INDEX_MAGIC = b"AIMCOLIX"
# 2: the runs table carries exit_status; 3: a CRC-32; 4: one CRC-32 per part; 5: last_point_time, notes;
# 6: the sequences table's loc (where a sequence's points are); 7: the sequences part in batches;
# 8: the runs table's n_obj (how many object sequences a run has: object queries read only those manifests)
INDEX_VERSION = 8
# magic, version, runs length, runs CRC-32, sequences length, its directory's length and CRC-32
_HEADER = struct.Struct("<8sIQIQII8x")
_PREFIX = struct.Struct("<8sI")
_EOS = b"\xff\xff\xff\xff\x00\x00\x00\x00"  # Arrow's end-of-stream marker
_ENTRY = 4  # int64s per directory entry: offset, length, CRC-32, rows

SEQ_BATCH_ROWS = 65_536
"""Rows per record batch of the sequences part: what a query over sequences holds at a time
(W10: ~11 MB) besides the rows it keeps."""

REQUIRED_COLUMNS = {
    "runs": ("hash", "m_mtime_ns", "params", "n_seq", "n_obj", "exit_status", "last_point_time", "notes"),
    "sequences": ("run", "seq_id", "name", "context_mp"),
}


class IndexFileError(FormatError):
    """The index file is missing, from another version, or damaged: rebuild it.

    ``damaged`` is True when the file is there and its bytes are wrong (worth a warning)."""

    def __init__(self, reason: str, damaged: bool = False):
        super().__init__(reason)
        self.damaged = damaged


def index_key() -> str:
    return RepoLayout.index_key(INDEX_FILE)


def _serialize(table: pa.Table) -> pa.Buffer:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def sequence_batches(seqs: pa.Table, rows: int | None = None) -> Iterator[pa.RecordBatch]:
    """``seqs`` as record batches of at most ``rows`` rows (default :data:`SEQ_BATCH_ROWS`;
    zero-copy slices of a table of one chunk)."""
    rows = rows or SEQ_BATCH_ROWS
    for start in range(0, seqs.num_rows, rows):
        yield from seqs.slice(start, rows).combine_chunks().to_batches()


class _SequencesPartLayout:
    """Where each record batch of a sequences table goes in the part, and its CRC-32: the
    directory.  Every batch is serialized twice, here to measure it and again when written
    (:meth:`pieces`), so the part never exists whole in memory beside the table."""

    def __init__(self, seqs: pa.Table):
        self.seqs = seqs
        head = seqs.schema.serialize()
        entries = [0, head.size, crc32(head), seqs.num_rows]
        size = head.size
        for batch in sequence_batches(seqs):
            message = batch.serialize()
            entries += [size, message.size, crc32(message), batch.num_rows]
            size += message.size
        self.directory = np.array(entries, dtype="<i8").tobytes()
        self.size = size + len(_EOS) + len(self.directory)

    def pieces(self) -> Iterator[pa.Buffer | bytes]:
        """The part's bytes, a batch at a time."""
        entries = np.frombuffer(self.directory, dtype="<i8").reshape(-1, _ENTRY)
        yield self.seqs.schema.serialize()
        for entry, batch in zip(entries[1:], sequence_batches(self.seqs)):
            message = batch.serialize()
            if message.size != entry[1] or crc32(message) != entry[2]:  # Arrow serializes deterministically
                raise RuntimeError("a batch of the sequences table changed while the index file was written")
            yield message
        yield _EOS
        yield self.directory


def write_index_file(layout: RepoLayout, runs: pa.Table, seqs: pa.Table) -> None:
    """Atomically replace the index file with these tables (not fsynced: it is a cache).

    The sequences part is written a record batch at a time (:meth:`Storage.replace_parts`):
    W10's 2.25 million rows are never serialized whole in memory."""
    runs_part = _serialize(runs)
    part = _SequencesPartLayout(seqs)
    header = _HEADER.pack(
        INDEX_MAGIC,
        INDEX_VERSION,
        runs_part.size,
        crc32(runs_part),
        part.size,
        len(part.directory),
        crc32(part.directory),
    )
    layout.storage.replace_parts(index_key(), itertools.chain((header, runs_part), part.pieces()))


def _parse(data: bytes | memoryview, name: str) -> pa.Table:
    try:
        table = pa.ipc.open_file(pa.py_buffer(data)).read_all()
        if table.num_rows:
            table.validate(full=False)
    except (pa.ArrowException, ValueError, struct.error, OSError) as exc:
        raise IndexFileError(str(exc), damaged=True) from None
    _check_columns(table.schema, name)
    return table


def _check_columns(schema: pa.Schema, name: str) -> None:
    for column in REQUIRED_COLUMNS[name]:
        if schema.get_field_index(column) < 0:
            raise IndexFileError(f"no column {column}", damaged=True)


class SequencesPart:
    """The sequences table of one version of the index file, read a batch at a time.

    Holds that version open (:meth:`Storage.open_pinned`), so a rewrite of the file in
    between does not matter.  The directory and schema are read and checked when it is
    opened (:attr:`num_rows`, :attr:`schema`); :meth:`batches` reads and checks one record
    batch at a time, :meth:`load` the whole table; both raise :class:`IndexFileError` for a
    damaged batch.  Thread-safe.
    """

    def __init__(self, pinned: PinnedObject, offset: int, length: int, dir_len: int, dir_crc: int):
        self._pinned: PinnedObject | None = pinned
        self._offset = offset
        self._table: pa.Table | None = None
        self._damaged = False
        self._lock = threading.Lock()
        if dir_len % (8 * _ENTRY) or not 0 < dir_len <= length:
            raise IndexFileError("the sequences directory's length is wrong", damaged=True)
        raw = pinned.read_at(offset + length - dir_len, dir_len)
        if len(raw) != dir_len or crc32(raw) != dir_crc:
            raise IndexFileError("the sequences directory's checksum does not match", damaged=True)
        entries = np.frombuffer(raw, dtype="<i8").reshape(-1, _ENTRY)
        starts, lengths, rows = entries[:, 0], entries[:, 1], entries[:, 3]
        body = length - dir_len - len(_EOS)
        if (
            starts[0] != 0
            or (lengths <= 0).any()
            or (starts[1:] != starts[:-1] + lengths[:-1]).any()
            or starts[-1] + lengths[-1] != body
            or (rows[1:] <= 0).any()
            or rows[0] != rows[1:].sum()
        ):
            raise IndexFileError("the sequences directory does not match the part", damaged=True)
        self._entries = entries
        self.num_rows = int(rows[0])
        try:
            self.schema = pa.ipc.read_schema(pa.py_buffer(self._read_checked(0)))
        except (pa.ArrowException, ValueError, OSError) as exc:
            raise IndexFileError(str(exc), damaged=True) from None
        _check_columns(self.schema, "sequences")
        self.batch_starts = np.concatenate([[0], np.cumsum(rows[1:])]).astype(np.int64)
        """The first row of each batch, then the number of rows."""

    def _read_checked(self, entry: int) -> bytes:
        start, length, crc, _ = (int(v) for v in self._entries[entry])
        pinned = self._pinned
        if pinned is None:
            raise IndexFileError("the sequences part is closed")
        try:
            data = pinned.read_at(self._offset + start, length)
        except (OSError, ValueError) as exc:  # ValueError: closed by another thread meanwhile
            raise IndexFileError(str(exc), damaged=True) from None
        if len(data) != length or crc32(data) != crc:
            self._damaged = True
            raise IndexFileError("a batch of the sequences part has a wrong checksum", damaged=True)
        return data

    def batch(self, i: int) -> pa.RecordBatch:
        """Record batch ``i`` (rows ``batch_starts[i]`` to ``batch_starts[i + 1]``), checked."""
        data = self._read_checked(i + 1)
        try:
            batch = pa.ipc.read_record_batch(pa.py_buffer(data), self.schema)
            batch.validate(full=False)
        except (pa.ArrowException, ValueError, OSError) as exc:
            self._damaged = True
            raise IndexFileError(str(exc), damaged=True) from None
        if batch.num_rows != int(self._entries[i + 1, 3]):
            raise IndexFileError("a batch of the sequences part has the wrong number of rows", damaged=True)
        return batch

    @property
    def num_batches(self) -> int:
        return len(self._entries) - 1

    def batches(self) -> Iterator[pa.RecordBatch]:
        """Every record batch in order, each read and checked when reached."""
        table = self._table
        if table is not None:
            yield from sequence_batches(table)
            return
        for i in range(self.num_batches):
            yield self.batch(i)

    def load(self) -> pa.Table:
        """The whole table (a chunk per batch: joining them would hold it twice), read once and kept."""
        with self._lock:
            if self._table is None:
                if self._damaged:
                    raise IndexFileError("the sequences part is damaged", damaged=True)
                batches = list(self.batches())
                self._table = pa.Table.from_batches(batches, self.schema) if batches else empty_table(self.schema)
                self.close()
            return self._table

    def close(self) -> None:
        pinned, self._pinned = self._pinned, None
        if pinned is not None:
            pinned.close()


def read_index_file(layout: RepoLayout) -> tuple[pa.Table, pa.Table]:
    """The runs and sequences tables; :class:`IndexFileError` when there are none to trust."""
    runs, seqs = read_index_runs(layout)
    return runs, seqs.load()


def read_index_runs(layout: RepoLayout) -> tuple[pa.Table, SequencesPart]:
    """The runs table, and a :class:`SequencesPart` to read the sequences table later.

    Nothing of a damaged file reaches Arrow: the bytes are read into memory (never
    memory-mapped: a file cut under a map kills the process with SIGBUS) and checked
    against their CRC first.
    """
    try:
        pinned = layout.storage.open_pinned(index_key())
    except FileNotFoundError:
        raise IndexFileError("missing") from None
    except (OSError, FormatError) as exc:  # FormatError: not a regular file (local storage)
        raise IndexFileError(str(exc), damaged=True) from None
    keep_open = False
    try:
        head = pinned.read_at(0, _HEADER.size)
        if len(head) < _PREFIX.size:
            raise IndexFileError("truncated", damaged=True)
        magic, version = _PREFIX.unpack_from(head, 0)
        if magic != INDEX_MAGIC or version != INDEX_VERSION:
            raise IndexFileError(f"not a version {INDEX_VERSION} run index", damaged=magic != INDEX_MAGIC)
        if len(head) < _HEADER.size:
            raise IndexFileError("truncated", damaged=True)
        _, _, runs_len, runs_crc, seqs_len, dir_len, dir_crc = _HEADER.unpack(head)
        if _HEADER.size + runs_len + seqs_len != pinned.size:
            raise IndexFileError("its length does not match its header", damaged=True)
        data = pinned.read_at(_HEADER.size, runs_len)
        if len(data) != runs_len or crc32(data) != runs_crc:
            raise IndexFileError("the runs part's checksum does not match", damaged=True)
        runs = _parse(data, "runs")
        part = SequencesPart(pinned, _HEADER.size + runs_len, seqs_len, dir_len, dir_crc)
        keep_open = True
        return runs, part
    except OSError as exc:
        raise IndexFileError(str(exc), damaged=True) from None
    finally:
        if not keep_open:
            pinned.close()
