"""Keras (3, any backend) and tf.keras: ``AimCallback``, logging every epoch's logs to an aimcol run.

Same constructor as Aim's ``aim.keras.AimCallback`` and ``aim.tensorflow.AimCallback``; Aim's
own examples pass ``experiment_name=``, which its callback does not take: here it is accepted
as another name for ``experiment``.  As in Aim, the run is created with the callback, keys
``val_<name>`` go to ``<name>`` with ``{"subset": "val"}`` and the others to
``{"subset": "train"}``, at step = epoch; the optimizer's learning rate is tracked as ``lr``.
``fit()``'s parameters (epochs, steps) and the optimizer's config land in ``run["hparams"]``;
the run is closed when ``fit()`` ends and resumed if the callback is used again.
"""

from __future__ import annotations

from aimcol.integrations.run_owner import DEFAULT_SYSTEM_TRACKING_INT, RunOwner, scalar, storable


def _learning_rate(model) -> float | None:
    optimizer = getattr(model, "optimizer", None)
    lr = getattr(optimizer, "learning_rate", None)
    if lr is None:
        lr = getattr(optimizer, "lr", None)
    if callable(lr) and hasattr(optimizer, "iterations"):  # a schedule
        try:
            lr = lr(optimizer.iterations)
        except Exception:
            return None
    try:
        return scalar(lr if not hasattr(lr, "numpy") else lr.numpy())
    except Exception:
        return None


def make_callback_class(base: type) -> type:
    """``AimCallback`` on top of ``base`` (``keras.callbacks.Callback`` or tf.keras's)."""

    class AimCallback(RunOwner, base):
        __doc__ = __doc__

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
            base.__init__(self)
            self._init_run_owner(
                repo,
                experiment if experiment is not None else experiment_name,
                run_name,
                run_hash,
                system_tracking_interval,
                log_system_params,
                capture_terminal_logs,
            )
            self.experiment  # noqa: B018 (Aim creates the run with the callback)

        @classmethod
        def metrics(cls, repo: str | None = None, experiment: str | None = None, run=None):
            """Aim's backward-compatible constructor."""
            return cls(repo, experiment)

        def on_train_begin(self, logs=None):
            params = dict(getattr(self, "params", None) or {})
            optimizer = getattr(self.model, "optimizer", None)
            if optimizer is not None and hasattr(optimizer, "get_config"):
                try:
                    params["optimizer"] = optimizer.get_config()
                except Exception:
                    params["optimizer"] = type(optimizer).__name__
            self._log_hparams(storable(params))

        def on_epoch_end(self, epoch, logs=None):
            if not logs:
                return
            run = self.experiment
            for key, value in logs.items():
                number = scalar(value)
                if number is None:
                    continue
                if key.startswith("val_"):
                    run.track(number, name=key[4:], step=epoch, epoch=epoch, context={"subset": "val"})
                else:
                    run.track(number, name=key, step=epoch, epoch=epoch, context={"subset": "train"})
            if "learning_rate" not in logs and "lr" not in logs:
                lr = _learning_rate(self.model)
                if lr is not None:
                    run.track(lr, name="lr", step=epoch, epoch=epoch, context={"subset": "train"})

        def on_train_end(self, logs=None):
            self.close()

    return AimCallback
