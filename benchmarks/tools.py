"""Every benchmarked tool behind one small interface, so each workload's loop is written once.

Standard library only at import: a workload script runs in the tool's own virtual environment
(``--impl aim`` in ``benchmarks/.venvs/aim``, ...) and imports nothing but that tool, which
:func:`load` imports lazily. Peers never import aimcol (:func:`assert_no_aimcol`).

A tool gives the workloads three things:

* ``new_run(root, experiment=, hparams=, tags=)``: an object with Aim's
  ``track(value, name=, step=, context=)`` and ``close()``. For aimcol and Aim that is the
  tool's own ``Run`` (no wrapper between the loop and the call being measured); for a tool
  without contexts (MLflow, trackio, TensorBoard) a thin adapter logs each (name, context)
  pair under one key, ``loss/train``, the way their users do.
* ``select_runs(root, min_batch)`` and ``select_metrics(root, name, subset, min_batch)``: W2's
  reads, in each tool's own query language where it has one (AimQL for aimcol and Aim;
  MLflow's filter strings; trackio and TensorBoard have none and filter in Python after
  reading what they must), every value materialised as NumPy arrays.
* ``store_dir(root)``: where the tool's bytes live, for bytes per point.

Tools: ``aimcol``, ``aim`` (3.29.1), ``mlflow`` (3.17.2; ``--store sqlite|file``, ``--api
log_metric|log_batch``), ``trackio``, ``tensorboard`` (tensorboardX writer, tbparse reader).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

IMPLS = ("aimcol", "aim", "mlflow", "trackio", "tensorboard")
CONTEXTLESS = ("mlflow", "trackio", "tensorboard")


def assert_no_aimcol() -> None:
    """A peer must be measured alone."""
    if "aimcol" in sys.modules:
        raise SystemExit("peer benchmark imported aimcol")


def key_for(name: str, context: dict | None) -> str:
    """One key per (name, context) for a tool without contexts: ``loss/train``."""
    sub = (context or {}).get("subset")
    return f"{name}/{sub}" if sub is not None else name


def load(impl: str, **options) -> Tool:
    tools = {"aimcol": Aimcol, "aim": Aim, "mlflow": Mlflow, "trackio": Trackio, "tensorboard": TensorBoard}
    if impl not in tools:
        raise SystemExit(f"unknown --impl {impl!r}; one of {', '.join(IMPLS)}")
    tool = tools[impl](**options)
    if impl != "aimcol":
        assert_no_aimcol()
    return tool


class Tool:
    name = "?"

    def version(self) -> str:
        from importlib.metadata import version

        return version(self.dist)

    dist = "?"

    def store_dir(self, root: Path) -> Path:
        return root

    def prepare(self, root: Path) -> None:
        """Point the tool at ``root`` before its import (a tool that reads its folder at import)."""

    def import_sdk(self) -> float:
        """Import the tool's SDK; the seconds it took."""
        t0 = time.perf_counter()
        self._import()
        return time.perf_counter() - t0

    def _import(self) -> None:
        raise NotImplementedError

    def init_repo(self, root: Path) -> None:
        """What a user does once before a job array starts (``aim init``); nothing for most tools."""

    def new_run(self, root: Path, experiment: str | None = None, hparams: dict | None = None, tags=()):
        raise NotImplementedError

    def reindex(self, root: Path) -> float | None:
        """Make finished runs visible to queries (Aim's indexer); seconds, or None when not needed."""
        return None

    def select_runs(self, root: Path, min_batch: int) -> int:
        raise NotImplementedError

    def select_metrics(self, root: Path, name: str, subset: str | None, min_batch: int | None):
        """Yield (steps, values) NumPy arrays, step-sorted, one pair per matching sequence."""
        raise NotImplementedError


def _aimql(name: str, subset: str | None, min_batch: int | None) -> str:
    parts = []
    if min_batch is not None:
        parts.append(f"run.hparams.batch_size > {min_batch}")
    parts.append(f"metric.name == '{name}'")
    if subset is not None:
        parts.append(f"metric.context.subset == '{subset}'")
    return " and ".join(parts)


