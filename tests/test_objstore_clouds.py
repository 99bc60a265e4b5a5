"""GCS and Azure repositories against real emulators on 127.0.0.1 (tests/cloud_emulators.py),
found through each cloud's own variables: ``AZURE_STORAGE_CONNECTION_STRING`` for Azurite,
``STORAGE_EMULATOR_HOST`` for the GCS emulator.  The conformance suite runs on Azurite too
(tests/test_objstore_conformance.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("obstore", reason="object stores need aimcol[remote]")

from aimcol import Repo, Run  # noqa: E402
from aimcol.cli import main  # noqa: E402
from aimcol.errors import StorageError  # noqa: E402
from aimcol.format.object_storage import AZURITE_ACCOUNT, AZURITE_KEY, _azure_connection_string_config  # noqa: E402


def _write(location: str, n: int = 2) -> dict[str, list[float]]:
    written = {}
    for i in range(n):
        with Run(repo=location, system_tracking_interval=None, capture_terminal_logs=False, flush_points=40) as run:
            run["hparams"] = {"lr": 0.01 * (i + 1)}
            values = [step * 0.25 + i for step in range(150)]
            for step, value in enumerate(values):
                run.track(value, name="loss", step=step, context={"subset": "train"})
            written[run.hash] = values
    return written


def test_azure_repository_round_trip_through_the_sdk_and_the_cli(azure_uri, capsys):
    written = _write(azure_uri)
    repo = Repo(azure_uri)
    read = {m.run.hash: m.values_numpy().tolist() for m in repo.query_metrics("metric.name == 'loss'")}
    assert read == written
    assert [r.run.hash for r in repo.query_runs("run.hparams.lr > 0.015").iter_runs()] == [
        max(written, key=lambda h: written[h][0])
    ]
    assert main(["runs", "ls", "--repo", azure_uri, "--json"]) == 0
    listed = capsys.readouterr().out
    assert all(run_hash in listed for run_hash in written)


def test_azure_second_writer_process_is_refused_while_the_first_holds_the_run(azure_uri):
    run = Run(repo=azure_uri, system_tracking_interval=None, capture_terminal_logs=False)
    run.track(1.0, name="loss", step=0)
    run.flush()
    try:
        other = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys\nfrom aimcol import Run\nfrom aimcol.errors import RunLockedError\n"
                "try:\n    Run(run_hash=sys.argv[2], repo=sys.argv[1], system_tracking_interval=None)\n"
                "except RunLockedError as exc:\n    print('locked', exc)\n",
                azure_uri,
                run.hash,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert other.stdout.startswith("locked"), other.stdout + other.stderr
    finally:
        run.close()
    resumed = Run(run_hash=run.hash, repo=azure_uri, system_tracking_interval=None, capture_terminal_logs=False)
    resumed.track(2.0, name="loss", step=1)
    resumed.close()
    metric = next(iter(Repo(azure_uri).query_metrics("metric.name == 'loss'")))
    assert metric.values_numpy().tolist() == [1.0, 2.0]


def test_development_storage_connection_string_means_azurite_defaults(monkeypatch):
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", "UseDevelopmentStorage=true")
    endpoint, config = _azure_connection_string_config()
    assert endpoint == f"http://127.0.0.1:10000/{AZURITE_ACCOUNT}"
    assert config == {"account_name": AZURITE_ACCOUNT, "account_key": AZURITE_KEY, "endpoint": endpoint}


@pytest.fixture
def gcs_emulator(monkeypatch):
    pytest.importorskip("gcp_storage_emulator", reason="the GCS test needs the test extra (gcp-storage-emulator)")
    from cloud_emulators import GcsEmulator

    server = GcsEmulator()
    for key, value in server.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("GOOGLE_SERVICE_ACCOUNT_KEY", raising=False)
    yield server
    server.stop()


def test_gcs_emulator_is_reached_and_its_failure_is_typed_and_named(gcs_emulator):
    """gcp-storage-emulator does not serve the XML API obstore speaks (a HEAD answers 501; its
    XML PUT returns no ETag and ignores preconditions), so no GCS repository can live on it.
    What a user gets from such an endpoint is one typed error on opening, naming the location,
    the object, the endpoint that answered (so STORAGE_EMULATOR_HOST was honoured, not Google's
    metadata server asked) and where the endpoint came from; never a raw client traceback."""
    location = f"gs://{gcs_emulator.bucket}/repo"
    with pytest.raises(StorageError) as caught:
        Run(repo=location, system_tracking_interval=None, capture_terminal_logs=False)
    message = str(caught.value)
    assert f"{location}: reading 'FORMAT' failed" in message, message
    assert gcs_emulator.env["STORAGE_EMULATOR_HOST"] in message, message
    assert "STORAGE_EMULATOR_HOST variables" in message, message


def test_sync_a_local_repository_to_azure_and_back(tmp_path, azure_uri, capsys):
    local = str(tmp_path / "offline")
    written = _write(local)
    assert main(["sync", local, azure_uri]) == 0
    assert "2 copied" in capsys.readouterr().out
    assert main(["sync", local, azure_uri]) == 0
    assert "0 copied, 0 updated, 2 unchanged" in capsys.readouterr().out
    back = str(tmp_path / "back")
    assert main(["sync", azure_uri, back]) == 0
    read = {m.run.hash: m.values_numpy().tolist() for m in Repo(back).query_metrics("metric.name == 'loss'")}
    assert read == written
