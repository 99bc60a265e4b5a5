"""Object points: values of sequences that are not numbers (lists, log records …).

Numbers go to the columnar segments; a point whose value is an object (``track([0.1,
0.2], name=...)``, ``run.log_info(...)``) is rare and small, so it is one record appended to
the run's ``objects.log``::

    record = u32 payload length | u32 CRC-32 of payload | payload
    payload = msgpack [seq_id, step, epoch or nil, time, value]

(little-endian).  ``seq_id`` indexes the manifest's ``object_sequences``.  Appends are
single ``os.write`` calls on an ``O_APPEND`` descriptor; a failed one (disk full) is cut off
again with ``ftruncate``, so the file always ends at its last complete record.  A reader
stops at the first incomplete or damaged record (a torn tail after kill -9), and ignores
records of sequence ids the manifest does not list (a writer killed before publishing a new
sequence).
"""

from __future__ import annotations

import os
import struct
import zlib
from typing import Any

import msgpack

OBJECTS_FILE = "objects.log"

_HEADER = struct.Struct("<II")
MAX_RECORD_BYTES = 64 * 1024 * 1024
"""Larger records are refused by the writer and end the readable prefix for a reader."""


def pack_record(seq_id: int, step: int, epoch: int | None, time: float, value: Any) -> bytes:
    """One framed record; ``ValueError`` if ``value`` cannot be encoded or is too large."""
    try:
        payload = msgpack.packb([seq_id, step, epoch, time, value], use_bin_type=True)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"object value cannot be stored: {exc}") from None
    if len(payload) > MAX_RECORD_BYTES:
        raise ValueError(f"object value is {len(payload)} bytes encoded; at most {MAX_RECORD_BYTES} are stored")
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


class ObjectPointsWriter:
    """Appends records to a run's ``objects.log``.  Not thread-safe: callers serialise."""

    def __init__(self, path: str):
        self.path = path
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.size = os.fstat(self._fd).st_size

    def append(self, record: bytes) -> None:
        """Write one record from :func:`pack_record`, or raise with the file as it was."""
        if self._fd is None:
            raise ValueError(f"{self.path}: object points writer is closed")
        view = memoryview(record)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except BaseException:
            os.ftruncate(self._fd, self.size)
            raise
        self.size += len(record)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def parse_records(data: bytes) -> tuple[list[tuple[int, int, int | None, float, Any]], int]:
    """``(records, valid_bytes)``: every complete, intact record from the start of ``data``."""
    records = []
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, crc = _HEADER.unpack_from(data, offset)
        end = offset + _HEADER.size + length
        if length > MAX_RECORD_BYTES or end > len(data):
            break
        payload = data[offset + _HEADER.size : end]
        if zlib.crc32(payload) != crc:
            break
        try:
            record = msgpack.unpackb(payload, raw=False, strict_map_key=False)
        except (ValueError, TypeError, msgpack.UnpackException):
            break
        if not (isinstance(record, list) and len(record) == 5 and isinstance(record[0], int)):
            break
        records.append(tuple(record))
        offset = end
    return records, offset


def read_object_points(run_dir: str) -> list[tuple[int, int, int | None, float, Any]]:
    """Every intact record of the run's ``objects.log`` in write order (none if absent)."""
    try:
        with open(os.path.join(run_dir, OBJECTS_FILE), "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        return []
    return parse_records(data)[0]


def trim_torn_tail(run_dir: str) -> None:
    """Cut a torn last record (a writer killed mid-append) so that appends continue a valid file."""
    path = os.path.join(run_dir, OBJECTS_FILE)
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        return
    valid = parse_records(data)[1]
    if valid < len(data):
        os.truncate(path, valid)
