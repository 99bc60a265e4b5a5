"""The one Arrow <-> NumPy layer of aimcol: conversions that never import pandas.

``pa.array(ndarray)``, ``pa.scalar()`` and ``Array.to_numpy()`` import pandas on first use
(pyarrow checks for pandas types), which costs half a second in a training process or a
cold query that never asked for pandas.  The columns aimcol stores are plain layouts — bool,
fixed-width numbers, string/binary, list<string> — so their buffers are wrapped and
unwrapped here directly (zero-copy where the layout allows).  Format, query and SDK all
convert through this module (the TUI sees it only through the SDK).

**Null policy** (one for every conversion): Arrow -> NumPy, a null becomes ``null_fill``;
the result keeps the column's dtype when ``null_fill`` is representable in it (``0`` in an
int column, ``False`` in a bool one) and is float64 otherwise (the default ``NaN`` in an
int column).  NumPy -> Arrow, an optional ``valid`` mask marks the nulls.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
import pyarrow as pa

ARROW_TO_NUMPY: dict[Any, Any] = {
    pa.bool_(): np.bool_,
    pa.uint8(): np.uint8,
    pa.uint32(): np.uint32,
    pa.int32(): np.int32,
    pa.int64(): np.int64,
    pa.uint64(): np.uint64,
    pa.float64(): np.float64,
}
"""The fixed-width Arrow types converted here, and their NumPy dtypes."""

_NUMPY_TO_ARROW = {np.dtype(v): k for k, v in ARROW_TO_NUMPY.items()}

Column: TypeAlias = "pa.Array | pa.ChunkedArray"


def _chunks(column: Column) -> list[pa.Array]:
    return column.chunks if isinstance(column, pa.ChunkedArray) else [column]


def validity_bits(buffer: Any, offset: int, n: int) -> np.ndarray:
    """Bits ``offset .. offset + n`` of an Arrow validity (or boolean) bitmap as a bool array."""
    return np.unpackbits(np.frombuffer(buffer, dtype=np.uint8), count=offset + n, bitorder="little")[offset:].astype(
        bool
    )


def pack_bits(mask: np.ndarray) -> pa.Buffer:
    """A bool array as an Arrow bitmap (validity or boolean values)."""
    return pa.py_buffer(np.packbits(mask, bitorder="little"))


def valid_mask(column: Column) -> np.ndarray:
    """True where a (chunked) array is not null."""
    parts = []
    for c in _chunks(column):
        if c.null_count == 0:
            parts.append(np.ones(len(c), dtype=bool))
        elif c.type == pa.null() or c.buffers()[0] is None:
            parts.append(np.zeros(len(c), dtype=bool))
        else:
            parts.append(validity_bits(c.buffers()[0], c.offset, len(c)))
    if not parts:
        return np.zeros(0, dtype=bool)
    return np.concatenate(parts) if len(parts) != 1 else parts[0]


def _fits(null_fill: Any, dtype: np.dtype) -> bool:
    """Whether ``null_fill`` is a value of ``dtype`` (else nulls force float64)."""
    if dtype.kind == "f":
        return True
    if isinstance(null_fill, (bool, np.bool_)):
        return True
    if isinstance(null_fill, (int, np.integer)):
        return dtype.kind != "b" or null_fill in (0, 1)
    return False


def _chunk_values(chunk: pa.Array, dtype: np.dtype) -> np.ndarray:
    """The values of one chunk (nulls hold whatever the buffer holds), zero-copy for numbers."""
    n = len(chunk)
    if n == 0:
        return np.zeros(0, dtype=dtype)
    buffers = chunk.buffers()
    if dtype.kind == "b":
        return validity_bits(buffers[1], chunk.offset, n)
    return np.frombuffer(buffers[1], dtype=dtype, count=n, offset=chunk.offset * dtype.itemsize)


def to_numpy(column: Column, null_fill: Any = np.nan) -> np.ndarray:
    """A NumPy array from an Arrow (chunked) array of a bool or fixed-width numeric type;
    nulls become ``null_fill`` (see the module's null policy)."""
    if column.type == pa.null():
        return np.full(len(column), null_fill, dtype=np.float64)
    dtype = np.dtype(ARROW_TO_NUMPY[column.type])
    fits = _fits(null_fill, dtype)
    parts = []
    for c in _chunks(column):
        data = _chunk_values(c, dtype)
        if c.null_count:
            valid = valid_mask(c)
            if fits:
                data = np.where(valid, data, np.asarray(null_fill).astype(dtype))
            else:
                data = data.astype(np.float64)
                data[~valid] = null_fill
        parts.append(data)
    if not parts:
        return np.zeros(0, dtype=dtype)
    if len(parts) == 1:
        return parts[0]
    if any(p.dtype != parts[0].dtype for p in parts):
        parts = [p.astype(np.float64) for p in parts]
    return np.concatenate(parts)


def to_numpy_rows(column: Column, rows: np.ndarray) -> np.ndarray:
    """``to_numpy(column)[rows]``, except that the result is float64 with NaN only when one of
    the selected rows is null (an int column stays int when the nulls are in other rows)."""
    if column.null_count == 0 or column.type == pa.null():
        picked: np.ndarray = to_numpy(column)[rows]
        return picked
    dtype = np.dtype(ARROW_TO_NUMPY[column.type])
    values = np.concatenate([_chunk_values(c, dtype) for c in _chunks(column)])[rows]
    ok = valid_mask(column)[rows]
    return values if ok.all() else np.where(ok, values, np.nan)


def to_arrow(values: np.ndarray, valid: np.ndarray | None = None, arrow_type: pa.DataType | None = None) -> pa.Array:
    """A zero-copy Arrow array over a 1-D NumPy array of a fixed-width numeric dtype, or a bool array.

    ``valid`` (bool, optional): null where False.  ``arrow_type``: convert to this type
    (e.g. int64 epochs held as float64 with NaN for the nulls).  Other numeric dtypes become
    int64 or float64.
    """
    if arrow_type is not None:
        target = ARROW_TO_NUMPY[arrow_type]
        values = values.astype(target, copy=False) if valid is None else np.where(valid, values, 0).astype(target)
    values = np.ascontiguousarray(values)
    validity, null_count = None, 0
    if valid is not None and not valid.all():
        validity = pack_bits(valid)
        null_count = int(len(valid) - np.count_nonzero(valid))
    if values.dtype == np.bool_:
        return pa.Array.from_buffers(pa.bool_(), len(values), [validity, pack_bits(values)], null_count=null_count)
    typ = _NUMPY_TO_ARROW.get(values.dtype)
    if typ is None:
        values = values.astype(np.int64 if values.dtype.kind in "iu" else np.float64)
        typ = _NUMPY_TO_ARROW[values.dtype]
    return pa.Array.from_buffers(typ, len(values), [validity, pa.py_buffer(values)], null_count=null_count)


def arrow_strings(items: list[Any], binary: bool = False) -> pa.Array:
    """A string (or binary) array from Python str (bytes) and None."""
    encoded = [b"" if v is None else (v if binary else v.encode("utf-8")) for v in items]
    lengths = np.fromiter((len(b) for b in encoded), dtype=np.int64, count=len(encoded))
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    large = offsets[-1] >= 2**31
    valid = np.fromiter((v is not None for v in items), dtype=bool, count=len(items))
    validity = None if valid.all() else pack_bits(valid)
    typ = (pa.large_binary() if binary else pa.large_string()) if large else (pa.binary() if binary else pa.string())
    return pa.Array.from_buffers(
        typ,
        len(items),
        [validity, pa.py_buffer(offsets if large else offsets.astype(np.int32)), pa.py_buffer(b"".join(encoded))],
        null_count=int(len(valid) - valid.sum()),
    )


def arrow_string_lists(lists: list[list[str]]) -> pa.Array:
    """A list<string> array from Python lists of str."""
    lengths = np.fromiter((len(v) for v in lists), dtype=np.int32, count=len(lists))
    offsets = np.zeros(len(lists) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    flat = arrow_strings([s for v in lists for s in v])
    return pa.ListArray.from_arrays(to_arrow(offsets), flat)


def arrow_scalar(value: str | bytes | bool | int | float) -> pa.Scalar:
    """A typed Arrow scalar for a Python str/bytes/bool/int/float (for compute kernels)."""
    if isinstance(value, (str, bytes)):
        return arrow_strings([value], binary=isinstance(value, bytes))[0]
    if isinstance(value, bool):
        return to_arrow(np.array([value]))[0]
    if isinstance(value, int):
        return to_arrow(np.array([value], dtype=np.int64))[0]
    return to_arrow(np.array([value], dtype=np.float64))[0]


def arrow_column(items: list[Any], typ: pa.DataType) -> pa.Array:
    """``pa.array(items, typ)`` for string, binary, list<string>, bool and fixed-width numeric
    types, without importing pandas; ``None`` items are nulls."""
    if typ in (pa.string(), pa.binary()):
        return arrow_strings(items, binary=typ == pa.binary())
    if typ == pa.list_(pa.string()):
        return arrow_string_lists(items)
    valid = np.fromiter((v is not None for v in items), dtype=bool, count=len(items))
    dtype = np.dtype(ARROW_TO_NUMPY[typ])
    values = np.fromiter((0 if v is None else v for v in items), dtype=dtype, count=len(items))
    return to_arrow(values, valid)


def empty_table(schema: pa.Schema) -> pa.Table:
    """``schema.empty_table()`` (one empty chunk per column) without importing pandas, which
    pyarrow's own does (0.3-0.9 s in a process that has not imported it yet)."""
    return pa.Table.from_arrays([pa.nulls(0, field.type) for field in schema], schema=schema)
