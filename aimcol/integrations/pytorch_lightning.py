"""PyTorch Lightning: ``AimLogger``, a Lightning ``Logger`` writing to an aimcol run.

Same constructor as Aim's ``aim.pytorch_lightning.AimLogger``.  Metric names carry their
subset as a prefix (``train_loss``, ``val_acc``): the logger strips it into the context
(``{"subset": "train"}``), as Aim does, with the trainer's global step and epoch.  Works with
the ``lightning`` package (``lightning.pytorch``) or the older ``pytorch_lightning``.
"""

from __future__ import annotations

import importlib.util
import sys
import warnings
from argparse import Namespace
from typing import Any

from aimcol.integrations.run_owner import DEFAULT_SYSTEM_TRACKING_INT, RunOwner, require, scalar
from aimcol.sdk.repo import Repo

if importlib.util.find_spec("lightning") is not None:
    _logger_mod = require("lightning.pytorch.loggers.logger", "lightning", "aimcol.pytorch_lightning")
    from lightning.pytorch.utilities import rank_zero_only
else:
    _logger_mod = require("pytorch_lightning.loggers.logger", "lightning", "aimcol.pytorch_lightning")
    from pytorch_lightning.utilities import rank_zero_only

Logger = _logger_mod.Logger
rank_zero_experiment = _logger_mod.rank_zero_experiment

_DEFAULT_SUBSET_PREFIXES = {"train": "train_", "val": "val_", "test": "test_"}


def _context_prefixes(train: str | None, val: str | None, test: str | None, given: dict | None) -> dict:
    """Aim's rule: ``context_prefixes`` wins; the deprecated ``*_metric_prefix`` build the default."""
    legacy = {"train": train, "val": val, "test": test}
    changed = [f"{k}_metric_prefix" for k, v in legacy.items() if v != _DEFAULT_SUBSET_PREFIXES[k]]
    if given is not None:
        if changed:
            raise ValueError(f"{', '.join(changed)} cannot be used together with context_prefixes")
        return given
    for arg in changed:
        warnings.warn(f"{arg} is deprecated; use context_prefixes", DeprecationWarning, stacklevel=3)
    subset = {k: v for k, v in legacy.items() if v}
    return {"subset": subset} if subset else {}


class AimLogger(RunOwner, Logger):
    """Lightning logger: hyperparameters to ``run["hparams"]``, metrics with step, epoch and subset context.

    The run is created on first use on global rank 0 only, closed when the trainer finalises
    (``fit``/``test`` end; a fit that raises closes it with ``run.exit_status`` ``"failed"``, or
    ``"interrupted"`` for Ctrl-C, and the exception in ``run.exit_error``) and resumed
    by hash if the trainer logs again (``trainer.test()`` after ``fit``).
    """

    def __init__(
        self,
        repo: str | None = None,
        experiment: str | None = None,
        train_metric_prefix: str | None = "train_",
        val_metric_prefix: str | None = "val_",
        test_metric_prefix: str | None = "test_",
        system_tracking_interval: float | None = DEFAULT_SYSTEM_TRACKING_INT,
        log_system_params: bool | None = True,
        capture_terminal_logs: bool | None = True,
        run_name: str | None = None,
        run_hash: str | None = None,
        context_prefixes: dict | None = None,
        context_postfixes: dict | None = None,
    ):
        Logger.__init__(self)
        self._init_run_owner(
            repo, experiment, run_name, run_hash, system_tracking_interval, log_system_params, capture_terminal_logs
        )
        self._context_prefixes = _context_prefixes(
            train_metric_prefix, val_metric_prefix, test_metric_prefix, context_prefixes
        )
        self._context_postfixes = context_postfixes or {}

    @property
    @rank_zero_experiment
    def experiment(self):
        """The ``aimcol.Run`` (a dummy object on ranks other than 0, as Lightning's loggers)."""
        return RunOwner.experiment.fget(self)

    @rank_zero_only
    def log_hyperparams(self, params: dict | Namespace | Any, *args, **kwargs) -> None:
        if isinstance(params, Namespace):
            params = vars(params)
        try:
            from omegaconf import OmegaConf
        except ModuleNotFoundError:
            pass
        else:
            if OmegaConf.is_config(params):
                params = OmegaConf.to_container(params, resolve=True)
        self._log_hparams(dict(params or {}))

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        metrics = dict(metrics)
        epoch = metrics.pop("epoch", None)
        if epoch is not None:
            epoch = int(epoch)
        run = self.experiment
        for key, value in metrics.items():
            number = scalar(value)
            if number is None:
                continue
            name, context = self.parse_context(key)
            run.track(number, name=name, step=step, epoch=epoch, context=context)

    def parse_context(self, name: str) -> tuple[str, dict]:
        """``"val_loss"`` → ``("loss", {"subset": "val"})`` by the configured prefixes and postfixes."""
        context: dict = {}
        for key, mapping in self._context_prefixes.items():
            for value, prefix in mapping.items():
                if prefix and name.startswith(prefix):
                    name = name[len(prefix) :]
                    context[key] = value
                    break
        for key, mapping in self._context_postfixes.items():
            for value, postfix in mapping.items():
                if postfix and name.endswith(postfix):
                    name = name[: -len(postfix)]
                    context[key] = value
                    break
        return name, context

    @rank_zero_only
    def finalize(self, status: str = "") -> None:
        """Lightning calls this with ``"success"`` or ``"failed"`` when a fit/test ends; on
        failure from inside its ``except`` clause, so the exception is the one being handled."""
        if status != "failed":
            self.close()
            return
        self.close(failed=sys.exc_info()[1] or "training failed")

    @property
    def save_dir(self) -> str:
        """The ``.aimcol`` folder, as Aim's is its ``.aim``: Lightning checkpoints under
        ``save_dir/<experiment>/<run hash>``; the same before, during and after the run."""
        if self._run is not None:
            return self._run.repo.path
        if isinstance(self._repo_path, Repo):
            return self._repo_path.path
        return Repo.location(self._repo_path)

    @property
    def name(self) -> str | None:
        return self._experiment_name

    @property
    def version(self) -> str:
        """The run hash (without reopening a run that training already closed)."""
        return self._run_hash or self.experiment.hash
