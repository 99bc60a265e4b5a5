"""Hugging Face Transformers: ``AimCallback``, a ``TrainerCallback`` writing to an aimcol run.

Same constructor as Aim's ``aim.hugging_face.AimCallback`` (plus ``run_name``/``run_hash``).
Only the world process 0 writes (``state.is_world_process_zero``), so ``torchrun`` on N
processes gives one run.  ``TrainingArguments`` land in ``run["hparams"]``, the model config
in ``run["model"]``; logged values are tracked at ``state.global_step`` with the epoch, and
``train_``/``eval_``/``test_`` prefixes become ``{"subset": ...}`` as in Aim.  With a dict of
eval datasets the Trainer logs ``eval_<dataset>_<metric>``: the dataset goes to
``context["sub_dataset"]``.
"""

from __future__ import annotations

import logging
import math

from aimcol.integrations.run_owner import DEFAULT_SYSTEM_TRACKING_INT, RunOwner, require, scalar

TrainerCallback = require("transformers.trainer_callback", "transformers", "aimcol.hugging_face").TrainerCallback

logger = logging.getLogger(__name__)
_PREFIXES = ("train_", "eval_", "test_")


def parse_log_name(key: str, keys) -> tuple[str, dict]:
    """``"eval_loss"`` → ``("loss", {"subset": "eval"})``; ``"eval_b_acc"`` with ``eval_b_loss`` logged → sub_dataset b."""
    for prefix in _PREFIXES:
        if key.startswith(prefix):
            name = key[len(prefix) :]
            context = {"subset": prefix[:-1]}
            head, sep, tail = name.partition("_")
            if sep and tail and tail != "loss" and f"{prefix}{head}_loss" in keys:
                context["sub_dataset"] = head
                name = tail
            elif sep and tail == "loss" and any(k != key and k.startswith(f"{prefix}{head}_") for k in keys):
                context["sub_dataset"] = head
                name = tail
            return name, context
    return key, {}


class AimCallback(RunOwner, TrainerCallback):
    """Trainer callback: hparams, model config and every logged number; closed at train end."""

    def __init__(
        self,
        repo: str | None = None,
        experiment: str | None = None,
        system_tracking_interval: float | None = DEFAULT_SYSTEM_TRACKING_INT,
        log_system_params: bool | None = True,
        capture_terminal_logs: bool | None = True,
        run_name: str | None = None,
        run_hash: str | None = None,
    ):
        self._init_run_owner(
            repo, experiment, run_name, run_hash, system_tracking_interval, log_system_params, capture_terminal_logs
        )
        self._log_value_warned = False

    def setup(self, args=None, state=None, model=None) -> None:
        """Create the run (world process 0 only) and store ``args`` and the model config."""
        if state is not None and not state.is_world_process_zero:
            return
        run = self.experiment
        if args is not None:
            self._log_hparams(args.to_sanitized_dict())
        config = getattr(model, "config", None)
        if config is not None:
            from aimcol.integrations.run_owner import storable

            settings = config.to_dict() if hasattr(config, "to_dict") else vars(config)
            run["model"] = storable({**settings, "num_labels": getattr(model, "num_labels", None)})

    def on_init_end(self, args, state, control, **kwargs):
        self.setup(state=state)

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.setup(args, state, model)

    def on_train_end(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.close()

    def on_log(self, args, state, control, model=None, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        if self._run is None:
            self.setup(args, state, model)
        run = self.experiment
        epoch = None if state.epoch is None or not math.isfinite(state.epoch) else int(state.epoch)
        for key, value in logs.items():
            number = scalar(value)
            if number is None:
                if not self._log_value_warned:
                    self._log_value_warned = True
                    logger.warning("AimCallback: %r logged %r (%s), not a number: not tracked", key, value, type(value))
                continue
            name, context = parse_log_name(key, logs)
            run.track(number, name=name, context=context, step=state.global_step, epoch=epoch)
