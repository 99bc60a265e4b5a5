"""The run index's file ``index/runs.aimcolidx``: both index tables in one object.

Layout: a header (magic ``AIMCOLIX``, version 2, length of the first part, CRC-32) followed by two
Arrow IPC files, the runs table then the sequences table.  The object is replaced
atomically, so readers never see a torn or mixed version; any number of processes may
rewrite it at once (the last replace wins and every version is a valid cache).  A missing,
damaged or foreign file raises :class:`IndexFileError` and the index is rebuilt from the
manifests.  The header holds a CRC-32 of the rest, checked before Arrow parses anything.
"""

from __future__ import annotations

import struct
from zlib import crc32

import pyarrow as pa

from aimcol.errors import FormatError
from aimcol.format.repo_layout import RepoLayout

INDEX_FILE = "runs.aimcolidx"
INDEX_MAGIC = b"AIMCOLIX"
INDEX_VERSION = 4  # 2: the runs table carries exit_status; 3: the header carries a CRC-32; 4: last_point_time, notes
_HEADER = struct.Struct("<8sIQI4x")  # magic, version, length of the runs IPC file, CRC-32 of what follows

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
    body = _serialize(runs).to_pybytes()
    runs_len = len(body)
    body += _serialize(seqs).to_pybytes()
    header = _HEADER.pack(INDEX_MAGIC, INDEX_VERSION, runs_len, crc32(body))
    layout.storage.replace(index_key(), header + body)


def read_index_file(layout: RepoLayout) -> tuple[pa.Table, pa.Table]:
    """The runs and sequences tables; :class:`IndexFileError` when there are none to trust.

    Nothing of a damaged file reaches Arrow: the bytes are read into memory (never
    memory-mapped: a file cut under a map kills the process with SIGBUS) and checked
    against the header's CRC first.
    """
    try:
        data = layout.storage.read(index_key())
    except FileNotFoundError:
        raise IndexFileError("missing") from None
    except (OSError, FormatError) as exc:  # FormatError: not a regular file (local storage)
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
    for table, name in ((runs, "runs"), (seqs, "sequences")):
        for column in REQUIRED_COLUMNS[name]:
            if column not in table.column_names:
                raise IndexFileError(f"no column {column}", damaged=True)
    return runs, seqs
