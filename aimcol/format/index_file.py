"""The run index's file ``index/runs.aimcolidx``: both index tables in one object.

Layout: a header (magic ``AIMCOLIX``, version, length of the first part) followed by two
Arrow IPC files, the runs table then the sequences table.  The object is replaced
atomically, so readers never see a torn or mixed version; any number of processes may
rewrite it at once (the last replace wins and every version is a valid cache).  A missing,
damaged or foreign file raises :class:`IndexFileError` and the index is rebuilt from the
manifests.  Read memory-mapped where the storage allows (zero-copy tables).
"""

from __future__ import annotations

import struct

import pyarrow as pa

from aimcol.errors import FormatError
from aimcol.format.repo_layout import RepoLayout

INDEX_FILE = "runs.aimcolidx"
INDEX_MAGIC = b"AIMCOLIX"
INDEX_VERSION = 2  # 2: the runs table carries exit_status
_HEADER = struct.Struct("<8sIQ")  # magic, version, length of the runs IPC file

REQUIRED_COLUMNS = {
    "runs": ("hash", "m_mtime_ns", "params", "n_seq", "exit_status"),
    "sequences": ("run", "seq_id", "name", "context_mp"),
}


class IndexFileError(FormatError):
    """The index file is missing, from another version, or damaged: rebuild it."""


def index_key() -> str:
    return RepoLayout.index_key(INDEX_FILE)


def _serialize(table: pa.Table) -> pa.Buffer:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def write_index_file(layout: RepoLayout, runs: pa.Table, seqs: pa.Table) -> None:
    """Atomically replace the index file with these tables (not fsynced: it is a cache)."""
    runs_buf = _serialize(runs)
    seqs_buf = _serialize(seqs)
    header = _HEADER.pack(INDEX_MAGIC, INDEX_VERSION, runs_buf.size)
    layout.storage.replace(index_key(), header + runs_buf.to_pybytes() + seqs_buf.to_pybytes())


def read_index_file(layout: RepoLayout) -> tuple[pa.Table, pa.Table]:
    """The runs and sequences tables; :class:`IndexFileError` when there are none to trust."""
    try:
        source = layout.storage.open_input(index_key())
    except FileNotFoundError:
        raise IndexFileError("missing") from None
    except OSError as exc:
        raise IndexFileError(str(exc)) from None
    try:
        buf = source.read_buffer()
        if buf.size < _HEADER.size:
            raise IndexFileError("truncated")
        magic, version, runs_len = _HEADER.unpack(buf.slice(0, _HEADER.size).to_pybytes())
        if magic != INDEX_MAGIC or version != INDEX_VERSION:
            raise IndexFileError(f"not a version {INDEX_VERSION} run index")
        start = _HEADER.size
        if start + runs_len > buf.size:
            raise IndexFileError("truncated")
        runs = pa.ipc.open_file(buf.slice(start, runs_len)).read_all()
        seqs = pa.ipc.open_file(buf.slice(start + runs_len)).read_all()
        if runs.num_rows:
            runs.validate(full=False)
        for table, name in ((runs, "runs"), (seqs, "sequences")):
            for column in REQUIRED_COLUMNS[name]:
                if column not in table.column_names:
                    raise IndexFileError(f"no column {column}")
        return runs, seqs
    except IndexFileError:
        raise
    except (pa.ArrowException, ValueError, struct.error, OSError) as exc:
        raise IndexFileError(str(exc)) from None
    finally:
        source.close()
