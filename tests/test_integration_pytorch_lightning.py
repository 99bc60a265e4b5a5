"""``aimcol.pytorch_lightning.AimLogger`` with a real Lightning Trainer on a tiny CPU model."""

from __future__ import annotations

import pytest

pl = pytest.importorskip("lightning.pytorch")
torch = pytest.importorskip("torch")

from integration_helpers import only_run, series  # noqa: E402

from aimcol.pytorch_lightning import AimLogger  # noqa: E402

BATCHES, EPOCHS = 4, 3


class TinyRegressor(pl.LightningModule):
    def __init__(self, lr: float = 0.05, hidden: int = 4, fail_at_step: int = -1):
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(torch.nn.Linear(3, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1))

    def _loss(self, batch):
        x, y = batch
        return torch.nn.functional.mse_loss(self.net(x), y)

    def training_step(self, batch, batch_idx):
        if self.global_step == self.hparams.fail_at_step:
            raise RuntimeError("loss diverged")
        loss = self._loss(batch)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        self.log("val_loss", self._loss(batch))

    def test_step(self, batch, batch_idx):
        self.log("test_loss", self._loss(batch))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def _loader(seed: int):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(BATCHES * 8, 3, generator=g)
    y = x.sum(dim=1, keepdim=True)
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)


def _trainer(logger):
    return pl.Trainer(
        max_epochs=EPOCHS,
        logger=logger,
        log_every_n_steps=1,
        accelerator="cpu",
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )


def _logger(repo, **kwargs):
    return AimLogger(repo=repo, system_tracking_interval=None, capture_terminal_logs=False, **kwargs)


def test_fit_then_test_into_one_run(tmp_path):
    repo = str(tmp_path)
    logger = _logger(repo, experiment="lit", run_name="first try")
    trainer = _trainer(logger)
    model = TinyRegressor(lr=0.05, hidden=4)
    trainer.fit(model, _loader(0), _loader(1))
    trainer.test(model, dataloaders=_loader(2))

    run = only_run(repo)
    assert run.name == "first try" and run.experiment == "lit"
    assert run["hparams"] == {"lr": 0.05, "hidden": 4, "fail_at_step": -1}
    assert not run.active and run.end_time is not None  # closed after test()
    got = series(run)
    assert set(got) == {
        ("loss", (("subset", "train"),)),
        ("loss", (("subset", "val"),)),
        ("loss", (("subset", "test"),)),
    }
    steps, values, epochs = got[("loss", (("subset", "train"),))]
    # on_step logging at every global step, with the epoch the step belongs to
    assert len(values) == BATCHES * EPOCHS
    assert epochs == [s // BATCHES for s in steps]
    val_steps, _, val_epochs = got[("loss", (("subset", "val"),))]
    assert val_epochs == list(range(EPOCHS))
    assert val_steps == [BATCHES * (e + 1) - 1 for e in range(EPOCHS)]
    assert len(got[("loss", (("subset", "test"),))][1]) == 1
    assert logger.version == run.hash


def test_failed_fit_closes_the_run_failed_with_the_exception(tmp_path):
    repo = str(tmp_path)
    with pytest.raises(RuntimeError, match="loss diverged"):
        _trainer(_logger(repo)).fit(TinyRegressor(fail_at_step=5), _loader(0))
    run = only_run(repo)
    assert not run.active and run.end_time is not None
    assert (run.exit_status, run.exit_error) == ("failed", "RuntimeError: loss diverged")
    assert "training_status" not in run  # the run's own status, as Aim has no such param
    steps, _, _ = series(run)[("loss", (("subset", "train"),))]
    assert steps == [0, 1, 2, 3, 4]


def test_context_prefixes_and_postfixes(tmp_path):
    logger = _logger(
        str(tmp_path),
        context_prefixes={"subset": {"train": "tr/", "val": "va/"}},
        context_postfixes={"kind": {"ema": "_ema"}},
    )
    assert logger.parse_context("tr/loss_ema") == ("loss", {"subset": "train", "kind": "ema"})
    assert logger.parse_context("va/acc") == ("acc", {"subset": "val"})
    with pytest.raises(ValueError, match="train_metric_prefix"):
        AimLogger(train_metric_prefix="t_", context_prefixes={})


def test_resume_by_hash(tmp_path):
    repo = str(tmp_path)
    first = _logger(repo)
    _trainer(first).fit(TinyRegressor(), _loader(0))
    second = _logger(repo, run_hash=first.version)
    second.log_metrics({"extra": 1.5}, step=99)
    second.finalize("success")
    run = only_run(repo)
    assert series(run)[("extra", ())][:2] == ([99], [1.5])


def test_default_repo_and_checkpoints_in_save_dir(tmp_path, monkeypatch):
    """As Aim's Lightning example: no repo (the cwd's), default checkpointing, ``test()`` without a model.

    Lightning puts its checkpoints under ``save_dir/<experiment>/<run hash>/checkpoints`` (inside
    the ``.aimcol`` folder, as Aim's under ``.aim``) and ``test()`` reloads the best one from there;
    the repository must read back clean, and ``repair``/``prune`` must leave the checkpoint alone.
    """
    from aimcol import Repo

    monkeypatch.chdir(tmp_path)
    logger = AimLogger(experiment="example_experiment", system_tracking_interval=None, capture_terminal_logs=False)
    assert logger.save_dir == str(tmp_path / ".aimcol")  # before any run exists
    trainer = pl.Trainer(max_epochs=2, logger=logger, accelerator="cpu", enable_progress_bar=False)
    trainer.fit(model=TinyRegressor(), train_dataloaders=_loader(0), val_dataloaders=_loader(1))
    trainer.test(dataloaders=_loader(2))  # the best checkpoint of fit(), read from the repo folder

    repo = Repo(str(tmp_path))
    run = only_run(str(tmp_path))
    checkpoints = list((tmp_path / ".aimcol" / "example_experiment" / run.hash / "checkpoints").glob("*.ckpt"))
    assert [c.name for c in checkpoints] == [f"epoch=1-step={2 * BATCHES}.ckpt"]
    assert logger.save_dir == repo.path == str(tmp_path / ".aimcol")  # and after it closed
    assert [(c.status, c.problems) for c in repo.check()] == [("finished", [])]
    assert repo.repair() == [] and repo.prune() == []
    assert checkpoints[0].exists()
    got = series(run)
    assert {name for name, _ in got} == {"loss"}
    assert got[("loss", (("subset", "test"),))][0] == [2 * BATCHES]
