"""Sealed object segments: a closed run's object points as one Arrow IPC file, so texts are
read as a column instead of record by record.

``objects.log`` stays the source of truth (written record by record, never rewritten).  When
a writer closes the run it writes every intact record of the log to
``objects-<n>.arrow`` and names it in the manifest::

    object_segment = {file, log_bytes, log_tail_crc32, rows, size, crc32}

``log_bytes`` is how much of the log the file covers and ``log_tail_crc32`` the CRC-32 of
the 256 bytes before it.  A reader reads the log only from there: it takes the file's rows
and then parses the log's records after ``log_bytes`` (a resumed run appends there).  A file
whose size or CRC-32 does not match, that is missing, or whose log changed before
``log_bytes`` (cut back and written again: the checked bytes differ) is ignored: the reader
parses the whole log instead, so a damaged sealed segment costs time, never data.

Rows are grouped by ``seq`` (in write order within a sequence, so the latest write of a
step is still the last), so a reader of some sequences reads slices.  Schema
(zstd-compressed, one batch; plain pyarrow reads it)::

    seq uint32, step int64, epoch int64 (null: none), time float64,
    text string   the value of a text point (``{"data": str}``), else null
    record binary the msgpack of any other value, else null

A new seal replaces the previous file: written under a new number (``next_segment``),
published with the closing manifest, then the old file is deleted; a kill in between leaves
a file no manifest names, which the run's next writer deletes.
"""

from __future__ import annotations

import re
import zlib
from typing import Any

import msgpack
import numpy as np
import pyarrow as pa

from aimcol.format.arrow_numpy import arrow_column, to_numpy
from aimcol.format.blob_segments import BLOB_NAME, read_blob
from aimcol.format.object_deltas import BLOBS_KEY, DELTAS_KEY, named_files, read_object_log, uses_deltas
from aimcol.format.object_points import OBJECTS_FILE, objects_key, parse_records, read_log
from aimcol.format.repo_layout import RepoLayout
from aimcol.format.storage import Storage

OBJECT_SEGMENT_SCHEMA = pa.schema(
    [
        ("seq", pa.uint32()),
        ("step", pa.int64()),
        ("epoch", pa.int64()),
        ("time", pa.float64()),
        ("text", pa.string()),
        ("record", pa.binary()),
    ]
)
OBJECT_SEGMENT_NAME = re.compile(r"objects-[0-9]{6,18}\.arrow")

Point = tuple[int, int, "int | None", float, Any]


def object_segment_name(number: int) -> str:
    return f"objects-{int(number):06d}.arrow"


def _is_text(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("data"), str)


def _table(points: list[Point]) -> pa.Table:
    texts = [v["data"] if _is_text(v) else None for _, _, _, _, v in points]
    records = [None if t is not None else msgpack.packb(p[4], use_bin_type=True) for t, p in zip(texts, points)]
    columns = [
        arrow_column([p[0] for p in points], pa.uint32()),
        arrow_column([p[1] for p in points], pa.int64()),
        arrow_column([p[2] for p in points], pa.int64()),
        arrow_column([p[3] for p in points], pa.float64()),
        arrow_column(texts, pa.string()),
        arrow_column(records, pa.binary()),
    ]
    return pa.Table.from_arrays(columns, schema=OBJECT_SEGMENT_SCHEMA)


def seal_object_log(storage: Storage, run_hash: str, number: int, log: bytes) -> dict[str, Any] | None:
    """Write the intact records of ``log`` (a run's ``objects.log``) as sealed segment
    ``number``; the manifest entry for it, or None for a log without records."""
    points, valid = parse_records(log)
    if not points:
        return None
    points.sort(key=lambda p: p[0])  # grouped by sequence; stable: write order within one
    name = object_segment_name(number)
    sink = pa.BufferOutputStream()
    table = _table(points).replace_schema_metadata({"aimcol": f'{{"run": "{run_hash}"}}'})
    with pa.ipc.new_file(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression="zstd")) as writer:
        writer.write_table(table, max_chunksize=len(points))
    data = sink.getvalue()
    with storage.write_immutable(RepoLayout.segment_key(run_hash, name)) as out:
        out.write(data)
    return {
        "file": name,
        "log_bytes": valid,
        "log_tail_crc32": zlib.crc32(memoryview(log)[max(valid - TAIL_CHECK, 0) : valid]),
        "rows": len(points),
        "size": data.size,
        "crc32": zlib.crc32(data),
    }


