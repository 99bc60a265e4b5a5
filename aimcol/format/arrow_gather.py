"""Row selection and string comparison on Arrow arrays in NumPy, without ``pyarrow.compute``.

Importing ``pyarrow.compute`` costs 0.3–0.5 s in a fresh process on a slow machine (it
builds a Python wrapper for each of ~300 kernels), and pyarrow's own ``Array.take``,
``Array.cast``, ``Table.filter`` … import it on first use.  A cold ``query_runs`` or the
TUI's first paint would pay that for a few gathers of the run index.  The index uses few
layouts — null, bool, fixed-width numbers, string/binary and list<string> — so those are
gathered here straight from their buffers; any other type falls back to pyarrow.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from aimcol.format.arrow_numpy import Column, validity_bits

_FIXED = {
    pa.int8(): np.int8,
    pa.int16(): np.int16,
    pa.int32(): np.int32,
    pa.int64(): np.int64,
    pa.uint8(): np.uint8,
    pa.uint16(): np.uint16,
    pa.uint32(): np.uint32,
    pa.uint64(): np.uint64,
    pa.float32(): np.float32,
    pa.float64(): np.float64,
}
_OFFSETS = {pa.string(): np.int32, pa.binary(): np.int32, pa.large_string(): np.int64, pa.large_binary(): np.int64}


def _validity(array: pa.Array) -> np.ndarray | None:
    """True where not null, or None when the array has no nulls."""
    if array.null_count == 0:
        return None
    if array.type == pa.null():
        return np.zeros(len(array), dtype=bool)
    return validity_bits(array.buffers()[0], array.offset, len(array))


def _validity_buffer(valid: np.ndarray | None) -> tuple[pa.Buffer | None, int]:
    if valid is None or valid.all():
        return None, 0
    return pa.py_buffer(np.packbits(valid, bitorder="little")), int(len(valid) - np.count_nonzero(valid))


def _single(array: Column) -> pa.Array:
    if isinstance(array, pa.ChunkedArray):
        return array.chunk(0) if array.num_chunks == 1 else array.combine_chunks()
    return array


def string_offsets(array: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """``(offsets, data)`` of a string or binary array: row ``i`` is ``data[offsets[i]:offsets[i + 1]]``.

    ``offsets`` is int64 with ``len(array) + 1`` entries; ``data`` a uint8 view of the bytes.
    """
    array = _single(array)
    n = len(array)
    buffers = array.buffers()
    offsets = np.frombuffer(buffers[1], dtype=_OFFSETS[array.type], count=array.offset + n + 1)[array.offset :]
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(0, dtype=np.uint8)
    return offsets.astype(np.int64), data


def _segments(starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``starts[i] .. starts[i] + lengths[i]`` for every ``i``, concatenated, and new offsets."""
    new_offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_offsets[1:])
    total = int(new_offsets[-1])
    positions = np.arange(total, dtype=np.int64) + np.repeat(starts - new_offsets[:-1], lengths)
    return positions, new_offsets


def _uniform_width(offsets: np.ndarray) -> int | None:
    """The length shared by every row (run hashes: 24), or None."""
    if len(offsets) < 2:
        return None
    width = int(offsets[1] - offsets[0])
    if width <= 0 or int(offsets[-1] - offsets[0]) != width * (len(offsets) - 1) or (np.diff(offsets) != width).any():
        return None
    return width


def _rows_matrix(offsets: np.ndarray, data: np.ndarray, width: int) -> np.ndarray:
    """Rows of one width as a (rows, width) byte matrix (a view)."""
    return data[offsets[0] : offsets[-1]].reshape(-1, width)


MAX_SLICES = 64
"""A gather of at most this many contiguous byte ranges copies slices instead of indexing bytes."""


