"""A moto S3 server on a random 127.0.0.1 port, for the object-store tests (loopback only).

``moto[s3]`` (plus flask and flask-cors for its server) answers the S3 API in-process on a
thread; subprocesses reach it through the standard ``AWS_*`` variables, exactly as a user
points aimcol at an S3-compatible server.  moto honours ``If-None-Match: *`` and
``If-Match`` on PUT, the conditional writes aimcol commits with.
"""

from __future__ import annotations

import logging
import urllib.request
import uuid


class S3Server:
    """A running moto server; ``env`` holds the variables that point clients at it."""

    def __init__(self):
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self.env = {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "aimcol-test",
            "AWS_SECRET_ACCESS_KEY": "aimcol-test",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def new_bucket(self) -> str:
        """Create an empty bucket with a fresh name (moto checks no signature, so no SDK needed)."""
        name = f"aimcol-{uuid.uuid4().hex[:16]}"
        request = urllib.request.Request(f"{self.endpoint}/{name}", method="PUT")
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200, response.status
        return name

    def stop(self) -> None:
        self._server.stop()
