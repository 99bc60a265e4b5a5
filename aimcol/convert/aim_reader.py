"""Reads an Aim repository with the ``aim`` package and writes one JSON line per run to stdout.

Runs inside any interpreter that can import ``aim`` (this one, or Aim's own virtualenv via
``python aim_reader.py REPO``), so it imports nothing of aimcol.  Each line is
``{"hash", "name", "experiment", "description", "tags", "params", "metrics": [{"name",
"context", "steps", "values", "epochs", "times"}]}``, or ``{"hash", "error"}`` for a run that
fails to read.  NaN and infinities go through as JSON's ``NaN``/``Infinity``.  Runs Aim has
not indexed yet (its index is updated by ``aim up``'s background thread) are indexed first,
as Aim itself does; the runs' own data is only read.
"""

from __future__ import annotations

import json
import sys


def _nan_to_none(values: list) -> list:
    return [None if v != v else v for v in values]


def read_metric(metric) -> dict:
    """Steps and the value, epoch and time columns, sorted by step (Aim's ``SequenceData.numpy``)."""
    data = metric.data
    steps, columns = data.numpy()
    by_name = dict(zip([name for name, _ in data.columns], columns))
    epochs = by_name.get("epoch")
    epochs = None if epochs is None else _nan_to_none(epochs.tolist())
    return {
        "name": metric.name,
        "context": metric.context.to_dict(),
        "steps": steps.tolist(),
        "values": by_name["val"].tolist(),
        "epochs": None if epochs is None or all(e is None for e in epochs) else epochs,
        "times": None if "time" not in by_name else by_name["time"].tolist(),
    }


def read_run(run) -> dict:
    metrics = [read_metric(metric) for metric in run.metrics()]
    params = run[...]
    params = {k: v for k, v in params.items() if not k.startswith("__")} if isinstance(params, dict) else {}
    return {
        "hash": run.hash,
        "name": run.name,
        "experiment": run.experiment,
        "description": run.description,
        "tags": list(run.tags),
        "params": params,
        "creation_time": run.creation_time,
        "end_time": run.end_time,
        "metrics": metrics,
    }


def iter_runs(repo_path: str):
    """One dict per run of the Aim repository at ``repo_path`` (an error dict for an unreadable run)."""
    from aim import Repo, Run

    repo = Repo(repo_path)
    try:  # runs Aim has not indexed yet read back empty: index them first, as `aim up` would
        from aim.sdk.index_manager import RepoIndexManager

        indexer = RepoIndexManager.get_index_manager(repo)
    except Exception:
        indexer = None
    for run_hash in sorted(repo.list_all_runs()):
        try:
            if indexer is not None:
                indexer.index(run_hash)
            yield read_run(Run(run_hash, repo=repo, read_only=True))
        except Exception as exc:  # one unreadable run must not stop the others
            yield {"hash": run_hash, "error": f"{type(exc).__name__}: {exc}"}


def main(argv: list[str]) -> int:
    out = sys.stdout
    for item in iter_runs(argv[1]):
        out.write(json.dumps(item, default=str) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
