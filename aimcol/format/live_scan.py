"""Reading a live segment (an Arrow IPC stream the writer appends to) that may be torn or damaged.

The stream is walked message by message with the schema aimcol writes (``POINT_SCHEMA``),
not the schema stored in the file, so a damaged schema message costs nothing as long as
the messages after it still frame.  Each record batch must match its ``aimcol.crc32``
(a stream whose first batch carries one must carry one in every batch):

- a batch that frames but fails its checksum is skipped and reported as a gap, and the
  walk goes on after it (bit rot in batch 1 of 10 costs batch 1, not batches 1-10);
- where the framing itself is broken, the walk looks for the next message start
  (``0xFFFFFFFF``) and takes a batch there only if its checksum matches, so bytes that
  merely parse are never taken for data;
- a torn last batch (a writer killed mid-append, a reader racing the writer) is where the
  data ends.

Nothing here raises on damaged bytes: the result is every intact batch, in order, and a
list of what was skipped.  Streams written before checksums existed read as before: every
batch up to the first one that does not parse.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from aimcol.format.arrow_numpy import empty_table
from aimcol.format.ipc_file import Buf, Table, _field, _table, _u32, _vector

Checksum = Callable[[pa.RecordBatch], int]
"""What a batch's checksum entry must say, computed from the batch."""

_CONTINUATION = b"\xff\xff\xff\xff"
_READ_ERRORS = (pa.ArrowException, OSError, EOFError, ValueError, TypeError, IndexError, struct.error)


@dataclass
class LiveScan:
    """What a walk over a live segment found: the intact batches and what it skipped."""

    table: pa.Table
    gaps: list[str] = field(default_factory=list)  # damaged stretches between intact batches
    tail_bytes: int = 0  # bytes after the last intact batch that hold no intact batch (a torn tail)
    schema_damaged: bool = False


def message_custom_metadata(meta: Buf) -> dict[bytes, bytes]:
    """The ``custom_metadata`` of an IPC message's flatbuffer (Message field 4: [KeyValue])."""
    message = _table(meta, _u32(meta, 0)[0])
    start, count = _vector(meta, message, 4)
    out = {}
    for i in range(count):
        at = start + 4 * i
        pair = _table(meta, at + _u32(meta, at)[0])
        out[_string(meta, pair, 0)] = _string(meta, pair, 1)
    return out


def _string(buf: Buf, table: Table, index: int) -> bytes:
    pos = _field(buf, table, index)
    if pos is None:
        return b""
    start = pos + _u32(buf, pos)[0]
    length = _u32(buf, start)[0]
    if start + 4 + length > len(buf):
        raise IndexError("string outside its message")
    return bytes(buf[start + 4 : start + 4 + length])


def scan_live_segment(data: bytes, schema: pa.Schema, checksum_key: bytes, checksum: Checksum) -> LiveScan:
    """Every intact record batch of the live stream ``data`` (see the module docstring).

    ``checksum(batch) -> int`` computes what ``checksum_key`` in a batch's custom metadata
    must say.
    """
    buf = pa.py_buffer(data)
    size = len(data)
    batches: list[pa.RecordBatch] = []
    gaps: list[str] = []
    checked: bool | None = None  # does this stream carry checksums? (its first batch says)
    head = _read_message(buf, 0)
    schema_damaged = not (
        head is not None
        and head[0].type == "schema"
        and head[1] == _framed_schema_size(schema)
        and _schema_matches(head[0], schema)
    )
    pos, search = (head[1], False) if head is not None and not schema_damaged else (0, True)
    if schema_damaged and size:
        gaps.append("the schema message is damaged (the schema is fixed: read on with aimcol's)")
    index = 0  # record batches met, intact or not
    reason = "unreadable"
    last_start = 0  # where the last message taken began
    while pos < size:
        found = None if search else _read_message(buf, pos)
        if found is None:
            if checked is False:
                break  # no checksums to resync with: the data ends here, as it always did
            # search from inside the last message taken: a damaged length may have made it swallow
            # the start of the next one (its own checksum covers its columns, not its length fields)
            start = pos + 1 if search and pos else (last_start + 1 if last_start else pos)
            after, found = _next_intact(buf, data, start, schema, checksum_key, checksum)
            if found is None:
                break  # a torn tail, or damage with nothing intact after it
            if after > pos and (pos or not schema_damaged):
                gaps.append(f"bytes {pos}-{after}: {reason}, skipped")
            pos, search, checked, reason = after, False, True, "unreadable"
        message, end = found
        if message.type != "record batch":
            pos, search, reason = pos, True, f"a {message.type} message where a record batch belongs"
            continue
        batch, verdict = _checked_batch(message, schema, checksum_key, checksum, checked)
        index += 1
        if batch is None:
            if checked is False:
                break  # a stream without checksums: the data ends at the first batch that does not read
            # a damaged batch: its length fields are not to be trusted either; find the next intact one
            pos, search, reason = pos, True, f"batch {index - 1} {verdict}"
            continue
        if checked is None:
            checked = _has_checksum(message, checksum_key)
        batches.append(batch)
        last_start, pos = pos, end
    table = pa.Table.from_batches(batches, schema) if batches else empty_table(schema)
    return LiveScan(table, gaps, max(size - pos, 0), schema_damaged)


