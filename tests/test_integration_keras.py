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
