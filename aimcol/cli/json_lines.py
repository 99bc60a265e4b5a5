"""JSON lines for many rows: one object per row, the same text as ``json.dumps(row)``, built
column by column in Arrow's compute kernels.

``aimcol runs ls --json`` prints 100,000 rows.  ``json.dumps`` per row costs ~9 us here (a dict
per row, then the encoder walks it); Python per column (``encode_basestring_ascii``,
``float.__repr__``) and one ``%`` template per row ~2 us a row.  Here each column becomes an Arrow
string array of its JSON texts (numbers formatted and strings quoted in C++; Python only for
values that need escaping, each distinct value once), the rows are joined by
``binary_join_element_wise`` and a block's bytes are written as they are: no Python object per
row (see :mod:`aimcol.cli.arrow_text`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from json.encoder import encode_basestring_ascii

import numpy as np
import pyarrow as pa

from aimcol.cli.arrow_text import (
    CastOptions,
    MatchSubstringOptions,
    SetLookupOptions,
    call_function,
    join,
    repeat,
    replace_where,
    string_column,
    text,
    to_strings,
    where,
)
from aimcol.sdk.tables import column_numpy, column_valid

_NEEDS_ESCAPE = MatchSubstringOptions(r'[^ -~]|["\\]')
"""A character ``json.dumps`` (``ensure_ascii``) writes as an escape: control, non-ASCII, ``"``, ``\\``."""

_EXPONENT = MatchSubstringOptions("e")

_FLOAT_SPECIALS = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def _or_null(texts: pa.Array) -> pa.Array:
    return call_function("coalesce", [texts, text("null")])


def _distinct_texts(column: pa.Array, encode) -> pa.Array:
    """``encode`` of each value, computed once per distinct value (nulls: ``null``)."""
    distinct = call_function("unique", [column])
    texts = string_column([encode(v) if v is not None else "null" for v in distinct.to_pylist()])
    return call_function(
        "take", [texts, call_function("index_in", [column], SetLookupOptions(distinct, skip_nulls=False))]
    )


def _string_texts(column: pa.Array) -> pa.Array:
    if call_function("any", [call_function("match_substring_regex", [column], _NEEDS_ESCAPE)]).as_py():
        return _distinct_texts(column, encode_basestring_ascii)
    return _or_null(join('"', column, '"'))


def _float_texts(column: pa.Array) -> pa.Array:
    """``float.__repr__`` of each value (``NaN``/``Infinity`` as json writes them).  Arrow's
    shortest round-trip digits are Python's; where the two spell a number differently (Python's
    exponent form below 1e-4 and from 1e16, Arrow's for some whole numbers, ``1.0`` for a whole
    number) Python's is used."""
    column = call_function("cast", [column], CastOptions.safe(pa.float64()))  # a float32's digits as Python's
    values = column_numpy(column, np.nan)
    texts = to_strings(column)
    valid = column_valid(column)
    with np.errstate(invalid="ignore"):
        magnitude = np.abs(values)
        python_form = valid & (~np.isfinite(values) | (magnitude >= 1e15) | ((magnitude < 1e-4) & (magnitude != 0)))
        python_form |= column_numpy(call_function("match_substring", [texts], _EXPONENT), False)  # Arrow's 1e+10
        whole = valid & ~python_form & (values == np.floor(values))
    if python_form.any():
        spelled = [_FLOAT_SPECIALS.get(t, t) for t in map(repr, values[python_form].tolist())]
        texts = replace_where(texts, python_form, spelled)
    if whole.any():  # Arrow writes 1.0 as "1"
        texts = where(whole, join(texts, ".0"), texts)
    return _or_null(texts)


def _other_texts(column: pa.Array) -> pa.Array:
    """Lists, maps and the rest: ``json.dumps`` once per distinct value (tags repeat)."""
    seen: dict = {}
    out = []
    for value in column.to_pylist():
        key = (type(value), repr(value))
        text = seen.get(key)
        if text is None:
            text = seen[key] = json.dumps(value)
        out.append(text)
    return string_column(out)


def column_texts(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The JSON text of each value of an Arrow column, as ``json.dumps(value.as_py())`` writes it."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    kind = column.type
    if pa.types.is_dictionary(kind):
        column, kind = column.dictionary_decode(), kind.value_type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _string_texts(column)
    if pa.types.is_boolean(kind):
        return _or_null(call_function("if_else", [column, text("true"), text("false")]))
    if pa.types.is_integer(kind):
        return _or_null(to_strings(column))
    if pa.types.is_floating(kind):
        return _float_texts(column)
    if pa.types.is_list(kind) and len(column) and column.null_count == 0:
        offsets = column.offsets
        if offsets[0].as_py() == offsets[len(column)].as_py():  # every list empty: the usual tags
            return repeat("[]", len(column))
    return _other_texts(column)


def json_lines(table: pa.Table, keys: Sequence[str] | None = None, chunk: int = 65536) -> Iterator[pa.Array]:
    """Blocks of ``chunk`` rows of ``table`` as newline-terminated JSON objects
    ``{key: value}`` (``keys``: the name each column is written under, default the column
    names), each block an Arrow string array of lines: write it with
    :func:`aimcol.cli.output.write_text_array`."""
    keys = list(keys) if keys is not None else table.column_names
    if len(keys) != table.num_columns or not keys:
        raise ValueError(f"json_lines: {len(keys)} keys for {table.num_columns} columns")
    seps = [("{" if i == 0 else ", ") + encode_basestring_ascii(k) + ": " for i, k in enumerate(keys)]
    for start in range(0, table.num_rows, chunk):
        block = table.slice(start, chunk)
        pieces: list = []
        for sep, column in zip(seps, block.columns):
            pieces += [sep, column_texts(column)]
        yield join(*pieces, "}\n")
