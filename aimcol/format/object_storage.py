"""The object-store backend of :class:`~aimcol.format.storage.Storage`: S3, GCS, Azure and ``memory://``.

A repository on an object store is a key prefix (``s3://bucket/prefix``: ``prefix/FORMAT``,
``prefix/runs/<hash>/…``).  There is no server and no lock service: every guarantee of the
interface is kept with the store's conditional writes, which S3, GCS and Azure all offer
(``If-None-Match: *`` to create only if absent, ``If-Match: <etag>`` to replace only if
unchanged).  One client, `obstore <https://developmentseed.org/obstore>`_, speaks all three;
endpoints and credentials come from where each cloud's own tools read them (``AWS_*``
variables including ``AWS_ENDPOINT_URL``; ``GOOGLE_*`` and ``STORAGE_EMULATOR_HOST``;
``AZURE_STORAGE_*`` including ``AZURE_STORAGE_CONNECTION_STRING``), nothing aimcol-specific.
A store's unexpected answer (a wrong endpoint, bad credentials) is a :class:`StorageError`
naming the location and those variables.

How each guarantee is kept:

* **Atomic replace** is one ``PUT``: an object store never shows a partial object.
* **Create-if-absent** is a ``PUT`` with ``If-None-Match: *``; of racing creators exactly
  one gets 200, the others 412 (:class:`ObjectExistsError`).
* **Manifests are immutable versions.**  ``runs/<h>/manifest.msgpack`` is not one object
  but ``runs/<h>/manifest/v<20 digits>.msgpack``, each created only if
  absent, named so that one ``LIST`` returns the newest first (the digits are
  ``10**20 - 1 - version``).  :meth:`ObjectStorage.read` of the manifest key reads the
  newest version; a commit (:meth:`ObjectStorage.replace` with ``claim=``) creates version
  *last + 1*.  That create is the linearisation point and the fence: a writer whose claim
  was taken over finds its next version already written by its successor and gets
  :class:`ClaimLostError` — whatever the clocks say.
* **Claims are leases** (``runs/<h>/lease``, JSON: generation, holder, ``expires``), taken
  and handed over only by compare-and-swap on the lease's ETag, renewed by commits and by
  a heartbeat thread.  A claimant takes over a lease that is released, or whose holder
  stamped an ``expires`` that has passed.  That comparison of the holder's clock with ours
  decides only *when* a dead writer's run may be taken over, never safety: right after
  taking the lease the new writer commits a *fence* version of the manifest (a copy of the
  newest), so even a stalled old writer that wakes up later fails its next commit.  Readers
  call a run active while its lease is held and unexpired: a crashed run shows active until
  its TTL runs out, then crashed.
* **Immutable objects** (sealed and delta segments) are buffered in memory and written
  with one ``PUT`` (multipart only beyond :data:`MULTIPART_MIN_BYTES`).
* **No appends**: :attr:`supports_append` is false, so the format writes an immutable delta
  segment per flush instead of a live stream.

On first write the store is probed for conditional writes (:meth:`ObjectStorage.probe`);
one that ignores them (some S3 clones, the GCS emulator) is refused with
:class:`UnsupportedStorageError` unless the location says ``?unsafe_single_writer=true``.

Location options, as URL query parameters (``s3://bucket/prefix?lease_ttl=30``):
``lease_ttl`` (seconds, default :data:`DEFAULT_LEASE_TTL_S`, or ``AIMCOL_LEASE_TTL``),
``unsafe_single_writer``.  ``memory://name/prefix`` is an in-process store shared by every
repository opened with the same ``name`` (tests, notebooks).
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import io
import json
import os
import socket
import threading
import time
import uuid
import zlib
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa

from aimcol.errors import (
    ClaimLostError,
    ObjectExistsError,
    ObjectNotFoundError,
    RunLockedError,
    StorageError,
    UnsupportedStorageError,
)
from aimcol.format.storage import Appender, Claim, ObjectStat, Storage, register_backend

DEFAULT_LEASE_TTL_S = 60.0
"""How long a writer's lease lasts without renewal: a crashed run shows active this long."""

MULTIPART_MIN_BYTES = 64 * 1024 * 1024
"""Immutable objects up to this size go up in one PUT (pyarrow's S3 stream would make a
2 KB write a three-request multipart upload); larger ones in 8 MB parts."""

MANIFEST_NAME = "manifest.msgpack"
MANIFEST_DIR = "manifest"
LEASE_NAME = "lease"
KEEP_MANIFEST_VERSIONS = 8
"""Newest manifest versions kept (plus each fence version: the first of a writer generation,
listed in the lease, with which an older writer's next commit collides)."""
PRUNE_EVERY = 16
"""Prune old manifest versions on every this-many-th commit (one LIST)."""
_VERSION_SPAN = 10**20 - 1
CHANGE_LOG_PREFIX = "index/log"
"""The run change log: one empty object ``<ms>-<run hash>-<random>`` per writer session and deletion."""
CHANGE_LOG_WINDOW_MS = 30_000
"""A reader re-reads this much of the log before its last position: entries stamped by a writer
whose clock is behind, or that landed late, are still seen (a full scan every 30 s covers the rest)."""
AZURE_SCHEMES = ("az", "abfs", "abfss", "azure")
SCHEMES = ("s3", "s3a", "gs", "gcs", *AZURE_SCHEMES, "memory")

