"""Sequences whose values are objects rather than numbers: lists (``track([0.1, 0.2],
name=...)``, as Aim accepts) and log records (``run.log_info(...)``).

This is the seam where object value types plug in.  A value's Aim type name
(:func:`typename`: ``list(float)``, ``aim.log_record`` …) is the sequence's ``dtype``; a
value type is added by giving it a type name (``aim_typename``), an encoding to msgpack
(``to_record``) and a decoding (registered in ``DECODERS``).  Numbers never come here: they
stay on ``track()``'s columnar fast path.

On disk (see :mod:`aimcol.format.object_points`): points are records in the run's
``objects.log``; the manifest lists the sequences under ``object_sequences`` (``{id, name,
context, dtype, count, last_step}``), apart from the metric ``sequences``, so metric
queries, the index and the TUI never see them.  Large bytes of a value (an encoded image,
audio, a figure's JSON: ``"blob"`` in its record) go to the run's blob segments
(:mod:`aimcol.format.blob_segments`) before the record that references them.
"""

from __future__ import annotations

import collections
import logging
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

from aimcol.errors import ObjectWriteError, UnstorableValueError
from aimcol.format.blob_segments import BlobReader, BlobSegmentWriter, is_blob_ref
from aimcol.format.object_deltas import ObjectDeltaWriter, read_object_log
from aimcol.format.object_points import (
    ObjectPointsWriter,
    objects_key,
    pack_record,
    parse_records,
    read_log,
    read_object_points,
    trim_torn_tail,
)
from aimcol.format.object_segments import (
    covers,
    next_object_segment,
    read_run_columns,
    seal_object_log,
    stray_object_segments,
)
from aimcol.format.repo_layout import RepoLayout
from aimcol.format.storage import Storage
from aimcol.sdk.objects import Audio, Distribution, Figure, Image, Text
from aimcol.sdk.objects.media import BlobFetch, DeferredBytes
from aimcol.sdk.params import normalise_value
from aimcol.sdk.sequence_registry import INT64_MAX, STEPS_EXHAUSTED, advance

_ANY_LIST = re.compile(r"list\([A-Za-z][A-Za-z0-9.]*\)")


def typename(value: Any) -> str:
    """Aim's type name of a tracked value: ``int``, ``float``, ``list``, ``list(int)`` …"""
    if isinstance(value, float):
        return "float"
    if isinstance(value, int):  # bool included, as in Aim
        return "int"
    if isinstance(value, str):
        return "str"
    if isinstance(value, bytes):
        return "bytes"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, (list, tuple)):
        return "list" if len(value) == 0 else f"list({typename(value[0])})"
    name = getattr(type(value), "aim_typename", None)
    return name if isinstance(name, str) else "unknown"


def checked_typename(value: Any, name: str) -> str:
    """:func:`typename`, refusing a list that mixes object types (``[Image, Text]``)."""
    kind = typename(value)
    if kind.startswith("list(aim.") and any(typename(v) != kind[5:-1] for v in value):
        raise ValueError(f"track() list for {name!r} mixes object types; a list holds one type ({kind[5:-1]})")
    return kind


def is_object_value(value: Any) -> bool:
    """Whether ``track()`` stores ``value`` as an object (a list, or a type with ``aim_typename``)."""
    return isinstance(value, (list, tuple)) or isinstance(getattr(type(value), "aim_typename", None), str)


def merged_dtype(dtype: str, base: str) -> str | None:
    """The sequence's dtype after a value of ``dtype`` joins one of ``base``; ``None`` when
    Aim calls them incompatible (``list`` takes its element type from the first typed list)."""
    if dtype == base:
        return base
    if base == "list" and _ANY_LIST.fullmatch(dtype):
        return dtype
    if dtype == "list" and _ANY_LIST.fullmatch(base):
        return base
    return None


def incompatible(value: Any, name: str) -> ValueError:
    return ValueError(f"Cannot log value '{value}' on sequence '{name}'. Incompatible data types.")


class ObjectSequenceState:
    """Writer-side state of one object sequence."""

    __slots__ = ("id", "name", "context", "next_step", "dtype", "count")

    def __init__(self, seq_id: int, name: str, context: dict, next_step: int, dtype: str, count: int = 0):
        self.id = seq_id
        self.name = name
        self.context = context
        self.next_step = next_step
        self.dtype = dtype
        self.count = count


