"""The object-store backend's own guarantees, on ``memory://`` and on a moto S3 server.

Conditional writes are the whole commit protocol (no server, no lock service): a manifest
version is created only if absent, a lease changes only by compare-and-swap, and a store
that ignores conditional writes is refused.  The shared conformance suite of the storage
interface runs in ``test_objstore_conformance.py``.
"""

from __future__ import annotations

import http.client
import http.server
import json
import socketserver
import threading
import time

import pytest

pytest.importorskip("obstore", reason="object stores need aimcol[remote]")

from aimcol.errors import ClaimLostError, ObjectExistsError, RunLockedError, UnsupportedStorageError  # noqa: E402
from aimcol.format.object_storage import (  # noqa: E402
    KEEP_MANIFEST_VERSIONS,
    PRUNE_EVERY,
    ObjectStorage,
    manifest_version_name,
    parse_manifest_version_name,
)
from aimcol.format.storage import storage_for  # noqa: E402


@pytest.fixture(params=["memory", "s3"])
def location(request, memory_uri):
    if request.param == "memory":
        return memory_uri
    return request.getfixturevalue("s3_uri")


def test_storage_for_picks_the_object_backend(location):
    storage = storage_for(location)
    assert isinstance(storage, ObjectStorage)
    assert not storage.supports_append and storage.local_root is None
    assert storage.uri == location


def test_manifest_versions_sort_newest_first():
    names = [manifest_version_name(v) for v in (1, 2, 10, 11, 12345)]
    assert sorted(names) == names[::-1]
    assert parse_manifest_version_name(names[2]) == 10
    assert parse_manifest_version_name("manifest.msgpack") is None


def test_manifest_is_versioned_and_commits_are_fenced(location):
    storage = ObjectStorage(location)
    key = "runs/abc/manifest.msgpack"
    first = storage.claim_run("abc")
    storage.replace(key, b"one", claim=first)
    storage.replace(key, b"two", claim=first)
    data, stat = storage.read_versioned(key)
    assert data == b"two" and stat.identity == 2
    assert "manifest.msgpack" in storage.list_children("runs/abc")
    with pytest.raises(RunLockedError, match="pid"):
        ObjectStorage(location).claim_run("abc")
    first.release()
    assert not storage.run_claimed("abc")
    second = ObjectStorage(location).claim_run("abc")
    assert second.generation == first.generation + 1
    assert storage.read(key) == b"two"  # the fence version is a copy of the newest
    with pytest.raises(ClaimLostError):
        storage.replace(key, b"stale", claim=first)
    storage.replace(key, b"three", claim=second)
    assert storage.read(key) == b"three"
    second.release()


def test_taken_over_writer_is_fenced_on_its_next_commit(location):
    """A writer whose lease ran out (stalled, no heartbeat) loses to the next claimant: its
    next commit fails however the clocks compare, and nothing it wrote after is visible."""
    storage = ObjectStorage(location, lease_ttl=0.5)
    key = "runs/r1/manifest.msgpack"
    old = storage.claim_run("r1")
    old._stop.set()  # the heartbeat dies with the stall (a SIGSTOP test does it for real)
    storage.replace(key, b"old-1", claim=old)
    time.sleep(0.7)
    assert not storage.run_claimed("r1")  # expired: shown as not active any more
    new = ObjectStorage(location, lease_ttl=30).claim_run("r1")
    assert new.generation == old.generation + 1
    with pytest.raises(ClaimLostError, match="fenced"):
        storage.replace(key, b"old-2", claim=old)
    with pytest.raises(ClaimLostError):
        old.renew()
    assert storage.read(key) == b"old-1"
    storage.replace(key, b"new-1", claim=new)
    assert storage.read(key) == b"new-1"
    new.release()


def test_heartbeat_keeps_a_live_writer_claimed(location):
    # A TTL of 2 s beats every 0.67 s: a late beat on a loaded machine (moto answers in this
    # process, under the GIL) still lands within the TTL.
    storage = ObjectStorage(location, lease_ttl=2.0)
    claim = storage.claim_run("hb")
    time.sleep(4.5)  # more than two TTLs: only renewals keep it
    with pytest.raises(RunLockedError):
        ObjectStorage(location, lease_ttl=2.0).claim_run("hb")
    storage.replace("runs/hb/manifest.msgpack", b"x", claim=claim)
    claim.release()


