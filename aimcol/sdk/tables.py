"""Run rows for pandas (`Run.dataframe`) and dotted param flattening shared with the TUI."""

from __future__ import annotations


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
            name=run.name,
            experiment=run.experiment,
            description=run.description,
            tags=run.tags,
            archived=run.archived,
            creation_time=run.creation_time,
            end_time=run.end_time,
            active=run.active,
        )
    if include_params:
        row.update(flatten_params(run._manifest["params"]))
    return row
