"""The run index's file ``index/runs.aimcolidx``: both index tables in one object.

Layout (version 6): a 40-byte header (magic ``AIMCOLIX``, version, then the length and CRC-32
of each part) followed by two Arrow IPC files, the runs table then the sequences table.
Each part has its own CRC, so a reader that needs only the runs (``aimcol runs ls``, a query
on run properties and params) reads and checks only the runs part; the sequences part (ten
times larger with ten metrics a run) is read from the same open version of the file when a
query first needs it (:class:`SequencesPart`).  A file of another version (an older
aimcol's) is rebuilt, without a warning.

The object is replaced atomically, so readers never see a torn or mixed version; any number
of processes may rewrite it at once (the last replace wins and every version is a valid
cache).  A missing, damaged or foreign file raises :class:`IndexFileError` and the index is
rebuilt from the manifests.  Every CRC is checked before Arrow parses the bytes it covers.
"""

from __future__ import annotations

import struct
import threading
from zlib import crc32

import pyarrow as pa

from aimcol.errors import FormatError
from aimcol.format.repo_layout import RepoLayout
from aimcol.format.storage import PinnedObject

INDEX_FILE = "runs.aimcolidx"
INDEX_MAGIC = b"AIMCOLIX"
# 2: the runs table carries exit_status; 3: a CRC-32; 4: one CRC-32 per part; 5: last_point_time, notes;
# 6: the sequences table's loc (where a sequence's points are)
INDEX_VERSION = 6
_HEADER = struct.Struct("<8sIQIQI4x")  # magic, version, runs length, runs CRC-32, sequences length, its CRC-32
_PREFIX = struct.Struct("<8sI")

REQUIRED_COLUMNS = {
    "runs": ("hash", "m_mtime_ns", "params", "n_seq", "exit_status", "last_point_time", "notes"),
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


def write_index_file(layout: RepoLayout, runs: pa.Table, seqs: pa.Table) -> None:
    """Atomically replace the index file with these tables (not fsynced: it is a cache)."""
    runs_part = _serialize(runs)
    seqs_part = _serialize(seqs)
    header = _HEADER.pack(
        INDEX_MAGIC, INDEX_VERSION, runs_part.size, crc32(runs_part), seqs_part.size, crc32(seqs_part)
    )
    # joined straight from Arrow's buffers: two fewer copies of a file that holds 2 million
    # sequences in ~340 MB (W10)
    layout.storage.replace(index_key(), b"".join((header, runs_part, seqs_part)))


def _parse(data: bytes | memoryview, name: str) -> pa.Table:
    try:
        table = pa.ipc.open_file(pa.py_buffer(data)).read_all()
        if table.num_rows:
            table.validate(full=False)
    except (pa.ArrowException, ValueError, struct.error, OSError) as exc:
        raise IndexFileError(str(exc), damaged=True) from None
    for column in REQUIRED_COLUMNS[name]:
        if column not in table.column_names:
            raise IndexFileError(f"no column {column}", damaged=True)
    return table


class SequencesPart:
    """The sequences table of one version of the index file, read on first use.

    Holds that version open (:meth:`Storage.open_pinned`), so a rewrite of the file in
    between does not matter.  :meth:`load` raises :class:`IndexFileError` for a damaged part.
    Thread-safe.
    """

    def __init__(self, pinned: PinnedObject, offset: int, length: int, crc: int):
        self._pinned: PinnedObject | None = pinned
        self._where = (offset, length, crc)
        self._table: pa.Table | None = None
        self._lock = threading.Lock()

    def load(self) -> pa.Table:
        with self._lock:
            if self._table is None:
                if self._pinned is None:  # read before, and it was damaged
                    raise IndexFileError("the sequences part is damaged", damaged=True)
                offset, length, crc = self._where
                try:
                    data = self._pinned.read_at(offset, length)
                except OSError as exc:
                    raise IndexFileError(str(exc), damaged=True) from None
                finally:
                    self._pinned.close()
                    self._pinned = None
                if len(data) != length or crc32(data) != crc:
                    raise IndexFileError("the sequences part's checksum does not match", damaged=True)
                self._table = _parse(data, "sequences")
            return self._table


def read_index_file(layout: RepoLayout) -> tuple[pa.Table, pa.Table]:
    """The runs and sequences tables; :class:`IndexFileError` when there are none to trust."""
    runs, seqs = read_index_runs(layout)
    return runs, seqs if isinstance(seqs, pa.Table) else seqs.load()


def read_index_runs(layout: RepoLayout) -> tuple[pa.Table, SequencesPart | pa.Table]:
    """The runs table, and the sequences table or a :class:`SequencesPart` to read it later.

    Nothing of a damaged file reaches Arrow: the bytes are read into memory (never
    memory-mapped: a file cut under a map kills the process with SIGBUS) and checked
    against the header's CRC first.
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
        _, _, runs_len, runs_crc, seqs_len, seqs_crc = _HEADER.unpack(head)
        if _HEADER.size + runs_len + seqs_len != pinned.size:
            raise IndexFileError("its length does not match its header", damaged=True)
        data = pinned.read_at(_HEADER.size, runs_len)
        if len(data) != runs_len or crc32(data) != runs_crc:
            raise IndexFileError("the runs part's checksum does not match", damaged=True)
        runs = _parse(data, "runs")
        keep_open = True
        return runs, SequencesPart(pinned, _HEADER.size + runs_len, seqs_len, seqs_crc)
    except OSError as exc:
        raise IndexFileError(str(exc), damaged=True) from None
    finally:
        if not keep_open:
            pinned.close()
