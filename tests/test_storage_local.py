"""The local-filesystem storage passes the storage conformance suite, plus what only a local
repository has: claims held by other processes, temporary files, paths and ``file://``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from aimcol.errors import RunLockedError, UnsupportedStorageError
from aimcol.format import storage as storage_module
from aimcol.format.local_storage import LocalStorage
from aimcol.format.storage import Storage, register_backend, storage_for
from aimcol.format.testing import RUN, StorageTests


class TestLocalStorage(StorageTests):
    @pytest.fixture
    def storage(self, tmp_path) -> Storage:
        return LocalStorage(str(tmp_path / ".aimcol"))


def test_storage_for_a_path_or_file_uri_is_local(tmp_path):
    root = str(tmp_path / ".aimcol")
    for location in (root, f"file://{root}", tmp_path / ".aimcol"):
        storage = storage_for(location)
        assert isinstance(storage, LocalStorage) and storage.local_root == root


def test_an_unknown_scheme_raises_a_typed_error_naming_it():
    with pytest.raises(UnsupportedStorageError, match=r"hdfs://.*aimcol\[remote\]") as error:
        storage_for("hdfs://bucket/prefix")
    assert isinstance(error.value, ValueError)


def test_a_registered_backend_opens_its_scheme(tmp_path, monkeypatch):
    monkeypatch.setattr(storage_module, "_BACKENDS", {})
    register_backend("memtest", lambda uri: LocalStorage(str(tmp_path / uri.split("://")[1])))
    storage = storage_for("memtest://bucket")
    assert storage.local_root == str(tmp_path / "bucket")


def test_temporary_files_of_a_killed_writer_are_listed_as_temporary(tmp_path):
    storage = LocalStorage(str(tmp_path))
    storage.replace("runs/a/manifest.msgpack", b"m")
    (tmp_path / "runs" / "a" / "manifest.msgpack.0123456789ab.partial").write_bytes(b"half")
    names = storage.list_children("runs/a")
    assert sorted(n for n in names if storage.is_temporary(n)) == ["manifest.msgpack.0123456789ab.partial"]
    assert storage.read("runs/a/manifest.msgpack") == b"m"


def _holder(tmp_path, run_hash: str) -> subprocess.Popen:
    code = (
        "import sys\n"
        "from aimcol.format.local_storage import LocalStorage\n"
        f"claim = LocalStorage({str(tmp_path)!r}).claim_run({run_hash!r})\n"
        "print(claim.generation, flush=True)\n"
        "sys.stdin.readline()\n"
    )
    return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def test_a_claim_held_by_another_process_is_refused_and_taken_over_when_it_dies(tmp_path):
    storage = LocalStorage(str(tmp_path))
    storage.make_prefix(f"runs/{RUN}")
    holder = _holder(tmp_path, RUN)
    try:
        generation = int(holder.stdout.readline())
        assert storage.run_claimed(RUN)
        with pytest.raises(RunLockedError, match=f"pid {holder.pid}"):
            storage.claim_run(RUN)
        with pytest.raises(RunLockedError):
            storage.delete_run(RUN)
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    assert not storage.run_claimed(RUN)  # the kernel freed the dead holder's lock
    claim = storage.claim_run(RUN)
    assert claim.generation == generation + 1
    claim.release()
    assert storage.delete_run(RUN)
