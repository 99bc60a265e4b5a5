"""Shared fixtures: real repositories on disk in pytest's tmp_path."""

from __future__ import annotations

import contextlib
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


# ---- object stores (tests/test_objstore_*.py) --------------------------------------------------------


@pytest.fixture(scope="session")
def s3_server():
    """A moto S3 server on a random loopback port for the whole session (skipped without moto)."""
    pytest.importorskip("moto.server", reason="the object-store tests need the test extra (moto[s3])")
    pytest.importorskip("obstore", reason="the object-store tests need aimcol[remote]")
    from s3_server import S3Server

    server = S3Server()
    # set for subprocesses and Dask workers started by any test
    with _session_env(server.env):
        yield server
    server.stop()


@pytest.fixture
def s3_env(s3_server, monkeypatch):
    """The ``AWS_*`` variables pointing at the moto server, set in this process (subprocesses inherit them)."""
    for key, value in s3_server.env.items():
        monkeypatch.setenv(key, value)
    return s3_server.env


@pytest.fixture
def s3_uri(s3_server, s3_env) -> str:
    """``s3://<fresh bucket>/repo``: an empty repository location on the moto server."""
    return f"s3://{s3_server.new_bucket()}/repo"


@pytest.fixture
def memory_uri() -> str:
    """``memory://<fresh name>/repo``: an empty in-process object store."""
    import uuid

    return f"memory://{uuid.uuid4().hex[:12]}/repo"


@contextlib.contextmanager
def _session_env(env: dict[str, str]):
    """Set ``env`` in this process for a session fixture (subprocesses inherit it); undo after."""
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def azurite_server():
    """Azurite (Azure Blob storage) on a random loopback port for the session; skipped where it is
    not installed (an npm package: ``.ci/run`` installs it, tests/cloud_emulators.py says how)."""
    pytest.importorskip("obstore", reason="the object-store tests need aimcol[remote]")
    from cloud_emulators import AzuriteServer, azurite_binary

    binary = azurite_binary()
    if binary is None:
        pytest.skip("Azurite is not installed (npm install --prefix .ci/azurite azurite, as .ci/run does)")
    server = AzuriteServer(binary)
    with _session_env(server.env):
        yield server
    server.stop()


@pytest.fixture
def azure_uri(azurite_server, monkeypatch) -> str:
    """``az://<fresh container>/repo`` on Azurite, found through AZURE_STORAGE_CONNECTION_STRING."""
    for key, value in azurite_server.env.items():
        monkeypatch.setenv(key, value)
    return f"az://{azurite_server.new_container()}/repo"
