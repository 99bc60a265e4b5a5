"""``aimcol.hugging_face.AimCallback`` with a real ``transformers.Trainer`` on a tiny BERT made from a config."""

from __future__ import annotations

import pytest

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")
pytest.importorskip("accelerate")

from integration_helpers import only_run, series  # noqa: E402

from aimcol.hugging_face import AimCallback  # noqa: E402

N, BATCH, EPOCHS = 16, 4, 2


class Tokens(torch.utils.data.Dataset):
    def __init__(self, seed: int):
        g = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(1, 30, (N, 6), generator=g)
        self.labels = (self.ids[:, 0] > 15).long()

    def __len__(self):
        return N

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "attention_mask": torch.ones(6, dtype=torch.long), "labels": self.labels[i]}


def _model():
    config = transformers.BertConfig(
        vocab_size=32,
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        max_position_embeddings=16,
        num_labels=2,
    )
    torch.manual_seed(0)
    return transformers.BertForSequenceClassification(config)


def _trainer(tmp_path, callback, eval_dataset):
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"),
        num_train_epochs=EPOCHS,
        per_device_train_batch_size=BATCH,
        per_device_eval_batch_size=BATCH,
        learning_rate=3e-3,
        logging_steps=1,
        eval_strategy="epoch",
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
    )
    return transformers.Trainer(
        model=_model(), args=args, train_dataset=Tokens(0), eval_dataset=eval_dataset, callbacks=[callback]
    )


def _callback(tmp_path, **kwargs):
    return AimCallback(
        repo=str(tmp_path / "repo"), system_tracking_interval=None, capture_terminal_logs=False, **kwargs
    )


def test_train_logs_hparams_model_and_metrics(tmp_path):
    callback = _callback(tmp_path, experiment="bert")
    _trainer(tmp_path, callback, Tokens(1)).train()

    run = only_run(str(tmp_path / "repo"))
    assert run.experiment == "bert"
    assert not run.active and run.end_time is not None  # closed at train end
    hparams = run["hparams"]
    assert hparams["learning_rate"] == 3e-3 and hparams["num_train_epochs"] == EPOCHS
    assert hparams["per_device_train_batch_size"] == BATCH
    assert run["model", "hidden_size"] == 8 and run["model", "num_labels"] == 2
    got = series(run)
    steps_per_epoch = N // BATCH
    steps, losses, epochs = got[("loss", ())]
    assert steps == list(range(1, EPOCHS * steps_per_epoch + 1))  # logging_steps=1: every optimizer step
    assert epochs == [(s - 1) // steps_per_epoch + (1 if s % steps_per_epoch == 0 else 0) for s in steps]
    eval_steps, _, eval_epochs = got[("loss", (("subset", "eval"),))]
    assert eval_steps == [steps_per_epoch * (e + 1) for e in range(EPOCHS)]
    assert eval_epochs == [e + 1 for e in range(EPOCHS)]
    assert ("runtime", (("subset", "eval"),)) in got and ("runtime", (("subset", "train"),)) in got
    assert ("learning_rate", ()) in got and ("grad_norm", ()) in got


def test_several_eval_datasets_get_a_sub_dataset_context(tmp_path):
    callback = _callback(tmp_path)
    _trainer(tmp_path, callback, {"easy": Tokens(1), "hard": Tokens(2)}).train()
    got = series(only_run(str(tmp_path / "repo")))
    for name in ("easy", "hard"):
        steps, _, _ = got[("loss", (("sub_dataset", name), ("subset", "eval")))]
        assert steps == [N // BATCH * (e + 1) for e in range(EPOCHS)]


def test_only_world_process_zero_writes(tmp_path):
    callback = _callback(tmp_path)
    args = transformers.TrainingArguments(output_dir=str(tmp_path / "out"), report_to=[], use_cpu=True)
    other_rank = transformers.TrainerState(is_world_process_zero=False)
    control = transformers.TrainerControl()
    callback.on_init_end(args, other_rank, control)
    callback.on_train_begin(args, other_rank, control, model=_model())
    callback.on_log(args, other_rank, control, logs={"loss": 1.0})
    callback.on_train_end(args, other_rank, control)
    assert not (tmp_path / "repo").exists()  # no run, not even a repository, on rank != 0


FAILING_SCRIPT = r"""
import pathlib, sys
sys.path.insert(0, sys.argv[1])
import transformers
import test_integration_hugging_face as t

class Diverge(transformers.TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 3:
            raise FloatingPointError("loss is nan")

folder = pathlib.Path(sys.argv[2])
trainer = t._trainer(folder, t._callback(folder), t.Tokens(1))
trainer.add_callback(Diverge())
trainer.train()
"""


def test_training_that_raises_ends_the_run_failed(tmp_path):
    """Transformers tells callbacks nothing when training raises: the exception that ends the
    script closes the run as failed, naming it (the SDK's exit hook)."""
    import os
    import subprocess
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    done = subprocess.run(
        [sys.executable, "-c", FAILING_SCRIPT, here, str(tmp_path)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 1 and "FloatingPointError: loss is nan" in done.stderr
    run = only_run(str(tmp_path / "repo"))
    assert not run.active and run.end_time is not None
    assert (run.exit_status, run.exit_error) == ("failed", "FloatingPointError: loss is nan")
    assert run["hparams", "learning_rate"] == 3e-3
    steps, _, _ = series(run)[("loss", ())]
    assert steps == [1, 2]  # logged up to the step that raised
