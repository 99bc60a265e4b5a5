"""Writes W&B offline runs with the real ``wandb`` package (run by tests/test_convert_wandb.py
in a subprocess: ``python wandb_writer.py DIR``); prints the Unix time after the last finish.

Run ``trained`` (finished): config, tags, notes, a history with explicit steps, ``epoch``,
``train/``/``val/`` keys, a nested dict, an image and a string; a summary.  Run ``diverged``:
finished with exit code 1.  No network: WANDB_MODE=offline.
"""

import os
import sys
import time

os.environ["WANDB_MODE"] = "offline"
os.environ["WANDB_SILENT"] = "true"
os.environ.setdefault("WANDB_DISABLE_CODE", "true")

import numpy as np  # noqa: E402
import wandb  # noqa: E402

STEPS = 60
VOCAB = [f"token{i:05d}" for i in range(10_000)]
"""A config value of ~140 KB: its record spans several 32 KiB blocks (first/middle/last chunks)."""


def history(i: int) -> dict:
    """Row ``i`` of run ``trained`` (the test computes the same)."""
    return {
        "train/loss": 1.0 / (i + 1),
        "val/acc": 0.5 + i / 1000,
        "lr": 0.1 * 0.99**i,
        "grad": {"norm": i % 7},
        "epoch": i // 20,
    }


def main(folder: str) -> None:
    run = wandb.init(
        project="vision",
        name="trained",
        notes="a tiny net",
        tags=["baseline", "cpu"],
        config={"lr": 0.1, "model": {"layers": 3, "act": "relu"}, "batch": 32, "vocab": VOCAB},
        dir=folder,
    )
    run.config.update({"seed": 7})
    for i in range(STEPS):
        run.log(history(i), step=3 * i)
    run.log({"sample": wandb.Image(np.zeros((4, 4, 3), dtype=np.uint8)), "note": "done"}, step=3 * STEPS)
    run.summary["best_acc"] = 0.99
    run.finish()

    run = wandb.init(project="vision", name="diverged", config={"lr": 10.0}, dir=folder)
    for i in range(5):
        run.log({"loss": float(10**i)})
    run.finish(exit_code=1)
    print(time.time())


if __name__ == "__main__":
    main(sys.argv[1])