TAIL_CHECK = 256
"""Bytes before ``log_bytes`` whose CRC-32 ties a sealed segment to its log (``log_tail_crc32``)."""


def covers(segment: Any, log: bytes | memoryview | None, start: int = 0) -> bool:
    """Whether a sealed segment entry was made from the log whose bytes from offset ``start``
    are ``log``: the ``TAIL_CHECK`` bytes before ``log_bytes`` are unchanged.  A log cut
    back before ``log_bytes`` and written again no longer matches there (each record holds
    its time and checksum), so the segment is not used."""
    if not isinstance(segment, dict) or log is None:
        return False
    covered = segment.get("log_bytes")
    if not isinstance(covered, int) or not start <= max(covered - TAIL_CHECK, 0) or covered > start + len(log):
        return False
    lo = max(covered - TAIL_CHECK, 0) - start
    return zlib.crc32(memoryview(log)[lo : covered - start]) == segment.get("log_tail_crc32")


Columns = tuple[list[int], list["int | None"], list[float], list[Any]]
"""One sequence's points as columns: steps, epochs, times, values (write order)."""


def _group(points: list[Point], out: dict[int, Columns]) -> dict[int, Columns]:
    """Add points (tuples, from the log) to per-sequence columns."""
    for seq_id, step, epoch, when, value in points:
        cols = out.get(seq_id)
        if cols is None:
            cols = out[seq_id] = ([], [], [], [])
        cols[0].append(step)
        cols[1].append(epoch)
        cols[2].append(when)
        cols[3].append(value)
    return out


def _segment_columns(data: bytes, seq_ids: frozenset[int] | None) -> dict[int, Columns]:
    table = pa.ipc.open_file(pa.py_buffer(data)).read_all()
    seq = to_numpy(table.column("seq"))  # not ChunkedArray.to_numpy(): that imports pandas
    wanted = sorted(seq_ids) if seq_ids is not None else np.unique(seq).tolist()
    out: dict[int, Columns] = {}
    for seq_id in wanted:  # rows are grouped by seq: each sequence is one slice
        lo, hi = (int(i) for i in np.searchsorted(seq, [seq_id, seq_id + 1]))
        if hi <= lo:
            continue
        part = table.slice(lo, hi - lo)
        texts = part.column("text").to_pylist()
        if part.column("text").null_count:
            records = part.column("record").to_pylist()
            values: list[Any] = [
                {"data": t} if t is not None else msgpack.unpackb(r, raw=False, strict_map_key=False)
                for t, r in zip(texts, records)
            ]
        else:
            values = [{"data": t} for t in texts]
        columns = (part.column("step").to_pylist(), part.column("epoch").to_pylist(), part.column("time").to_pylist())
        out[seq_id] = (*columns, values)
    return out


def read_sealed_columns(
    storage: Storage, run_hash: str, segment: Any, seq_ids: frozenset[int] | None
) -> dict[int, Columns] | None:
    """The points of a run from its sealed segment plus the log after it, reading only the
    log's bytes from just before ``log_bytes``; None when the segment cannot be used
    (missing, damaged, its log changed): parse the whole log then."""
    if not (isinstance(segment, dict) and isinstance(segment.get("file"), str)):
        return None
    name, covered = segment["file"], segment.get("log_bytes")
    if not OBJECT_SEGMENT_NAME.fullmatch(name) or not isinstance(covered, int):
        return None
    key = objects_key(run_hash)
    start = max(covered - TAIL_CHECK, 0)
    try:
        size = storage.stat(key).size
        tail = storage.read_range(key, start, max(size - start, 0))
        data = storage.read(RepoLayout.segment_key(run_hash, name))
    except FileNotFoundError:
        return None
    if not covers(segment, tail, start):
        return None
    if len(data) != segment.get("size") or zlib.crc32(data) != segment.get("crc32"):
        return None
    try:
        columns = _segment_columns(data, seq_ids)
    except (pa.ArrowException, ValueError, KeyError, msgpack.UnpackException):
        return None
    if len(tail) > covered - start:
        _group(parse_records(memoryview(tail)[covered - start :], seq_ids)[0], columns)
    return columns


