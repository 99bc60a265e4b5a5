"""Object points and blobs where a storage cannot append (object stores): immutable deltas.

``objects.log`` and ``blobs-<n>.arrows`` are appended record by record on a filesystem.  An
object store has no append, so there a run's writer (:class:`ObjectDeltaWriter`, owned by
its :class:`~aimcol.format.run_store.RunWriterStore`) keeps the records and blobs tracked
since the last flush in memory, and every manifest commit first uploads them:

1. the flush's blobs as one complete, sealed blob segment ``blobs-<n>.arrows`` (the same
   Arrow stream a filesystem writer leaves at close, end-of-stream marker included), with
   one create-only-if-absent ``PUT``;
2. the flush's records (the ``objects.log`` framing, unchanged) as ``objects-<n>-g<generation>.log``;
3. the manifest version naming both: ``object_deltas`` (``[{file, size, crc32}]``, in write
   order) and ``object_blobs`` (the blob segment numbers).

``n`` is the run's ``next_object_file`` counter and ``generation`` the writer's claim's, as
for metric delta segments (:mod:`aimcol.format.delta_segments`).  A ``kill -9`` before the
commit leaves objects no manifest names: readers never see them, and the run's next writer
(or ``aimcol repair``) deletes them; at most the objects of one flush interval are lost.
When a run has :data:`MAX_OBJECT_DELTAS` deltas, and on close, the deltas are compacted into
one (uploaded, committed in their place, then deleted); blob segments are never rewritten.

A run's *object log* is then ``objects.log`` (its intact prefix; a run written on a
filesystem and synced to an object store keeps it) followed by its deltas in order: readers
parse that as one log.  A run whose manifest names deltas is written on in delta mode
whatever its storage, so records are never appended before deltas.
"""

from __future__ import annotations

import re
import threading
import zlib
from typing import Any

from aimcol.errors import ObjectExistsError
from aimcol.format.blob_segments import (
    _END_OF_STREAM,
    _SCHEMA_MESSAGE,
    BLOB_NAME,
    MAX_BLOB_BYTES,
    blob_key,
    encode_blob_batch,
)
from aimcol.format.manifest import read_manifest
from aimcol.format.object_points import objects_key, parse_records
from aimcol.format.repo_layout import RepoLayout
from aimcol.format.storage import Storage

DELTAS_KEY = "object_deltas"
BLOBS_KEY = "object_blobs"
COUNTER_KEY = "next_object_file"
DELTA_NAME = re.compile(r"objects-([0-9]{6,18})-g([0-9]{1,18})\.log")
MAX_OBJECT_DELTAS = 64
"""Compact once a run has this many object deltas (bounds the objects a reader fetches)."""


def delta_name(number: int, generation: int) -> str:
    return f"objects-{int(number):06d}-g{int(generation)}.log"


def uses_deltas(storage: Storage, manifest: dict[str, Any]) -> bool:
    """Whether a run's objects are written as deltas: on a storage without appends, and for a
    run whose manifest already names deltas or delta blob segments (synced from one)."""
    return not storage.supports_append or bool(manifest.get(DELTAS_KEY)) or BLOBS_KEY in manifest


def _file_number(name: str) -> int | None:
    match = DELTA_NAME.fullmatch(name)
    if match:
        return int(match.group(1))
    numbers = blob_numbers([name])
    return numbers[0] if numbers else None


def _read_whole(storage: Storage, key: str) -> bytes | None:
    try:
        if storage.supports_append:
            return storage.read_appended(key)
        return storage.read(key)
    except FileNotFoundError:
        return None


