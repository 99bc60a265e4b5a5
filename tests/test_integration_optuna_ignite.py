"""Optuna and PyTorch Ignite adapters with the real libraries."""

from __future__ import annotations

import pytest
from integration_helpers import only_run, series

from aimcol import Repo

TRIALS = 5


def _kwargs(tmp_path):
    return dict(repo=str(tmp_path), system_tracking_interval=None, capture_terminal_logs=False)


def _objective(trial):
    x = trial.suggest_float("x", -10, 10)
    depth = trial.suggest_int("depth", 1, 4)
    return (x - 2) ** 2 + depth


def test_optuna_study_as_one_run(tmp_path):
    optuna = pytest.importorskip("optuna")
    from aimcol.optuna import AimCallback

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    callback = AimCallback(experiment_name="study", **_kwargs(tmp_path))
    study = optuna.create_study(study_name="quad", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(_objective, n_trials=TRIALS, callbacks=[callback])
    callback.close()

    run = only_run(str(tmp_path))
    assert run.experiment == "study" and run["study_name"] == "quad"
    assert run["hparams", "direction"] == ["MINIMIZE"]
    got = series(run)
    assert set(got) == {("value", ()), ("x", ()), ("depth", ())}
    steps, values, _ = got[("value", ())]
    assert steps == list(range(TRIALS))
    assert values == pytest.approx([t.value for t in study.trials])
    assert got[("x", ())][1] == pytest.approx([t.params["x"] for t in study.trials])


def test_optuna_multirun_one_run_per_trial(tmp_path):
    optuna = pytest.importorskip("optuna")
    from aimcol.optuna import AimCallback

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    callback = AimCallback(as_multirun=True, metric_name=["loss"], **_kwargs(tmp_path))

    @callback.track_in_aim()
    def objective(trial):
        value = _objective(trial)
        callback.experiment.track(value * 2, name="doubled")
        return value

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    study.optimize(objective, n_trials=TRIALS, callbacks=[callback])

    runs = {run.name: run for run in Repo(str(tmp_path)).iter_runs()}
    assert set(runs) == {f"trial-{t.number}" for t in study.trials}
    for trial in study.trials:
        run = runs[f"trial-{trial.number}"]
        assert not run.active
        assert (
            run["hparams", "x"] == pytest.approx(trial.params["x"]) and run["hparams", "depth"] == trial.params["depth"]
        )
        assert run["loss"] == pytest.approx(trial.value) and run["trial_number"] == trial.number
        assert series(run)[("doubled", ())][1] == pytest.approx([trial.value * 2])


def _ignite_setup():
    torch = pytest.importorskip("torch")
    pytest.importorskip("ignite")
    from ignite.engine import create_supervised_evaluator, create_supervised_trainer
    from ignite.metrics import Loss, MeanAbsoluteError

    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    x = torch.randn(32, 3)
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, x.sum(1, keepdim=True)), batch_size=8)
    trainer = create_supervised_trainer(model, optimizer, torch.nn.functional.mse_loss)
    metrics = {"mse": Loss(torch.nn.functional.mse_loss), "mae": MeanAbsoluteError()}
    evaluator = create_supervised_evaluator(model, metrics=metrics)
    return trainer, evaluator, optimizer, data


def test_ignite_trainer_evaluator_and_lr(tmp_path):
    trainer, evaluator, optimizer, data = _ignite_setup()
    from ignite.engine import Events
    from ignite.handlers import global_step_from_engine

    from aimcol.pytorch_ignite import AimLogger

    logger = AimLogger(experiment="ignite", **_kwargs(tmp_path))
    logger.log_params({"lr": 0.05, "model": "Linear"})
    logger.attach_output_handler(
        trainer, event_name=Events.ITERATION_COMPLETED, tag="train", output_transform=lambda loss: {"loss": loss}
    )
    logger.attach_output_handler(
        evaluator,
        event_name=Events.EPOCH_COMPLETED,
        tag="val",
        metric_names=["mse", "mae"],
        global_step_transform=global_step_from_engine(trainer),
    )
    logger.attach_opt_params_handler(trainer, event_name=Events.EPOCH_STARTED, optimizer=optimizer)
    trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda _: evaluator.run(data))
    trainer.run(data, max_epochs=3)

    run = only_run(str(tmp_path))
    assert run.experiment == "ignite" and not run.active  # closed when the trainer completed
    assert run["hparams"] == {"lr": 0.05, "model": "Linear"}
    got = series(run)
    assert got[("loss", (("subset", "train"),))][0] == list(range(1, 13))  # 4 iterations x 3 epochs
    for name in ("mse", "mae"):
        assert got[(name, (("subset", "val"),))][0] == [1, 2, 3]  # the trainer's epoch
    assert got[("lr_group_0", ())][:2] == ([1, 2, 3], [0.05] * 3)


def test_ignite_failure_marks_the_run_failed(tmp_path):
    trainer, _, _, data = _ignite_setup()
    from ignite.engine import Events

    from aimcol.pytorch_ignite import AimLogger

    logger = AimLogger(**_kwargs(tmp_path))
    logger.attach_output_handler(
        trainer, event_name=Events.ITERATION_COMPLETED, tag="train", output_transform=lambda loss: {"loss": loss}
    )

    @trainer.on(Events.ITERATION_COMPLETED(once=6))
    def diverge(_):
        raise FloatingPointError("loss is nan")

    with pytest.raises(FloatingPointError):
        trainer.run(data, max_epochs=3)
    run = only_run(str(tmp_path))
    assert not run.active and run.end_time is not None
    assert (run.exit_status, run.exit_error) == ("failed", "FloatingPointError: loss is nan")
    assert series(run)[("loss", (("subset", "train"),))][0] == [1, 2, 3, 4, 5, 6]
