"""``aimcol.keras.AimCallback`` with Keras 3 on the torch backend (no TensorFlow needed)."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
pytest.importorskip("torch")
keras = pytest.importorskip("keras")
if keras.backend.backend() != "torch":
    pytest.skip("Keras was imported earlier with another backend", allow_module_level=True)

from integration_helpers import only_run, series  # noqa: E402

from aimcol.keras import AimCallback  # noqa: E402

EPOCHS = 3


def _model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(2)])
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def test_fit_logs_train_and_val_per_epoch(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    callback = AimCallback(
        repo=str(tmp_path),
        experiment_name="keras-torch",  # as Aim's examples write it
        system_tracking_interval=None,
        capture_terminal_logs=False,
    )
    history = _model().fit(x, y, epochs=EPOCHS, batch_size=16, validation_split=0.25, verbose=0, callbacks=[callback])

    run = only_run(str(tmp_path))
    assert run.experiment == "keras-torch"
    assert not run.active and run.end_time is not None
    assert run["hparams", "epochs"] == EPOCHS and run["hparams", "steps"] == 3
    assert run["hparams", "optimizer", "name"] == "adam"
    assert run["hparams", "optimizer", "learning_rate"] == pytest.approx(0.01)
    got = series(run)
    for name in ("loss", "accuracy"):
        for subset, key in (("train", name), ("val", f"val_{name}")):
            steps, values, epochs = got[(name, (("subset", subset),))]
            assert steps == epochs == list(range(EPOCHS))
            np.testing.assert_allclose(values, history.history[key], rtol=1e-6)
    lr_key = "learning_rate" if ("learning_rate", (("subset", "train"),)) in got else "lr"
    assert got[(lr_key, (("subset", "train"),))][1] == pytest.approx([0.01] * EPOCHS)


FAILING_SCRIPT = r"""
import os, sys
os.environ["KERAS_BACKEND"] = "torch"
sys.path.insert(0, sys.argv[1])
import keras
import numpy as np
import test_integration_keras as t
from aimcol.keras import AimCallback

class Diverge(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise FloatingPointError("loss is nan")

x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
y = (x[:, 0] > 0).astype("int64")
aim = AimCallback(repo=sys.argv[2], system_tracking_interval=None, capture_terminal_logs=False)
t._model().fit(x, y, epochs=5, batch_size=16, verbose=0, callbacks=[aim, Diverge()])
"""


def test_fit_that_raises_ends_the_run_failed(tmp_path):
    """Keras calls no callback when fit() raises: the exception that ends the script closes
    the run as failed, naming it (the SDK's exit hook)."""
    import subprocess
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    done = subprocess.run(
        [sys.executable, "-c", FAILING_SCRIPT, here, str(tmp_path)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 1 and "FloatingPointError: loss is nan" in done.stderr
    run = only_run(str(tmp_path))
    assert not run.active and run.end_time is not None
    assert (run.exit_status, run.exit_error) == ("failed", "FloatingPointError: loss is nan")
    steps, _, _ = series(run)[("loss", (("subset", "train"),))]
    assert steps == [0, 1]
