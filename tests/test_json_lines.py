"""``aimcol runs ls`` builds its output column by column in Arrow's kernels (issue 12: 100,000
runs); the text must be exactly what the row-by-row forms (``json.dumps`` per row,
``format_time``/``format_duration`` per cell, ``print_table``) give."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from aimcol.cli.arrow_text import write_text_array
from aimcol.cli.json_lines import json_lines
from aimcol.cli.output import format_durations, format_time, format_times, print_columns, print_table
from aimcol.sdk.tables import format_duration

_KINDS = {
    "string": (pa.string(), st.text()),
    "ascii": (pa.string(), st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126))),
    "bool": (pa.bool_(), st.booleans()),
    "int": (pa.int64(), st.integers(min_value=-(2**63), max_value=2**63 - 1)),
    "float": (pa.float64(), st.floats(allow_nan=True, allow_infinity=True)),
    "time": (pa.float64(), st.floats(min_value=0, max_value=4e9)),
    "tags": (pa.list_(pa.string()), st.lists(st.text(max_size=5), max_size=3)),
}


def _text(table: pa.Table, keys, chunk: int) -> str:
    out = io.StringIO()
    for block in json_lines(table, keys, chunk=chunk):
        write_text_array(out, block)
    return out.getvalue()


@settings(max_examples=300, deadline=None)
@given(
    keys=st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=5, unique=True),
    rows=st.integers(min_value=0, max_value=40),
    chunk=st.integers(min_value=1, max_value=50),
    data=st.data(),
)
def test_json_lines_are_json_dumps_of_each_row(keys, rows, chunk, data):
    columns, types = [], []
    for _ in keys:
        typ, values = _KINDS[data.draw(st.sampled_from(sorted(_KINDS)))]
        nullable = data.draw(st.booleans())
        strategy = st.one_of(st.none(), values) if nullable else values
        columns.append(data.draw(st.lists(strategy, min_size=rows, max_size=rows)))
        types.append(typ)
    table = pa.table({f"c{i}": pa.array(col, typ) for i, (col, typ) in enumerate(zip(columns, types))})
    want = "".join(json.dumps(dict(zip(keys, row))) + "\n" for row in zip(*columns))
    assert _text(table, keys, chunk) == want


def test_numbers_spelled_as_python_does():
    values = [1.0, -0.0, 0.0, 1e-4, 9.99e-5, 1e15, 1e16 - 2, 1e16, 123456789.125, 5e-324, 1.7976931348623157e308]
    values += [math.nan, math.inf, -math.inf, 1764681234.2769895, None, 0.1, 1 / 3]
    table = pa.table({"x": pa.array(values, pa.float64()), "f32": pa.array(values, pa.float32())})
    lines = _text(table, None, 7).splitlines()
    with np.errstate(over="ignore"):  # 1.8e308 is inf as a float32
        want = [json.dumps({"x": v, "f32": None if v is None else float(np.float32(v))}) for v in values]
    assert lines == want


def test_strings_that_need_escapes_and_few_distinct_values():
    names = ["exp-1", "exp-2", None, 'quo"te', "ünï", "back\\slash", "tab\there", "\x7f", "\U0001f600"] * 50
    table = pa.table({"experiment": pa.array(names), "run": pa.array([f"{i:024x}" for i in range(len(names))])})
    lines = _text(table, ["experiment", "hash"], 100).splitlines()
    assert lines == [json.dumps({"experiment": n, "hash": f"{i:024x}"}) for i, n in enumerate(names)]


def test_dictionary_and_chunked_columns():
    exp = pa.chunked_array([pa.array(["a", "b"]).dictionary_encode(), pa.array(["b", None]).dictionary_encode()])
    table = pa.table({"e": exp, "n": pa.chunked_array([[1, 2], [None, 4]])})
    assert _text(table, None, 3) == "".join(
        json.dumps(r) + "\n"
        for r in [{"e": "a", "n": 1}, {"e": "b", "n": 2}, {"e": "b", "n": None}, {"e": None, "n": 4}]
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.floats(min_value=-3e9, max_value=4e9)), max_size=30))
def test_format_times_is_format_time_of_each(stamps):
    array = np.array([math.nan if t is None else t for t in stamps], dtype=np.float64)
    assert format_times(array).to_pylist() == [format_time(ts) for ts in stamps]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.floats(min_value=-10, max_value=1e7)), max_size=30))
def test_format_durations_is_format_duration_of_each(seconds):
    array = np.array([math.nan if s is None else s for s in seconds], dtype=np.float64)
    assert format_durations(array).to_pylist() == [format_duration(s) or "-" if s is not None else "-" for s in seconds]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.text(max_size=8), st.text(alphabet="abc ü\t", max_size=6), st.integers(0, 10**6)),
        min_size=1,
        max_size=20,
    ),
    st.integers(min_value=1, max_value=25),
)
def test_print_columns_is_print_table(rows, chunk):
    headers = ["HASH", "NAME", "SEQS"]
    columns = [pa.array([r[0] for r in rows]), pa.array([r[1] for r in rows]), pa.array([str(r[2]) for r in rows])]
    got, want = io.StringIO(), io.StringIO()
    print_columns(headers, columns, got, chunk=chunk)
    print_table(headers, [list(r) for r in rows], want)
    assert got.getvalue() == want.getvalue()
