"""Per-sequence summary statistics kept in the manifest (count, first/last, min/max, steps).

The writer folds each flushed batch into the running stats with one vectorised pass, so the
manifest (and from it the query index) can answer ``metric.last`` or ``metric.max`` without
reading points.  "first"/"last" are the values at the smallest/largest step, the latest
write winning when a step was tracked twice; min/max ignore NaN unless every value is NaN.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

STAT_KEYS = ("count", "first", "last", "min", "max", "first_step", "last_step")


def empty_stats() -> dict[str, Any]:
    return {"count": 0, "first": None, "last": None, "min": None, "max": None, "first_step": None, "last_step": None}


def _is_missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _nan_aware(pick: Callable[[Any, Any], Any], a: Any, b: Any) -> Any:
    """``pick(a, b)`` where a missing (None/NaN) side yields the other."""
    if _is_missing(a):
        return b
    if _is_missing(b):
        return a
    return pick(a, b)


def fold_batch(stats_by_seq: dict[int, dict[str, Any]], seq: np.ndarray, step: np.ndarray, value: np.ndarray) -> None:
    """Fold one batch of points (in write order) into ``stats_by_seq`` in place."""
    n = len(seq)
    if n == 0:
        return
    order = np.argsort(seq, kind="stable")  # groups by sequence, write order kept inside a group
    seq_s, step_s, value_s = seq[order], step[order], value[order]
    starts = np.concatenate([[0], np.flatnonzero(seq_s[1:] != seq_s[:-1]) + 1])
    stops = np.concatenate([starts[1:], [n]])
    with np.errstate(invalid="ignore"):
        mins = np.fmin.reduceat(value_s, starts)
        maxs = np.fmax.reduceat(value_s, starts)
    for i, (lo, hi) in enumerate(zip(starts.tolist(), stops.tolist())):
        stats = stats_by_seq[int(seq_s[lo])]
        steps = step_s[lo:hi]
        backwards = steps[::-1]  # argmin/argmax on the reversed slice pick the latest write of a tie
        first_idx = hi - 1 - int(np.argmin(backwards))
        last_idx = hi - 1 - int(np.argmax(backwards))
        first_step, last_step = int(step_s[first_idx]), int(step_s[last_idx])
        stats["count"] += hi - lo
        if stats["first_step"] is None or first_step <= stats["first_step"]:
            stats["first_step"] = first_step
            stats["first"] = float(value_s[first_idx])
        if stats["last_step"] is None or last_step >= stats["last_step"]:
            stats["last_step"] = last_step
            stats["last"] = float(value_s[last_idx])
        stats["min"] = _nan_aware(min, stats["min"], float(mins[i]))
        stats["max"] = _nan_aware(max, stats["max"], float(maxs[i]))
