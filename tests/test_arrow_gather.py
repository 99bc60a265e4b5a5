"""``aimcol.format.arrow_gather`` against pyarrow.compute, the kernels it stands in for."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aimcol.format import arrow_gather as g

ARRAYS = [
    pa.array([1, None, 3, 4, None], pa.int64()),
    pa.array([1.5, 2.5, None, 4.0, -0.5]),
    pa.array([1, 2, 3, 4, 5], pa.uint8()),
    pa.array([True, None, False, True, False]),
    pa.array(["a", None, "ccc", "", "dé"]),
    pa.array(["a", "b", "c", "d", "e"], pa.large_string()),
    pa.array([b"x", b"", None, b"yy", b"z"], pa.binary()),
    pa.array([["a", "b"], None, [], ["c"], ["d", "e", "f"]], pa.list_(pa.string())),
    pa.nulls(5),
    pa.nulls(5, pa.string()),
]


def _views(array: pa.Array) -> list:
    """The array, a slice of it (non-zero offset) and a chunked copy."""
    return [array, array.slice(1, 3), pa.chunked_array([array.slice(0, 2), array.slice(2)])]


def _plain(array):
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


@pytest.mark.parametrize("array", ARRAYS, ids=lambda a: str(a.type))
def test_take_and_where_match_pyarrow(array):
    rng = np.random.default_rng(0)
    for view in _views(array):
        n = len(view)
        indices = rng.integers(0, n, 20)
        got = g.take(view, indices)
        got.validate(full=True)
        assert got.equals(_plain(view).take(pa.array(indices)))
        if view.type == pa.null():
            continue
        mask = rng.random(n) < 0.5
        other = _plain(view)[::-1]
        expected = pc.if_else(pa.array(mask), _plain(view), other)
        assert g.where(mask, view, other).equals(expected)


def test_take_table_keeps_schema_and_metadata():
    table = pa.table({"a": ARRAYS[0], "s": ARRAYS[4], "t": ARRAYS[7]}).replace_schema_metadata({"k": "v"})
    got = g.take_table(table, np.array([4, 0, 0]))
    assert got.equals(table.take(pa.array([4, 0, 0])))
    assert got.schema.metadata == {b"k": b"v"}


TEXT = st.one_of(st.none(), st.sampled_from(["", "loss", "los", "lossy", "acc", "é"]), st.text(max_size=4))


@given(st.lists(st.tuples(TEXT, TEXT), max_size=30), st.integers(0, 3))
def test_string_comparisons_match_pyarrow(pairs, offset):
    a = pa.array([x for x, _ in pairs] + [None] * offset, pa.string()).slice(offset)
    b = pa.array([None] * offset + [y for _, y in pairs], pa.string()).slice(offset)
    assert (g.strings_equal(a, b) == pc.equal(a, b).fill_null(False).to_numpy(zero_copy_only=False)).all()
    for needle in ("", "loss", "é"):
        expected = pc.equal(a, needle).fill_null(False).to_numpy(zero_copy_only=False)
        assert (g.strings_equal_scalar(a, needle) == expected).all()
    assert (g.byte_lengths(a) == pc.binary_length(a).fill_null(0).to_numpy(zero_copy_only=False)).all()


def test_lists_match_pyarrow():
    for view in _views(ARRAYS[7]):
        plain = _plain(view)
        owners, flat = g.list_values(view)
        assert flat.equals(pc.list_flatten(plain))
        assert (owners == pc.list_parent_indices(plain).to_numpy()).all()
        assert (np.diff(g.list_offsets(view)) == pc.list_value_length(plain).fill_null(0).to_numpy()).all()


def test_binary_items():
    blobs = pa.array([b"ab", None, b"", b"xyz"], pa.binary())
    assert g.binary_items(blobs, np.array([3, 0, 2, 1])) == [b"xyz", b"ab", b"", b""]
    assert g.binary_items(blobs.slice(1), np.array([2, 0])) == [b"xyz", b""]


def test_fixed_width_and_contiguous_fast_paths_match_pyarrow():
    hashes = pa.array([f"{i:024x}" for i in range(300)])
    other = pa.array([f"{i:024x}" if i % 3 else f"{i + 1:024x}" for i in range(300)])
    for a, b in ((hashes, other), (hashes.slice(7), other.slice(7)), (hashes, hashes)):
        assert (g.strings_equal(a, b) == pc.equal(a, b).to_numpy(zero_copy_only=False)).all()
    mixed = pa.array([f"run-{i}" * (i % 4) for i in range(300)])  # different lengths: byte ranges
    few_gaps = np.delete(np.arange(300), [3, 150, 151, 299])  # a filter dropping a few rows: a few slices
    many_gaps = np.arange(0, 300, 2)
    for array in (hashes, hashes.slice(5), mixed, mixed.slice(5)):
        for indices in (few_gaps[few_gaps < len(array)], many_gaps[many_gaps < len(array)], np.array([4, 4, 0])):
            assert g.take(array, indices).equals(array.take(pa.array(indices)))


def test_keep_rows_matches_filter():
    table = pa.table({"a": ARRAYS[0], "s": ARRAYS[4], "t": ARRAYS[7]}).replace_schema_metadata({"k": "v"})
    for keep in ([True] * 5, [False] * 5, [True, False, True, True, False], [False, True, True, True, True]):
        got = g.keep_rows(table, np.array(keep))
        assert got.equals(table.filter(pa.array(keep))) and got.schema.metadata == {b"k": b"v"}


@given(
    blocks=st.lists(st.tuples(st.integers(0, 2999), st.integers(1, 900)), min_size=1, max_size=6),
    chunks=st.lists(st.integers(1, 1500), min_size=1, max_size=4),
    column=st.integers(0, len(ARRAYS) - 1),
)
def test_take_of_long_runs_of_rows_copies_slices_and_matches_pyarrow(blocks, chunks, column):
    """Indices in runs of consecutive rows (a table reordered a block at a time), over an array
    of many chunks: the same values as pyarrow's take, without joining the chunks first."""
    base = ARRAYS[column]
    whole = pa.concat_arrays([base] * 600)  # 3,000 rows, nulls and all
    pieces, start = [], 0
    for size in chunks:
        pieces.append(whole.slice(start, size))
        start += size
    array = pa.chunked_array([*pieces, whole.slice(start)]) if start < len(whole) else pa.chunked_array(pieces)
    indices = np.concatenate([np.arange(a, min(a + n, len(whole))) for a, n in blocks])
    got = g.take(array, indices)
    got.validate(full=True)
    assert got.equals(whole.take(pa.array(indices)))
