"""XGBoost: ``AimCallback``, an ``xgboost.callback.TrainingCallback`` writing to an aimcol run.

Same constructor as Aim's ``aim.xgboost.AimCallback`` (``experiment_name`` also accepted, as
Aim's example writes it).  Each boosting round tracks every eval metric at step = round,
with the context ``{"data_name": <watchlist name>, "stdv": False}``; in ``xgb.cv`` the
standard deviation goes to ``{"stdv": True}``.  (Aim tracks at step 0 and without the data
name, so train and test overwrite each other.)  The booster's training parameters, as
``Booster.save_config()`` reports them, land in ``run["hparams"]``; the run closes after
training.
"""

from __future__ import annotations

import json

from aimcol.integrations.run_owner import DEFAULT_SYSTEM_TRACKING_INT, RunOwner, require, scalar

TrainingCallback = require("xgboost.callback", "xgboost", "aimcol.xgboost").TrainingCallback


def booster_params(model) -> dict:
    """The learner's and the tree booster's training parameters (strings, as XGBoost reports them)."""
    try:
        config = json.loads(model.save_config())["learner"]
    except Exception:
        return {}
    params = dict(config.get("learner_train_param", {}))
    params.update(config.get("learner_model_param", {}))
    booster = config.get("gradient_booster", {})
    params.update(booster.get("tree_train_param") or {})
    objective = config.get("objective", {})
    if "name" in objective:
        params["objective"] = objective["name"]
    return params


class AimCallback(RunOwner, TrainingCallback):
    """XGBoost training callback (``xgb.train(..., callbacks=[AimCallback()])``)."""

    def __init__(
        self,
        repo: str | None = None,
        experiment: str | None = None,
        system_tracking_interval: float | None = DEFAULT_SYSTEM_TRACKING_INT,
        log_system_params: bool | None = True,
        capture_terminal_logs: bool | None = True,
        run_name: str | None = None,
        run_hash: str | None = None,
        experiment_name: str | None = None,
    ):
        TrainingCallback.__init__(self)
        self._init_run_owner(
            repo,
            experiment if experiment is not None else experiment_name,
            run_name,
            run_hash,
            system_tracking_interval,
            log_system_params,
            capture_terminal_logs,
        )

    def setup(self) -> None:
        self.experiment  # noqa: B018

    def before_training(self, model):
        params = booster_params(model)
        if params:
            self._log_hparams(params)
        else:
            self.setup()
        return model

    def after_iteration(self, model, epoch: int, evals_log) -> bool:
        run = self.experiment
        for data_name, metrics in (evals_log or {}).items():
            for metric_name, log in metrics.items():
                last = log[-1]
                mean, stdv = (last[0], last[1]) if isinstance(last, tuple) else (last, None)
                run.track(scalar(mean), name=metric_name, step=epoch, context={"data_name": data_name, "stdv": False})
                if stdv is not None:
                    run.track(
                        scalar(stdv), name=metric_name, step=epoch, context={"data_name": data_name, "stdv": True}
                    )
        return False

    def after_training(self, model):
        self.close()
        return model
