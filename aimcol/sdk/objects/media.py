"""What every tracked object type (``Image``, ``Text``, ``Distribution``, ``Audio``,
``Figure``) shares: how it plugs into object sequences and how its bytes are loaded.

A type has Aim's type name (``aim_typename``, the sequence's ``dtype``), a record
(:meth:`MediaObject.to_record`: a msgpack-encodable dict) and a way back
(:meth:`MediaObject.from_record`).  Large bytes (an encoded image, audio, a figure's JSON)
go in the record under ``"blob"``; the writer moves them to a blob segment and keeps only a
reference there (:mod:`aimcol.format.blob_segments`), and an object read back loads them on
first use of ``.data`` & co., so listing and querying never read them.

An object may also hold its bytes *deferred* (:class:`DeferredBytes`: an ``Image`` of an
array keeps a copy of the pixels and encodes them when first asked): its record then carries
the :class:`DeferredBytes` under ``"blob"`` and the run's object writer thread has it made
before writing, off the training thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, ClassVar

BlobFetch = Callable[[Any], bytes]
"""Reads a blob reference back: ``fetch(ref) -> bytes`` (raises ``ChecksumError`` on damage)."""


def type_names(obj: Any) -> list[str]:
    """``module.Class`` of ``obj``'s type and of every base: how Aim recognises a PIL image, a
    torch tensor or a plotly figure without importing those packages."""
    return [f"{cls.__module__}.{cls.__qualname__}" for cls in type(obj).__mro__]


def has_type_name(obj: Any, *parts: str) -> bool:
    """Whether one of ``obj``'s type names contains every one of ``parts`` (Aim's ``inst_has_typename``)."""
    return any(all(p in name for p in parts) for name in type_names(obj))


class DeferredBytes:
    """Bytes made on first demand, once, by whichever thread asks first (the run's object writer
    thread, or the caller reading ``.data``); the others wait for them.  ``nbytes`` is what the
    source held until then (for the writer queue's bound).  A failed ``make`` raises to the
    asker and is tried again by the next one."""

    __slots__ = ("_make", "_value", "_lock", "nbytes")

    def __init__(self, make: Callable[[], bytes], nbytes: int):
        self._make: Callable[[], bytes] | None = make
        self._value: bytes | None = None
        self._lock = threading.Lock()
        self.nbytes = int(nbytes)

    def get(self) -> bytes:
        value = self._value
        if value is None:
            with self._lock:
                value = self._value
                if value is None:
                    assert self._make is not None
                    value = self._value = self._make()
                    self._make = None  # the source (pixels) is freed
                    self.nbytes = len(value)
        return value


class MediaObject:
    """Base of the tracked object types; subclasses set ``aim_typename`` and their metadata."""

    aim_typename: ClassVar[str] = ""
    AIM_NAME: ClassVar[str] = ""
    _meta_keys: ClassVar[tuple[str, ...]] = ()
    _deferred: DeferredBytes | None = None  # bytes to make on demand (set on the instance)

    def __init__(self) -> None:
        self._meta: dict[str, Any] = {}
        self._blob: bytes | None = None
        self._ref: Any = None
        self._fetch: BlobFetch | None = None

    @classmethod
    def get_typename(cls) -> str:
        """Aim's name for the type (``aim.image`` …)."""
        return cls.aim_typename

    def _blob_bytes(self) -> bytes:
        if self._blob is None:
            if self._deferred is not None:
                self._blob = self._deferred.get()
                return self._blob
            if self._fetch is None:
                raise ValueError(f"{type(self).__name__} has no data")
            self._blob = self._fetch(self._ref)
        return self._blob

    def to_record(self) -> dict[str, Any]:
        """The stored form: the metadata, plus ``"blob"`` for a type with large bytes (a
        :class:`DeferredBytes` while they are not made yet: the writer makes them)."""
        record = dict(self._meta)
        if self._blob is None and self._deferred is not None:
            record["blob"] = self._deferred
        elif self._blob is not None or self._ref is not None:
            record["blob"] = self._blob_bytes()
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any], fetch: BlobFetch | None = None):
        """The object a record stands for (taking ``record`` over); its blob stays unread until used."""
        obj = cls.__new__(cls)
        obj._blob = obj._ref = obj._fetch = None
        blob = record.pop("blob", None)  # the record is the caller's freshly decoded map: kept, not copied
        obj._meta = record
        if blob is None:
            return obj
        if isinstance(blob, bytes):
            obj._blob = blob
        elif blob is not None:
            obj._ref, obj._fetch = blob, fetch
        return obj

    def json(self) -> dict[str, Any]:
        """The metadata as Aim's ``json()`` gives it (no bytes)."""
        return {k: self._meta.get(k) for k in self._meta_keys}

    def __getstate__(self) -> dict[str, Any]:
        """Pickled with its bytes made (a deferred encoding happens here)."""
        if self._deferred is not None:
            self._blob_bytes()
        state = dict(self.__dict__)
        state.pop("_deferred", None)
        return state

    @property
    def blob_size(self) -> int | None:
        """Length of the stored bytes without reading them (None for a type without a blob)."""
        if self._blob is not None or self._deferred is not None:
            return len(self._blob_bytes())
        if isinstance(self._ref, list) and len(self._ref) == 4:
            return int(self._ref[2])
        return None
