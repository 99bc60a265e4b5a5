"""NumPy <-> Arrow conversions for fixed-width columns that never import pandas.

``pa.array(ndarray)`` and ``Array.to_numpy()`` import pandas on first use (pyarrow checks
for pandas types), which costs half a second in a training process that never asked for
pandas.  The point columns are plain fixed-width types, so we wrap and unwrap their
buffers directly (zero-copy where the layout allows).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

ARROW_TO_NUMPY = {
    pa.uint32(): np.uint32,
    pa.int64(): np.int64,
    pa.float64(): np.float64,
    pa.uint64(): np.uint64,
    pa.int32(): np.int32,
}
_NUMPY_TO_ARROW = {np.dtype(v): k for k, v in ARROW_TO_NUMPY.items()}


def to_arrow(values: np.ndarray, valid: np.ndarray | None = None, arrow_type: pa.DataType | None = None) -> pa.Array:
    """A zero-copy Arrow array over a 1-D NumPy array of a fixed-width numeric dtype, or a bool mask.

    ``valid`` (bool, optional): null where False.  ``arrow_type``: convert to this type
    (e.g. int64 epochs held as float64 with NaN for the nulls).
    """
    if arrow_type is not None:
        values = (
            values.astype(ARROW_TO_NUMPY[arrow_type], copy=False)
            if valid is None
            else np.where(valid, values, 0).astype(ARROW_TO_NUMPY[arrow_type])
        )
    values = np.ascontiguousarray(values)
    validity, null_count = None, 0
    if valid is not None and not valid.all():
        validity = pa.py_buffer(np.packbits(valid, bitorder="little"))
        null_count = int(len(valid) - np.count_nonzero(valid))
    if values.dtype == np.bool_:
        bits = np.packbits(values, bitorder="little")
        return pa.Array.from_buffers(pa.bool_(), len(values), [validity, pa.py_buffer(bits)], null_count=null_count)
    arrow_type = _NUMPY_TO_ARROW.get(values.dtype)
    if arrow_type is None:
        values = values.astype(np.int64 if values.dtype.kind in "iu" else np.float64)
        arrow_type = _NUMPY_TO_ARROW[values.dtype]
    return pa.Array.from_buffers(arrow_type, len(values), [validity, pa.py_buffer(values)], null_count=null_count)


def validity_bits(buffer, offset: int, n: int) -> np.ndarray:
    """Bits ``offset .. offset + n`` of an Arrow validity (or boolean) bitmap as a bool array."""
    return np.unpackbits(np.frombuffer(buffer, dtype=np.uint8), count=offset + n, bitorder="little")[offset:].astype(
        bool
    )


def _chunk_values(chunk: pa.Array, np_type) -> tuple[np.ndarray, np.ndarray | None]:
    """``(values, valid)`` of one non-empty chunk, zero-copy; ``valid`` None without nulls."""
    n = len(chunk)
    buffers = chunk.buffers()
    data = np.frombuffer(buffers[1], dtype=np_type, count=n, offset=chunk.offset * np.dtype(np_type).itemsize)
    return data, (None if chunk.null_count == 0 else validity_bits(buffers[0], chunk.offset, n))


def _chunk_to_numpy(chunk: pa.Array, np_type, null_fill) -> np.ndarray:
    n = len(chunk)
    if n == 0:
        return np.empty(0, dtype=np_type if null_fill is None or chunk.null_count == 0 else np.float64)
    if chunk.null_count and chunk.buffers()[0] is None:  # a null-type array
        return np.full(n, null_fill, dtype=np.float64)
    data, valid = _chunk_values(chunk, np_type)
    if valid is None:
        return data
    out = data.astype(np.float64)
    out[~valid] = null_fill
    return out


def to_numpy(column, null_fill=np.nan) -> np.ndarray:
    """A NumPy array from an Arrow (chunked) array of a fixed-width type; nulls become ``null_fill``
    (the result is then float64)."""
    if isinstance(column, pa.ChunkedArray):
        chunks = column.chunks
    else:
        chunks = [column]
    if column.type == pa.null():
        return np.full(len(column), null_fill, dtype=np.float64)
    np_type = ARROW_TO_NUMPY[column.type]
    if not chunks:
        return np.empty(0, dtype=np_type)
    parts = [_chunk_to_numpy(c, np_type, null_fill) for c in chunks]
    if len(parts) == 1:
        return parts[0]
    if any(p.dtype != parts[0].dtype for p in parts):
        parts = [p.astype(np.float64) for p in parts]
    return np.concatenate(parts)


def to_numpy_rows(column, rows: np.ndarray) -> np.ndarray:
    """``to_numpy(column)[rows]``, except that the result is float64 with NaN only when one of
    the selected rows is null (an int column stays int when the nulls are in other rows)."""
    if column.null_count == 0 or column.type == pa.null():
        return to_numpy(column)[rows]
    np_type = ARROW_TO_NUMPY[column.type]
    values, valid = [], []
    for chunk in column.chunks if isinstance(column, pa.ChunkedArray) else [column]:
        if len(chunk):
            data, ok = _chunk_values(chunk, np_type)
            values.append(data)
            valid.append(np.ones(len(chunk), dtype=bool) if ok is None else ok)
    picked, ok = np.concatenate(values)[rows], np.concatenate(valid)[rows]
    return picked if ok.all() else np.where(ok, picked, np.nan)
