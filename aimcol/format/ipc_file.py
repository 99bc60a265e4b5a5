"""A direct reader of the record batches of a sealed segment (an Arrow IPC file), for queries.

A query reads one or two small batches from each of many files.  pyarrow's
``RecordBatchFileReader`` costs ~70 µs to open a file and ~30 µs per batch on top of the
zstd work; reading the few flatbuffer fields needed ourselves (footer → block offsets,
message → buffer offsets) and decompressing each wanted buffer with ``pa.Codec`` costs
about a third of that.  Only the layout aimcol writes is handled: the Arrow IPC file
format, little-endian, with the continuation marker, flat fixed-width columns (two buffers
each: validity, data) and zstd or no buffer compression.  Anything else raises
:class:`IpcLayoutError`, and the caller reads the file with pyarrow instead.

Format references: Arrow's ``File.fbs``, ``Message.fbs``, ``Schema.fbs`` and the IPC
"Encapsulated message format" / "IPC File Format" sections of the columnar spec.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any, TypeAlias

import numpy as np
import pyarrow as pa

from aimcol.errors import ChecksumError, FormatError
from aimcol.format.arrow_numpy import validity_bits
from aimcol.format.integrity import block_checksum
from aimcol.format.storage import Storage

MAGIC = b"ARROW1"
_CONTINUATION = b"\xff\xff\xff\xff"
_RECORD_BATCH = 3  # MessageHeader union tag
_ZSTD = 1  # CompressionType; 0 is LZ4_FRAME (also the default when the field is absent)
_u16 = struct.Struct("<H").unpack_from
_i32 = struct.Struct("<i").unpack_from
_u32 = struct.Struct("<I").unpack_from
_i64 = struct.Struct("<q").unpack_from
_i64x2 = struct.Struct("<qq").unpack_from
Buf: TypeAlias = "bytes | memoryview"
Table: TypeAlias = tuple[int, int, int]
"""A flatbuffer table: (position, vtable position, vtable size)."""

_ZSTD_CODEC = pa.Codec("zstd") if pa.Codec.is_available("zstd") else None


class IpcLayoutError(FormatError):
    """The file is not laid out as this reader expects; read it with pyarrow."""


def _table(buf: Buf, pos: int) -> tuple[int, int, int]:
    """A flatbuffer table at ``pos``: (position, vtable position, vtable size)."""
    vtable = pos - _i32(buf, pos)[0]
    return pos, vtable, _u16(buf, vtable)[0]


def _field(buf: Buf, table: Table, index: int) -> int | None:
    """Position of field ``index`` of a table, or None when absent (default value)."""
    pos, vtable, size = table
    slot = 4 + 2 * index
    if slot >= size:
        return None
    offset = _u16(buf, vtable + slot)[0]
    return pos + offset if offset else None


def _child_table(buf: Buf, table: Table, index: int) -> Table | None:
    pos = _field(buf, table, index)
    return None if pos is None else _table(buf, pos + _u32(buf, pos)[0])


def _vector(buf: Buf, table: Table, index: int) -> tuple[int, int]:
    """(position of the first element, length) of a vector field; (0, 0) when absent."""
    pos = _field(buf, table, index)
    if pos is None:
        return 0, 0
    start = pos + _u32(buf, pos)[0]
    return start + 4, _u32(buf, start)[0]


_BLOCK_DTYPE = np.dtype(
    {"names": ["offset", "meta", "body"], "formats": ["<i8", "<i4", "<i8"], "offsets": [0, 8, 16], "itemsize": 24}
)
"""Footer.recordBatches' Block struct: offset, metaDataLength, (padding), bodyLength."""


class FooterBlocks:
    """``(offset, metadata length, body length)`` of each record batch: a sequence of tuples
    over the footer's bytes, decoded on access (a W10 segment has 1,500 batches; a query of
    one metric reads one of them, and unpacking all 1,500 cost ~3 ms a file)."""

    __slots__ = ("_array",)

    def __init__(self, array: np.ndarray):
        self._array = array

    def __len__(self) -> int:
        return len(self._array)

    def __getitem__(self, index: int) -> tuple[int, int, int]:
        offset, meta, body = self._array[index].item()
        return int(offset), int(meta), int(body)

    def __iter__(self) -> Iterator[tuple[int, int, int]]:
        return iter(self._array.tolist())


def footer_blocks(footer: Buf, path: str) -> FooterBlocks:
    """``(offset, metadata length, body length)`` of each record batch, from an IPC file's footer."""
    root = _table(footer, _u32(footer, 0)[0])
    start, count = _vector(footer, root, 3)  # Footer.recordBatches
    if start + 24 * count > len(footer):
        raise IpcLayoutError(f"{path}: footer lists more record batches than it holds")
    return FooterBlocks(np.frombuffer(footer, dtype=_BLOCK_DTYPE, count=count, offset=start))


def file_blocks(data: Buf, path: str) -> FooterBlocks:
    """The record batch blocks of a whole Arrow IPC file held in memory (``data``)."""
    size = len(data)
    if size < 18 or bytes(data[-6:]) != MAGIC:
        raise IpcLayoutError(f"{path}: no Arrow file magic at the end")
    footer_len = _i32(data, size - 10)[0]
    if not 0 < footer_len <= size - 18:
        raise IpcLayoutError(f"{path}: bad footer length {footer_len}")
    return footer_blocks(data[size - 10 - footer_len : size - 10], path)


TAIL_GUESS = 16384
"""Bytes read from the end of a file at open: the magic, the footer length and (nearly
always) the footer itself, in one positioned read."""


