"""The object-store backend passes the storage conformance suite on ``memory://``, on a moto S3
server and on Azurite (Azure Blob storage), lapsed leases (fencing of a stalled writer) included."""

from __future__ import annotations

import json
import time

import pytest

pytest.importorskip("obstore", reason="object stores need aimcol[remote]")

from aimcol.format.object_storage import LEASE_NAME, ObjectStorage  # noqa: E402
from aimcol.format.storage import Claim, Storage  # noqa: E402
from aimcol.format.testing import StorageTests  # noqa: E402


class _LeaseTests(StorageTests):
    claims_can_lapse = True

    def lapse(self, storage: Storage, claim: Claim) -> None:
        """The holder stalls (no heartbeat) and its lease's expiry passes."""
        assert isinstance(storage, ObjectStorage)
        claim._stop.set()
        key = f"runs/{claim.run_hash}/{LEASE_NAME}"
        record = json.loads(storage.read(key))
        record["expires"] = time.time() - 1.0
        storage.replace(key, json.dumps(record).encode())


class TestMemoryStorage(_LeaseTests):
    @pytest.fixture
    def storage(self, memory_uri) -> Storage:
        return ObjectStorage(memory_uri)


class TestS3Storage(_LeaseTests):
    @pytest.fixture
    def storage(self, s3_uri) -> Storage:
        return ObjectStorage(s3_uri)


class TestAzureStorage(_LeaseTests):
    """On Azurite (skipped where it is not installed: tests/cloud_emulators.py)."""

    @pytest.fixture
    def storage(self, azure_uri) -> Storage:
        return ObjectStorage(azure_uri)