class ObjectSequenceWriter:
    """Adds object sequences to a run's manifest and appends their points.

    Calls come from ``Run`` under the point buffer's lock.  A record is written before the
    manifest learns about it; the manifest's ``count``/``last_step`` go out with the next
    manifest write, and a resumed run recounts them from the file.

    Values with bytes (images, audio, figures) are written by a background thread: the
    caller's ``track()`` checks the value and queues its record, which holds the object's
    bytes without copying them, or (an ``Image`` of pixels) its :class:`DeferredBytes`; the
    thread has those encoded (by the encoder process of
    :mod:`aimcol.sdk.objects.encoder_process`, waiting on a pipe without the GIL), appends the blob, then the record (in queue order, so each sequence stays a prefix of
    what was tracked).  The queue is bounded: at most :data:`QUEUED_BLOBS` values holding at
    most :data:`QUEUED_BLOB_BYTES` wait or are being written, else ``track()`` waits.
    :meth:`drain` waits until every queued value is written, and raises a write error of the
    thread (disk full) there or at the next ``track()``.  A kill loses the values still
    queued, as it loses points not yet flushed.
    """

    def __init__(self, storage: Storage, run_hash: str, manifest: dict, deltas: ObjectDeltaWriter | None = None):
        self.storage = storage
        self._deltas = deltas  # where records and blobs go as deltas (object stores), else None
        self.run_hash = run_hash
        self.key = objects_key(run_hash)
        self.manifest = manifest
        self._writer: ObjectPointsWriter | None = None
        self._blobs: BlobSegmentWriter | None = None
        self._last_blob_file = 0  # the highest blob segment number the run's records name
        self._log_lock = threading.Lock()  # objects.log: appended by the caller and the writer thread
        self._cond = threading.Condition()  # guards the queue and the thread's state below
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._pending: collections.deque = collections.deque()  # (value, bytes) queued or being written
        self._pending_bytes = 0
        self._idle = False  # the thread waits for work
        self._stopping = False  # close(): the thread ends once the queue is written

    def entries(self) -> list[dict]:
        return self.manifest.setdefault("object_sequences", [])

    def resume_states(self) -> list[ObjectSequenceState]:
        """States of a resumed run's object sequences, their counts and steps taken from the file."""
        entries = self.manifest.get("object_sequences") or []
        if not entries:
            return []
        if self._deltas is None:
            self.remove_strays()
            trim_torn_tail(self.storage, self.key)
            points = read_object_points(self.storage, self.key)
        else:
            points = parse_records(read_object_log(self.storage, self.run_hash, self.manifest))[0]
        states = [ObjectSequenceState(e["id"], e["name"], e["context"], 0, e["dtype"]) for e in entries]
        for seq_id, step, _, _, value in points:
            for ref in blob_refs(value):
                self._last_blob_file = max(self._last_blob_file, ref[0])
            if 0 <= seq_id < len(states):
                state = states[seq_id]
                state.count += 1
                advance(state, step)
        for state, entry in zip(states, entries):
            entry["count"] = state.count
            entry["last_step"] = None if state.count == 0 else _last_step(state)
        return states

    def add_sequence(self, name: str, context: dict, dtype: str) -> ObjectSequenceState:
        entries = self.entries()
        entry = {"id": len(entries), "name": name, "context": context, "dtype": dtype, "count": 0, "last_step": None}
        entries.append(entry)
        return ObjectSequenceState(entry["id"], name, context, 0, dtype)

    def append(
        self,
        state: ObjectSequenceState,
        value: Any,
        step: int | None,
        epoch: int | None,
        name: str,
        when: float | None = None,
    ) -> None:
        """Check ``value`` against the sequence's dtype, encode it and write (or queue) the record
        stamped ``when`` (Unix seconds; ``None``: now)."""
        self._raise_pending_error()
        dtype = merged_dtype(typename(value), state.dtype)
        if dtype is None:
            raise incompatible(value, name)
        if step is None:
            step = state.next_step
            if not STEPS_EXHAUSTED < step <= INT64_MAX:
                raise UnstorableValueError(f"track() auto-step for {name!r}: no step after 2**63-1 is left")
        stored = to_record(value, name)
        now = time.time() if when is None else when
        nbytes = blob_bytes(stored)
        if nbytes:
            self._enqueue((state.id, step, epoch, now, stored), nbytes)
        else:
            record = pack_record(state.id, step, epoch, now, stored)
            with self._log_lock:
                self._append_record(record)
        entry = self.entries()[state.id]
        state.dtype = entry["dtype"] = dtype
        state.count += 1
        advance(state, step)
        entry["count"] = state.count
        entry["last_step"] = step if entry["last_step"] is None else max(entry["last_step"], step)

    def _append_record(self, record: bytes) -> None:
        if self._deltas is not None:
            self._deltas.append(record)
            return
        if self._writer is None:
            self._writer = ObjectPointsWriter(self.storage, self.key)
        self._writer.append(record)

    # -- the writer thread -----------------------------------------------------------------------
    def _enqueue(self, item: tuple, nbytes: int) -> None:
        """Queue a value with bytes for the writer thread; wait while the queue is at its bound
        (raising a write error of the thread instead of waiting for a thread that has stopped)."""
        cond = self._cond
        with cond:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._write_queued, name=f"aimcol-objects-{self.run_hash}", daemon=True
                )
                self._thread.start()
            while self._pending and (
                len(self._pending) >= QUEUED_BLOBS or self._pending_bytes + nbytes > QUEUED_BLOB_BYTES
            ):
                if self._error is not None:
                    break
                cond.wait()
            else:
                self._pending.append((item, nbytes))
                self._pending_bytes += nbytes
                if self._idle:
                    cond.notify_all()
                return
        self._raise_pending_error()

    def _write_queued(self) -> None:
        """The writer thread: writes the queue from its head, all that is queued at each turn."""
        cond = self._cond
        while True:
            with cond:
                while (not self._pending or self._error is not None) and not self._stopping:
                    self._idle = True
                    cond.notify_all()  # drain() and close() wait for an idle thread
                    cond.wait()
                self._idle = False
                if not self._pending or self._error is not None:  # stopping: close() writes the rest
                    self._thread = None
                    cond.notify_all()
                    return
                batch = list(self._pending)
            self._write_batch(batch)

    def _write_batch(self, batch: list) -> None:
        """Write ``batch`` (the head of the queue) in order, each value leaving the queue once
        written; at a failure keep it and the rest for a retry once the caller has seen the error
        (a failed append is cut off again, so a retry never tears a file)."""
        for item, nbytes in batch:
            seq_id, step, epoch, when, stored = item
            try:
                stored = self._made(stored, seq_id, step)
                record = pack_record(seq_id, step, epoch, when, self._store_blobs(stored, seq_id, step))
                with self._log_lock:
                    self._append_record(record)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller by _raise_pending_error
                with self._cond:
                    if isinstance(exc, _Unmade):  # that value is dropped; the rest wait for the caller
                        self._pending.popleft()
                        self._pending_bytes -= nbytes
                    self._error = exc
                    self._cond.notify_all()
                return
            with self._cond:
                self._pending.popleft()
                self._pending_bytes -= nbytes
                self._cond.notify_all()

    def _made(self, stored: Any, seq_id: int, step: int) -> Any:
        """``stored`` with each deferred blob made (an image encoded).  A value that cannot be
        made (encoding failed after the constructor's checks) leaves the queue: its error is
        raised to the caller as :class:`~aimcol.errors.UnstorableValueError`, and the rest go on."""
        if isinstance(stored, list):
            return [self._made(item, seq_id, step) for item in stored]
        blob = stored.get("blob") if isinstance(stored, dict) else None
        if not isinstance(blob, DeferredBytes):
            return stored
        try:
            return {**stored, "blob": blob.get()}
        except Exception as exc:  # noqa: BLE001 - reported to the caller, the value dropped
            raise _Unmade(seq_id, step, exc) from exc

    def _store_blobs(self, stored: Any, seq_id: int, step: int) -> Any:
        """``stored`` with each ``"blob"``'s bytes written to the blob segment and replaced by its reference."""
        if isinstance(stored, list):
            return [self._store_blobs(item, seq_id, step) for item in stored]
        if isinstance(stored, dict) and isinstance(stored.get("blob"), bytes):
            if self._deltas is not None:
                return {**stored, "blob": self._deltas.append_blob(seq_id, step, stored["blob"])}
            if self._blobs is None:
                self._blobs = BlobSegmentWriter(self.storage, self.run_hash, self._last_blob_file + 1)
            return {**stored, "blob": self._blobs.append(seq_id, step, stored["blob"])}
        return stored

    def _raise_pending_error(self) -> None:
        error = self._error
        if error is None:
            return
        with self._cond:
            waiting = len(self._pending)
            self._error = None  # seen: the thread retries (kept values) or goes on
            self._cond.notify_all()
        if isinstance(error, _Unmade):
            seq_name = self.entries()[error.seq_id]["name"]
            raise UnstorableValueError(
                f"run {self.run_hash}: the value of {seq_name!r} at step {error.step} could not be encoded "
                f"({error.__cause__!r}) and is not stored"
            ) from error.__cause__
        raise ObjectWriteError(
            f"run {self.run_hash}: writing tracked objects failed ({error}); {waiting} value(s) are kept "
            "and written once that succeeds (the next flush() or close() tries again)"
        ) from error

    def _wait_idle(self) -> None:
        """Wait until the writer thread has written the queue or stopped at an error."""
        with self._cond:
            self._cond.notify_all()
            while self._thread is not None and not (self._idle and (not self._pending or self._error is not None)):
                self._cond.wait()

    def drain(self) -> None:
        """Wait until every queued value is written (retrying kept ones); raise a write error."""
        self._wait_idle()
        self._raise_pending_error()

    def seal(self) -> str | None:
        """Write the log as a sealed object segment and name it in the manifest (the caller
        publishes the manifest, under the run's lock); the file it replaces, to delete after.
        With object deltas the closing manifest compacts them instead (no sealed segment)."""
        if self._deltas is not None:
            return None
        log = read_log(self.storage, self.key)
        if not log:
            return None
        old = self.manifest.get("object_segment")
        if covers(old, log) and old["log_bytes"] == len(log):
            return None  # nothing appended since the last seal
        entry = seal_object_log(self.storage, self.run_hash, next_object_segment(self.manifest), log)
        if entry is None:
            return None
        self.manifest["object_segment"] = entry
        return old.get("file") if isinstance(old, dict) else None

    def delete_sealed(self, name: str | None) -> None:
        """Remove a sealed object segment the published manifest no longer names."""
        if name is not None:
            self.storage.delete(RepoLayout.segment_key(self.run_hash, name))

    def remove_strays(self) -> None:
        """Delete sealed object segments no manifest names (a writer killed while sealing)."""
        for name in stray_object_segments(self.storage, self.run_hash, self.manifest):
            self.storage.delete(RepoLayout.segment_key(self.run_hash, name))

    def close(self) -> None:
        """Write what is queued and stop the thread, then seal the blob segment.  Raises a
        write error with the files left open: a later ``close()`` retries what is kept."""
        thread = self._thread
        if thread is not None:
            with self._cond:
                self._stopping = True
                self._cond.notify_all()
            thread.join()
            self._stopping = False
        if self._pending and self._error is None:  # kept values whose error was seen: retried here
            self._write_batch(list(self._pending))
        self._raise_pending_error()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._blobs is not None:
            self._last_blob_file = self._blobs.number
            self._blobs.close()
            self._blobs = None