def test_old_manifest_versions_are_pruned_but_fences_stay(location):
    storage = ObjectStorage(location)
    key = "runs/p/manifest.msgpack"
    claim = storage.claim_run("p")
    for i in range(40):
        storage.replace(key, str(i).encode(), claim=claim)
    claim.release()
    claim2 = storage.claim_run("p")
    storage.replace(key, b"after", claim=claim2)
    versions = [v for v, _ in storage._versions("runs/p")]
    assert len(versions) <= PRUNE_EVERY + KEEP_MANIFEST_VERSIONS
    assert 41 in versions  # the second writer's fence: the old writer's next commit collides with it
    assert storage.read(key) == b"after"
    claim2.release()


def test_delete_run_refuses_a_live_writer_and_removes_everything(location):
    storage = ObjectStorage(location)
    claim = storage.claim_run("d")
    storage.replace("runs/d/manifest.msgpack", b"m", claim=claim)
    with storage.write_immutable("runs/d/seg-000001-g1.arrow") as sink:
        sink.write(b"data")
    with pytest.raises(RunLockedError):
        storage.delete_run("d")
    claim.release()
    assert storage.delete_run("d")
    assert storage.list_children("runs") == []
    assert not storage.delete_run("d")


def test_racing_creates_exactly_one_wins(location):
    storage = ObjectStorage(location)
    wins, losses = [], []

    def create(i):
        try:
            storage.create("race", str(i).encode())
            wins.append(i)
        except ObjectExistsError:
            losses.append(i)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1 and len(losses) == 7
    assert storage.read("race") == str(wins[0]).encode()


# ---- a store that ignores conditional writes is refused ----------------------------------------------


class _HeaderStrippingProxy(socketserver.ThreadingMixIn, http.server.HTTPServer):
    """An S3 "clone" that ignores If-None-Match / If-Match: forwards to moto without them."""

    daemon_threads = True


def _proxy_handler(upstream_host: str, upstream_port: int):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _forward(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("if-none-match", "if-match", "host")}
            conn = http.client.HTTPConnection(upstream_host, upstream_port, timeout=30)
            conn.request(self.command, self.path, body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            self.send_response(response.status)
            for k, v in response.getheaders():
                if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
            conn.close()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

    return Handler


def test_store_without_conditional_writes_is_refused(s3_server, s3_env, monkeypatch):
    from urllib.parse import urlsplit

    bucket = s3_server.new_bucket()
    upstream = urlsplit(s3_server.endpoint)
    proxy = _HeaderStrippingProxy(("127.0.0.1", 0), _proxy_handler(upstream.hostname, upstream.port))
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{proxy.server_address[1]}")
        storage = ObjectStorage(f"s3://{bucket}/repo")
        with pytest.raises(UnsupportedStorageError, match="unsafe_single_writer"):
            storage.claim_run("abc")
        with pytest.raises(UnsupportedStorageError, match="conditional writes"):
            storage.create("FORMAT", b"x")
        unsafe = ObjectStorage(f"s3://{bucket}/repo?unsafe_single_writer=true")
        assert unsafe.probe() is False
        claim = unsafe.claim_run("abc")
        unsafe.replace("runs/abc/manifest.msgpack", b"m", claim=claim)
        assert unsafe.read("runs/abc/manifest.msgpack") == b"m"
        claim.release()
        lease = json.loads(unsafe.read("runs/abc/lease"))
        assert lease["released"] is True
    finally:
        proxy.shutdown()


def test_next_writer_aborts_a_dead_writers_multipart_upload(s3_uri):
    """A writer killed during a multipart upload (a segment over 64 MB) leaves hidden parts;
    the run's next writer (a newer generation) aborts them."""
    import boto3

    from aimcol import Run

    with Run(repo=s3_uri, system_tracking_interval=None, capture_terminal_logs=False) as run:
        run.track(1.0, name="loss")
    storage = ObjectStorage(s3_uri)
    bucket = storage.container
    client = boto3.client("s3")
    stale = f"{storage.prefix}/runs/{run.hash}/seg-000099-g1.arrow"
    upload = client.create_multipart_upload(Bucket=bucket, Key=stale)
    client.upload_part(Bucket=bucket, Key=stale, UploadId=upload["UploadId"], PartNumber=1, Body=b"x" * 1024)
    assert len(client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])) == 1
    with Run(run.hash, repo=s3_uri, system_tracking_interval=None, capture_terminal_logs=False) as resumed:
        resumed.track(2.0, name="loss")
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