_ENV_HINT = {
    "s3": "AWS_*",
    "s3a": "AWS_*",
    "gs": "GOOGLE_* / STORAGE_EMULATOR_HOST",
    "gcs": "GOOGLE_* / STORAGE_EMULATOR_HOST",
}
"""Where each cloud's own tools read endpoints and credentials (named in errors); Azure's otherwise."""
_MEMORY_STORES: dict[str, Any] = {}
_MEMORY_LOCK = threading.Lock()


def _obstore() -> Any:
    try:
        import obstore
    except ImportError:  # pragma: no cover - exercised by a test in a venv without it
        raise UnsupportedStorageError("object-store repositories need obstore: pip install 'aimcol[remote]'") from None
    return obstore


def _errors() -> Any:
    return _obstore().exceptions


# ---- names ----------------------------------------------------------------------------------------


def manifest_version_name(version: int) -> str:
    """``v<digits>.msgpack``: the newest version sorts first in a listing.

    The name is the version alone (not the writer's generation): two writers committing
    the same version must collide on one key, which is what fences the older one."""
    return f"v{_VERSION_SPAN - version:020d}.msgpack"


def parse_manifest_version_name(name: str) -> int | None:
    """The version number of a manifest version object name, or ``None``."""
    if not (name.startswith("v") and name.endswith(".msgpack")):
        return None
    digits = name[1:-8]
    if len(digits) != 20 or not digits.isdigit():
        return None
    return _VERSION_SPAN - int(digits)


def _split_manifest_key(key: str) -> str | None:
    """For ``runs/<h>/manifest.msgpack`` (any ``…/manifest.msgpack``): its folder key, else None."""
    head, sep, tail = key.rpartition("/")
    return head if sep and tail == MANIFEST_NAME else None


def _fingerprint(text: str) -> int:
    """A signed 63-bit number from an ETag (the run index keeps fingerprints as int64)."""
    return zlib.crc32(text.encode()) | (zlib.adler32(text.encode()) << 32) & 0x7FFFFFFFFFFFFFFF


def _ns(when: datetime.datetime | None) -> int:
    return int(when.timestamp() * 1e9) if when is not None else 0


def _check_key(key: str) -> str:
    if key and any(part in ("", "..", ".") for part in key.split("/")):
        raise ValueError(f"bad storage key {key!r}")
    return key


# ---- opening a store ------------------------------------------------------------------------------


def _parse_location(location: str) -> tuple[str, str, str, dict[str, str]]:
    """``(scheme, container, prefix, options)`` of ``scheme://container/prefix?opt=v``."""
    parts = urlsplit(location)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise UnsupportedStorageError(f"{location!r}: not an object-store location ({', '.join(SCHEMES)})")
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    prefix = parts.path.strip("/")
    if not parts.netloc:
        raise UnsupportedStorageError(f"{location!r}: no bucket or container name after {scheme}://")
    return scheme, parts.netloc, prefix, options


def _truthy(text: str | None) -> bool:
    return (text or "").strip().lower() in ("1", "true", "yes", "on")


def _open_store(scheme: str, container: str) -> Any:
    """An obstore store for the whole bucket/container, configured from the environment."""
    obstore = _obstore()
    from obstore.store import MemoryStore, from_url

    if scheme == "memory":
        with _MEMORY_LOCK:
            store = _MEMORY_STORES.get(container)
            if store is None:
                store = _MEMORY_STORES[container] = MemoryStore()
            return store
    client_options: dict[str, Any] = {"timeout": "60s", "connect_timeout": "10s"}
    retry = {"max_retries": 4, "retry_timeout": datetime.timedelta(seconds=30)}
    url = f"{'s3' if scheme == 's3a' else scheme}://{container}"
    kwargs: dict[str, Any] = {"client_options": client_options, "retry_config": retry}
    if scheme in ("gs", "gcs"):
        endpoint, config = _gcs_emulator_config()
    elif scheme in AZURE_SCHEMES:
        endpoint, config = _azure_connection_string_config()
    else:
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or ""
        config = {"endpoint": endpoint} if endpoint else {}
    kwargs.update(config)
    if scheme in ("s3", "s3a"):
        if not os.environ.get("AWS_ACCESS_KEY_ID") and _boto3_available():
            # profiles, SSO and instance roles: where the AWS CLI reads them
            from obstore.auth.boto3 import Boto3CredentialProvider

            kwargs["credential_provider"] = Boto3CredentialProvider()
    if endpoint.startswith("http://"):
        client_options["allow_http"] = True
    del obstore
    return from_url(url, **kwargs)


def _gcs_emulator_config() -> tuple[str, dict[str, Any]]:
    """``STORAGE_EMULATOR_HOST`` (the variable Google's own client libraries read) points at a
    GCS emulator: talk to it without OAuth, as those libraries do.  obstore reads the other
    ``GOOGLE_*`` variables (``GOOGLE_APPLICATION_CREDENTIALS``, ``GOOGLE_SERVICE_ACCOUNT_KEY``,
    ``GOOGLE_BASE_URL``) itself."""
    host = os.environ.get("STORAGE_EMULATOR_HOST", "").strip().rstrip("/")
    if not host or os.environ.get("GOOGLE_SERVICE_ACCOUNT_KEY"):
        return os.environ.get("GOOGLE_BASE_URL", ""), {}
    if "://" not in host:
        host = f"http://{host}"
    key = {"gcs_base_url": host, "disable_oauth": True, "client_email": "", "private_key": "", "private_key_id": ""}
    return host, {"service_account_key": json.dumps(key)}


AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
"""The development-storage account every Azure emulator (Azurite) serves: a published constant."""


def _azure_connection_string_config() -> tuple[str, dict[str, Any]]:
    """``AZURE_STORAGE_CONNECTION_STRING`` (read by the Azure CLI and SDKs): account, key and
    blob endpoint, ``UseDevelopmentStorage=true`` included.  obstore reads the other
    ``AZURE_STORAGE_*`` variables (account name, key, SAS, emulator) itself."""
    text = os.environ.get("AZURE_STORAGE_CONNECTION_STRING", "").strip()
    if not text:
        return os.environ.get("AZURE_STORAGE_ENDPOINT", ""), {}
    fields = {}
    for part in text.split(";"):
        name, sep, value = part.partition("=")
        if sep:
            fields[name.strip().lower()] = value.strip()
    if _truthy(fields.get("usedevelopmentstorage")):
        proxy = fields.get("developmentstorageproxyuri", "http://127.0.0.1").rstrip("/")
        fields.setdefault("accountname", AZURITE_ACCOUNT)
        fields.setdefault("accountkey", AZURITE_KEY)
        fields.setdefault("blobendpoint", f"{proxy}:10000/{AZURITE_ACCOUNT}")
    config: dict[str, Any] = {}
    for field, option in (("accountname", "account_name"), ("accountkey", "account_key"), ("blobendpoint", "endpoint")):
        if fields.get(field):
            config[option] = fields[field]
    if fields.get("sharedaccesssignature"):
        config["sas_key"] = fields["sharedaccesssignature"]
    return str(config.get("endpoint", "")), config


def _update_mode(put_result: dict[str, Any]) -> dict[str, Any]:
    """The PutMode that replaces an object only if it is still the one ``put_result`` wrote."""
    mode = {"e_tag": put_result["e_tag"]}
    if put_result.get("version"):
        mode["version"] = put_result["version"]
    return mode


def _boto3_available() -> bool:
    try:
        import boto3  # noqa: F401
    except ImportError:
        return False
    return True


