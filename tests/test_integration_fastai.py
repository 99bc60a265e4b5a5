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
