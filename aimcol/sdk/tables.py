"""Conversions of runs and metrics to Arrow tables and pandas DataFrames."""

from __future__ import annotations

import json

import pyarrow as pa


def require_pandas(what: str):
    """Import pandas or explain which extra to install."""
    try:
        import pandas
    except ImportError:
        raise ImportError(f"{what} needs pandas: pip install 'aimcol[pandas]' (or pip install pandas)") from None
    return pandas


def flatten_params(tree: dict, prefix: str = "") -> dict:
    """``{"hparams": {"lr": 1}}`` → ``{"hparams.lr": 1}``; lists stay as values."""
    out = {}
    for key, value in tree.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict) and value:
            out.update(flatten_params(value, path))
        else:
            out[path] = value
    return out


def run_row(run, *, include_props: bool = True, include_params: bool = True) -> dict:
    row = {"hash": run.hash}
    if include_props:
        row.update(
            name=run.name, experiment=run.experiment, description=run.description, tags=run.tags,
            archived=run.archived, creation_time=run.creation_time, end_time=run.end_time, active=run.active,
        )
    if include_params:
        row.update(flatten_params(run._manifest["params"]))
    return row


def context_json(context: dict) -> str:
    return json.dumps(context, sort_keys=True, default=str)


def metrics_long_table(pairs) -> pa.Table:
    """One long table for ``(run, metric)`` pairs: run hash, metric name, context (JSON), points."""
    parts = []
    for run, metric in pairs:
        points = metric.to_arrow()
        n = points.num_rows
        parts.append(
            pa.table(
                {
                    "run": pa.array([run.hash] * n, pa.string()),
                    "name": pa.array([metric.name] * n, pa.string()),
                    "context": pa.array([context_json(metric.context)] * n, pa.string()),
                    "step": points.column("step"),
                    "value": points.column("value"),
                    "epoch": points.column("epoch"),
                    "time": points.column("time"),
                }
            )
        )
    if not parts:
        return pa.table({"run": pa.array([], pa.string()), "name": pa.array([], pa.string()),
                         "context": pa.array([], pa.string()), "step": pa.array([], pa.int64()),
                         "value": pa.array([], pa.float64()), "epoch": pa.array([], pa.int64()),
                         "time": pa.array([], pa.float64())})
    return pa.concat_tables(parts)
