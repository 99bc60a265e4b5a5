"""Blob segments: the encoded bytes of large object values (images, audio, figures).

A point of an image sequence is a small record in ``objects.log`` (caption, format, width,
height …) plus a reference ``[file number, offset, length, crc32]`` to its bytes, which lie
in an append-only blob segment ``runs/<hash>/blobs-<n>.arrows``.  Listing and querying read
only ``objects.log``; a blob is read (one ranged read, its CRC checked) when asked for.

A blob segment is a plain Arrow IPC *stream*, uncompressed (the bytes are PNG/JPEG/WAV …
already), schema ``seq: uint32, step: int64, data: binary``, one record batch per blob:

    pa.ipc.open_stream("runs/<hash>/blobs-000001.arrows").read_all()

reads a sealed one (the writer ends it with the end-of-stream marker at close).  The
reference's offset is where the batch's ``data`` values start in the file, so aimcol reads
a blob without parsing Arrow at all.

Write order: the blob batch (one append), then the record naming it.  A kill between the two
leaves a batch no record names (pyarrow lists it; aimcol never sees it); a kill inside the
blob append leaves a torn tail no record names.  Each writer session starts a new file (the
next free number), so nothing is ever appended after a torn tail.  Only the claim holder of
a run writes its blob segments, as for every other file of the run.
"""

from __future__ import annotations

import re
import struct
import zlib

import pyarrow as pa

from aimcol.errors import ChecksumError, ObjectExistsError, UnsupportedStorageError
from aimcol.format.repo_layout import RepoLayout
from aimcol.format.storage import Appender, Storage

BLOB_NAME = re.compile(r"blobs-[0-9]{6,18}\.arrows")
BLOB_SCHEMA = pa.schema([("seq", pa.uint32()), ("step", pa.int64()), ("data", pa.binary())])
MAX_BLOB_BYTES = 1024 * 1024 * 1024
"""Larger blobs are refused (an Arrow ``binary`` value holds < 2 GiB; a tracked image is far smaller)."""

_END_OF_STREAM = b"\xff\xff\xff\xff\x00\x00\x00\x00"


def blob_file_name(number: int) -> str:
    """The file name of blob segment ``number`` (always built from an int, never read from data)."""
    return f"blobs-{int(number):06d}.arrows"


def blob_key(run_hash: str, number: int) -> str:
    return RepoLayout.segment_key(run_hash, blob_file_name(number))


def _schema_message() -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, BLOB_SCHEMA):
        pass
    data: bytes = sink.getvalue().to_pybytes()
    return data[: len(data) - len(_END_OF_STREAM)]


_SCHEMA_MESSAGE = _schema_message()


def encode_blob_batch(seq: int, step: int, data: bytes | memoryview) -> tuple[pa.Buffer, int]:
    """One record batch message holding ``data``, and where its bytes start inside it.

    The batch's ``data`` column is built over ``data`` without copying; serialising it is
    the one copy of the bytes before the write.
    """
    value = pa.py_buffer(data)
    columns = [  # from buffers: pa.array() of Python values costs ~1 s on its first call (pandas shim)
        pa.Array.from_buffers(pa.uint32(), 1, [None, pa.py_buffer(struct.pack("<I", seq))], null_count=0),
        pa.Array.from_buffers(pa.int64(), 1, [None, pa.py_buffer(struct.pack("<q", step))], null_count=0),
        pa.Array.from_buffers(
            pa.binary(), 1, [None, pa.py_buffer(struct.pack("<ii", 0, value.size)), value], null_count=0
        ),
    ]
    batch = pa.RecordBatch.from_arrays(columns, schema=BLOB_SCHEMA)
    message = batch.serialize()
    parsed = pa.ipc.read_record_batch(pa.ipc.read_message(message), BLOB_SCHEMA)
    start = parsed.column(2).buffers()[2].address - message.address
    if not 0 <= start <= message.size - value.size:
        raise AssertionError("blob bytes not found inside their serialised batch")
    return message, start


def require_appends(storage: Storage) -> None:
    """Raise :class:`~aimcol.errors.UnsupportedStorageError` for a store without appendable objects."""
    if not storage.supports_append:
        raise UnsupportedStorageError(
            f"{storage.uri}: images, audio and figures need appendable objects, which this storage "
            "does not have; track them into a local repository"
        )