class ObjectStorage(Storage):
    """A repository under a key prefix of an object store (see the module docstring)."""

    supports_append = False

    def __init__(
        self,
        location: str,
        *,
        store: Any = None,
        lease_ttl: float | None = None,
        unsafe_single_writer: bool | None = None,
    ) -> None:
        scheme, container, prefix, options = _parse_location(location)
        self.scheme = scheme
        self.container = container
        self.prefix = prefix
        self.uri = f"{scheme}://{container}/{prefix}".rstrip("/")
        self.local_root = None
        self._base = f"{prefix}/" if prefix else ""
        self._store = store if store is not None else _open_store(scheme, container)
        ttl = lease_ttl
        if ttl is None:
            ttl = float(options.get("lease_ttl") or os.environ.get("AIMCOL_LEASE_TTL") or DEFAULT_LEASE_TTL_S)
        if not ttl > 0:
            raise ValueError(f"lease_ttl must be > 0 seconds, got {ttl}")
        self.lease_ttl = ttl
        if unsafe_single_writer is None:
            unsafe_single_writer = _truthy(options.get("unsafe_single_writer"))
        self.unsafe_single_writer = unsafe_single_writer
        self._probed = False
        self._probe_lock = threading.Lock()
        self.change_log = self._log = ObjectChangeLog(self)
        self._obs = _obstore()
        self._exc = _errors()

    # -- plumbing ----------------------------------------------------------------------------------
    def _path(self, key: str) -> str:
        return self._base + _check_key(key)

    def _not_found(self, key: str) -> ObjectNotFoundError:
        return ObjectNotFoundError(errno.ENOENT, f"no object {key!r} in {self.uri}", key)

    def _get(self, key: str, options: dict[str, Any] | None = None) -> Any:
        try:
            return self._obs.get(self._store, self._path(key), options=options)
        except (self._exc.NotFoundError, FileNotFoundError):
            raise self._not_found(key) from None

    def _put(self, path: str, data: Any, mode: Any = None) -> Any:
        if isinstance(data, pa.Buffer):
            data = memoryview(data).cast("B")
        size = len(data)
        multipart = size > MULTIPART_MIN_BYTES and mode is None
        if multipart:
            return self._obs.put(self._store, path, data, use_multipart=True, chunk_size=8 * 1024 * 1024)
        return self._obs.put(self._store, path, data, mode=mode, use_multipart=False)

    def _list(self, prefix_key: str, *, first_only: bool = False) -> list[dict[str, Any]]:
        """Objects under ``prefix_key/`` (recursively), in key order."""
        path = self._path(prefix_key) + "/" if prefix_key else self._base
        out: list[dict[str, Any]] = []
        try:
            for chunk in self._obs.list(self._store, prefix=path or None, chunk_size=1 if first_only else 1000):
                out.extend(chunk)
                if first_only and out:
                    break
        except self._exc.GenericError as exc:
            raise self._failed(f"listing {prefix_key or 'the repository'!r}", exc) from exc
        return out

    def _failed(self, doing: str, exc: Exception) -> StorageError:
        """A typed error naming the location, what failed, the store's complaint (its first line)
        and where the endpoint and credentials come from."""
        hint = _ENV_HINT.get(self.scheme, "AZURE_STORAGE_*")
        return StorageError(
            errno.EIO,
            f"{self.uri}: {doing} failed: {str(exc).splitlines()[0]} "
            f"(check the endpoint and credentials in the {hint} variables)",
        )

    def _relative(self, path: str) -> str:
        return path[len(self._base) :]

    # -- conditional-write probe -------------------------------------------------------------------
    def probe(self) -> bool:
        """Check once that the store honours create-if-absent and replace-if-unchanged.

        Returns True when it does.  When it does not, raises :class:`UnsupportedStorageError`
        unless the repository was opened with ``unsafe_single_writer`` (then returns False
        and claims are not safe against a second writer).
        """
        with self._probe_lock:
            if self._probed:
                return True
            path = self._path(f"_probe/{uuid.uuid4().hex}")
            honoured = True
            try:
                first = self._put(path, b"1", mode="create")
                try:
                    self._put(path, b"2", mode="create")
                    honoured = False
                except self._exc.AlreadyExistsError:
                    pass
                try:
                    self._put(path, b"3", mode={"e_tag": '"aimcol-probe-not-an-etag"'})
                    honoured = False
                except (self._exc.PreconditionError, self._exc.AlreadyExistsError):
                    pass
                if honoured:
                    self._put(path, b"4", mode=_update_mode(first))
            except (self._exc.NotSupportedError, self._exc.GenericError) as exc:
                if isinstance(exc, self._exc.GenericError) and "precondition" not in str(exc).lower():
                    raise self._failed("a test write", exc) from exc
                honoured = False
            finally:
                with contextlib.suppress(Exception):
                    self._obs.delete(self._store, path)
            if not honoured and not self.unsafe_single_writer:
                raise UnsupportedStorageError(
                    f"{self.uri}: this store does not honour conditional writes (If-None-Match / If-Match), "
                    "so two writers of one run could overwrite each other. Use a store that does, or open "
                    "the repository with '?unsafe_single_writer=true' if only one process ever writes each run"
                )
            self._probed = True
            return honoured

    # -- listing -----------------------------------------------------------------------------------
    def list_children(self, prefix: str) -> list[str]:
        path = self._path(prefix) + "/" if prefix else self._base
        names: list[str] = []
        result = self._obs.list_with_delimiter(self._store, prefix=path or None)
        for common in result["common_prefixes"]:
            name = common.rstrip("/").rpartition("/")[2]
            names.append(MANIFEST_NAME if name == MANIFEST_DIR else name)
        for meta in result["objects"]:
            names.append(meta["path"].rpartition("/")[2])
        return [n for n in names if n and not n.startswith((".", "_probe"))]

    def listing_stamp(self, prefix: str) -> int | None:
        """For ``runs``: a constant, because the change log names every run created (its
        first commit) and deleted, so the run index need not list the run folders; ``None``
        (list to know) for any other prefix."""
        return 0 if prefix == "runs" else None

    # -- manifests: immutable versions -------------------------------------------------------------
    def _versions(self, folder: str, *, newest_only: bool = False) -> list[tuple[int, dict[str, Any]]]:
        """``(version, meta)`` of a manifest's versions, newest first."""
        out = []
        for meta in self._list(f"{folder}/{MANIFEST_DIR}", first_only=newest_only):
            version = parse_manifest_version_name(meta["path"].rpartition("/")[2])
            if version is not None:
                out.append((version, meta))
                if newest_only:
                    break
        return out

    def newest_manifest_version(self, folder: str) -> tuple[int, dict[str, Any]] | None:
        """``(version, meta)`` of the newest manifest version under ``folder``."""
        found = self._versions(folder, newest_only=True)
        return found[0] if found else None

    def _read_manifest(self, key: str, folder: str) -> tuple[bytes, ObjectStat]:
        for _ in range(10):
            newest = self.newest_manifest_version(folder)
            if newest is None:
                raise self._not_found(key)
            version, meta = newest
            try:
                data = bytes(self._obs.get(self._store, meta["path"]).bytes())
            except self._exc.NotFoundError:
                continue  # pruned between the listing and the read: list again
            return data, ObjectStat(version, len(data), _ns(meta["last_modified"]), 0)
        raise StorageError(errno.EIO, f"{self.uri}: manifest {key!r} kept changing while read", key)

    def _commit_manifest(self, folder: str, data: bytes, claim: LeaseClaim | None) -> None:
        """Create the next manifest version only if absent (fenced by ``claim`` if given)."""
        self.probe()
        if claim is None:
            for _ in range(20):
                newest = self.newest_manifest_version(folder)
                version = 1 if newest is None else newest[0] + 1
                try:
                    self._put(
                        self._path(f"{folder}/{MANIFEST_DIR}/{manifest_version_name(version)}"), data, mode="create"
                    )
                    self._log.note(folder.rpartition("/")[2])
                    return
                except self._exc.AlreadyExistsError:
                    continue
            raise StorageError(errno.EAGAIN, f"{self.uri}: could not commit {folder}/{MANIFEST_NAME} (contended)")
        claim.check()
        version = claim.manifest_version + 1
        name = manifest_version_name(version)
        try:
            self._put(self._path(f"{folder}/{MANIFEST_DIR}/{name}"), data, mode="create")
        except self._exc.AlreadyExistsError:
            claim.fenced(self.newest_manifest_version(folder))
        claim.manifest_version = version
        if not claim.logged:  # a writer session begins: readers' indexes learn of the run
            self._log.note(folder.rpartition("/")[2])
            claim.logged = True
        claim.note_commit()
        if version % PRUNE_EVERY == 0:
            self._prune_versions(folder, version, claim.fences)

    def _prune_versions(self, folder: str, newest: int, fences: Sequence[int]) -> None:
        """Delete old manifest versions, keeping the newest few and every fence version (the
        first of each writer generation: an older writer's next commit collides with it)."""
        keep = set(fences)
        doomed = [
            meta["path"]
            for version, meta in self._versions(folder)
            if version <= newest - KEEP_MANIFEST_VERSIONS and version not in keep
        ]
        if doomed:
            with contextlib.suppress(Exception):
                self._obs.delete(self._store, doomed)

    # -- small mutable objects ---------------------------------------------------------------------
    def read(self, key: str) -> bytes:
        folder = _split_manifest_key(key)
        if folder is not None:
            return self._read_manifest(key, folder)[0]
        return bytes(self._get(key).bytes())

    def read_versioned(self, key: str) -> tuple[bytes, ObjectStat]:
        folder = _split_manifest_key(key)
        if folder is not None:
            return self._read_manifest(key, folder)
        result = self._get(key)
        data = bytes(result.bytes())
        return data, self._stat_of(result.meta)

    @staticmethod
    def _stat_of(meta: dict[str, Any]) -> ObjectStat:
        tag = meta.get("e_tag") or meta.get("version") or ""
        return ObjectStat(_fingerprint(tag), int(meta["size"]), _ns(meta.get("last_modified")), 0)

    def stat(self, key: str) -> ObjectStat:
        folder = _split_manifest_key(key)
        if folder is not None:
            newest = self.newest_manifest_version(folder)
            if newest is None:
                raise self._not_found(key)
            version, meta = newest
            return ObjectStat(version, int(meta["size"]), _ns(meta["last_modified"]), 0)
        try:
            return self._stat_of(self._obs.head(self._store, self._path(key)))
        except (self._exc.NotFoundError, FileNotFoundError):
            raise self._not_found(key) from None
        except self._exc.GenericError as exc:  # e.g. the first request to a misconfigured endpoint
            raise self._failed(f"reading {key!r}", exc) from exc

    def stat_many(self, keys: Sequence[str]) -> list[ObjectStat | None]:
        def one(key: str) -> ObjectStat | None:
            try:
                return self.stat(key)
            except FileNotFoundError:
                return None

        if len(keys) <= 1:
            return [one(k) for k in keys]
        with ThreadPoolExecutor(max_workers=min(32, len(keys))) as pool:
            return list(pool.map(one, keys))

    def exists(self, key: str) -> bool:
        if not key:  # the repository root: any object under the prefix
            return bool(self._list("", first_only=True))
        try:
            self.stat(key)
            return True
        except FileNotFoundError:
            pass
        return bool(self._list(key, first_only=True))

    def replace(self, key: str, data: bytes, *, durable: bool = False, claim: Claim | None = None) -> None:
        folder = _split_manifest_key(key)
        if folder is not None:
            if claim is not None and not isinstance(claim, LeaseClaim):
                raise TypeError(f"a claim of {self.uri} must come from its claim_run(), got {claim!r}")
            self._commit_manifest(folder, data, claim)
            return
        if claim is not None:
            claim.check()
        self._put(self._path(key), data)

    def create(self, key: str, data: bytes, *, durable: bool = True) -> None:
        self.probe()
        try:
            self._put(self._path(key), data, mode="create")
        except self._exc.AlreadyExistsError:
            raise ObjectExistsError(errno.EEXIST, f"object {key!r} already exists in {self.uri}", key) from None

    def delete(self, key: str) -> bool:
        folder = _split_manifest_key(key)
        if folder is not None:
            paths = [meta["path"] for _, meta in self._versions(folder)]
        else:
            try:
                self._obs.head(self._store, self._path(key))
            except (self._exc.NotFoundError, FileNotFoundError):
                return False
            paths = [self._path(key)]
        if not paths:
            return False
        self._obs.delete(self._store, paths)
        return True

    # -- appendable objects: none ------------------------------------------------------------------
    def open_appender(self, key: str, *, truncate: bool = False) -> Appender:
        raise io.UnsupportedOperation(f"{self.uri}: object stores have no appendable objects ({key!r})")

    def append(self, key: str, data: bytes) -> None:
        raise io.UnsupportedOperation(f"{self.uri}: object stores have no appendable objects ({key!r})")

    def read_appended(self, key: str, known_size: int | None = None) -> bytes | None:
        raise io.UnsupportedOperation(f"{self.uri}: object stores have no appendable objects ({key!r})")

    # -- immutable objects and ranged reads --------------------------------------------------------
    @contextlib.contextmanager
    def _immutable(self, key: str) -> Iterator[pa.NativeFile]:
        sink = pa.BufferOutputStream()
        yield sink
        buffer = sink.getvalue()
        self._put(self._path(key), buffer)

    def write_immutable(self, key: str) -> contextlib.AbstractContextManager[pa.NativeFile]:
        return self._immutable(key)

    def read_range(self, key: str, offset: int, length: int) -> bytes:
        if length <= 0:
            return b""
        try:
            return bytes(self._obs.get_range(self._store, self._path(key), start=offset, length=length))
        except (self._exc.NotFoundError, FileNotFoundError):
            raise self._not_found(key) from None
        except self._exc.GenericError as exc:
            # a range that starts at or past the end: shorter "only at the end of the object"
            size = self.stat(key).size
            if offset >= size:
                return b""
            if offset + length > size:
                return self.read_range(key, offset, size - offset)
            raise StorageError(errno.EIO, f"{self.uri}: reading {key!r}: {exc}", key) from exc

    def read_tail(self, key: str, length: int) -> tuple[bytes, int]:
        if length <= 0:
            return b"", self.stat(key).size
        try:
            result = self._get(key, options={"range": {"suffix": length}})
        except self._exc.NotSupportedError:  # Azure Blob has no suffix ranges: HEAD, then a ranged GET
            size = self.stat(key).size
            start = max(0, size - length)
            return self.read_range(key, start, size - start), size
        except self._exc.GenericError:  # an empty object has no suffix range
            stat = self.stat(key)
            if stat.size:
                raise
            return b"", 0
        data = bytes(result.bytes())
        return data, int(result.meta["size"])

    def open_input(self, key: str) -> pa.NativeFile:
        return pa.BufferReader(pa.py_buffer(self._get(key).bytes()))

    # -- runs --------------------------------------------------------------------------------------
    def make_prefix(self, prefix: str, *, exclusive: bool = False) -> None:
        if exclusive and self._list(prefix, first_only=True):
            raise ObjectExistsError(errno.EEXIST, f"{prefix!r} already exists in {self.uri}", prefix)

    def _lease_key(self, run_hash: str) -> str:
        return f"runs/{run_hash}/{LEASE_NAME}"

    def read_lease(self, run_hash: str) -> tuple[dict[str, Any] | None, str | None]:
        """The lease record and its ETag, ``(None, None)`` when the run never had a writer."""
        try:
            result = self._get(self._lease_key(run_hash))
        except FileNotFoundError:
            return None, None
        try:
            lease = json.loads(bytes(result.bytes()))
        except ValueError:
            lease = {}
        return (lease if isinstance(lease, dict) else {}), result.meta.get("e_tag")

    def claim_run(self, run_hash: str) -> LeaseClaim:
        self.probe()
        key = self._lease_key(run_hash)
        for _ in range(50):
            lease, etag = self.read_lease(run_hash)
            if lease is not None and lease_live(lease):
                raise RunLockedError(run_hash, _holder_of(lease))
            generation = int((lease or {}).get("generation") or 0) + 1
            holder = {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "started": time.time(),
                "generation": generation,
                "writer": uuid.uuid4().hex,
            }
            fences = [v for v in (lease or {}).get("fences", []) if isinstance(v, int)]
            record = dict(holder, ttl=self.lease_ttl, expires=time.time() + self.lease_ttl, released=False)
            record["fences"] = fences
            mode = "create" if etag is None else {"e_tag": etag}
            try:
                result = self._put(self._path(key), json.dumps(record).encode(), mode=mode)
            except (self._exc.AlreadyExistsError, self._exc.PreconditionError):
                continue  # another claimant moved first: look again
            claim = LeaseClaim(self, run_hash, generation, holder, result["e_tag"], fences)
            try:
                claim.fence()
            except BaseException:
                claim.release()
                raise
            claim.start_heartbeat()
            return claim
        raise StorageError(errno.EAGAIN, f"{self.uri}: could not claim run {run_hash} (lease contended)")

    def run_claimed(self, run_hash: str) -> bool:
        lease, _ = self.read_lease(run_hash)
        return lease is not None and lease_live(lease)

    def claim_holder(self, run_hash: str) -> dict[str, Any] | None:
        lease, _ = self.read_lease(run_hash)
        return _holder_of(lease) if lease else None

    def delete_run(self, run_hash: str) -> bool:
        objects = self._list(f"runs/{run_hash}")
        if not objects:
            return False
        if self.run_claimed(run_hash):
            raise RunLockedError(run_hash, self.claim_holder(run_hash))
        manifests = [m["path"] for m in objects if f"/{MANIFEST_DIR}/" in m["path"]]
        rest = [m["path"] for m in objects if f"/{MANIFEST_DIR}/" not in m["path"]]
        if manifests:  # readers see the run vanish with its manifest, before its segments go
            self._obs.delete(self._store, manifests)
        if rest:
            self._obs.delete(self._store, rest)
        self._log.note(run_hash)
        return True

    def _multipart_uploads(self, prefix: str) -> Iterator[tuple[Any, str, str, int]]:
        """``(client, key, upload id, writer generation)`` of the unfinished multipart uploads
        of segments under ``prefix`` (``seg-<n>-g<generation>.arrow``).  S3 only, through boto3
        where it is installed (obstore does not list multipart uploads)."""
        if self.scheme not in ("s3", "s3a"):
            return
        try:
            import boto3
        except ImportError:
            return
        client = boto3.client("s3")
        paginator = client.get_paginator("list_multipart_uploads")
        for page in paginator.paginate(Bucket=self.container, Prefix=self._path(prefix) + "/"):
            for upload in page.get("Uploads", []):
                generation = _generation_of(upload["Key"].rpartition("/")[2])
                if generation is not None:
                    yield client, upload["Key"], upload["UploadId"], generation

    def incomplete_uploads(self, prefix: str) -> list[str]:
        return sorted({key.rpartition("/")[2] for _, key, _, _ in self._multipart_uploads(prefix)})

    def abort_stale_uploads(self, prefix: str, below_generation: int) -> int:
        """Only segments over :data:`MULTIPART_MIN_BYTES` go up in parts; a writer killed during
        one leaves parts that S3 bills but never shows.  The run's next writer (which holds a
        newer generation) or ``aimcol repair`` aborts them: their writer is dead or fenced,
        whatever the clocks say."""
        aborted = 0
        for client, key, upload_id, generation in self._multipart_uploads(prefix):
            if generation < below_generation:
                client.abort_multipart_upload(Bucket=self.container, Key=key, UploadId=upload_id)
                aborted += 1
        return aborted

    def arrow_filesystem(self) -> tuple[Any, str] | None:
        """pyarrow's own client for the store (S3, GCS: from the URI and the cloud's variables;
        Azure: the account, key and endpoint obstore uses); ``None`` for ``memory://``."""
        import pyarrow.fs as pafs

        root = f"{self.container}/{self.prefix}".rstrip("/")
        if self.scheme == "memory":
            return None
        if self.scheme not in AZURE_SCHEMES:
            filesystem, path = pafs.FileSystem.from_uri(f"{'s3' if self.scheme == 's3a' else self.scheme}://{root}")
            return filesystem, path.rstrip("/")
        endpoint, config = _azure_connection_string_config()
        account = config.get("account_name") or os.environ.get("AZURE_STORAGE_ACCOUNT_NAME")
        if not account:
            return None
        options: dict[str, Any] = {}
        key = config.get("account_key") or os.environ.get("AZURE_STORAGE_ACCOUNT_KEY")
        if key:
            options["account_key"] = key
        if config.get("sas_key"):
            options["sas_token"] = config["sas_key"]
        if endpoint:
            parts = urlsplit(endpoint)
            options["blob_storage_authority"] = parts.netloc
            options["blob_storage_scheme"] = parts.scheme
        return pafs.AzureFileSystem(account, **options), root

    def list_keys(self, prefix: str) -> list[tuple[str, int]]:
        """Every object key under ``prefix`` (recursively) with its size, in key order
        (for repair and sync; manifests appear as their version objects)."""
        return [(self._relative(m["path"]), int(m["size"])) for m in self._list(prefix)]