class _Unmade(Exception):
    """A queued value whose bytes could not be made (its encoding failed in the writer thread)."""

    def __init__(self, seq_id: int, step: int, exc: BaseException):
        super().__init__(f"{exc!r}")
        self.seq_id, self.step = seq_id, step


QUEUED_BLOBS = 256
"""Most tracked values with bytes queued for the writer thread or being written (``track()``
waits while the queue is full: a loop faster than the encoder is slowed to its pace)."""

QUEUED_BLOB_BYTES = 64 * 1024 * 1024
"""Most bytes those values may hold, pixels still to encode or encoded bytes (a value larger
than that alone is queued when nothing else is)."""


def blob_bytes(stored: Any) -> int:
    """How many bytes a stored value carries for blob segments (made or deferred); 0 for none."""
    items = stored if isinstance(stored, list) else [stored]
    total = 0
    for item in items:
        blob = item.get("blob") if isinstance(item, dict) else None
        if isinstance(blob, bytes):
            total += len(blob) or 1
        elif isinstance(blob, DeferredBytes):
            total += blob.nbytes or 1
    return total


def _last_step(state: ObjectSequenceState) -> int:
    return INT64_MAX if state.next_step == STEPS_EXHAUSTED else state.next_step - 1


def blob_refs(stored: Any) -> list[list[int]]:
    """The blob references in a stored value (an object's record or a list of them)."""
    items = stored if isinstance(stored, list) else [stored]
    return [i["blob"] for i in items if isinstance(i, dict) and is_blob_ref(i.get("blob"))]