# ------------------------------------------------------------------------------- aimcol, Aim
class Aimcol(Tool):
    name = dist = "aimcol"

    def __init__(self, pure: bool = False, flush_points: int = 0, flush_seconds: float = 0.0):
        if pure:
            os.environ["AIMCOL_PURE_PYTHON"] = "1"
        self.run_options = {}
        if flush_points:
            self.run_options["flush_points"] = flush_points
        if flush_seconds:
            self.run_options["flush_seconds"] = flush_seconds

    def version(self) -> str:
        import aimcol

        return aimcol.__version__

    def _import(self) -> None:
        import aimcol  # noqa: F401
        import aimcol.sdk.query_results  # noqa: F401 - what Repo.query_runs imports on first use

    def init_repo(self, root: Path) -> None:
        from aimcol import Repo

        Repo(str(root), init=True)  # as `aimcol init`

    def new_run(self, root, experiment=None, hparams=None, tags=(), run_hash=None):
        from aimcol import Run

        run = Run(
            run_hash,
            repo=str(root),
            experiment=experiment,
            system_tracking_interval=None,
            capture_terminal_logs=False,
            **self.run_options,
        )
        if hparams is not None:
            run["hparams"] = hparams
        for tag in tags:
            run.add_tag(tag)
        return run

    def resume_run(self, root, run_hash: str):
        """Continue a run whose writer died, as its user would after a crash."""
        return self.new_run(root, run_hash=run_hash)

    def open_repo(self, root):
        from aimcol import Repo

        return Repo(str(root))

    def numpy(self, metric):
        return metric.sparse_numpy()

    def get_metric(self, run, name: str, context: dict):
        return run.get_metric(name, context)

    def context_of(self, metric) -> dict:
        return dict(metric.context)

    def count_runs(self, repo, query: str) -> int:
        return sum(1 for _ in repo.query_runs(query).iter_runs())

    def select_runs(self, root, min_batch):
        return self.count_runs(self.open_repo(root), f"run.hparams.batch_size > {min_batch}")

    def query_metrics(self, repo, query: str):
        return repo.query_metrics(query)

    def select_metrics(self, root, name, subset, min_batch):
        repo = self.open_repo(root)
        for metric in self.query_metrics(repo, _aimql(name, subset, min_batch)):
            yield self.numpy(metric)


class Aim(Aimcol):
    name = dist = "aim"

    def __init__(self) -> None:
        self.run_options = {}

    def version(self) -> str:
        return Tool.version(self)

    def _import(self) -> None:
        import aim  # noqa: F401

    def store_dir(self, root: Path) -> Path:
        return root / ".aim"

    def init_repo(self, root: Path) -> None:
        from aim import Repo

        Repo.from_path(str(root), init=True)  # as `aim init`

    def new_run(self, root, experiment=None, hparams=None, tags=(), run_hash=None):
        from aim import Run

        run = Run(
            run_hash, repo=str(root), experiment=experiment, system_tracking_interval=None, capture_terminal_logs=False
        )
        if hparams is not None:
            run["hparams"] = hparams
        for tag in tags:
            run.add_tag(tag)
        return run

    def resume_run(self, root, run_hash: str):
        """``Run(hash)``; when Aim refuses a run whose writer died (its lock), ``force_resume=True``,
        which Aim's own message suggests; the run object records that it was needed."""
        from aim import Run

        common = dict(repo=str(root), system_tracking_interval=None, capture_terminal_logs=False)
        try:
            return Run(run_hash, **common)
        except Exception:  # noqa: BLE001 - Aim raises its lock error under several types
            run = Run(run_hash, force_resume=True, **common)
            run._bench_forced = True
            return run

    def open_repo(self, root):
        from aim import Repo

        return Repo.from_path(str(root))

    def reindex(self, root: Path) -> float:
        """Aim 3.29 shows a run's params and metrics to queries only after its indexer ran:
        ``aim storage reindex --yes``, through its Python equivalent."""
        t0 = time.perf_counter()
        self.open_repo(root)._recreate_index()
        return time.perf_counter() - t0

    def numpy(self, metric):
        steps, (values,) = metric.data.view("val").numpy()
        return steps, values

    def get_metric(self, run, name: str, context: dict):
        from aim.storage.context import Context

        return run.get_metric(name, Context(context))

    def context_of(self, metric) -> dict:
        return metric.context.to_dict()

    def count_runs(self, repo, query: str) -> int:
        return sum(1 for _ in repo.query_runs(query, report_mode=0).iter_runs())

    def query_metrics(self, repo, query: str):
        return repo.query_metrics(query, report_mode=0).iter()