class ObjectChangeLog:
    """The run change log of an :class:`ObjectStorage` (a :class:`~aimcol.format.storage.ChangeLog`).

    An object store cannot append to ``index/changes``, so a run's change is logged as one
    empty object ``index/log/<ms>-<run hash>-<random>``, written on the first manifest commit
    of each writer session (creation, resume, archive, repair) and on deletion.  That is
    enough for the run index: it re-reads every run whose cached manifest has no end time
    on each refresh, so what happens later in a session is seen without another entry.
    A reader lists only the entries since its last position (minus
    :data:`CHANGE_LOG_WINDOW_MS`): one ``LIST`` per poll sees a new run without listing
    every run folder.  Positions are milliseconds.
    """

    def __init__(self, storage: ObjectStorage):
        self.storage = storage

    def note(self, run_hash: str) -> None:
        """Log that ``run_hash`` changed (best effort: the index's periodic full scan covers a loss)."""
        name = f"{int(time.time() * 1000):013d}-{run_hash}-{uuid.uuid4().hex[:6]}"
        with contextlib.suppress(Exception):
            self.storage._put(self.storage._path(f"{CHANGE_LOG_PREFIX}/{name}"), b"")

    def state(self) -> tuple[int, int] | None:
        return 1, int(time.time() * 1000)

    def names_since(self, start: int, stop: int) -> tuple[set[str], int]:
        storage = self.storage
        prefix = storage._path(CHANGE_LOG_PREFIX) + "/"
        offset = f"{prefix}{max(0, start - CHANGE_LOG_WINDOW_MS):013d}"
        names: set[str] = set()
        try:
            for chunk in storage._obs.list(storage._store, prefix=prefix, offset=offset, chunk_size=1000):
                for meta in chunk:
                    parts = meta["path"].rpartition("/")[2].split("-")
                    if len(parts) == 3 and parts[1].isalnum():
                        names.add(parts[1])
        except Exception:
            return set(), start  # unreadable now: try again from the same position
        return names, stop

    def prune(self, older_than_s: float = 86400.0) -> int:
        """Delete entries older than ``older_than_s`` (``aimcol repair``); returns how many."""
        storage = self.storage
        prefix = storage._path(CHANGE_LOG_PREFIX) + "/"
        cutoff = f"{int((time.time() - older_than_s) * 1000):013d}"
        doomed = [
            meta["path"]
            for chunk in storage._obs.list(storage._store, prefix=prefix, chunk_size=1000)
            for meta in chunk
            if meta["path"][len(prefix) :] < cutoff
        ]
        if doomed:
            storage._obs.delete(storage._store, doomed)
        return len(doomed)


