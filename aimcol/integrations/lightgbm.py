"""LightGBM: ``AimCallback``, a callable callback for ``lgb.train`` / ``lgb.cv``.

Same constructor as Aim's ``aim.lightgbm.AimCallback``; Aim's example also passes
``experiment_name=`` and ``args=`` (a dict stored as params), which are accepted here.
Each iteration tracks every evaluation result at step = iteration with the context
``{"data_name": <valid set name>}``; in ``lgb.cv`` the mean and standard deviation go to
``<metric>-mean`` and ``<metric>-stdv``, as in Aim.  The parameters LightGBM trains with
land in ``run["hparams"]``.  The run closes after the last iteration (or ``close()``; with
early stopping LightGBM gives no end signal, so the run closes at exit or on ``close()``).
"""

from __future__ import annotations

from aimcol.integrations.run_owner import DEFAULT_SYSTEM_TRACKING_INT, RunOwner, require, scalar

require("lightgbm.callback", "lightgbm", "aimcol.lightgbm")


class AimCallback(RunOwner):
    """Records LightGBM's evaluation results, like ``lightgbm.record_evaluation``."""

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
        args: dict | None = None,
    ):
        self._init_run_owner(
            repo,
            experiment if experiment is not None else experiment_name,
            run_name,
            run_hash,
            system_tracking_interval,
            log_system_params,
            capture_terminal_logs,
        )
        self._args = args
        self.order = 25  # LightGBM runs callbacks by this, before early stopping (30)
        self.before_iteration = False

    def setup(self) -> None:
        self.experiment  # noqa: B018
        if self._args:
            self._log_hparams(self._args)

    def before_tracking(self, **kwargs) -> None:
        """Hook for subclasses, called before each iteration's tracking (as in Aim)."""

    def after_tracking(self, **kwargs) -> None:
        """Hook for subclasses, called after each iteration's tracking (as in Aim)."""

    def __call__(self, env) -> None:
        if self._run is None or env.iteration == env.begin_iteration:
            self.setup()
            if env.params:
                self._log_hparams(env.params)
        run = self.experiment
        self.before_tracking(env=env)
        for item in env.evaluation_result_list:
            if len(item) == 4:
                data_name, eval_name, result, _ = item
                run.track(scalar(result), name=eval_name, step=env.iteration, context={"data_name": data_name})
            else:  # lgb.cv: (<valid>, <metric>, mean, is_higher_better, stdv); LightGBM 3: ("cv_agg", "<valid> <metric>", …)
                data_name, eval_name = item[1].split() if " " in item[1] else item[:2]
                context = {"data_name": data_name}
                run.track(scalar(item[2]), name=f"{eval_name}-mean", step=env.iteration, context=context)
                run.track(scalar(item[4]), name=f"{eval_name}-stdv", step=env.iteration, context=context)
        self.after_tracking(env=env)
        if env.iteration == env.end_iteration - 1:
            self.close()