# ------------------------------------------------------------------------------------ MLflow
class _MlflowRun:
    """Aim's ``track()`` over MLflow: ``log_metric`` per point (synchronous), or ``log_batch``
    of ``batch`` points, which is what an MLflow user writing a tight loop does."""

    def __init__(self, client, run_id: str, api: str, batch: int):
        from mlflow.entities import Metric

        self.client, self.run_id, self.batch = client, run_id, batch
        self.Metric = Metric
        self.buf: list = []
        if api == "log_metric":
            self.track = self._log_metric

    def _log_metric(self, value, name=None, step=None, epoch=None, *, context=None):
        self.client.log_metric(self.run_id, key_for(name, context), value, step=step or 0)

    def track(self, value, name=None, step=None, epoch=None, *, context=None):
        self.buf.append(self.Metric(key_for(name, context), value, int(time.time() * 1000), step or 0))
        if len(self.buf) >= self.batch:
            self.client.log_batch(self.run_id, metrics=self.buf)
            self.buf = []

    def close(self):
        if self.buf:
            self.client.log_batch(self.run_id, metrics=self.buf)
            self.buf = []
        self.client.set_terminated(self.run_id)


class Mlflow(Tool):
    name = dist = "mlflow"

    def __init__(self, store: str = "sqlite", api: str = "log_metric", batch: int = 1000):
        self.store, self.api, self.batch = store, api, batch
        os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        os.environ.setdefault("DO_NOT_TRACK", "true")
        os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"  # 3.17 refuses the file store without it
        import warnings

        warnings.simplefilter("ignore")

    def _import(self) -> None:
        import mlflow  # noqa: F401
        from mlflow.tracking import MlflowClient  # noqa: F401

    def _client(self, root: Path):
        from mlflow.tracking import MlflowClient

        uri = f"sqlite:///{root / 'mlflow.db'}" if self.store == "sqlite" else (root / "mlruns").as_uri()
        return MlflowClient(tracking_uri=uri)

    def _experiment(self, client, root: Path, name: str) -> str:
        exp = client.get_experiment_by_name(name)
        if exp is not None:
            return exp.experiment_id
        artifacts = (root / "artifacts").as_uri() if self.store == "sqlite" else None
        return client.create_experiment(name, artifact_location=artifacts)

    def new_run(self, root, experiment=None, hparams=None, tags=()):
        client = self._client(root)
        run = client.create_run(self._experiment(client, root, experiment or "default"))
        run_id = run.info.run_id
        if hparams:
            from mlflow.entities import Param

            client.log_batch(run_id, params=[Param(k, str(v)) for k, v in hparams.items()])
        for tag in tags:
            client.set_tag(run_id, tag, "1")
        return _MlflowRun(client, run_id, self.api, self.batch)

    def _runs(self, client, min_batch: int | None):
        """MLflow's own filter: params are strings compared with ``=`` (no ``>``, no ``OR``, no
        ``IN`` for params), so one search per batch size above ``min_batch``."""
        exps = [e.experiment_id for e in client.search_experiments()]
        if min_batch is None:
            filters = [""]
        else:
            from bench_common import W2_BATCH_SIZES

            filters = [f"params.batch_size = '{b}'" for b in W2_BATCH_SIZES if b > min_batch]
        runs = []
        for flt in filters:
            token = None
            while True:
                page = client.search_runs(exps, filter_string=flt, max_results=1000, page_token=token)
                runs.extend(page)
                token = page.token
                if not token:
                    break
        return runs

    def select_runs(self, root, min_batch):
        return len(self._runs(self._client(root), min_batch))

    def select_metrics(self, root, name, subset, min_batch):
        import numpy as np

        client = self._client(root)
        for run in self._runs(client, min_batch):
            keys = [
                k for k in run.data.metrics if k.split("/")[0] == name and (subset is None or k == f"{name}/{subset}")
            ]
            for key in keys:
                hist = client.get_metric_history(run.info.run_id, key)
                steps = np.fromiter((m.step for m in hist), dtype=np.int64, count=len(hist))
                values = np.fromiter((m.value for m in hist), dtype=np.float64, count=len(hist))
                order = np.argsort(steps, kind="stable")
                yield steps[order], values[order]


# ----------------------------------------------------------------------------------- trackio
class _TrackioRun:
    """Aim's ``track()`` over trackio: one ``log({key: value}, step=)`` per point."""

    def __init__(self, run):
        self.run = run

    def track(self, value, name=None, step=None, epoch=None, *, context=None):
        self.run.log({key_for(name, context): value}, step=step)

    def close(self):
        self.run.finish()


