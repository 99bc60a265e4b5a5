"""Repositories for the AimQL, run index and query results tests (real runs written by the SDK).

``four_runs`` mirrors the repository the expected answers in ``test_aimql_semantics.py``
were taken from: the same runs written with real Aim 3.29.1 and queried there.
``aim_prefilled`` is the data of Aim's own query tests (``tests/utils.py::fill_up_test_data``).
"""

from __future__ import annotations

import json
import math

import aimcol


def new_run(root, **kwargs) -> aimcol.Run:
    return aimcol.Run(repo=str(root), system_tracking_interval=None, capture_terminal_logs=False, **kwargs)


FOUR_RUNS = [
    dict(
        name="alpha",
        experiment="exp1",
        tags=["a"],
        params={"hparams": {"lr": 0.001, "batch_size": 32, "opt": "adam", "flag": True}, "name": "pname0"},
    ),
    dict(
        name="beta",
        experiment=None,
        tags=[],
        params={"hparams": {"lr": 0.01, "batch_size": None, "opt": "sgd", "flag": False}},
    ),
    dict(
        name="gamma",
        experiment="exp2",
        tags=["a", "b"],
        params={"hparams": {"lr": 0.0001, "batch_size": 64, "opt": 5}},
        archived=True,
    ),
    dict(name="delta", experiment="exp1", tags=[], params={"x": "5", "hparams": {"lr": math.nan}}),
]


def four_runs(root) -> dict[str, str]:
    """alpha, beta, gamma (archived), delta; each with loss/train, loss/val, acc over 10 steps.

    Returns ``{run name: hash}``.  Runs are created in that order (delta is the newest).
    """
    hashes = {}
    for i, spec in enumerate(FOUR_RUNS):
        run = new_run(root, experiment=spec["experiment"])
        run.name = spec["name"]
        for key, value in spec["params"].items():
            run[key] = value
        for tag in spec["tags"]:
            run.add_tag(tag)
        for step in range(10):
            run.track(float(i + step), name="loss", step=step, context={"subset": "train"})
            run.track(float(i - step), name="loss", step=step, context={"subset": "val"})
            run.track(step * 0.1, name="acc", step=step)
        if spec.get("archived"):
            run.archived = True
        run.close()
        hashes[spec["name"]] = run.hash
    return hashes


def aim_prefilled(root) -> list[str]:
    """Aim's query-test data: 10 runs, hparams lr=0.001 / batch_size=None, run_index, name;
    loss over three contexts and accuracy over one, 100 steps each."""
    contexts = [
        {"is_training": True, "subset": "train"},
        {"is_training": True, "subset": "val"},
        {"is_training": False},
    ]
    hashes = []
    for idx in range(10):
        run = new_run(root)
        run["hparams"] = {"lr": 0.001, "batch_size": None}
        run["run_index"] = idx
        run["name"] = f"Run # {idx}"
        run.name = run["name"]
        for metric in ("loss", "accuracy"):
            for context in contexts:
                if metric == "accuracy" and "subset" in context:
                    continue
                for step in range(100):
                    run.track(1.0 - 1.0 / (step + 1), name=metric, step=step, epoch=1, context=context)
        run.close()
        hashes.append(run.hash)
    return hashes


def metric_label(metric, names_by_hash: dict[str, str]) -> str:
    """``alpha/loss/train`` for a Metric of run alpha, name loss, context {"subset": "train"}."""
    label = f"{names_by_hash[metric.run.hash]}/{metric.name}"
    context = dict(metric.context)
    if context:
        label += "/" + (context["subset"] if set(context) == {"subset"} else json.dumps(context, sort_keys=True))
    return label
