"""XGBoost, LightGBM and CatBoost adapters with the real libraries on made-up data."""

from __future__ import annotations

import io

import numpy as np
import pytest
from integration_helpers import only_run, series

ROUNDS = 6


def _data(seed=0, n=120):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    return x, y


def _kwargs(tmp_path):
    return dict(repo=str(tmp_path), system_tracking_interval=None, capture_terminal_logs=False)


def test_xgboost_train_tracks_every_round_per_eval_set(tmp_path):
    xgb = pytest.importorskip("xgboost")
    from aimcol.xgboost import AimCallback

    x, y = _data()
    dtrain, dtest = xgb.DMatrix(x[:80], label=y[:80]), xgb.DMatrix(x[80:], label=y[80:])
    record: dict = {}
    params = {"objective": "binary:logistic", "eta": 0.3, "max_depth": 3, "eval_metric": ["logloss", "error"]}
    xgb.train(
        params,
        dtrain,
        ROUNDS,
        evals=[(dtrain, "train"), (dtest, "test")],
        evals_result=record,
        verbose_eval=False,
        callbacks=[AimCallback(experiment_name="xgb", **_kwargs(tmp_path))],
    )
    run = only_run(str(tmp_path))
    assert run.experiment == "xgb" and not run.active
    assert float(run["hparams", "eta"]) == pytest.approx(0.3) and run["hparams", "objective"] == "binary:logistic"
    got = series(run)
    assert len(got) == 4
    for data_name in ("train", "test"):
        for metric in ("logloss", "error"):
            steps, values, _ = got[(metric, (("data_name", data_name), ("stdv", False)))]
            assert steps == list(range(ROUNDS))
            np.testing.assert_allclose(values, record[data_name][metric])


def test_xgboost_cv_tracks_mean_and_stdv(tmp_path):
    xgb = pytest.importorskip("xgboost")
    from aimcol.xgboost import AimCallback

    x, y = _data()
    result = xgb.cv(
        {"objective": "binary:logistic", "eval_metric": "logloss"},
        xgb.DMatrix(x, label=y),
        num_boost_round=ROUNDS,
        nfold=3,
        callbacks=[AimCallback(**_kwargs(tmp_path))],
    )
    got = series(only_run(str(tmp_path)))
    steps, means, _ = got[("logloss", (("data_name", "test"), ("stdv", False)))]
    assert steps == list(range(ROUNDS))
    np.testing.assert_allclose(means, result["test-logloss-mean"])
    np.testing.assert_allclose(got[("logloss", (("data_name", "test"), ("stdv", True)))][1], result["test-logloss-std"])


def test_lightgbm_train_tracks_valid_sets_and_params(tmp_path):
    lgb = pytest.importorskip("lightgbm")
    from aimcol.lightgbm import AimCallback

    x, y = _data()
    train = lgb.Dataset(x[:80], y[:80])
    valid = lgb.Dataset(x[80:], y[80:], reference=train)
    record: dict = {}
    params = {"objective": "binary", "metric": ["binary_logloss", "auc"], "num_leaves": 7, "verbose": -1}
    callback = AimCallback(experiment_name="lgb", args={"note": "example"}, **_kwargs(tmp_path))
    lgb.train(
        params,
        train,
        num_boost_round=ROUNDS,
        valid_sets=[train, valid],
        valid_names=["train", "valid"],
        callbacks=[callback, lgb.record_evaluation(record)],
    )
    run = only_run(str(tmp_path))
    assert run.experiment == "lgb" and not run.active  # closed after the last iteration
    assert run["hparams", "num_leaves"] == 7 and run["hparams", "note"] == "example"
    got = series(run)
    for data_name in ("train", "valid"):
        for metric in ("binary_logloss", "auc"):
            steps, values, _ = got[(metric, (("data_name", data_name),))]
            assert steps == list(range(ROUNDS))
            np.testing.assert_allclose(values, record[data_name][metric])


def test_lightgbm_cv_tracks_mean_and_stdv(tmp_path):
    lgb = pytest.importorskip("lightgbm")
    from aimcol.lightgbm import AimCallback

    x, y = _data()
    result = lgb.cv(
        {"objective": "binary", "metric": "binary_logloss", "verbose": -1, "num_leaves": 7},
        lgb.Dataset(x, y),
        num_boost_round=ROUNDS,
        nfold=3,
        callbacks=[AimCallback(**_kwargs(tmp_path))],
    )
    got = series(only_run(str(tmp_path)))
    mean = got[("binary_logloss-mean", (("data_name", "valid"),))]
    assert mean[0] == list(range(ROUNDS))
    np.testing.assert_allclose(mean[1], result["valid binary_logloss-mean"])
    stdv = got[("binary_logloss-stdv", (("data_name", "valid"),))][1]
    np.testing.assert_allclose(stdv, result["valid binary_logloss-stdv"])


def test_catboost_log_cout_learn_test_best(tmp_path):
    catboost = pytest.importorskip("catboost")
    from aimcol.catboost import AimLogger

    x, y = _data()
    echo = io.StringIO()
    logger = AimLogger(loss_function="Logloss", log_cout=echo, **_kwargs(tmp_path))
    model = catboost.CatBoostClassifier(
        iterations=ROUNDS,
        depth=2,
        learning_rate=0.5,
        loss_function="Logloss",
        random_seed=0,
        train_dir=str(tmp_path / "cb"),
    )
    model.fit(x[:80], y[:80], eval_set=(x[80:], y[80:]), log_cout=logger, logging_level="Verbose")
    logger.close()
    run = only_run(str(tmp_path))
    got = series(run)
    evals = model.get_evals_result()
    learn_steps, learn, _ = got[("Logloss", (("log", "learn"),))]
    assert learn_steps == list(range(ROUNDS))
    # CatBoost prints 7 significant digits
    np.testing.assert_allclose(learn, evals["learn"]["Logloss"], rtol=1e-5)
    np.testing.assert_allclose(got[("Logloss", (("log", "test"),))][1], evals["validation"]["Logloss"], rtol=1e-5)
    assert ("Logloss", (("log", "best"),)) in got
    assert run["bestIteration"] == model.get_best_iteration()
    assert "learn:" in echo.getvalue()  # the log still reaches log_cout
