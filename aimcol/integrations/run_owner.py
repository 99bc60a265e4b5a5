"""What every adapter shares: one lazily created ``Run``, Aim's constructor arguments, a safe close.

Aim's adapters all create their run on first use (``.experiment``), resume it by hash when
``run_hash`` is given (or after ``close()``, to log e.g. a later ``trainer.test()`` into the same
run), store hyperparameters under ``run["hparams"]`` with anything unstorable turned into its
``str()`` (Aim's ``strict=False``), and close the run when training ends.  An adapter whose
framework reports a failed training closes the run with the exception: ``run.exit_status`` is
``"failed"`` (``"interrupted"`` for Ctrl-C) and ``run.exit_error`` names the exception.  Where
the framework says nothing (Keras, Transformers, fastai), the exception that ends the script does the
same through the SDK's exit hook.
"""

from __future__ import annotations

import importlib
import numbers
from collections.abc import Mapping
from typing import Any

from aimcol.sdk.exit_status import FAILED, status_for

DEFAULT_SYSTEM_TRACKING_INT = 10
"""Seconds between system-metric samples, Aim's default."""


def require(module: str, package: str, adapter: str):
    """Import ``module`` or raise an ``ImportError`` saying which package ``adapter`` needs."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module.split(".")[0] != exc.name.split(".")[0]:
            raise  # the framework is there but misses something of its own (e.g. Keras's backend)
        raise ImportError(f"{adapter} needs {package}: pip install {package}") from exc


def storable(value: Any) -> Any:
    """``value`` as a run param: dicts get str keys, tuples/sets become lists, anything else unstorable its ``str()``.

    Mirrors Aim's ``run.set(..., strict=False)``: hyperparameter objects (modules, callables,
    dtypes, enums) must never make a training script fail.
    """
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**64:
            return str(value)
        return value
    if isinstance(value, Mapping):
        return {str(k): storable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [storable(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", None) == 0:
        try:
            return storable(value.item())  # NumPy / torch scalars
        except (TypeError, ValueError):
            pass
    return str(value)


def scalar(value: Any) -> float | int | None:
    """A trackable number from a logged value (float, int, NumPy/torch scalar), else ``None``."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, numbers.Real):
        return float(value)
    if callable(getattr(value, "item", None)):
        try:
            got = value.item()  # NumPy / torch / TF scalars and size-1 tensors
        except (TypeError, ValueError, RuntimeError):
            return None
        if isinstance(got, bool):
            return int(got)
        return got if isinstance(got, (int, float)) else None
    return None


class RunOwner:
    """Owns the adapter's ``Run``: created on first use, resumed by hash, closed once per training.

    Subclasses call :meth:`_init_run_owner` with Aim's constructor arguments and use
    ``self.experiment`` (the ``Run``) to log.  Not thread-safe: frameworks call callbacks from
    the training loop's thread.
    """

    def _init_run_owner(
        self,
        repo: str | None = None,
        experiment: str | None = None,
        run_name: str | None = None,
        run_hash: str | None = None,
        system_tracking_interval: float | None = DEFAULT_SYSTEM_TRACKING_INT,
        log_system_params: bool | None = True,
        capture_terminal_logs: bool | None = True,
    ) -> None:
        self._repo_path = repo
        self._experiment_name = experiment
        self._run_name = run_name
        self._run_hash = run_hash
        self._system_tracking_interval = system_tracking_interval
        self._log_system_params = bool(log_system_params)
        self._capture_terminal_logs = bool(capture_terminal_logs)
        self._run = None

    def _open_run(self):
        from aimcol import Run

        common = dict(
            repo=self._repo_path,
            system_tracking_interval=self._system_tracking_interval,
            capture_terminal_logs=self._capture_terminal_logs,
        )
        if self._run_hash:
            run = Run(self._run_hash, force_resume=True, **common)
        else:
            run = Run(experiment=self._experiment_name, log_system_params=self._log_system_params, **common)
            self._run_hash = run.hash
        if self._run_name is not None:
            run.name = self._run_name
        return run

    @property
    def experiment(self):
        """The ``aimcol.Run`` this adapter logs to (created, or resumed after a close, on first use)."""
        if self._run is None:
            self._run = self._open_run()
        return self._run

    @property
    def run_hash(self) -> str | None:
        return self._run_hash

    def _log_hparams(self, params: Mapping, key: str = "hparams") -> None:
        run = self.experiment
        for name, value in params.items():
            run[key, str(name)] = storable(value)

    def close(self, failed: BaseException | str | None = None) -> None:
        """Close the run (idempotent); ``failed`` (the exception that ended training, or a
        message) closes it as failed, or as interrupted for ``KeyboardInterrupt``."""
        run, self._run = self._run, None
        if run is None:
            return
        if failed is None:
            run.close()
        elif isinstance(failed, BaseException):
            run._close_with_status(*status_for(type(failed), failed))
        else:
            run._close_with_status(FAILED, str(failed))

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
