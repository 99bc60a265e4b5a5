"""Object points: values of sequences that are not numbers (lists, log records …).

Numbers go to the columnar segments; a point whose value is an object (``track([0.1,
0.2], name=...)``, ``run.log_info(...)``) is rare and small, so it is one record appended to
the run's ``objects.log``::

    record = u32 payload length | u32 CRC-32 of payload | payload
    payload = msgpack [seq_id, step, epoch or nil, time, value]

(little-endian).  ``seq_id`` indexes the manifest's ``object_sequences``.  Appends go
through the storage's appender, one write per record; a failed one (disk full) is cut off
again (``Appender.truncate``), so the file always ends at its last complete record.  A reader
stops at the first incomplete or damaged record (a torn tail after kill -9), and ignores
records of sequence ids the manifest does not list (a writer killed before publishing a new
sequence).
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

import msgpack

from aimcol.errors import UnsupportedStorageError
from aimcol.format.repo_layout import RepoLayout
from aimcol.format.storage import Appender, Storage

OBJECTS_FILE = "objects.log"

_HEADER = struct.Struct("<II")
MAX_RECORD_BYTES = 64 * 1024 * 1024
"""Larger records are refused by the writer and end the readable prefix for a reader."""


def pack_record(seq_id: int, step: int, epoch: int | None, time: float, value: Any) -> bytes:
    """One framed record; ``ValueError`` if ``value`` cannot be encoded or is too large."""
    try:
        payload: bytes = msgpack.packb([seq_id, step, epoch, time, value], use_bin_type=True)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"object value cannot be stored: {exc}") from None
    if len(payload) > MAX_RECORD_BYTES:
        raise ValueError(f"object value is {len(payload)} bytes encoded; at most {MAX_RECORD_BYTES} are stored")
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def read_log(storage: Storage, key: str) -> bytes | None:
    """The bytes of an object log; None when absent (or on a store without appends)."""
    return _read(storage, key)


def _read(storage: Storage, key: str) -> bytes | None:
    if not storage.supports_append:
        return None
    try:
        return storage.read_appended(key)
    except FileNotFoundError:
        return None


def objects_key(run_hash: str) -> str:
    """The storage key of a run's object points."""
    return RepoLayout.segment_key(run_hash, OBJECTS_FILE)


class ObjectPointsWriter:
    """Appends records to a run's ``objects.log``.  Not thread-safe: callers serialise."""

    def __init__(self, storage: Storage, key: str):
        if not storage.supports_append:
            raise UnsupportedStorageError(
                f"{storage.uri}: object sequences (lists, log records) need appendable objects, "
                "which this storage does not have; track numbers there, or write to a local repository"
            )
        self.key = key
        existing = _read(storage, key)
        self.size = len(existing) if existing else 0
        self._sink: Appender = storage.open_appender(key)

    def append(self, record: bytes) -> None:
        """Write one record from :func:`pack_record`, or raise with the object as it was."""
        if self._sink.closed:
            raise ValueError(f"{self.key}: object points writer is closed")
        try:
            self._sink.write(record)
        except BaseException:
            self._sink.truncate(self.size)
            raise
        self.size += len(record)

    def close(self) -> None:
        self._sink.close()


def parse_records(
    data: bytes | memoryview, seq_ids: frozenset[int] | None = None
) -> tuple[list[tuple[int, int, int | None, float, Any]], int]:
    """``(records, valid_bytes)``: every complete, intact record from the start of ``data``
    (with ``seq_ids``: only those of these sequences are decoded and returned; every record
    is still checked, so the readable prefix is the same)."""
    records = []
    offset = 0
    view = memoryview(data)
    unpack_header = _HEADER.unpack_from
    crc32 = zlib.crc32
    while offset + 8 <= len(data):
        length, crc = unpack_header(data, offset)
        end = offset + 8 + length
        if length > MAX_RECORD_BYTES or end > len(data):
            break
        payload = view[offset + 8 : end]
        if crc32(payload) != crc:
            break
        if seq_ids is not None and length > 1 and data[offset + 9] < 0x80 and data[offset + 9] not in seq_ids:
            # a record of another sequence: [fixint seq_id, ...] needs no decoding to be skipped;
            # its framing and checksum are checked above, so it still ends the prefix if damaged
            if data[offset + 8] != 0x95:
                break
            offset = end
            continue
        try:
            record = msgpack.unpackb(payload, raw=False, strict_map_key=False)
        except (ValueError, TypeError, msgpack.UnpackException):
            break
        if not (isinstance(record, list) and len(record) == 5 and isinstance(record[0], int)):
            break
        records.append(tuple(record))
        offset = end
    return records, offset


def read_object_points(
    storage: Storage, key: str, seq_ids: frozenset[int] | None = None
) -> list[tuple[int, int, int | None, float, Any]]:
    """Every intact record of a run's ``objects.log`` in write order (none if absent); with
    ``seq_ids``, only the records of those sequences."""
    data = _read(storage, key)
    return parse_records(data, seq_ids)[0] if data else []


def trim_torn_tail(storage: Storage, key: str) -> None:
    """Cut a torn last record (a writer killed mid-append) so that appends continue a valid file."""
    data = _read(storage, key)
    if not data:
        return
    valid = parse_records(data)[1]
    if valid < len(data):
        sink = storage.open_appender(key)
        try:
            sink.truncate(valid)
        finally:
            sink.close()