def read_object_log(storage: Storage, run_hash: str, manifest: dict[str, Any]) -> bytes:
    """A run's object log: the intact prefix of ``objects.log`` followed by each delta the
    manifest names.  A delta that is gone was compacted after ``manifest`` was read: the
    newest manifest is read and its deltas used instead (a few times); a delta still missing,
    or one whose bytes do not match its checksum, ends the log there."""
    log = _read_whole(storage, objects_key(run_hash)) or b""
    if not manifest.get(DELTAS_KEY):
        return log
    head = log[: parse_records(log)[1]] if log else b""
    for _ in range(_COMPACTED_RETRIES):
        parts, missing = _read_deltas(storage, run_hash, manifest)
        if not missing:
            break
        try:
            manifest = read_manifest(RepoLayout(storage), run_hash)
        except FileNotFoundError:
            break
    return b"".join([head, *parts])


_COMPACTED_RETRIES = 3


def _read_deltas(storage: Storage, run_hash: str, manifest: dict[str, Any]) -> tuple[list[bytes], bool]:
    """The intact deltas a manifest names, up to the first bad one; whether one was missing."""
    parts: list[bytes] = []
    for entry in manifest.get(DELTAS_KEY) or []:
        name = entry.get("file") if isinstance(entry, dict) else None
        if not (isinstance(name, str) and DELTA_NAME.fullmatch(name)):
            break
        try:
            data = storage.read(RepoLayout.segment_key(run_hash, name))
        except FileNotFoundError:
            return parts, True
        if len(data) != entry.get("size") or zlib.crc32(data) != entry.get("crc32"):
            break
        parts.append(data)
    return parts, False


def blob_numbers(names: list[str]) -> list[int]:
    """The numbers of the blob segments among file names."""
    return [int(n[6:-7]) for n in names if BLOB_NAME.fullmatch(n)]


def named_files(manifest: dict[str, Any]) -> set[str]:
    """The delta logs and delta blob segments a manifest names."""
    names = {
        e["file"] for e in manifest.get(DELTAS_KEY) or [] if isinstance(e, dict) and isinstance(e.get("file"), str)
    }
    names |= {f"blobs-{int(n):06d}.arrows" for n in manifest.get(BLOBS_KEY) or [] if isinstance(n, int)}
    return names


def stray_delta_files(storage: Storage, run_hash: str, manifest: dict[str, Any], children: list[str]) -> list[str]:
    """Delta logs, and (in delta mode) blob segments, in a run folder that no manifest names."""
    named = named_files(manifest)
    blobs_named = uses_deltas(storage, manifest)
    return [
        n for n in children if n not in named and (DELTA_NAME.fullmatch(n) or (blobs_named and BLOB_NAME.fullmatch(n)))
    ]


