"""Shared by the framework-adapter tests: read a run back through ``Repo`` as plain data."""

from __future__ import annotations

from aimcol import Repo


def only_run(repo_dir: str):
    """The one run in ``repo_dir`` (asserting there is exactly one)."""
    runs = list(Repo(repo_dir).iter_runs())
    assert len(runs) == 1, [r.hash for r in runs]
    return runs[0]


def series(run) -> dict:
    """``{(name, ((ctx key, value), ...)): (steps, values, epochs)}`` without system metrics."""
    out = {}
    for metric in run.metrics():
        if metric.name.startswith("__system"):
            continue
        key = (metric.name, tuple(sorted(metric.context.items())))
        out[key] = (
            metric.values.sparse_numpy()[0].tolist(),
            metric.values.values_list(),
            metric.epochs.values_list(),
        )
    return out
