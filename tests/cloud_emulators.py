"""GCS and Azure emulators on random 127.0.0.1 ports, for the object-store tests (loopback only).

* **Azure**: Azurite, Microsoft's Blob-storage emulator.  It is an npm package, not a PyPI
  one: ``.ci/run`` installs it under ``.ci/azurite`` (or put ``azurite-blob`` on ``PATH``);
  without it the Azure tests skip and say so.  Clients find it through the one variable the
  Azure CLI and SDKs read, ``AZURE_STORAGE_CONNECTION_STRING``.  Azurite honours
  ``If-None-Match: *`` and ``If-Match`` like Azure itself.
* **GCS**: ``gcp-storage-emulator`` (pure Python, from PyPI), found through
  ``STORAGE_EMULATOR_HOST`` as Google's client libraries find it.  It serves the JSON API
  but not the XML API that obstore writes through (its XML PUT answers without an ETag and
  ignores ``x-goog-if-generation-match``), so it shows what a user gets from a store that
  cannot be written safely: a clear error naming the location.  (fake-gcs-server, the other
  emulator on PyPI, refuses XML PUTs outright.)
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
import uuid

from aimcol.format.object_storage import AZURITE_ACCOUNT, AZURITE_KEY

HERE = os.path.dirname(os.path.abspath(__file__))
AZURITE_INSTALL = os.path.join(os.path.dirname(HERE), ".ci", "azurite", "node_modules", ".bin", "azurite-blob")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen | None, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the emulator exited with code {proc.returncode} before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the emulator did not listen on 127.0.0.1:{port} within {timeout} s")


def azurite_binary() -> str | None:
    """The ``azurite-blob`` executable: on ``PATH`` or where ``.ci/run`` installs it."""
    return shutil.which("azurite-blob") or (AZURITE_INSTALL if os.access(AZURITE_INSTALL, os.X_OK) else None)


class AzuriteServer:
    """A running Azurite Blob service in memory; ``env`` points clients at it."""

    def __init__(self, binary: str):
        self.port = _free_port()
        self._workdir = tempfile.mkdtemp(prefix="azurite-")
        self._proc = subprocess.Popen(
            [
                binary,
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                str(self.port),
                "--inMemoryPersistence",
                "--skipApiVersionCheck",
                "--disableTelemetry",
                "--silent",
            ],
            cwd=self._workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for_port(self.port, self._proc)
        self.endpoint = f"http://127.0.0.1:{self.port}/{AZURITE_ACCOUNT}"
        self.env = {
            "AZURE_STORAGE_CONNECTION_STRING": (
                f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
                f"BlobEndpoint={self.endpoint};"
            )
        }

    def new_container(self) -> str:
        """Create an empty container with a fresh name (a Shared Key-signed ``PUT``)."""
        name = f"aimcol-{uuid.uuid4().hex[:16]}"
        date = email.utils.formatdate(usegmt=True)
        version = "2021-08-06"
        content_type = "application/octet-stream"
        to_sign = (
            f"PUT\n\n\n\n\n{content_type}\n\n\n\n\n\n\n"
            f"x-ms-date:{date}\nx-ms-version:{version}\n"
            f"/{AZURITE_ACCOUNT}/{AZURITE_ACCOUNT}/{name}\nrestype:container"
        )
        signature = base64.b64encode(
            hmac.new(base64.b64decode(AZURITE_KEY), to_sign.encode(), hashlib.sha256).digest()
        ).decode()
        request = urllib.request.Request(
            f"{self.endpoint}/{name}?restype=container",
            data=b"",
            method="PUT",
            headers={
                "x-ms-date": date,
                "x-ms-version": version,
                "Content-Type": content_type,
                "Authorization": f"SharedKey {AZURITE_ACCOUNT}:{signature}",
            },
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 201, response.status
        return name

    def stop(self) -> None:
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        shutil.rmtree(self._workdir, ignore_errors=True)


class GcsEmulator:
    """gcp-storage-emulator on a thread of this process, in memory; ``env`` points clients at it."""

    def __init__(self):
        from gcp_storage_emulator.server import create_server

        self.port = _free_port()
        self.bucket = f"aimcol-{uuid.uuid4().hex[:12]}"
        self._server = create_server("127.0.0.1", self.port, in_memory=True, default_bucket=self.bucket)
        self._server.start()
        _wait_for_port(self.port, None)
        self.env = {"STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{self.port}"}

    def stop(self) -> None:
        self._server.stop()
