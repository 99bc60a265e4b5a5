"""MLflow tracking store → runs, through the ``mlflow`` client (file and SQL stores alike).

Mapping, as Aim's ``aim convert mlflow``: the MLflow experiment's name becomes the run's
experiment, ``mlflow.runName`` its name and ``mlflow.note.content`` its description;
``run["params"]`` holds MLflow's params (strings, as MLflow stores them), ``run["tags"]`` the
tags outside the ``mlflow.`` namespace, ``run["mlflow_run_id"]`` the source id; every metric's
whole history (``get_metric_history``) is one series with MLflow's steps and timestamps.
MLflow's start and end times and status (``FAILED`` → failed, ``KILLED`` → interrupted, a
run still ``RUNNING`` → no end, as a crashed run) are the run's.  Artifacts are not imported.
"""

from __future__ import annotations

import os

import numpy as np

from aimcol.convert.source import RunData, Series, Source, SourceRun
from aimcol.errors import ImportSourceError

# MLflow's run status → Run.exit_status; RUNNING/SCHEDULED (never ended): no end, as a crashed run
_EXIT_STATUS = {"FINISHED": "finished", "FAILED": "failed", "KILLED": "interrupted"}


def _client(tracking_uri: str | None):
    try:
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise ImportSourceError("aimcol convert mlflow needs the mlflow package: pip install mlflow") from exc
    if tracking_uri and "://" not in tracking_uri:  # a plain folder of a file store
        if not os.path.isdir(tracking_uri):
            raise ImportSourceError(f"MLflow tracking folder {tracking_uri!r} does not exist")
        tracking_uri = "file://" + os.path.abspath(tracking_uri)
    if tracking_uri is None or tracking_uri.startswith("file:"):
        # MLflow 3.x refuses its own file store unless asked; reading one is what a converter is for
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return MlflowClient(tracking_uri=tracking_uri), tracking_uri


class MlflowSource(Source):
    """Every run of every (or of one) experiment of an MLflow tracking store."""

    kind = "mlflow"

    def __init__(self, tracking_uri: str | None = None, experiment: str | None = None):
        self.client, self.tracking_uri = _client(tracking_uri)
        self.experiment = experiment
        self._runs: dict = {}
        self._experiment_names: dict[str, str] = {}

    def _experiments(self) -> list:
        client = self.client
        if self.experiment is None:
            return list(client.search_experiments())
        found = None
        try:
            found = client.get_experiment(self.experiment)
        except Exception:
            found = None
        if found is None:
            found = client.get_experiment_by_name(self.experiment)
        if found is None:
            raise ImportSourceError(f"no MLflow experiment with id or name {self.experiment!r}")
        return [found]

    def list_runs(self) -> list[SourceRun]:
        refs = []
        try:
            experiments = self._experiments()
        except ImportSourceError:
            raise
        except Exception as exc:
            raise ImportSourceError(f"cannot read the MLflow store {self.tracking_uri!r}: {exc}") from exc
        for exp in experiments:
            self._experiment_names[exp.experiment_id] = exp.name
            token = None
            while True:
                page = self.client.search_runs([exp.experiment_id], max_results=1000, page_token=token)
                for run in page:
                    self._runs[run.info.run_id] = run
                    name = run.data.tags.get("mlflow.runName") or run.info.run_id
                    refs.append(SourceRun(id=run.info.run_id, name=f"{exp.name}/{name}"))
                token = page.token
                if not token:
                    break
        return refs

    def read_run(self, ref: SourceRun) -> RunData:
        run = self._runs[ref.id]
        tags = run.data.tags
        data = RunData(
            name=tags.get("mlflow.runName"),
            experiment=self._experiment_names.get(run.info.experiment_id),
            description=tags.get("mlflow.note.content"),
            params={
                "mlflow_run_id": run.info.run_id,
                "params": dict(run.data.params),
                "tags": {k: v for k, v in tags.items() if not k.startswith("mlflow.")},
            },
        )
        info = run.info
        if info.start_time:
            data.creation_time = info.start_time / 1000.0
        data.exit_status = _EXIT_STATUS.get(info.status)
        if data.exit_status is not None and info.end_time:
            data.end_time = info.end_time / 1000.0
        if data.exit_status is not None and data.exit_status != "finished":
            data.exit_error = f"MLflow status {info.status}"
        for key in sorted(run.data.metrics):
            history = sorted(self.client.get_metric_history(run.info.run_id, key), key=lambda m: (m.step, m.timestamp))
            if not history:
                continue
            data.series.append(
                Series(
                    key,
                    {},
                    np.fromiter((m.step for m in history), dtype=np.int64, count=len(history)),
                    np.fromiter((m.value for m in history), dtype=np.float64, count=len(history)),
                    times=np.fromiter((m.timestamp / 1000.0 for m in history), dtype=np.float64, count=len(history)),
                )
            )
        return data
