"""Optuna: ``AimCallback`` for ``study.optimize(..., callbacks=[AimCallback()])``.

Same constructor as Aim's ``aim.optuna.AimCallback``.  By default the study is one run: each
finished trial tracks its suggested parameters and objective value(s) at step = trial
number (the objective as ``metric_name``, or ``<metric_name>_<i>`` for several objectives).
With ``as_multirun=True`` every trial is its own run (named ``trial-<n>``) whose
``run["hparams"]`` holds the trial's parameters and the study direction, with the objective
value(s) and ``trial_number`` as params; ``track_in_aim()`` wraps the objective so that what
it tracks lands in the trial's run.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from aimcol.integrations.run_owner import DEFAULT_SYSTEM_TRACKING_INT, RunOwner, require, storable

optuna = require("optuna", "optuna", "aimcol.optuna")


class AimCallback(RunOwner):
    """Tracks an Optuna study in one run, or one run per trial (``as_multirun``)."""

    def __init__(
        self,
        metric_name: str | Sequence[str] = "value",
        as_multirun: bool = False,
        repo: str | None = None,
        experiment_name: str | None = None,
        system_tracking_interval: float | None = DEFAULT_SYSTEM_TRACKING_INT,
        log_system_params: bool | None = True,
        capture_terminal_logs: bool | None = True,
    ):
        if not isinstance(metric_name, Sequence):
            raise TypeError(f"metric_name must be a str or a sequence of str, got {type(metric_name).__name__}")
        self._init_run_owner(
            repo, experiment_name, None, None, system_tracking_interval, log_system_params, capture_terminal_logs
        )
        self._metric_name = metric_name
        self._as_multirun = as_multirun
        if not as_multirun:
            self.setup()

    def setup(self, args: dict | None = None) -> None:
        run = self.experiment
        for key, value in (args or {}).items():
            run[key] = storable(value)

    def _names(self, values: Sequence[float]) -> list[str]:
        if isinstance(self._metric_name, str):
            return [f"{self._metric_name}_{i}" for i in range(len(values))] if len(values) > 1 else [self._metric_name]
        if len(self._metric_name) != len(values):
            raise ValueError(
                f"the objective returned {len(values)} values but {len(self._metric_name)} metric names were given"
            )
        return list(self._metric_name)

    def __call__(self, study, trial) -> None:
        values = trial.values or []
        metrics = dict(zip(self._names(values), values))
        if self._run is None:
            self.setup()
            self.experiment.name = f"trial-{trial.number}"
        run = self.experiment
        run["hparams", "direction"] = [d.name for d in study.directions]
        run["study_name"] = study.study_name
        if self._as_multirun:
            for key, value in trial.params.items():
                run["hparams", key] = storable(value)
            for key, value in {**metrics, "trial_number": trial.number}.items():
                run[key] = storable(value)
            self.close()
            self._run_hash = None  # the next trial gets a new run
            return
        for key, value in trial.params.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                run.track(value, name=key, step=trial.number)
        for key, value in metrics.items():
            run.track(value, name=key, step=trial.number)

    def track_in_aim(self) -> Callable:
        """Decorate an objective so that it runs with this trial's run open (``self.experiment``)."""

        def decorator(func: Callable) -> Callable:
            @functools.wraps(func)
            def wrapper(trial):
                if self._run is None:
                    self.setup()
                    self.experiment.name = f"trial-{trial.number}"
                return func(trial)

            return wrapper

        return decorator
