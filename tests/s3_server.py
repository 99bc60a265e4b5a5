"""A moto S3 server on a random 127.0.0.1 port, for the object-store tests (loopback only).

``moto[s3]`` (plus flask and flask-cors for its server) answers the S3 API in-process on a
thread; subprocesses reach it through the standard ``AWS_*`` variables, exactly as a user
points aimcol at an S3-compatible server.  moto honours ``If-None-Match: *`` and
``If-Match`` on PUT, the conditional writes aimcol commits with, but checks the condition and
stores the object as two steps: two racing creators could both pass the check (seen once in a
full run under load: the racing-creators conformance test found two winners).  S3 itself is
atomic per request, so the server here runs one request at a time through moto (connections
are still accepted on threads).
"""

from __future__ import annotations

import logging
import threading
import urllib.request
import uuid


class _OneRequestAtATime:
    """A WSGI app that lets one request at a time through the app it wraps."""

    def __init__(self, app):
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self._lock:
            return list(self._app(environ, start_response))


class S3Server:
    """A running moto server; ``env`` holds the variables that point clients at it."""

    def __init__(self):
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
        app = _OneRequestAtATime(DomainDispatcherApplication(create_backend_app))
        self._server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto-s3", daemon=True)
        self._thread.start()
        host, port = self._server.server_address[:2]
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
        self._server.shutdown()
        self._thread.join()
