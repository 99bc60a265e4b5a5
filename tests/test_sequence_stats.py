"""The vectorised per-batch stats fold agrees with a plain Python reference (hypothesis)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from aimcol.format.sequence_stats import empty_stats, fold_batch

rows = st.lists(
    st.tuples(
        st.integers(0, 3),
        st.integers(-5, 20),
        st.one_of(st.floats(-1e6, 1e6), st.just(float("nan")), st.just(float("inf"))),
    ),
    min_size=1,
    max_size=60,
)


def reference(points):
    out = {}
    for seq, step, value in points:
        s = out.setdefault(seq, {"rows": []})
        s["rows"].append((step, value))
    result = {}
    for seq, s in out.items():
        steps = [r[0] for r in s["rows"]]
        lo, hi = min(steps), max(steps)
        first = [v for st_, v in s["rows"] if st_ == lo][-1]
        last = [v for st_, v in s["rows"] if st_ == hi][-1]
        finite = [v for _, v in s["rows"] if not math.isnan(v)]
        result[seq] = {
            "count": len(s["rows"]),
            "first_step": lo,
            "last_step": hi,
            "first": first,
            "last": last,
            "min": min(finite) if finite else float("nan"),
            "max": max(finite) if finite else float("nan"),
        }
    return result


def same(a, b):
    return (
        (a is None and b is None)
        or a == b
        or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))
    )


@settings(max_examples=300, deadline=None)
@given(rows, st.integers(1, 7))
def test_fold_in_batches_matches_reference(points, batch_size):
    stats = {i: empty_stats() for i in range(4)}
    for lo in range(0, len(points), batch_size):
        chunk = points[lo : lo + batch_size]
        fold_batch(
            stats,
            np.array([p[0] for p in chunk], np.uint32),
            np.array([p[1] for p in chunk], np.int64),
            np.array([p[2] for p in chunk], np.float64),
        )
    expected = reference(points)
    for seq in range(4):
        if seq not in expected:
            assert stats[seq] == empty_stats()
            continue
        for key, value in expected[seq].items():
            assert same(stats[seq][key], value), (seq, key, stats[seq][key], value)