def _gather_bytes(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bytes ``starts[i] .. starts[i] + lengths[i]`` for every ``i``, concatenated, and new offsets.

    Neighbouring rows that are neighbours in ``data`` too are copied as one slice: dropping
    a few rows of a table (an index refresh) copies a few large slices.
    """
    ends = starts + lengths
    breaks = np.flatnonzero(starts[1:] != ends[:-1]) + 1
    if len(starts) and len(breaks) < MAX_SLICES:
        first = [0, *breaks.tolist()]
        last = [b - 1 for b in breaks.tolist()] + [len(starts) - 1]
        new_offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=new_offsets[1:])
        pieces = [data[a:b] for a, b in zip(starts[first].tolist(), ends[last].tolist())]
        return np.concatenate(pieces), new_offsets
    positions, new_offsets = _segments(starts, lengths)
    return data[positions], new_offsets


BLOCK_ROWS = 256
"""A gather whose indices are runs of consecutive rows, on average at least this long, copies
those runs as slices (of a table of many chunks too, without joining it first)."""


def _blocks(indices: np.ndarray, length: int) -> tuple[list[int], list[int]] | None:
    """``(starts, lengths)`` of the runs of consecutive ``indices``, or None where they are
    short (or an index is out of range: the plain gather then raises as NumPy does)."""
    n = len(indices)
    if n < 2 * BLOCK_ROWS or indices.min() < 0 or indices.max() >= length:
        return None
    breaks = np.flatnonzero(np.diff(indices) != 1) + 1
    if (len(breaks) + 1) * BLOCK_ROWS > n:
        return None
    firsts = np.concatenate([[0], breaks])
    lasts = np.concatenate([breaks, [n]])
    return indices[firsts].tolist(), (lasts - firsts).tolist()


def take(array: Column, indices: np.ndarray) -> pa.Array:
    """``array.take(indices)`` for the run index's layouts; ``indices`` a NumPy integer array.

    Indices in long runs of consecutive rows (a table reordered a run's block at a time) are
    copied as slices: 2.25M sequence rows in 1,500 blocks, one copy instead of two."""
    indices = np.asarray(indices, dtype=np.int64)
    blocks = _blocks(indices, len(array))
    if blocks is not None:
        chunks: list[pa.Array] = []
        for start, count in zip(*blocks):
            piece = array.slice(start, count)
            chunks.extend(piece.chunks if isinstance(piece, pa.ChunkedArray) else [piece])
        return pa.concat_arrays(chunks)
    array = _single(array)
    typ = array.type
    n = len(indices)
    if typ == pa.null():
        return pa.nulls(n)
    valid = _validity(array)
    validity, null_count = _validity_buffer(None if valid is None else valid[indices])
    buffers = array.buffers()
    if typ in _FIXED:
        values = np.frombuffer(buffers[1], dtype=_FIXED[typ], count=array.offset + len(array))[array.offset :]
        return pa.Array.from_buffers(
            typ, n, [validity, pa.py_buffer(np.ascontiguousarray(values[indices]))], null_count=null_count
        )
    if typ == pa.bool_():
        values = validity_bits(buffers[1], array.offset, len(array))[indices]
        return pa.Array.from_buffers(
            typ, n, [validity, pa.py_buffer(np.packbits(values, bitorder="little"))], null_count=null_count
        )
    if typ in _OFFSETS:
        offsets, data = string_offsets(array)
        width = _uniform_width(offsets)
        if width is not None:
            new_data = _rows_matrix(offsets, data, width)[indices].reshape(-1)
            new_offsets = np.arange(n + 1, dtype=np.int64) * width
        else:
            new_data, new_offsets = _gather_bytes(data, offsets[:-1][indices], np.diff(offsets)[indices])
        offset_type = _OFFSETS[typ]
        return pa.Array.from_buffers(
            typ,
            n,
            [validity, pa.py_buffer(new_offsets.astype(offset_type)), pa.py_buffer(new_data)],
            null_count=null_count,
        )
    if pa.types.is_list(typ):
        offsets = np.frombuffer(buffers[1], dtype=np.int32, count=array.offset + len(array) + 1)[array.offset :]
        offsets = offsets.astype(np.int64)
        positions, new_offsets = _segments(offsets[:-1][indices], np.diff(offsets)[indices])
        values = take(array.values, positions)
        return pa.Array.from_buffers(
            typ, n, [validity, pa.py_buffer(new_offsets.astype(np.int32))], null_count=null_count, children=[values]
        )
    return array.take(pa.Array.from_buffers(pa.int64(), n, [None, pa.py_buffer(indices)]))  # imports pyarrow.compute


def take_table(table: pa.Table, indices: np.ndarray) -> pa.Table:
    """``table.take(indices)`` column by column with :func:`take` (schema and metadata kept)."""
    return pa.Table.from_arrays([take(column, indices) for column in table.columns], schema=table.schema)


def keep_rows(table: pa.Table, keep: np.ndarray) -> pa.Table:
    """``table.filter(keep)``.  Dropping a few rows (an index refresh replacing the runs that
    changed) keeps the runs of rows in between as zero-copy slices joined in C++."""
    rows = np.flatnonzero(keep)
    if len(rows) == table.num_rows:
        return table
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    if not len(rows) or len(breaks) >= MAX_SLICES:
        return take_table(table, rows)
    firsts = rows[[0, *breaks.tolist()]].tolist()
    lasts = rows[[*(breaks - 1).tolist(), len(rows) - 1]].tolist()
    return pa.concat_tables([table.slice(a, b - a + 1) for a, b in zip(firsts, lasts)]).combine_chunks()


def where(mask: np.ndarray, a: Column, b: Column) -> pa.Array:
    """Row-wise ``a if mask else b`` for two arrays of one type and length."""
    a, b = _single(a), _single(b)
    n = len(mask)
    return take(pa.concat_arrays([a, b]), np.where(mask, np.arange(n), np.arange(n) + n))


def strings_equal(a: Column, b: Column) -> np.ndarray:
    """Row-wise ``a == b`` of two string (or binary) arrays of one length; False where either is null."""
    a, b = _single(a), _single(b)
    ao, ad = string_offsets(a)
    bo, bd = string_offsets(b)
    width = _uniform_width(ao)
    same_width = width is not None and width == _uniform_width(bo)
    if width is not None and same_width:  # e.g. run hashes: compare the rows of two byte matrices
        ok: np.ndarray = (_rows_matrix(ao, ad, width) == _rows_matrix(bo, bd, width)).all(axis=1)
    else:
        ok = np.diff(ao) == np.diff(bo)
    for array in (a, b):
        valid = _validity(array)
        if valid is not None:
            ok &= valid
    if same_width:
        return ok
    la = np.diff(ao)
    rows = np.flatnonzero(ok)
    lengths = la[rows]
    positions, _ = _segments(ao[rows], lengths)
    owner = np.repeat(np.arange(len(rows)), lengths)
    other = positions - ao[rows][owner] + bo[rows][owner]
    differs = np.bincount(owner[ad[positions] != bd[other]], minlength=len(rows)) > 0
    ok[rows[differs]] = False
    return ok


def strings_equal_gathered(a: Column, b: Column, indices: np.ndarray) -> np.ndarray:
    """``strings_equal(a, take(b, indices))``, without building the gathered array where every
    row of both has one width (run hashes: rows of byte matrices)."""
    a, b = _single(a), _single(b)
    ao, ad = string_offsets(a)
    bo, bd = string_offsets(b)
    width = _uniform_width(ao)
    if width is None or width != _uniform_width(bo) or _validity(a) is not None or _validity(b) is not None:
        return strings_equal(a, take(b, indices))
    same: np.ndarray = (_rows_matrix(ao, ad, width) == _rows_matrix(bo, bd, width)[indices]).all(axis=1)
    return same


def strings_equal_scalar(array: Column, value: str | bytes) -> np.ndarray:
    """Row-wise ``array == value`` for a string (or binary) array; False where null."""
    array = _single(array)
    needle = np.frombuffer(value.encode("utf-8") if isinstance(value, str) else value, dtype=np.uint8)
    offsets, data = string_offsets(array)
    ok: np.ndarray = np.diff(offsets) == len(needle)
    valid = _validity(array)
    if valid is not None:
        ok &= valid
    rows = np.flatnonzero(ok)
    if len(needle) and len(rows):
        window = data[offsets[rows][:, None] + np.arange(len(needle))]
        ok[rows] = (window == needle).all(axis=1)
    return ok


def byte_lengths(array: Column) -> np.ndarray:
    """Length in bytes of each row of a string or binary array (0 where null)."""
    array = _single(array)
    lengths = np.diff(string_offsets(array)[0])
    valid = _validity(array)
    return lengths if valid is None else np.where(valid, lengths, 0)


def list_offsets(array: Column) -> np.ndarray:
    """Offsets (int64, ``len + 1``) of a list array's rows into ``values``; a null list is empty."""
    array = _single(array)
    n = len(array)
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int32, count=array.offset + n + 1)[array.offset :]
    lengths = np.diff(offsets.astype(np.int64))
    valid = _validity(array)
    if valid is not None:
        lengths = np.where(valid, lengths, 0)
    out = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=out[1:])
    return out


def list_values(array: Column) -> tuple[np.ndarray, pa.Array]:
    """``(owner row of each element, the elements)`` of a list array, as ``list_flatten`` gives them."""
    array = _single(array)
    n = len(array)
    raw = np.frombuffer(array.buffers()[1], dtype=np.int32, count=array.offset + n + 1)[array.offset :].astype(np.int64)
    lengths = np.diff(raw)
    valid = _validity(array)
    if valid is not None:
        lengths = np.where(valid, lengths, 0)
    positions, _ = _segments(raw[:-1], lengths)
    return np.repeat(np.arange(n, dtype=np.int64), lengths), take(array.values, positions)


def binary_items(array: Column, rows: np.ndarray) -> list[bytes]:
    """The bytes of ``rows`` of a binary array (``b""`` where null)."""
    offsets, data = string_offsets(array)
    raw = data.tobytes() if len(rows) * 64 > len(data) else None
    out = []
    for row in np.asarray(rows, dtype=np.int64).tolist():
        lo, hi = int(offsets[row]), int(offsets[row + 1])
        out.append(raw[lo:hi] if raw is not None else data[lo:hi].tobytes())
    return out
