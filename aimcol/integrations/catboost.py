"""CatBoost: ``AimLogger``, a writable stream for ``fit(..., log_cout=AimLogger())``.

Same constructor as Aim's ``aim.catboost.AimLogger``.  CatBoost prints one line per
iteration (``12:\tlearn: 0.61\ttest: 0.64\tbest: 0.63 (10)\ttotal: …``); the logger parses it
into the metric ``loss_function`` at step = iteration with the context ``{"log": "learn"}``,
``{"log": "test"}`` or ``{"log": "best"}``, and ``key = value`` lines into run params, as Aim
does.  Text arriving in pieces is buffered up to the newline.  Every piece is passed on to
``log_cout`` (stdout by default).  CatBoost gives no end signal: the run closes on
``close()``, at exit, or when the logger is garbage-collected.
"""

from __future__ import annotations

import sys

from aimcol.integrations.run_owner import DEFAULT_SYSTEM_TRACKING_INT, RunOwner


def _number(text: str):
    try:
        return float(text)
    except ValueError:
        return text


class AimLogger(RunOwner):
    """A file-like object CatBoost writes its training log to."""

    def __init__(
        self,
        loss_function: str | None = "Loss",
        repo: str | None = None,
        experiment: str | None = None,
        system_tracking_interval: float | None = DEFAULT_SYSTEM_TRACKING_INT,
        log_system_params: bool | None = True,
        capture_terminal_logs: bool | None = True,
        log_cout=sys.stdout,
        run_name: str | None = None,
        run_hash: str | None = None,
    ):
        if log_cout is not None and not hasattr(log_cout, "write"):
            raise TypeError(f"log_cout must have a write() method, got {type(log_cout).__name__}")
        self._init_run_owner(
            repo, experiment, run_name, run_hash, system_tracking_interval, log_system_params, capture_terminal_logs
        )
        self._loss_function = loss_function
        self._log_cout = log_cout
        self._pending = ""

    def setup(self) -> None:
        self.experiment  # noqa: B018

    def write(self, text: str) -> None:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self._parse(line)
        if self._log_cout is not None:
            self._log_cout.write(text)

    def flush(self) -> None:
        if self._log_cout is not None and hasattr(self._log_cout, "flush"):
            self._log_cout.flush()

    def _parse(self, line: str) -> None:
        words = line.strip().split()
        if not words:
            return
        run = self.experiment
        if len(words) == 3 and words[1] == "=":
            run[words[0]] = _number(words[2])
            return
        if len(words) < 3 or words[1] != "learn:" or not words[0].endswith(":"):
            return
        try:
            step = int(words[0][:-1])
        except ValueError:
            return
        fields = dict(zip(words[1::2], words[2::2]))
        for label, log in (("learn:", "learn"), ("test:", "test"), ("best:", "best")):
            value = _number(fields.get(label, ""))
            if isinstance(value, float):
                run.track(value, name=self._loss_function, step=step, context={"log": log})
