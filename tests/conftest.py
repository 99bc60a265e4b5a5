"""Shared fixtures: real repositories on disk in pytest's tmp_path."""

from __future__ import annotations

import os
import sys

import pytest

os.environ.setdefault("PYTHONUNBUFFERED", "1")

try:
    from hypothesis import settings as _hypothesis_settings

    # CI replays the same examples every run (a failure there is reproducible, never flaky);
    # local runs keep exploring new ones.
    _hypothesis_settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
    if os.environ.get("CI"):
        _hypothesis_settings.load_profile("ci")
except ImportError:  # hypothesis is in the test extra; conftest must still import without it
    pass


@pytest.fixture
def repo_path(tmp_path) -> str:
    """A fresh project folder; runs created with ``repo=repo_path`` live in ``repo_path/.aimcol``."""
    return str(tmp_path)


@pytest.fixture
def make_run(repo_path):
    """Create writing runs with background threads off; closes them at teardown."""
    from aimcol import Run

    made = []

    def factory(run_hash=None, **kwargs):
        kwargs.setdefault("system_tracking_interval", None)
        kwargs.setdefault("capture_terminal_logs", False)
        run = Run(run_hash, repo=kwargs.pop("repo", repo_path), **kwargs)
        made.append(run)
        return run

    yield factory
    for run in made:
        run.close()


PYTHON = sys.executable


@pytest.fixture(params=["c", "python"])
def track_impl(request, monkeypatch) -> str:
    """Run the test once with track()'s C fast path and once with the pure-Python one."""
    import aimcol.sdk.run as run_module

    if request.param == "python":
        monkeypatch.setattr(run_module, "_fastpath", None)
    elif run_module._fastpath is None:
        pytest.skip("the C fast path is not built (test_track_accelerator.py says why)")
    return request.param