def to_record(value: Any, name: str) -> Any:
    """The msgpack-encodable form of an object value."""
    encode = getattr(value, "to_record", None)
    if callable(encode):
        return encode()
    if isinstance(value, (list, tuple)) and value and callable(getattr(value[0], "to_record", None)):
        checked_typename(value, name)
        return [v.to_record() for v in value]
    try:
        return normalise_value(value, (name,))
    except TypeError as exc:
        raise ValueError(f"track() value for {name!r} cannot be stored: {exc}") from None


# -- log records --------------------------------------------------------------------------------


class LogRecord:
    """One message of ``run.log_info()`` & co. (Aim's ``aim.log_record``)."""

    aim_typename = "aim.log_record"

    def __init__(self, message: str, level: int, timestamp: float | None = None, logger_info=None, **extra_args: Any):
        self.message = message
        self.level = level
        self.timestamp = time.time() if timestamp is None else timestamp
        self.logger_info = tuple(logger_info) if logger_info else None
        self.extra_args = extra_args or None

    def to_record(self) -> dict:
        return {
            "message": self.message,
            "log_level": self.level,
            "timestamp": self.timestamp,
            "logger_info": list(self.logger_info) if self.logger_info else None,
            "extra_args": self.extra_args,
        }

    @classmethod
    def from_record(cls, record: dict) -> LogRecord:
        return cls(
            record["message"],
            record["log_level"],
            record["timestamp"],
            record.get("logger_info"),
            **(record.get("extra_args") or {}),
        )

    def json(self) -> dict:
        """As Aim's ``LogRecord.json()``."""
        return {
            "message": self.message,
            "log_level": logging.getLevelName(self.level),
            "timestamp": self.timestamp,
            "args": self.extra_args,
        }

    def __repr__(self) -> str:
        return f"<LogRecord {logging.getLevelName(self.level)} {self.message!r}>"