def read_run_columns(
    storage: Storage, run_hash: str, manifest: dict[str, Any], seq_ids: frozenset[int] | None = None
) -> dict[int, Columns]:
    """Every intact object point of a run (of ``seq_ids`` only, if given) as columns per
    sequence, in write order: from its sealed segment and the log after it, or from the log
    (with object deltas, :func:`~aimcol.format.object_deltas.read_object_log`)."""
    columns = None
    segment = manifest.get("object_segment")
    deltas = uses_deltas(storage, manifest)
    if segment is not None and not deltas:
        columns = read_sealed_columns(storage, run_hash, segment, seq_ids)
    if columns is None:
        log = read_object_log(storage, run_hash, manifest) if deltas else read_log(storage, objects_key(run_hash))
        columns = _group(parse_records(log, seq_ids)[0] if log else [], {})
    return columns


def next_object_segment(manifest: dict[str, Any]) -> int:
    """The number of the next sealed object segment (one past the one the manifest names)."""
    segment = manifest.get("object_segment")
    name = segment.get("file") if isinstance(segment, dict) else None
    if isinstance(name, str) and OBJECT_SEGMENT_NAME.fullmatch(name):
        return int(name[8:-6]) + 1
    return 1


def object_files(storage: Storage, run_hash: str, manifest: dict[str, Any]) -> list[str]:
    """The files of a run's object sequences a copy of the run needs: ``objects.log``, its blob
    segments and the sealed object segment its manifest names."""
    segment = manifest.get("object_segment")
    named = segment.get("file") if isinstance(segment, dict) else None
    deltas = named_files(manifest)
    return sorted(
        n
        for n in storage.list_children(RepoLayout.run_prefix(run_hash))
        if n == OBJECTS_FILE
        or n in deltas
        or (BLOB_NAME.fullmatch(n) and not (BLOBS_KEY in manifest and n not in deltas))
        or (n == named and OBJECT_SEGMENT_NAME.fullmatch(n))
    )


def check_objects(storage: Storage, run_hash: str, manifest: dict[str, Any]) -> list[str]:
    """Problems of a run's object files (``aimcol check``): a blob a record references that is
    missing or does not match its checksum, a sealed object segment that does not match its
    own, and bytes after the log's last intact record in a run that was closed (a crashed
    run's torn tail is expected, and ignored by readers)."""
    if not manifest.get("object_sequences"):
        return []
    problems = []
    deltas = uses_deltas(storage, manifest)
    if deltas:
        log = read_object_log(storage, run_hash, manifest)
        named = [e.get("file") for e in manifest.get(DELTAS_KEY) or [] if isinstance(e, dict)]
        present = set(storage.list_children(RepoLayout.run_prefix(run_hash)))
        problems += [
            f"{RepoLayout.segment_key(run_hash, str(n))}: missing object delta" for n in named if n not in present
        ]
    else:
        log = read_log(storage, objects_key(run_hash)) or b""
    points, valid = parse_records(log)
    if valid < len(log) and manifest.get("end_time") is not None:
        problems.append(f"{objects_key(run_hash)}: {len(log) - valid} bytes after the last intact record")
    for *_, value in points:
        for item in value if isinstance(value, list) else [value]:
            ref = item.get("blob") if isinstance(item, dict) else None
            if ref is None:
                continue
            try:
                read_blob(storage, run_hash, ref)
            except (FileNotFoundError, ValueError) as exc:  # ChecksumError is a ValueError
                problems.append(str(exc))
    segment = manifest.get("object_segment")
    if isinstance(segment, dict) and isinstance(segment.get("file"), str):
        key = RepoLayout.segment_key(run_hash, segment["file"])
        try:
            data = storage.read(key)
        except FileNotFoundError:
            problems.append(f"{key}: missing sealed object segment")
        else:
            if len(data) != segment.get("size") or zlib.crc32(data) != segment.get("crc32"):
                problems.append(f"{key}: sealed object segment does not match its checksum")
    return problems


def stray_object_segments(storage: Storage, run_hash: str, manifest: dict[str, Any]) -> list[str]:
    """Sealed object segments in a run's folder that its manifest does not name."""
    segment = manifest.get("object_segment")
    named = segment.get("file") if isinstance(segment, dict) else None
    return [
        n
        for n in storage.list_children(RepoLayout.run_prefix(run_hash))
        if OBJECT_SEGMENT_NAME.fullmatch(n) and n != named
    ]
