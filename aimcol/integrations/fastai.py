"""fastai: ``AimCallback``, a fastai ``Callback`` writing to an aimcol run.

Same constructor as Aim's ``aim.fastai.AimCallback``.  Before fitting, the learner's
configuration (callbacks' stored args, input shapes, batch size, parameter count, device)
lands in ``run["hparams"]``; every training batch tracks ``train_loss`` and the optimizer's
hyper-parameters (``lr_0``, ``mom_0`` …) at step = ``train_iter`` (batches done, as Aim) with
``{"subset": "train"}``, and every epoch end tracks the recorder's metrics (``valid_loss``,
``accuracy`` …) at step = epoch with ``{"subset": "val"}``.  The run closes after the fit (also one
a callback cancels, as early stopping does); a fit that raises leaves it to be closed at exit.
"""

from __future__ import annotations

import logging

from aimcol.integrations.run_owner import DEFAULT_SYSTEM_TRACKING_INT, RunOwner, require, scalar, storable

Callback = require("fastai.learner", "fastai", "aimcol.fastai").Callback
_hook = require("fastai.callback.hook", "fastai", "aimcol.fastai")

logger = logging.getLogger(__name__)


class AimCallback(RunOwner, Callback):
    """fastai callback (``Learner(..., cbs=AimCallback())``)."""

    order = 100  # after the Recorder (50), so epoch metrics are final

    def __init__(
        self,
        repo: str | None = None,
        experiment_name: str | None = None,
        system_tracking_interval: float | None = DEFAULT_SYSTEM_TRACKING_INT,
        log_system_params: bool | None = True,
        capture_terminal_logs: bool | None = True,
        run_name: str | None = None,
        run_hash: str | None = None,
    ):
        self._init_run_owner(
            repo,
            experiment_name,
            run_name,
            run_hash,
            system_tracking_interval,
            log_system_params,
            capture_terminal_logs,
        )
        self.repo, self.experiment_name = repo, experiment_name

    def gather_args(self) -> dict:
        """What the learner's configuration says about this fit (as Aim gathers it)."""
        args: dict = {}
        for cb in self.learn.cbs:
            if cb is not self:
                args[type(cb).__name__] = storable(getattr(cb, "__stored_args__", True))
        try:
            batch = self.dls.valid.one_batch()
            n_inp = getattr(self.dls.train, "n_inp", None) or max(1, len(batch) - 1)  # plain DataLoaders: (x…, y)
            args["n_inp"] = n_inp
            for n, x in enumerate(batch[:n_inp]):
                args[f"input {n + 1} shape"] = list(getattr(x, "shape", ()))
        except Exception:
            logger.warning("AimCallback: could not read the input shapes")
        for key, get in (
            ("batch_size", lambda: self.dls.bs),
            ("batch_per_epoch", lambda: len(self.dls.train)),
            ("model_parameters", lambda: _hook.total_params(self.model)[0]),
            ("device", lambda: self.dls.device.type),
        ):
            try:
                args[key] = get()
            except Exception:
                pass
        return args

    def before_fit(self):
        self._log_hparams(self.gather_args())

    def after_batch(self):
        if not self.training:
            return
        run = self.experiment
        step = self.train_iter
        run.track(scalar(self.loss), name="train_loss", step=step, context={"subset": "train"})
        for i, hypers in enumerate(self.opt.hypers):
            for key, value in hypers.items():
                number = scalar(value)
                if number is not None:
                    run.track(number, name=f"{key}_{i}", step=step, context={"subset": "train"})

    def after_epoch(self):
        run = self.experiment
        for name, value in zip(self.recorder.metric_names, self.recorder.log):
            if name in ("epoch", "train_loss", "time") or value is None:
                continue
            number = scalar(value)
            if number is not None:
                run.track(number, name=name, step=self.epoch, epoch=self.epoch, context={"subset": "val"})

    def after_fit(self):
        self.close()