_FRAMED_SCHEMA_SIZES: dict[str, int] = {}


def _framed_schema_size(schema: pa.Schema) -> int:
    """Bytes of the schema message at the start of a stream of ``schema``, as pyarrow writes it."""
    key = schema.to_string()
    size = _FRAMED_SCHEMA_SIZES.get(key)
    if size is None:
        sink = pa.BufferOutputStream()
        pa.ipc.new_stream(sink, schema).close()
        size = _FRAMED_SCHEMA_SIZES[key] = sink.getvalue().size - 8  # less the end-of-stream marker
    return size


def _read_message(buf: pa.Buffer, pos: int) -> tuple[Any, int] | None:
    """``(message, end offset)`` of the IPC message at ``pos``, or None (torn, garbled, end marker)."""
    source = pa.BufferReader(buf.slice(pos))
    try:
        message = pa.ipc.read_message(source)
    except _READ_ERRORS:
        return None
    if message is None:
        return None
    return message, pos + source.tell()


def _schema_matches(message: Any, schema: pa.Schema) -> bool:
    try:
        return bool(pa.ipc.read_schema(message).remove_metadata().equals(schema.remove_metadata()))
    except _READ_ERRORS:
        return False


def _has_checksum(message: Any, key: bytes) -> bool:
    try:
        return key in message_custom_metadata(message.metadata)
    except _READ_ERRORS:
        return False


def _checked_batch(
    message: Any, schema: pa.Schema, key: bytes, checksum: Checksum, checked: bool | None
) -> tuple[pa.RecordBatch | None, str | None]:
    """``(batch, None)`` for an intact batch, ``(None, why)`` for a damaged one.  A batch
    without a checksum is intact if it reads, in a stream not known to carry checksums."""
    try:
        metadata = message_custom_metadata(message.metadata)
    except _READ_ERRORS:
        metadata = None
    expected = None if metadata is None else metadata.get(key)
    if expected is None and (checked or metadata is None):
        return None, "has a missing or unreadable checksum"
    try:
        batch = pa.ipc.read_record_batch(message, schema)
        batch.validate(full=True)  # also null counts against the bitmaps: nothing the checksum misses
    except _READ_ERRORS:
        return None, "does not parse"
    if expected is None:
        return batch, None  # a stream written before checksums
    try:
        matches = int(expected) == checksum(batch)
    except _READ_ERRORS:
        matches = False
    return (batch, None) if matches else (None, "does not match its checksum")


def _next_intact(
    buf: pa.Buffer, data: bytes, start: int, schema: pa.Schema, key: bytes, checksum: Checksum
) -> tuple[int, tuple[Any, int] | None]:
    """The next position at or after ``start`` where a message with a matching checksum begins."""
    at = start
    while True:
        at = data.find(_CONTINUATION, at)
        if at < 0:
            return len(data), None
        found = _read_message(buf, at)
        if found is not None and found[0].type == "record batch":
            batch, _ = _checked_batch(found[0], schema, key, checksum, True)
            if batch is not None:
                return at, found
        at += 1
