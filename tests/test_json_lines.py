"""``aimcol runs ls`` builds its output column by column (issue 12: 100,000 runs); the text must
be exactly what the row-by-row forms (``json.dumps`` per row, ``format_time`` per cell) give."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from aimcol.cli.json_lines import json_lines
from aimcol.cli.output import format_time, format_times

_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.lists(st.text(max_size=5), max_size=3),
)


@settings(max_examples=200, deadline=None)
@given(
    keys=st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=4, unique=True),
    rows=st.integers(min_value=0, max_value=40),
    data=st.data(),
)
def test_json_lines_are_json_dumps_of_each_row(keys, rows, data):
    # a column of one kind (as the listing's are), or of mixed kinds
    columns = []
    for _ in keys:
        kind = data.draw(st.sampled_from([_values, st.one_of(st.none(), st.floats()), st.one_of(st.none(), st.text())]))
        columns.append(data.draw(st.lists(kind, min_size=rows, max_size=rows)))
    text = "".join(json_lines(keys, columns, chunk=7))
    want = "".join(json.dumps(dict(zip(keys, row))) + "\n" for row in zip(*columns))
    assert text == want


def test_a_column_of_few_distinct_strings_is_encoded_like_any_other():
    names = ["exp-1", "exp-2", None, 'quo"te', "ünï"] * 100
    text = "".join(json_lines(["experiment"], [names]))
    assert text.splitlines() == [json.dumps({"experiment": n}) for n in names]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.floats(min_value=-3e9, max_value=4e9)), max_size=30))
def test_format_times_is_format_time_of_each(stamps):
    assert format_times(stamps) == [format_time(ts) for ts in stamps]