class BlobSegmentWriter:
    """Appends blobs to a new blob segment of one run.  Not thread-safe: callers serialise.

    ``first_number`` is the lowest file number this writer may take (one past every number
    the run's records name); an existing file of that number (left by a killed writer that
    named none of its blobs yet) is skipped, never appended to.
    """

    def __init__(self, storage: Storage, run_hash: str, first_number: int):
        require_appends(storage)
        self.storage = storage
        number = max(int(first_number), 1)
        while storage.exists(blob_key(run_hash, number)):
            number += 1
        self.number = number
        self.key = blob_key(run_hash, number)
        self._sink: Appender | None = None
        self.size = 0

    def _open(self) -> Appender:
        try:
            self.storage.create(self.key, _SCHEMA_MESSAGE, durable=False)
        except ObjectExistsError:
            raise ObjectExistsError(f"{self.key}: another writer created this blob segment") from None
        self.size = len(_SCHEMA_MESSAGE)
        return self.storage.open_appender(self.key)

    def append(self, seq: int, step: int, data: bytes | memoryview) -> list[int]:
        """Write one blob; its reference ``[number, offset, length, crc32]``, or raise with
        the file as it was (a failed write is cut off again)."""
        length = memoryview(data).nbytes
        if length > MAX_BLOB_BYTES:
            raise ValueError(f"object is {length} bytes encoded; at most {MAX_BLOB_BYTES} are stored")
        if self._sink is None:
            self._sink = self._open()
        elif self._sink.closed:
            raise ValueError(f"{self.key}: blob writer is closed")
        message, start = encode_blob_batch(seq, step, data)
        try:
            self._sink.write(message)
        except BaseException:
            self._sink.truncate(self.size)
            raise
        ref = [self.number, self.size + start, length, zlib.crc32(data)]
        self.size += message.size
        return ref

    def close(self) -> None:
        """Seal the file: the end-of-stream marker makes it a complete Arrow stream."""
        if self._sink is not None and not self._sink.closed:
            try:
                self._sink.write(_END_OF_STREAM)
            finally:
                self._sink.close()


def is_blob_ref(ref: object) -> bool:
    """Whether ``ref`` has the shape of a reference written by :meth:`BlobSegmentWriter.append`."""
    return (
        isinstance(ref, list)
        and len(ref) == 4
        and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in ref)
        and ref[2] <= MAX_BLOB_BYTES
    )


def read_blob(storage: Storage, run_hash: str, ref: list[int]) -> bytes:
    """The bytes a reference names, checked against its length and CRC-32.

    Raises :class:`~aimcol.errors.ChecksumError` naming the file when they do not match
    (a damaged or cut blob segment), ``FileNotFoundError`` when the file is gone.
    """
    if not is_blob_ref(ref):
        raise ChecksumError(f"run {run_hash}: {ref!r} is not a blob reference")
    number, offset, length, _ = ref
    key = blob_key(run_hash, number)
    return _checked(key, ref, storage.read_range(key, offset, length) if length else b"")


def _checked(key: str, ref: list[int], data: bytes) -> bytes:
    """``data`` if it is the bytes ``ref`` names (length and CRC-32), else :class:`ChecksumError`."""
    _, offset, length, crc = ref
    if len(data) != length or zlib.crc32(data) != crc:
        raise ChecksumError(f"{key}: the {length} bytes at offset {offset} do not match their checksum")
    return data


WHOLE_FILE_BYTES = 16 * 1024 * 1024
"""On a storage without appends (object stores), a blob segment up to this size is fetched
whole on its first blob and kept, so reading a flush's images costs one request, not one each."""


class BlobReader:
    """Reads blob references of one run (as :func:`read_blob`).  On an object store a blob
    segment of at most :data:`WHOLE_FILE_BYTES` is fetched whole once and the last one kept
    (those segments are immutable: one per flush); elsewhere each blob is one ranged read."""

    def __init__(self, storage: Storage, run_hash: str):
        self.storage = storage
        self.run_hash = run_hash
        self._kept: tuple[int, bytes] | None = None

    def __call__(self, ref: list[int]) -> bytes:
        if self.storage.supports_append or not is_blob_ref(ref):
            return read_blob(self.storage, self.run_hash, ref)
        kept = self._kept
        if kept is None or kept[0] != ref[0]:
            key = blob_key(self.run_hash, ref[0])
            if self.storage.stat(key).size > WHOLE_FILE_BYTES:
                return read_blob(self.storage, self.run_hash, ref)
            kept = self._kept = (ref[0], self.storage.read(key))
        offset, length = ref[1], ref[2]
        return _checked(blob_key(self.run_hash, ref[0]), ref, kept[1][offset : offset + length])


def max_blob_number(refs: list[list[int]]) -> int:
    """The highest file number among references (0 for none)."""
    return max((r[0] for r in refs), default=0)
