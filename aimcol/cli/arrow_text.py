"""Text built in Arrow's compute kernels, for listings of 100,000 rows: each column an Arrow
string array, rows joined element-wise, and a block's bytes written as they are (no Python
object per row).

The kernels are called through ``call_function``: ``import pyarrow.compute`` builds a Python
wrapper for every kernel (~40 ms, a tenth of ``aimcol runs ls`` of 100,000 runs).  Arrays and
scalars are made through the SDK's conversions, never ``pa.array()``/``pa.scalar()``, whose
first call imports pandas (~0.1 s).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from aimcol.sdk.tables import numpy_column, string_column

try:  # the module pyarrow.compute itself imports these from
    from pyarrow._compute import CastOptions, MatchSubstringOptions, PadOptions, SetLookupOptions, call_function
except ImportError:  # pragma: no cover - a pyarrow that moved them
    from pyarrow.compute import CastOptions, MatchSubstringOptions, PadOptions, SetLookupOptions, call_function

__all__ = [
    "CastOptions",
    "MatchSubstringOptions",
    "PadOptions",
    "SetLookupOptions",
    "call_function",
    "join",
    "text",
    "to_strings",
    "write_text_array",
]


def text(value: str) -> pa.Scalar:
    """The same text in every row."""
    return string_column([value])[0]


def repeat(value: str, n: int) -> pa.Array:
    """A string array of ``n`` times ``value``, made from its buffers."""
    data = value.encode("utf-8")
    offsets = (np.arange(n + 1, dtype=np.int64) * len(data)).astype(np.int32)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data * n)])


def take(values: pa.Array, rows) -> pa.Array:
    """``values[rows]`` for a NumPy array of row numbers."""
    return call_function("take", [values, numpy_column(np.asarray(rows, dtype=np.int64))])


def where(mask, then: pa.Array | str, otherwise: pa.Array | str) -> pa.Array:
    """``then`` where the NumPy bool ``mask`` is true, else ``otherwise``."""
    pick = [text(v) if isinstance(v, str) else v for v in (then, otherwise)]
    return call_function("if_else", [numpy_column(np.asarray(mask, dtype=bool)), *pick])


def replace_where(values: pa.Array, mask, replacements: list[str]) -> pa.Array:
    """``values`` with the rows where the NumPy bool ``mask`` is true replaced, in order."""
    return call_function(
        "replace_with_mask", [values, numpy_column(np.asarray(mask, dtype=bool)), string_column(replacements)]
    )


def join(*pieces, sep: str = "") -> pa.Array:
    """Each row's pieces (string arrays, or ``str`` for the same text in every row) end to end,
    ``sep`` between them; null where any piece is null."""
    args = [text(p) if isinstance(p, str) else p for p in pieces]
    return call_function("binary_join_element_wise", [*args, text(sep)])


def to_strings(values: pa.Array) -> pa.Array:
    """Numbers as text (integers exactly; floats as Arrow's shortest round-trip form)."""
    return call_function("cast", [values], CastOptions.safe(pa.string()))


def write_text_array(out, texts: pa.Array) -> None:
    """Write a string array's values back to back: its data buffer as it is when ``out`` has a
    binary buffer under it (``sys.stdout``), else decoded."""
    if not len(texts):
        return
    _, offsets, values = texts.buffers()
    offsets = memoryview(offsets).cast("i")  # a string array's int32 offsets
    data = memoryview(values)[offsets[texts.offset] : offsets[texts.offset + len(texts)]]
    binary = getattr(out, "buffer", None)
    if binary is not None:
        out.flush()
        binary.write(data)
        binary.flush()
    else:
        out.write(bytes(data).decode("utf-8"))
