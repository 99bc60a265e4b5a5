"""Another metric as the x axis ("loss against lr"), aligned by step within each run.  No Textual.

A plotted series gets, at each of its steps, the x metric's value at the same step of the
same run: from the x metric's sequence with the series' own context when the run has one
(``loss {subset: val}`` against ``accuracy {subset: val}``), else from the run's first
sequence of that name (``loss {subset: train}`` against a context-free ``lr``).  Steps
the x metric lacks are left out, as are runs without it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

PREFIX = "metric:"
BUILTIN_AXES = ("step", "epoch", "time", "clock")
BUILTIN_LABELS = {"step": "step", "epoch": "epoch", "time": "relative time", "clock": "absolute time"}


def metric_axis(name: str) -> str:
    """The ``x_axis`` setting for metric ``name``."""
    return PREFIX + name


def axis_metric(x_axis: str) -> str | None:
    """The metric name of a metric x axis, None for step/epoch/time/clock."""
    return x_axis[len(PREFIX) :] if x_axis.startswith(PREFIX) else None


def axis_label(x_axis: str) -> str:
    name = axis_metric(x_axis)
    return f"metric {name}" if name is not None else BUILTIN_LABELS.get(x_axis, x_axis)


def align_by_step(step: np.ndarray, x_step: np.ndarray, x_value: np.ndarray) -> np.ndarray:
    """For each of ``step``, the ``x_value`` tracked at the same step (NaN where none was)."""
    step = np.asarray(step)
    out = np.full(len(step), np.nan)
    if not len(x_step) or not len(step):
        return out
    order = np.argsort(x_step, kind="stable")
    xs = np.asarray(x_step)[order]
    xv = np.asarray(x_value, dtype=np.float64)[order]
    # the last of repeated steps wins, as a re-tracked step does everywhere else
    index = np.searchsorted(xs, step, side="right") - 1
    found = (index >= 0) & (xs[np.maximum(index, 0)] == step)
    out[found] = xv[index[found]]
    return out


@dataclass
class XMetricPoints:
    """The points of the x metric per run: ``(run hash, context key) -> (steps, values)``."""

    name: str
    points: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def add(self, run_hash: str, context: str, step: np.ndarray, value: np.ndarray) -> None:
        self.points[(run_hash, context)] = (step, value)

    def runs(self) -> set[str]:
        return {run for run, _ in self.points}

    def x_for(self, run_hash: str, context: str, step: np.ndarray) -> np.ndarray:
        """x at each of ``step`` for a series of ``run_hash`` in ``context`` (see the module docstring)."""
        found = self.points.get((run_hash, context))
        if found is None:
            found = next(
                (p for (run, _), p in sorted(self.points.items(), key=lambda kv: kv[0]) if run == run_hash), None
            )
        if found is None:
            return np.full(len(step), np.nan)
        return align_by_step(step, *found)