DECODERS: dict[str, Any] = {LogRecord.aim_typename: lambda record, fetch: LogRecord.from_record(record)}
"""dtype -> ``decode(record, fetch)`` turning a stored record back into its object (``fetch``
reads a blob reference; the object types read theirs on first use)."""
for _cls in (Image, Text, Distribution, Audio, Figure):
    DECODERS[_cls.aim_typename] = _cls.from_record


def decoder(dtype: str):
    """The decoder of a dtype, lists of objects (``list(aim.image)``) included; None for plain values."""
    decode = DECODERS.get(dtype)
    if decode is not None:
        return decode
    if dtype.startswith("list(") and dtype.endswith(")"):
        item = DECODERS.get(dtype[5:-1])
        if item is not None:
            return lambda record, fetch: [item(r, fetch) for r in record] if isinstance(record, list) else record
    return None


LOG_RECORDS_NAME = "__log_records"


# -- reading ------------------------------------------------------------------------------------


class ObjectSequenceData:
    """Aim's ``sequence.data``: the points as step-ordered lists (latest write per step)."""

    def __init__(self, steps: list[int], values: list, epochs: list):
        self._steps, self._values, self._epochs = steps, values, epochs

    def indices_list(self) -> list[int]:
        return list(self._steps)

    def values_list(self) -> list:
        return list(self._values)

    def items(self) -> Iterator[tuple[int, Any]]:
        return iter(list(zip(self._steps, self._values)))

    def items_list(self) -> list[tuple[int, Any]]:
        return list(zip(self._steps, self._values))

    def __len__(self) -> int:
        return len(self._steps)


class ObjectValuesView:
    """Aim's ``sequence.values`` for objects: the values by step, as lists or by iteration."""

    def __init__(self, data: ObjectSequenceData):
        self._data = data

    def values_list(self) -> list:
        return self._data.values_list()

    def indices_list(self) -> list[int]:
        return self._data.indices_list()

    def items_list(self) -> list[tuple[int, Any]]:
        return self._data.items_list()

    def sparse_list(self) -> tuple[list[int], list]:
        return self._data.indices_list(), self._data.values_list()

    def __iter__(self) -> Iterator[Any]:
        return iter(self._data.values_list())

    def __len__(self) -> int:
        return len(self._data)

    def __bool__(self) -> bool:
        return len(self._data) > 0


