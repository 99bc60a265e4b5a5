"""``aimcol demo``: write a realistic repository to explore (a small hyper-parameter sweep).

Three experiments of ten runs each, with hparams (lr, batch_size, optimizer, weight decay,
dropout, seed), tags, and ``loss``/``accuracy`` curves in train and val contexts plus the
``lr`` schedule.  One run really crashes: it trains in a child process that is killed with
SIGKILL mid-run.  ``--live`` leaves one more run training in a background process for a few
minutes, so live views have something to follow.
"""

from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import time

from aimcol.cli.child_process import aimcol_command
from aimcol.cli.output import Progress, UserError

EXPERIMENTS = {
    "resnet18-cifar10": {"floor": 0.18, "tau": 260.0},
    "vit-tiny-cifar10": {"floor": 0.32, "tau": 420.0},
    "mlp-mnist": {"floor": 0.05, "tau": 150.0},
}
OPTIMIZERS = ("adam", "adamw", "sgd")
TAGS = ("baseline", "sweep", "bf16", "augment")


def register(sub) -> None:
    p = sub.add_parser("demo", help="write a demo repository of realistic runs to explore")
    p.add_argument("--repo", default=".", help="folder to create .aimcol in (default: cwd)")
    p.add_argument("--runs-per-experiment", type=int, default=10)
    p.add_argument("--steps", type=int, default=1000, help="training steps per run")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--live", action="store_true", help="keep one more run training in the background")
    p.add_argument("--live-minutes", type=float, default=3.0)
    p.add_argument("--worker", help=argparse_hidden())
    p.set_defaults(func=cmd_demo)


def argparse_hidden():
    import argparse

    return argparse.SUPPRESS


def make_specs(runs_per_experiment: int, steps: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    specs = []
    for experiment in EXPERIMENTS:
        for i in range(runs_per_experiment):
            tags = ["baseline"] if i == 0 else rng.sample(TAGS[1:], rng.randint(0, 2))
            specs.append(
                {
                    "experiment": experiment,
                    "name": f"{experiment.split('-')[0]}-{i:02d}",
                    "steps": steps,
                    "seed": rng.randrange(1 << 30),
                    "tags": tags,
                    "hparams": {
                        "lr": round(10 ** rng.uniform(-4.5, -1.0), 6),
                        "batch_size": rng.choice([32, 64, 128, 256]),
                        "optimizer": rng.choice(OPTIMIZERS),
                        "weight_decay": rng.choice([0.0, 1e-4, 5e-4]),
                        "dropout": round(rng.uniform(0.0, 0.5), 2),
                        "warmup_steps": rng.choice([0, 50, 100]),
                    },
                }
            )
    return specs


def train(repo_path: str, spec: dict, *, crash_at: int | None = None, pace: float = 0.0) -> str:
    """Simulate one training run; with ``crash_at`` the process SIGKILLs itself at that step."""
    from aimcol import Run

    rng = random.Random(spec["seed"])
    hp = spec["hparams"]
    shape = EXPERIMENTS[spec["experiment"]]
    # a learning rate near 3e-3 is best; far from it converges slower and to a worse floor
    quality = abs(math.log10(hp["lr"]) + 2.5)
    floor = shape["floor"] * (1 + 0.6 * quality) + (0.05 if hp["optimizer"] == "sgd" else 0.0)
    tau = shape["tau"] * (1 + 0.8 * quality) * (64 / hp["batch_size"]) ** 0.3
    run = Run(
        repo=repo_path,
        experiment=spec["experiment"],
        system_tracking_interval=None,
        capture_terminal_logs=False,
        flush_seconds=0.5,
    )
    run.name = spec["name"]
    run["hparams"] = hp
    run["dataset"] = {"name": spec["experiment"].split("-", 1)[1], "train_size": 50_000}
    for tag in spec["tags"]:
        run.add_tag(tag)
    steps = spec["steps"]
    steps_per_epoch = max(steps // 10, 1)
    for step in range(steps):
        epoch = step // steps_per_epoch
        warm = min(1.0, (step + 1) / (hp["warmup_steps"] + 1))
        lr = hp["lr"] * warm * 0.5 * (1 + math.cos(math.pi * step / steps))
        loss = floor + (2.3 - floor) * math.exp(-step / tau) + rng.gauss(0, 0.03)
        acc = max(0.0, min(1.0, 1.0 - loss / 2.4 + rng.gauss(0, 0.01)))
        run.track(loss, name="loss", step=step, epoch=epoch, context={"subset": "train"})
        run.track(acc, name="accuracy", step=step, epoch=epoch, context={"subset": "train"})
        run.track(lr, name="lr", step=step, epoch=epoch)
        if step % 50 == 49:
            val_loss = floor * 1.08 + (2.3 - floor) * math.exp(-step / tau) + rng.gauss(0, 0.02)
            run.track(val_loss, name="loss", step=step, epoch=epoch, context={"subset": "val"})
            run.track(
                max(0.0, 1.0 - val_loss / 2.4), name="accuracy", step=step, epoch=epoch, context={"subset": "val"}
            )
        if crash_at is not None and step == crash_at:
            run.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        if pace:
            time.sleep(pace)
    run.close()
    return run.hash


def _spawn_worker(repo_path: str, spec: dict, *, crash_at=None, pace=0.0, background=False):
    payload = json.dumps({"repo": repo_path, "spec": spec, "crash_at": crash_at, "pace": pace})
    cmd = aimcol_command("demo", "--worker", payload)
    if background:
        return subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True)


def cmd_demo(args) -> int:
    if args.worker:
        job = json.loads(args.worker)
        train(job["repo"], job["spec"], crash_at=job["crash_at"], pace=job["pace"])
        return 0
    if args.runs_per_experiment < 1 or args.steps < 100:
        raise UserError("--runs-per-experiment must be >= 1 and --steps >= 100")
    from aimcol import Repo

    repo = Repo(args.repo, init=True)
    specs = make_specs(args.runs_per_experiment, args.steps, args.seed)
    progress = Progress(len(specs) + 1, "writing demo runs")
    for spec in specs:
        train(repo.path, spec)
        progress.advance()
    crashed = dict(specs[1], name="resnet18-crashed", tags=["sweep", "oom"], seed=12345)
    result = _spawn_worker(repo.path, crashed, crash_at=args.steps * 2 // 5)
    if result.returncode != -signal.SIGKILL:
        raise UserError(f"the demo's crashing run exited with {result.returncode}: {result.stderr.decode()[-300:]}")
    progress.advance()
    progress.finish()
    live_note = ""
    if args.live:
        live = dict(specs[0], name="resnet18-live", tags=["live"], steps=int(args.live_minutes * 60 * 10))
        proc = _spawn_worker(repo.path, live, pace=0.1, background=True)
        live_note = f"\n  one run keeps training for {args.live_minutes:g} minutes (pid {proc.pid})"
    where = "" if os.path.abspath(args.repo) == os.getcwd() else f" --repo {args.repo}"
    print(
        f"demo repository written to {repo.path}: {len(specs) + 1} runs in {len(EXPERIMENTS)} experiments, "
        f"one of them crashed{live_note}"
    )
    print("next:")
    print(f"  aimcol runs ls{where}")
    print(
        f"  aimcol query{where} \"run.hparams.lr < 0.01 and metric.name == 'loss' and metric.context.subset == 'val'\""
    )
    print(f"  aimcol tui{where}")
    return 0
