"""``aimcol.fastai.AimCallback`` with a real fastai ``Learner`` on made-up tensors."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("fastai.learner")

from fastai.data.core import DataLoaders  # noqa: E402
from fastai.data.load import DataLoader  # noqa: E402
from fastai.learner import Learner  # noqa: E402
from fastai.losses import MSELossFlat  # noqa: E402
from fastai.metrics import mae  # noqa: E402
from fastai.optimizer import SGD  # noqa: E402
from integration_helpers import only_run, series  # noqa: E402

from aimcol.fastai import AimCallback  # noqa: E402

N, BS, EPOCHS = 32, 8, 2


def _dataset(seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N, 3, generator=g)
    return list(zip(x, x.sum(dim=1, keepdim=True)))


def test_fit_logs_config_batches_and_epochs(tmp_path):
    torch.manual_seed(0)
    dls = DataLoaders(DataLoader(_dataset(0), bs=BS, shuffle=False), DataLoader(_dataset(1), bs=BS))
    callback = AimCallback(
        repo=str(tmp_path), experiment_name="fastai", system_tracking_interval=None, capture_terminal_logs=False
    )
    learn = Learner(
        dls, torch.nn.Linear(3, 1), loss_func=MSELossFlat(), opt_func=SGD, lr=0.05, metrics=[mae], cbs=callback
    )
    with learn.no_logging():
        learn.fit(EPOCHS)

    run = only_run(str(tmp_path))
    assert run.experiment == "fastai" and not run.active
    assert run["hparams", "batch_size"] == BS and run["hparams", "batch_per_epoch"] == N // BS
    assert run["hparams", "model_parameters"] == 4 and run["hparams", "input 1 shape"] == [BS, 3]
    got = series(run)
    steps, _, _ = got[("train_loss", (("subset", "train"),))]
    assert steps == list(range(1, EPOCHS * N // BS + 1))  # fastai's train_iter: batches done
    assert got[("lr_0", (("subset", "train"),))][1] == pytest.approx([0.05] * (EPOCHS * N // BS))
    for name in ("valid_loss", "mae"):
        steps, values, epochs = got[(name, (("subset", "val"),))]
        assert steps == epochs == list(range(EPOCHS))
    recorded = [row[learn.recorder.metric_names.index("valid_loss") - 1] for row in learn.recorder.values]
    assert got[("valid_loss", (("subset", "val"),))][1] == pytest.approx(recorded)


FAILING_SCRIPT = r"""
import sys
sys.path.insert(0, sys.argv[1])
import test_integration_fastai as t
from fastai.callback.core import Callback
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from fastai.learner import Learner
from fastai.losses import MSELossFlat
from fastai.optimizer import SGD
from aimcol.fastai import AimCallback

class Diverge(Callback):
    def after_epoch(self):
        if self.epoch == 1:
            raise FloatingPointError("loss is nan")

dls = DataLoaders(DataLoader(t._dataset(0), bs=t.BS), DataLoader(t._dataset(1), bs=t.BS))
aim = AimCallback(repo=sys.argv[2], system_tracking_interval=None, capture_terminal_logs=False)
learn = Learner(dls, t.torch.nn.Linear(3, 1), loss_func=MSELossFlat(), opt_func=SGD, lr=0.05, cbs=[aim, Diverge()])
with learn.no_logging():
    learn.fit(4)
"""


def test_fit_that_raises_ends_the_run_failed(tmp_path):
    """fastai runs no ``after_fit`` when a fit raises: the exception that ends the script
    closes the run as failed, naming it (the SDK's exit hook)."""
    import os
    import subprocess
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    done = subprocess.run(
        [sys.executable, "-c", FAILING_SCRIPT, here, str(tmp_path)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 1 and "loss is nan" in done.stderr
    run = only_run(str(tmp_path))
    assert not run.active and run.end_time is not None
    # fastai re-raises the callback's exception with its own first line
    assert run.exit_status == "failed"
    assert run.exit_error == "FloatingPointError: Exception occured in `Diverge` when calling event `after_epoch`:"
    steps, _, _ = series(run)[("valid_loss", (("subset", "val"),))]
    assert steps == [0]