class IpcFileBatches:
    """The record batches of one Arrow IPC file, read by positioned (ranged) reads.

    Holds no descriptor between reads (a query may touch thousands of files): the footer
    is read once, with the file's tail, and each batch read is one ranged read of the
    storage (locally one ``pread``).
    """

    def __init__(self, storage: Storage, key: str, checksums: list[int] | None = None):
        self.storage = storage
        self.key = key
        self.path = path = f"{storage.uri}/{key}"  # for messages
        tail, size = storage.read_tail(key, TAIL_GUESS)
        self.size = size
        if size < 18 or tail[-6:] != MAGIC:
            raise IpcLayoutError(f"{path}: no Arrow file magic at the end")
        footer_len = _i32(tail, len(tail) - 10)[0]
        if not 0 < footer_len <= size - 18:
            raise IpcLayoutError(f"{path}: bad footer length {footer_len}")
        if footer_len + 10 <= len(tail):
            footer = tail[len(tail) - 10 - footer_len : len(tail) - 10]
        else:
            footer = storage.read_range(key, size - 10 - footer_len, footer_len)
        self.blocks = footer_blocks(footer, path)
        if checksums is not None and len(checksums) != len(self.blocks):
            raise IpcLayoutError(f"{path}: {len(self.blocks)} record batches, the manifest lists {len(checksums)}")
        self.checksums = checksums

    @property
    def num_record_batches(self) -> int:
        return len(self.blocks)

    def read_columns(
        self, index: int, columns: list[int], dtypes: list[np.dtype[Any]], checksum: int | None = None
    ) -> tuple[int, list[tuple[np.ndarray, np.ndarray | None]]]:
        """Batch ``index``: its row count and, for each field of ``columns`` (of fixed-width
        ``dtypes``), ``(values, valid)``: NumPy arrays, ``valid`` None when there are no nulls.

        ``checksum``: the batch's CRC-32 when the reader was given no list of them."""
        offset, meta_len, body_len = self.blocks[index]
        if offset < 8 or meta_len < 8 or body_len < 0 or offset + meta_len + body_len > self.size:
            raise IpcLayoutError(f"{self.path}: block {index} out of the file")
        data = self.storage.read_range(self.key, offset, meta_len + body_len)
        if checksum is None and self.checksums is not None:
            checksum = self.checksums[index]
        if checksum is not None and block_checksum(offset, meta_len, body_len, data) != checksum:
            raise ChecksumError(f"{self.path}: record batch {index} does not match its checksum (the file is damaged)")
        if len(data) != meta_len + body_len or data[:4] != _CONTINUATION:
            raise IpcLayoutError(f"{self.path}: batch {index} is cut or has no continuation marker")
        meta = memoryview(data)[8:meta_len]
        body = memoryview(data)[meta_len:]
        message = _table(meta, _u32(meta, 0)[0])
        kind = _field(meta, message, 1)
        header = _child_table(meta, message, 2)
        if kind is None or meta[kind] != _RECORD_BATCH or header is None:
            raise IpcLayoutError(f"{self.path}: message {index} is not a record batch")
        length_at = _field(meta, header, 0)
        length = _i64(meta, length_at)[0] if length_at is not None else 0
        nodes_at, n_nodes = _vector(meta, header, 1)
        buffers_at, n_buffers = _vector(meta, header, 2)
        compression = _child_table(meta, header, 3)
        codec = None
        if compression is not None:
            codec_at = _field(meta, compression, 0)
            if codec_at is None or meta[codec_at] != _ZSTD or _ZSTD_CODEC is None:
                raise IpcLayoutError(f"{self.path}: batch {index} is not zstd-compressed")
            codec = _ZSTD_CODEC
        if n_buffers != 2 * n_nodes:
            raise IpcLayoutError(f"{self.path}: batch {index} is not flat fixed-width columns")
        arrays = []
        for column, dtype in zip(columns, dtypes):
            if not 0 <= column < n_nodes:
                raise IpcLayoutError(f"{self.path}: batch {index} has no field {column}")
            node_length, null_count = _i64x2(meta, nodes_at + 16 * column)
            if node_length != length:
                raise IpcLayoutError(f"{self.path}: field {column} of batch {index} has {node_length} rows")
            validity = _buffer(meta, body, buffers_at, 2 * column, codec) if null_count else None
            values = _buffer(meta, body, buffers_at, 2 * column + 1, codec)
            if len(values) < length * dtype.itemsize or (validity is not None and len(validity) * 8 < length):
                raise IpcLayoutError(f"{self.path}: field {column} of batch {index} is short")
            valid = None
            if validity is not None:
                valid = validity_bits(validity, 0, length)
            arrays.append((np.frombuffer(values, dtype=dtype, count=length), valid))
        return length, arrays


def _buffer(meta: memoryview, body: memoryview, buffers_at: int, which: int, codec: Any) -> Any:
    """Buffer ``which`` of a record batch, decompressed (a memoryview or a ``pa.Buffer``)."""
    offset, length = _i64x2(meta, buffers_at + 16 * which)
    if offset < 0 or length < 0 or offset + length > len(body):
        raise IpcLayoutError(f"buffer {which} lies outside its batch")
    raw = body[offset : offset + length]
    if codec is None or length == 0:
        return raw
    if length < 8:
        raise IpcLayoutError(f"compressed buffer {which} lacks its length prefix")
    size = _i64(raw, 0)[0]
    if size == -1:  # stored uncompressed
        return raw[8:]
    return codec.decompress(raw[8:], decompressed_size=size)