class ObjectDeltaWriter:
    """Buffers a run's object records and blobs and uploads them as deltas before each
    manifest commit (see the module docstring).  Thread-safe: the training thread and the
    blob thread append, the flusher uploads."""

    def __init__(self, storage: Storage, run_hash: str, manifest: dict[str, Any], generation: int):
        self.storage = storage
        self.run_hash = run_hash
        self.manifest = manifest
        self.generation = int(generation)
        self._lock = threading.Lock()
        self._records = bytearray()
        self._blob_parts: list[Any] = []
        self._blob_number: int | None = None
        self._blob_size = 0
        self._cache: dict[str, bytes] = {}  # this writer's deltas, for compaction without downloads
        self._retired: list[str] = []  # deltas to delete once a manifest without them is committed
        self._started = False

    def _start(self) -> None:
        """On the first object: the manifest's keys, and a counter past every file number in
        use (a counter behind would collide with a file; creating it would fail)."""
        if self._started:
            return
        names = self.storage.list_children(RepoLayout.run_prefix(self.run_hash))
        used = [n for n in map(_file_number, names) if n is not None]
        counter = self.manifest.get(COUNTER_KEY)
        start = counter if isinstance(counter, int) and not isinstance(counter, bool) else 1
        self.manifest[COUNTER_KEY] = max([start, *(n + 1 for n in used)])
        self.manifest.setdefault(DELTAS_KEY, [])
        self.manifest.setdefault(BLOBS_KEY, [])
        self._started = True

    def _take_number(self) -> int:
        number = int(self.manifest[COUNTER_KEY])
        self.manifest[COUNTER_KEY] = number + 1
        return number

    @property
    def pending(self) -> bool:
        return bool(self._records or self._blob_parts)

    def append(self, record: bytes) -> None:
        """Buffer one record from :func:`~aimcol.format.object_points.pack_record`."""
        with self._lock:
            self._start()
            self._records += record

    def append_blob(self, seq: int, step: int, data: bytes | memoryview) -> list[int]:
        """Buffer one blob for the next flush's blob segment; its reference ``[number, offset,
        length, crc32]`` (valid once a manifest naming that segment is committed)."""
        length = memoryview(data).nbytes
        if length > MAX_BLOB_BYTES:
            raise ValueError(f"object is {length} bytes encoded; at most {MAX_BLOB_BYTES} are stored")
        message, start = encode_blob_batch(seq, step, data)
        with self._lock:
            self._start()
            if self._blob_number is None:
                self._blob_number = self._take_number()
                self._blob_parts = [_SCHEMA_MESSAGE]
                self._blob_size = len(_SCHEMA_MESSAGE)
            ref = [self._blob_number, self._blob_size + start, length, zlib.crc32(data)]
            self._blob_parts.append(message)
            self._blob_size += message.size
        return ref

    def upload(self) -> None:
        """Upload what was buffered (blobs first) and name it in the in-memory manifest; the
        caller commits the manifest next.  On failure nothing is named and the buffers are
        kept for the next try (an uploaded blob segment is then reused, not uploaded again)."""
        with self._lock:
            if self._blob_parts:
                number = self._blob_number
                assert number is not None
                data = b"".join(memoryview(p) for p in [*self._blob_parts, _END_OF_STREAM])
                try:
                    self.storage.create(blob_key(self.run_hash, number), data)
                except ObjectExistsError:
                    if self.storage.stat(blob_key(self.run_hash, number)).size != len(data):
                        raise  # another writer's file: this writer's claim is stale
                self.manifest[BLOBS_KEY].append(number)
                self._blob_parts, self._blob_number, self._blob_size = [], None, 0
            if self._records:
                self._put_delta(bytes(self._records))
                self._records = bytearray()
            if len(self.manifest.get(DELTAS_KEY) or []) >= MAX_OBJECT_DELTAS:
                self._compact_locked()

    def _put_delta(self, data: bytes) -> None:
        name = delta_name(self._take_number(), self.generation)
        self.storage.create(RepoLayout.segment_key(self.run_hash, name), data)
        self.manifest[DELTAS_KEY].append({"file": name, "size": len(data), "crc32": zlib.crc32(data)})
        self._cache[name] = data

    def compact(self) -> None:
        """Upload what is buffered and replace two or more deltas by one (on close)."""
        self.upload()
        with self._lock:
            if len(self.manifest.get(DELTAS_KEY) or []) > 1:
                self._compact_locked()

    def _compact_locked(self) -> None:
        old = list(self.manifest[DELTAS_KEY])
        parts = []
        for entry in old:
            data = self._cache.get(entry["file"])
            if data is None:
                data = self.storage.read(RepoLayout.segment_key(self.run_hash, entry["file"]))
            parts.append(data)
        self.manifest[DELTAS_KEY] = []
        try:
            self._put_delta(b"".join(parts))
        except BaseException:
            self.manifest[DELTAS_KEY] = old
            raise
        self._retired.extend(e["file"] for e in old)
        for entry in old:
            self._cache.pop(entry["file"], None)

    def committed(self) -> None:
        """After a manifest commit: delete the deltas it no longer names (a kill before this
        leaves them for the next writer to delete)."""
        retired, self._retired = self._retired, []
        for name in retired:
            self.storage.delete(RepoLayout.segment_key(self.run_hash, name))


def delta_object_files(manifest: dict[str, Any]) -> list[str]:
    """The delta-mode object files a copy of a run needs (the deltas and blob segments named)."""
    return sorted(named_files(manifest))