class Trackio(Tool):
    """trackio keeps every project in one SQLite file under ``TRACKIO_DIR``; set per benchmark
    root before the import so runs land in the scratch folder."""

    name = dist = "trackio"

    def _import(self) -> None:
        import trackio  # noqa: F401

    def store_dir(self, root: Path) -> Path:
        return root / "trackio"

    def prepare(self, root: Path) -> None:
        os.environ["TRACKIO_DIR"] = str(self.store_dir(root))  # read once, at trackio's import

    def new_run(self, root, experiment=None, hparams=None, tags=()):
        import trackio

        config = dict(hparams or {})
        if experiment:
            config["experiment"] = experiment
        if tags:
            config["tags"] = list(tags)
        return _TrackioRun(trackio.init(project="bench", config=config, embed=False))

    def _storage(self, root: Path):
        from trackio.sqlite_storage import SQLiteStorage

        return SQLiteStorage

    def _selected_runs(self, storage, min_batch: int | None) -> list[str]:
        runs = storage.get_runs("bench")
        if min_batch is None:
            return runs
        return [run for run in runs if (storage.get_run_config("bench", run) or {}).get("batch_size", 0) > min_batch]

    def select_runs(self, root, min_batch):
        return len(self._selected_runs(self._storage(root), min_batch))

    def select_metrics(self, root, name, subset, min_batch):
        import numpy as np

        storage = self._storage(root)
        for run in self._selected_runs(storage, min_batch):
            keys = [f"{name}/{subset}"] if subset is not None else [f"{name}/train", f"{name}/val"]
            for key in keys:
                rows = storage.get_metric_values("bench", run, key)
                steps = np.fromiter((r["step"] for r in rows), dtype=np.int64, count=len(rows))
                values = np.fromiter((r["value"] for r in rows), dtype=np.float64, count=len(rows))
                order = np.argsort(steps, kind="stable")
                yield steps[order], values[order]


# ------------------------------------------------------------------------------- TensorBoard
class _TensorBoardRun:
    """Aim's ``track()`` over a tensorboardX ``SummaryWriter``: ``add_scalar(key, v, step)``."""

    def __init__(self, writer):
        self.writer = writer
        self.add_scalar = writer.add_scalar

    def track(self, value, name=None, step=None, epoch=None, *, context=None):
        self.add_scalar(key_for(name, context), value, global_step=step)

    def close(self):
        self.writer.close()


class TensorBoard(Tool):
    """tensorboardX writes event files (one folder per run); tbparse reads them into pandas.
    Hyperparameters go in the same event file as TensorBoard's HParams plugin summary."""

    name = "tensorboard"
    dist = "tensorboardX"

    def version(self) -> str:
        from importlib.metadata import version

        return f"tensorboardX {version('tensorboardX')}, tbparse {version('tbparse')}"

    def _import(self) -> None:
        import tbparse  # noqa: F401 - the reader, which imports TensorBoard's own event parsing
        import tensorboardX  # noqa: F401

    def new_run(self, root, experiment=None, hparams=None, tags=()):
        import uuid

        from tensorboardX import SummaryWriter

        logdir = root / (experiment or "default") / uuid.uuid4().hex[:12]
        writer = SummaryWriter(str(logdir), max_queue=1000, flush_secs=120)
        if hparams:
            from tensorboardX.summary import hparams as hparams_summary

            exp, ssi, sei = hparams_summary(dict(hparams), {})
            for summary in (exp, ssi, sei):
                writer.file_writer.add_summary(summary)
        return _TensorBoardRun(writer)

    def _reader(self, root: Path, kind: str):
        from tbparse import SummaryReader

        return getattr(SummaryReader(str(root), extra_columns={"dir_name"}), kind)

    def _selected_dirs(self, root: Path, min_batch: int | None) -> set[str]:
        hp = self._reader(root, "hparams")
        bs = hp[hp["tag"] == "batch_size"]
        if min_batch is not None:
            bs = bs[bs["value"].astype(float) > min_batch]
        return set(bs["dir_name"])

    def select_runs(self, root, min_batch):
        return len(self._selected_dirs(root, min_batch))

    def select_metrics(self, root, name, subset, min_batch):
        scalars = self._reader(root, "scalars")
        tags = [f"{name}/{subset}"] if subset is not None else [f"{name}/train", f"{name}/val"]
        scalars = scalars[scalars["tag"].isin(tags)]
        if min_batch is not None:
            scalars = scalars[scalars["dir_name"].isin(self._selected_dirs(root, min_batch))]
        for (_d, _t), group in scalars.groupby(["dir_name", "tag"], sort=False):
            group = group.sort_values("step", kind="stable")
            yield group["step"].to_numpy(), group["value"].to_numpy()