class ObjectSequence:
    """A stored object sequence of a run: ``name``, ``context``, ``dtype`` and its points
    (``data``: step-ordered, the latest write per step; ``values``: Aim's view of them).

    Objects with bytes (images, audio, figures) read them on first use: building the
    sequence reads only ``objects.log``.
    """

    sequence_type = "sequence"
    """Aim's name of the collection in queries (``images``, ``texts`` …)."""

    def __init__(self, run, entry: dict, columns: tuple | None, fetch: BlobFetch | None = None):
        self.run = run
        self.name = entry["name"]
        self.context = entry["context"]
        self.dtype = entry["dtype"]
        decode = decoder(self.dtype)
        steps, epochs, times, values = columns if columns is not None else ([], [], [], [])
        if any(a >= b for a, b in zip(steps, steps[1:])):  # re-tracked or out-of-order steps: latest write wins
            latest = {s: i for i, s in enumerate(steps)}
            order = [latest[s] for s in sorted(latest)]
            steps, epochs, times, values = ([c[i] for i in order] for c in (steps, epochs, times, values))
        if decode is not None:
            values = [decode(v, fetch) for v in values]
        self.data = ObjectSequenceData(steps, values, epochs)
        self._times = times

    @classmethod
    def allowed_dtypes(cls) -> tuple[str, ...]:
        """The dtypes a sequence of this class holds (Aim's classmethod)."""
        return ()

    @classmethod
    def sequence_name(cls) -> str:
        return cls.sequence_type

    @property
    def values(self) -> ObjectValuesView:
        return ObjectValuesView(self.data)

    @property
    def epochs(self) -> list:
        return list(self.data._epochs)

    @property
    def timestamps(self) -> list[float]:
        return list(self._times)

    def values_list(self) -> list:
        return self.data.values_list()

    def indices_list(self) -> list[int]:
        return self.data.indices_list()

    def first_step(self) -> int | None:
        steps = self.data.indices_list()
        return steps[0] if steps else None

    def last_step(self) -> int | None:
        steps = self.data.indices_list()
        return steps[-1] if steps else None

    def record_length(self) -> int | None:
        """The longest list tracked at one step (None for single objects), as Aim's media sequences."""
        lengths = [len(v) for v in self.data.values_list() if isinstance(v, list)]
        return max(lengths) if lengths else None

    def __len__(self) -> int:
        return len(self.data)

    def __bool__(self) -> bool:
        return len(self.data) > 0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self.context} dtype={self.dtype} of run {self.run.hash}>"


def _media_sequence(cls_name: str, collection: str, item) -> type[ObjectSequence]:
    typename_ = item.aim_typename
    dtypes = (typename_, f"list({typename_})")
    doc = f"A sequence of ``{item.__name__}`` objects or lists of them (Aim's ``{cls_name}``): ``{collection}`` in queries."
    return type(
        cls_name,
        (ObjectSequence,),
        {"__doc__": doc, "sequence_type": collection, "allowed_dtypes": classmethod(lambda cls: dtypes)},
    )


Images = _media_sequence("Images", "images", Image)
Texts = _media_sequence("Texts", "texts", Text)
Distributions = _media_sequence("Distributions", "distributions", Distribution)
Audios = _media_sequence("Audios", "audios", Audio)
Figures = _media_sequence("Figures", "figures", Figure)

SEQUENCE_CLASSES: dict[str, type[ObjectSequence]] = {
    dtype: cls for cls in (Images, Texts, Distributions, Audios, Figures) for dtype in cls.allowed_dtypes()
}
"""dtype -> the sequence class that reads it (other object dtypes read as plain ObjectSequence)."""


def blob_fetch(storage: Storage, run_hash: str) -> BlobFetch:
    """Reads a blob reference of ``run_hash`` back, checked (see ``aimcol.format.blob_segments``)."""
    return BlobReader(storage, run_hash)


def make_sequence(run, entry: dict, columns: tuple | None, fetch: BlobFetch) -> ObjectSequence:
    return SEQUENCE_CLASSES.get(entry["dtype"], ObjectSequence)(run, entry, columns, fetch)


def read_object_sequences(run, storage: Storage, manifest: dict, ids: list[int] | None = None) -> list[ObjectSequence]:
    """Every object sequence of a run (or those of ``ids``), read from its file once."""
    entries = manifest.get("object_sequences") or []
    if not entries:
        return []
    chosen = range(len(entries)) if ids is None else [i for i in ids if 0 <= i < len(entries)]
    wanted = None if ids is None else frozenset(chosen)
    columns = read_run_columns(storage, run.hash, manifest, wanted)
    fetch = blob_fetch(storage, run.hash)
    return [make_sequence(run, entries[i], columns.get(i), fetch) for i in chosen]
