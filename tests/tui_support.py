"""Helpers shared by the TUI's Pilot tests: real repositories, an event loop per test, and
a wait that fails loudly instead of returning after a timeout."""

from __future__ import annotations

import asyncio
import functools
import time

import numpy as np

from aimcol import Repo, Run

SPECS = [
    # name, experiment, lr, batch_size, optimizer, tags, final loss
    ("alpha", "exp-a", 0.01, 32, "adam", ["baseline"], 0.30),
    ("beta", "exp-a", 0.001, 64, "sgd", ["sweep"], 0.50),
    ("gamma", "exp-b", 0.1, 32, "adam", ["sweep"], 0.90),
    ("delta", "exp-b", 0.003, 128, "adamw", ["sweep", "best"], 0.10),
]
STEPS = 200


def write_run(repo_path: str, name, experiment, lr, batch_size, optimizer, tags, final, steps=STEPS) -> Run:
    """A closed-able run with hparams, tags, train/val loss (with epochs) and train accuracy."""
    run = Run(repo=repo_path, experiment=experiment, system_tracking_interval=None, capture_terminal_logs=False)
    run.name = name
    run["hparams"] = {"lr": lr, "batch_size": batch_size, "optimizer": optimizer}
    for tag in tags:
        run.add_tag(tag)
    t = np.arange(steps)
    loss = final + (2.0 - final) * np.exp(-t / 40.0)
    run.track_array(loss, name="loss", context={"subset": "train"}, epochs=t // 20)
    run.track_array(loss[::20] * 1.05, name="loss", steps=t[::20], context={"subset": "val"})
    run.track_array(1.0 - loss / 2.5, name="accuracy", context={"subset": "train"})
    return run


def write_repo(path: str) -> str:
    Repo(path, init=True)
    for spec in SPECS:
        write_run(path, *spec).close()
    return path


def run_async(test):
    """Run an ``async def`` test on a fresh event loop (no pytest-asyncio needed)."""

    @functools.wraps(test)
    def wrapper(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))

    return wrapper


def make_app(path: str, **kwargs):
    from aimcol.tui.app import AimcolApp
    from aimcol.tui.repo_source import RepoSource

    kwargs.setdefault("poll_interval", 0)
    return AimcolApp(RepoSource(Repo(path)), **kwargs)


async def settle(pilot, timeout: float = 20.0) -> None:
    """Wait until no worker runs and the runs screen has its metric columns; fail after ``timeout``."""
    from aimcol.tui.screens.runs import RunsScreen

    deadline = time.monotonic() + timeout
    quiet = 0
    while quiet < 2:
        if time.monotonic() > deadline:
            raise AssertionError(f"the app did not settle within {timeout} s (workers: {list(pilot.app.workers)})")
        await pilot.pause(0.01)
        screen = pilot.app.screen
        columns_pending = isinstance(screen, RunsScreen) and screen.runs is not None and screen.sequences is None
        busy = columns_pending or any(w.is_running for w in pilot.app.workers)
        quiet = 0 if busy else quiet + 1


async def wait_for(pilot, condition, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


def screen_lines(app) -> list[str]:
    """The terminal as the user sees it now: one string per row (the composited screen)."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def table_names(app) -> list[str]:
    from aimcol.tui.components.runs_table import RunsTable

    table = app.screen.query_one(RunsTable)
    names = dict(zip(table.table.column("run").to_pylist(), table.table.column("name").to_pylist()))
    return [names[h] for h in table.hashes_in_view_order()]
