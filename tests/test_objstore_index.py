"""The run index on object storage: an incremental change log of small objects.

A reader's query must see a run created, archived or deleted by another process at its
next poll, from one LIST of the log's new entries, without listing every run folder.
"""

from __future__ import annotations

import pytest

pytest.importorskip("obstore", reason="object stores need aimcol[remote]")

from aimcol import Repo, Run  # noqa: E402
from aimcol.format.run_index import run_index  # noqa: E402


def _new_run(location, **params) -> str:
    with Run(repo=location, system_tracking_interval=None, capture_terminal_logs=False) as run:
        run["hparams"] = params
        run.track(1.0, name="loss")
    return run.hash


@pytest.fixture(params=["memory", "s3"])
def location(request, memory_uri):
    return memory_uri if request.param == "memory" else request.getfixturevalue("s3_uri")


def test_new_archived_and_deleted_runs_are_seen_from_the_log_alone(location, monkeypatch):
    first = _new_run(location, lr=0.1)
    reader = Repo(location)
    assert reader.query_runs("run.hparams.lr > 0").run_hashes == [first]
    index = run_index(reader.layout)
    full_scans = index.stats["full_scans"]
    listed = []
    original = type(reader.layout.storage).list_children

    def list_children(self, prefix):
        listed.append(prefix)
        return original(self, prefix)

    monkeypatch.setattr(type(reader.layout.storage), "list_children", list_children)
    writer_repo = Repo(location)  # "another process": its own storage object
    second = _new_run(writer_repo.path, lr=0.2)
    assert set(reader.query_runs("run.hparams.lr > 0").run_hashes) == {first, second}
    writer_repo.set_archived(first)
    assert reader.query_runs("run.hparams.lr > 0").run_hashes == [second]
    assert writer_repo.delete_run(second)
    assert len(reader.query_runs("run.hparams.lr > 0")) == 0
    assert reader.query_runs("run.archived == True").run_hashes == [first]
    assert index.stats["full_scans"] == full_scans
    assert "runs" not in listed  # no run folder listing: the log named every change
