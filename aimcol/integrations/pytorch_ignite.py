"""PyTorch Ignite: ``AimLogger`` (an Ignite ``BaseLogger``) with its output and optimizer handlers.

Same constructor as Aim's ``aim.pytorch_ignite.AimLogger``.  ``attach_output_handler(engine,
event, tag="train", ...)`` tracks ``<tag>_<metric>``; the ``train_``/``val_``/``test_``
prefixes become ``{"subset": ...}`` as in Aim, at the step Ignite's
``global_step_transform`` gives (the engine's iteration or epoch, or the trainer's epoch with
``global_step_from_engine``).  ``attach_opt_params_handler`` tracks ``lr_group_<i>``.
``log_params`` stores hyperparameters in ``run["hparams"]``.  Attached to an engine, the
logger closes the run when that engine completes, and marks it failed if it raises.
"""

from __future__ import annotations

from typing import Any

from aimcol.integrations.run_owner import DEFAULT_SYSTEM_TRACKING_INT, RunOwner, require, scalar

_base = require("ignite.handlers.base_logger", "pytorch-ignite", "aimcol.pytorch_ignite")
Events = require("ignite.engine", "pytorch-ignite", "aimcol.pytorch_ignite").Events


class AimLogger(RunOwner, _base.BaseLogger):
    """Ignite logger writing to an aimcol run."""

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
    ):
        self._init_run_owner(
            repo, experiment, run_name, run_hash, system_tracking_interval, log_system_params, capture_terminal_logs
        )
        self._prefixes = [
            (prefix, subset)
            for prefix, subset in (
                (train_metric_prefix, "train"),
                (test_metric_prefix, "test"),
                (val_metric_prefix, "val"),
            )
            if prefix
        ]
        self._watched: set[int] = set()

    def log_params(self, params: dict) -> None:
        try:
            from omegaconf import Container, OmegaConf
        except ModuleNotFoundError:
            pass
        else:
            if isinstance(params, Container):
                params = OmegaConf.to_container(params, resolve=True)
        self._log_hparams(params)

    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        run = self.experiment
        for key, value in metrics.items():
            number = scalar(value)
            if number is None:
                continue
            name, context = key, {}
            for prefix, subset in self._prefixes:
                if name.startswith(prefix):
                    name, context = name[len(prefix) :], {"subset": subset}
                    break
            run.track(number, name=name, step=step, context=context)

    def _watch(self, engine) -> None:
        """Close the run when the first engine it is attached to completes or fails."""
        if self._watched:
            return
        self._watched.add(id(engine))
        engine.add_event_handler(Events.COMPLETED, lambda _: self.close())
        engine.add_event_handler(Events.EXCEPTION_RAISED, self._on_exception)

    def _on_exception(self, engine, exc: BaseException) -> None:
        self.close(failed=exc)
        raise exc

    def attach(self, engine, log_handler, event_name):
        self._watch(engine)
        return super().attach(engine, log_handler, event_name)

    @property
    def save_dir(self) -> str:
        return self.experiment.repo.path

    @property
    def name(self) -> str | None:
        return self._experiment_name

    @property
    def version(self) -> str:
        return self._run_hash or self.experiment.hash

    def _create_output_handler(self, *args: Any, **kwargs: Any) -> OutputHandler:
        return OutputHandler(*args, **kwargs)

    def _create_opt_params_handler(self, *args: Any, **kwargs: Any) -> OptimizerParamsHandler:
        return OptimizerParamsHandler(*args, **kwargs)


class OutputHandler(_base.BaseOutputHandler):
    """Tracks an engine's output and metrics as ``<tag>_<name>`` (Ignite's usual handler contract)."""

    def __call__(self, engine, logger: AimLogger, event_name) -> None:
        if not isinstance(logger, AimLogger):
            raise TypeError("OutputHandler works only with aimcol's AimLogger")
        rendered = self._setup_output_metrics_state_attrs(engine, key_tuple=True)
        metrics = {"_".join(map(str, keys)): value for keys, value in rendered.items()}
        step = self.global_step_transform(engine, event_name)
        if not isinstance(step, int):
            raise TypeError(f"global_step must be int, got {type(step).__name__}: check global_step_transform")
        logger.log_metrics(metrics, step=step)


class OptimizerParamsHandler(_base.BaseOptimizerParamsHandler):
    """Tracks an optimizer parameter (default ``lr``) of every param group as ``[<tag>_]lr_group_<i>``."""

    def __call__(self, engine, logger: AimLogger, event_name) -> None:
        if not isinstance(logger, AimLogger):
            raise TypeError("OptimizerParamsHandler works only with aimcol's AimLogger")
        step = engine.state.get_event_attrib_value(event_name)
        prefix = f"{self.tag}_" if self.tag else ""
        params = {
            f"{prefix}{self.param_name}_group_{i}": float(group[self.param_name])
            for i, group in enumerate(self.optimizer.param_groups)
        }
        logger.log_metrics(params, step=step)