def _generation_of(name: str) -> int | None:
    """The writer generation in a segment name ``seg-<n>-g<generation>.arrow``, else ``None``."""
    stem = name.removesuffix(".arrow")
    head, sep, generation = stem.rpartition("-g")
    return int(generation) if sep and head.startswith("seg-") and generation.isdigit() else None


def lease_live(lease: dict[str, Any]) -> bool:
    """A lease that is held and whose holder's ``expires`` has not passed by our clock.

    The clock comparison decides only liveness (a crashed run is taken over and shown as
    crashed once its TTL ran out); fencing by manifest versions keeps it safe.
    """
    if lease.get("released"):
        return False
    expires = lease.get("expires")
    return isinstance(expires, (int, float)) and expires > time.time()


def _holder_of(lease: dict[str, Any]) -> dict[str, Any]:
    return {k: lease[k] for k in ("pid", "host", "started", "generation") if k in lease}


class LeaseClaim(Claim):
    """A writer's lease on a run of an :class:`ObjectStorage`.

    ``manifest_version`` is the newest manifest version this writer knows (its next commit
    creates the one after).  A heartbeat thread renews the lease every third of its TTL;
    a renewal or a commit that finds the lease or the next manifest version taken marks the
    claim lost, and every later commit raises :class:`ClaimLostError`.
    """

    def __init__(
        self,
        storage: ObjectStorage,
        run_hash: str,
        generation: int,
        holder: dict[str, Any],
        etag: str,
        fences: list[int],
    ):
        self.storage = storage
        self.fences = fences
        """Manifest versions that fenced earlier generations (kept by pruning; carried in the lease)."""
        self.run_hash = run_hash
        self.generation = generation
        self.holder = holder
        self.manifest_version = 0
        self.logged = False
        self._etag: str | None = etag
        self._lost: str | None = None
        self._released = False
        self._lock = threading.Lock()
        self._renewed = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def _folder(self) -> str:
        return f"runs/{self.run_hash}"

    def fence(self) -> None:
        """Commit a copy of the newest manifest under this generation, so that any older
        writer's next commit (which would create the same version) fails."""
        storage = self.storage
        for _ in range(20):
            newest = storage.newest_manifest_version(self._folder)
            if newest is None:
                self.manifest_version = 0
                return
            version, meta = newest
            try:
                data = bytes(storage._obs.get(storage._store, meta["path"]).bytes())
            except storage._exc.NotFoundError:
                continue
            name = manifest_version_name(version + 1)
            try:
                storage._put(storage._path(f"{self._folder}/{MANIFEST_DIR}/{name}"), data, mode="create")
            except storage._exc.AlreadyExistsError:
                continue  # the old writer committed once more: copy that one
            self.manifest_version = version + 1
            self.fences = [*self.fences[-15:], version + 1]
            return
        raise StorageError(errno.EAGAIN, f"{storage.uri}: could not fence run {self.run_hash}")

    @property
    def held(self) -> bool:
        return not self._released and self._lost is None

    def check(self) -> None:
        if self._lost is not None:
            raise ClaimLostError(self._lost)
        if self._released:
            raise ClaimLostError(
                f"run {self.run_hash}: this writer's claim (generation {self.generation}) was released"
            )

    def fenced(self, newest: tuple[int, dict[str, Any]] | None) -> None:
        """A commit found its version taken: record why and raise :class:`ClaimLostError`."""
        holder = self.storage.claim_holder(self.run_hash) or {}
        by = f"generation {holder.get('generation')} (pid {holder.get('pid')} on {holder.get('host')})"
        at = f", which committed manifest version {newest[0]}" if newest else ""
        self._lost = (
            f"run {self.run_hash}: this writer (generation {self.generation}, pid {os.getpid()}) was fenced: "
            f"its lease expired and the run was taken over by {by}{at}; it stops writing "
            f"(points since its last commit are not in the run)"
        )
        self._stop.set()
        raise ClaimLostError(self._lost)

    def note_commit(self) -> None:
        """A commit renews the lease when a third of the TTL has passed since the last renewal."""
        if time.monotonic() - self._renewed > self.storage.lease_ttl / 3:
            self.renew()

    def renew(self) -> None:
        self.check()
        storage = self.storage
        with self._lock:
            record = dict(
                self.holder,
                ttl=storage.lease_ttl,
                expires=time.time() + storage.lease_ttl,
                released=False,
                fences=self.fences,
            )
            try:
                result = storage._put(
                    storage._path(storage._lease_key(self.run_hash)),
                    json.dumps(record).encode(),
                    mode={"e_tag": self._etag},
                )
            except (storage._exc.PreconditionError, storage._exc.NotFoundError):
                lease, _ = storage.read_lease(self.run_hash)
                by = f"generation {lease.get('generation')}" if lease else "its removal"
                self._lost = (
                    f"run {self.run_hash}: this writer's lease (generation {self.generation}) was taken over by "
                    f"{by}; it stops writing"
                )
                self._stop.set()
                raise ClaimLostError(self._lost) from None
            self._etag = result["e_tag"]
            self._renewed = time.monotonic()

    def start_heartbeat(self) -> None:
        self._thread = threading.Thread(target=self._heartbeat, name=f"aimcol-lease-{self.run_hash}", daemon=True)
        self._thread.start()

    def _heartbeat(self) -> None:
        interval = self.storage.lease_ttl / 3
        while not self._stop.wait(interval):
            if time.monotonic() - self._renewed < interval * 0.9:
                continue
            try:
                self.renew()
            except ClaimLostError:
                return
            except Exception:
                continue  # a network hiccup: the next beat tries again before the TTL runs out

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        if self._lost is not None:
            return
        storage = self.storage
        record = dict(self.holder, ttl=storage.lease_ttl, expires=time.time(), released=True, fences=self.fences)
        with self._lock, contextlib.suppress(Exception):
            storage._put(
                storage._path(storage._lease_key(self.run_hash)),
                json.dumps(record).encode(),
                mode={"e_tag": self._etag},
            )


def open_object_storage(location: str) -> ObjectStorage:
    """The :func:`~aimcol.format.storage.storage_for` factory of every object-store scheme."""
    return ObjectStorage(location)


for _scheme in SCHEMES:
    register_backend(_scheme, open_object_storage)
