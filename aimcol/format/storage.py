"""The storage interface: every operation the format needs from the place a repository lives.

The format (manifests, segments, the run index, the writer's claim on a run) is written
against :class:`Storage` and never calls ``os``, ``flock`` or ``pread`` itself, so a second
backend (an object store) plugs in without touching the callers.  Today's local-filesystem
code is one implementation (:class:`aimcol.format.local_storage.LocalStorage`);
:func:`storage_for` maps a repository location to its backend, and
:func:`register_backend` lets another module add a URI scheme.

**Keys.**  An object is named by a *key* relative to the repository root (the ``.aimcol``
folder), ``/``-separated, without a leading ``/``: ``FORMAT``, ``index/runs.aimcolidx``,
``runs/<hash>/manifest.msgpack``, ``runs/<hash>/seg-000001.arrow``.  Keys never contain
``..`` or empty parts; a backend may reject one that does with ``ValueError``.  Folders are
not objects: they exist only as key prefixes (a local backend creates directories as
needed, silently).

**Kinds of object and what each guarantees.**

* *Small mutable objects* (manifest, index file, ``FORMAT``): :meth:`Storage.read`, and
  :meth:`Storage.replace`, which is atomic — a concurrent reader sees the old bytes or the new
  bytes, never a mix or nothing.  :meth:`Storage.create` writes only if absent, atomically,
  and raises :class:`ObjectExistsError` when it is not (locally ``O_EXCL``/``link``; on
  object stores ``If-None-Match: *``).
* *Appendable objects* (a live segment, the change journal, ``terminal.log``), only where
  :attr:`Storage.supports_append` is true: :meth:`Storage.open_appender` returns a sink whose
  every ``write`` reaches the store before it returns (survives ``kill -9`` of the writer);
  :meth:`Storage.read_appended` returns the bytes written so far (a complete prefix up to
  the last write that returned; a torn last record is the format's business).
* *Immutable objects* (sealed segments): written once through
  :meth:`Storage.write_immutable` (visible under their key only when complete and durable),
  then read whole (:meth:`Storage.open_input`) or by ranges (:meth:`Storage.read_range`,
  :meth:`Storage.read_tail`).
* *Claims*: a run's single writer holds a :class:`Claim` (:meth:`Storage.claim_run`).  A
  second claimant gets :class:`RunLockedError` naming the holder.  Each claim has a
  ``generation`` that grows with every new claim on the run; commits made with a claim
  (:meth:`Storage.replace` with ``claim=``) are *fenced*: they fail with
  :class:`ClaimLostError` once the claim was released or taken over, so a stalled old writer
  cannot overwrite its successor.  Locally the claim is an ``flock`` (the kernel frees it
  when the holder dies, so it cannot be taken over while held); on object stores it is a
  lease with a TTL, renewed by :meth:`Claim.renew`.

**Errors.**  A missing object raises :class:`ObjectNotFoundError` (a ``FileNotFoundError``),
an existing one on create :class:`ObjectExistsError` (a ``FileExistsError``), a lost claim
:class:`ClaimLostError`, a held run :class:`RunLockedError`; anything else the backend
cannot do raises :class:`StorageError` (an ``OSError``) or the builtin ``OSError`` itself.

**Threads.**  A :class:`Storage` may be used from several threads at once; an appender or a
claim belongs to one writer (the SDK serialises its calls).
"""

from __future__ import annotations

import contextlib
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, NamedTuple, Protocol

import pyarrow as pa

from aimcol.errors import (  # noqa: F401 (re-exported: the errors of this interface)
    ClaimLostError,
    ObjectExistsError,
    ObjectNotFoundError,
    RunLockedError,
    StorageError,
    UnsupportedStorageError,
)


class ObjectStat(NamedTuple):
    """What the format needs to know about an object without reading it.

    The whole tuple is the object's *fingerprint*: four int64 that differ whenever the
    object was replaced (the run index caches manifests by it).  ``identity`` changes when
    the object is replaced by another one (an inode locally; a hash of the ETag or version
    id on object stores) but not when it is appended to.  ``change_ns`` is a second
    timestamp that changes on any modification (``ctime`` locally; 0 where there is none).
    """

    identity: int
    size: int
    mtime_ns: int
    change_ns: int

    @property
    def mtime(self) -> float:
        """Last modification, unix seconds."""
        return self.mtime_ns / 1e9


class Appender(Protocol):
    """A sink for an appendable object: each ``write`` reaches the store before it returns.

    ``write`` writes all of ``data`` or raises; after a failed write (``ENOSPC``, ``EIO``)
    the object may end in a partial record, which ``truncate(size)`` cuts off again, back to
    the size the writer last knew complete, so a later write continues a valid object.  Not
    thread-safe.
    """

    def write(self, data: bytes | memoryview | pa.Buffer) -> int: ...

    def truncate(self, size: int) -> None: ...

    def close(self) -> None: ...

    @property
    def closed(self) -> bool: ...


class Claim(ABC):
    """A writer's exclusive claim on one run, from :meth:`Storage.claim_run`.

    ``generation`` is the claim's fencing token: it is larger than that of every earlier
    claim on the same run.  ``holder`` is what the claimant recorded about itself (``pid``,
    ``host``, ``started``, ``generation``), shown to a refused second claimant.
    """

    run_hash: str
    generation: int
    holder: dict[str, Any]

    @property
    @abstractmethod
    def held(self) -> bool:
        """True until :meth:`release` (or until the claim is known to be lost)."""

    @abstractmethod
    def check(self) -> None:
        """Raise :class:`ClaimLostError` if this claim was released or taken over.

        Cheap enough to call before every commit (locally it only checks :attr:`held`; a
        lease backend compares its generation with the stored one, or relies on the
        conditional write of the commit itself)."""

    @abstractmethod
    def renew(self) -> None:
        """Extend the claim (a lease's TTL; a no-op for an OS lock).

        Raises :class:`ClaimLostError` if it was lost meanwhile."""

    @abstractmethod
    def release(self) -> None:
        """Give the claim up so that the next writer may take it.  Idempotent; never raises
        for a claim already released or lost."""


class ChangeLog(Protocol):
    """A storage's own log of which runs changed, for the run index (object stores).

    Positions are integers that only grow (milliseconds on object stores); the index keeps
    the position it has read up to, as it does a byte offset of the local change journal.
    """

    def state(self) -> tuple[int, int] | None:
        """``(identity, position now)``; ``None`` when the log cannot be read."""
        ...

    def names_since(self, start: int, stop: int) -> tuple[set[str], int]:
        """Run hashes logged since ``start`` (possibly a few more), and the position read up to."""
        ...


class PinnedObject:
    """One version of an object, read in parts at any later time: a replacement of its key
    in between is not seen (the run index reads its sequences table only when a query
    needs it, from the same file its runs table came from).  This default holds the bytes."""

    def __init__(self, data: bytes):
        self._data = data
        self.size = len(data)

    def read_at(self, offset: int, length: int) -> bytes:
        """Bytes ``[offset, offset + length)`` of this version (shorter only at its end)."""
        return self._data[offset : offset + length]

    def close(self) -> None:
        self._data = b""


class Storage(ABC):
    """Where one repository's objects live.  See the module docstring for keys and guarantees."""

    uri: str
    """The repository root as the user would name it (a path locally, ``s3://b/p`` remotely)."""

    supports_append: bool = True
    """Whether appendable objects exist (local: yes; object stores: no — the format then
    writes immutable delta segments instead of a live stream, and the journal as objects)."""

    change_log: ChangeLog | None = None
    """Where the storage logs run changes itself (object stores: small objects, since they
    cannot append to the change journal); ``None``: the format appends to ``index/changes``."""

    local_root: str | None = None
    """The repository folder when the repository is on a local filesystem, else ``None``
    (only for messages and for tools that must hand a path to another program)."""

    # -- listing ----------------------------------------------------------------------------
    @abstractmethod
    def list_children(self, prefix: str) -> list[str]:
        """Names (not keys) of the objects and sub-prefixes directly under ``prefix``
        (``"runs"`` → the run hashes), unsorted; ``[]`` when nothing is under it.  Names
        starting with ``.`` (a local backend's trash) are left out; a backend's temporary
        objects left by a killed writer are listed (:meth:`is_temporary` tells them), so
        that the run's next writer can remove them."""

    def is_temporary(self, name: str) -> bool:
        """True for the name of a backend's temporary object (locally ``*.partial``): never
        an object the format wrote, always safe for the run's writer to delete."""
        return False

    @abstractmethod
    def listing_stamp(self, prefix: str) -> int | None:
        """A number that changes whenever a child is added under or removed from ``prefix``
        (locally the directory's mtime in ns), or ``None`` when the backend cannot tell
        cheaply — the caller must then list."""

    # -- small mutable objects ---------------------------------------------------------------
    @abstractmethod
    def read(self, key: str) -> bytes:
        """The whole object.  Raises :class:`ObjectNotFoundError`."""

    @abstractmethod
    def read_versioned(self, key: str) -> tuple[bytes, ObjectStat]:
        """The whole object and the stat *of exactly the bytes read* (not of a later
        replacement).  Raises :class:`ObjectNotFoundError`."""

    def try_lock(self, key: str) -> Callable[[], None] | None:
        """Take the advisory lock ``key`` without waiting: a function that releases it, or
        ``None`` while another process holds it.  The lock dies with its holder, however it
        dies.  This default (object stores have no such lock) always succeeds: callers of it
        must stay correct when two holders run at once, and use it only to save work."""
        return lambda: None

    def open_pinned(self, key: str) -> PinnedObject:
        """The object's current version, for reading in parts (:class:`PinnedObject`); the
        caller closes it.  Raises :class:`ObjectNotFoundError`.  This default reads it whole."""
        return PinnedObject(self.read(key))

    @abstractmethod
    def stat(self, key: str) -> ObjectStat:
        """Size, times and fingerprint of an object.  Raises :class:`ObjectNotFoundError`."""

    @abstractmethod
    def stat_many(self, keys: Sequence[str]) -> list[ObjectStat | None]:
        """:meth:`stat` of each key, ``None`` for a missing one; the run index calls it for
        every manifest of a repository, so a backend batches or parallelises it."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """True when an object (or, locally, a folder) exists at ``key``; ``exists("")``:
        the repository root exists (locally its folder; on object stores, any object
        under the prefix)."""

    @abstractmethod
    def replace(self, key: str, data: bytes, *, durable: bool = False, claim: Claim | None = None) -> None:
        """Atomically put ``data`` at ``key``, replacing what is there: a concurrent reader
        sees the old or the new bytes, never a mix or nothing.

        ``durable=True``: the new bytes survive power loss when this returns (fsync of file
        and folder locally); ``False`` still survives a killed process.  ``claim``: a commit
        by a run's writer; raises :class:`ClaimLostError` (and writes nothing) if the claim
        was released or taken over.  Stray temporary objects from a writer killed midway
        are invisible to :meth:`read` and :meth:`list_children`.
        """

    def replace_parts(self, key: str, parts: Iterable[bytes | memoryview | pa.Buffer]) -> None:
        """:meth:`replace` (not durable, no claim) with the bytes given as the concatenation of
        ``parts``, which may be produced as they are written: a large cache object (the run
        index) is not joined in memory first where the backend can write it part by part."""
        self.replace(key, b"".join(parts))

    @abstractmethod
    def create(self, key: str, data: bytes, *, durable: bool = True) -> None:
        """Put ``data`` at ``key`` only if no object is there, atomically (readers never
        see a partial object).  Raises :class:`ObjectExistsError` if one is, leaving it
        untouched: of racing creators exactly one succeeds."""

    @abstractmethod
    def delete(self, key: str) -> bool:
        """Remove an object; ``False`` if there was none.  A reader that opened it before
        may still finish reading it (POSIX semantics; object stores: the GET in flight)."""

    # -- appendable objects (where supports_append) -------------------------------------------
    @abstractmethod
    def open_appender(self, key: str, *, truncate: bool = False) -> Appender:
        """A sink appending to ``key`` (created if absent; emptied first if ``truncate``).

        Each ``write`` is one append that reaches the store (the OS page cache locally)
        before it returns.  Raises ``io.UnsupportedOperation`` where not
        :attr:`supports_append`."""

    @abstractmethod
    def append(self, key: str, data: bytes) -> None:
        """Append ``data`` to ``key`` (created if absent) in one write; concurrent appenders'
        records do not interleave on a local filesystem (``O_APPEND``).  Raises
        ``io.UnsupportedOperation`` where not :attr:`supports_append`."""

    @abstractmethod
    def read_appended(self, key: str, known_size: int | None = None) -> bytes | None:
        """The bytes appended to ``key`` so far, read at one instant: every write that
        returned before this call began is in them whole.  ``None`` when the object still
        has ``known_size`` bytes (the caller's cached parse is current).  Raises
        :class:`ObjectNotFoundError`; once the read began, the object's removal does not
        cut it short."""

    # -- immutable objects and ranged reads ----------------------------------------------------
    @abstractmethod
    def write_immutable(self, key: str) -> contextlib.AbstractContextManager[pa.NativeFile]:
        """A context manager yielding a sink; on a clean exit its bytes become the object
        ``key`` atomically and durably (replacing a leftover of a crashed writer that no
        manifest names), on an exception nothing appears under ``key``."""

    @abstractmethod
    def read_range(self, key: str, offset: int, length: int) -> bytes:
        """Bytes ``[offset, offset + length)``; shorter only at the end of the object.
        Raises :class:`ObjectNotFoundError`."""

    @abstractmethod
    def read_tail(self, key: str, length: int) -> tuple[bytes, int]:
        """The last ``min(length, size)`` bytes and the object's size, in one request (an
        Arrow file's footer).  Raises :class:`ObjectNotFoundError`."""

    @abstractmethod
    def open_input(self, key: str) -> pa.NativeFile:
        """A random-access pyarrow file over the object (memory-mapped locally), for
        ``pa.ipc.open_file``; the caller closes it.  Raises :class:`ObjectNotFoundError`."""

    # -- runs: folders and writers' claims -------------------------------------------------------
    @abstractmethod
    def make_prefix(self, prefix: str, *, exclusive: bool = False) -> None:
        """Make ``prefix`` ready to hold objects (a folder locally; nothing on object stores).
        ``exclusive``: raise :class:`ObjectExistsError` if it already holds objects or exists."""

    @abstractmethod
    def claim_run(self, run_hash: str) -> Claim:
        """Take the writer's claim on ``runs/<run_hash>``, whose prefix must exist.

        A dead holder's claim is taken over (locally at once: the kernel freed its lock;
        on object stores after its lease's TTL).  Raises :class:`RunLockedError` naming the
        live holder.  Short-lived reader probes (:meth:`run_claimed`) never make it fail."""

    @abstractmethod
    def run_claimed(self, run_hash: str) -> bool:
        """True while a live writer holds the run's claim (a reader's "is it active?")."""

    @abstractmethod
    def claim_holder(self, run_hash: str) -> dict[str, Any] | None:
        """What the current or last holder recorded (``pid``, ``host``, ``started``,
        ``generation``), or ``None`` if unknown."""

    @abstractmethod
    def delete_run(self, run_hash: str) -> bool:
        """Remove the run and all its objects; ``False`` if there is no such run.

        Refuses (``RunLockedError``) a run whose claim a live writer holds; readers see the
        run vanish at once, not half-deleted (locally: one rename, then the removal)."""

    def incomplete_uploads(self, prefix: str) -> list[str]:
        """Names of objects under ``prefix`` whose upload a killed writer left unfinished, which
        the store keeps (and bills) without listing them (S3's multipart uploads); ``[]`` on a
        store that has none."""
        return []

    def abort_stale_uploads(self, prefix: str, below_generation: int) -> int:
        """Abort the :meth:`incomplete_uploads` under ``prefix`` of writer generations below
        ``below_generation`` (dead or fenced writers); returns how many were aborted."""
        return 0

    def arrow_filesystem(self) -> tuple[Any, str] | None:
        """``(pyarrow.fs.FileSystem, path of the repository root in it)`` for bulk reads by
        pyarrow (``Repo.to_dataset()``), configured from the same place as this storage;
        ``None`` where pyarrow cannot see the store (then read through this interface)."""
        if self.local_root is None:
            return None
        import pyarrow.fs as pafs

        return pafs.LocalFileSystem(), self.local_root

    # -- conveniences built on the abstract operations --------------------------------------------
    def read_or_none(self, key: str) -> bytes | None:
        """:meth:`read`, ``None`` for a missing object."""
        try:
            return self.read(key)
        except FileNotFoundError:
            return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.uri!r})"


# ---- choosing a backend for a repository location ---------------------------------------------------

BackendFactory = Callable[[str], Storage]
"""Builds the storage of a repository root from its location (e.g. ``s3://bucket/prefix``)."""

_BACKENDS: dict[str, BackendFactory] = {}

OBJECT_STORE_SCHEMES = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "azure", "memory"})
"""Schemes served by :mod:`aimcol.format.object_storage` (imported on first use; extra ``remote``)."""


def register_backend(scheme: str, factory: BackendFactory) -> None:
    """Let :func:`storage_for` open ``<scheme>://…`` locations with ``factory``."""
    _BACKENDS[scheme.lower()] = factory


def uri_scheme(location: str) -> str | None:
    """``"s3"`` for ``"s3://b/p"``; ``None`` for a plain path (a Windows drive letter included)."""
    head, sep, _ = location.partition("://")
    if not sep or len(head) < 2 or not head.replace("+", "").replace("-", "").replace(".", "").isalnum():
        return None
    return head.lower()


def is_local_location(location: str) -> bool:
    """True for a filesystem path or a ``file://`` URI."""
    return uri_scheme(location) in (None, "file")


def storage_for(location: str | os.PathLike[str]) -> Storage:
    """The storage of the repository root at ``location`` (the ``.aimcol`` folder or its URI).

    A path or ``file://`` URI gives :class:`~aimcol.format.local_storage.LocalStorage`; another
    scheme gives the backend registered for it, or raises :class:`UnsupportedStorageError`.
    """
    location = os.fspath(location)
    scheme = uri_scheme(location)
    if scheme in (None, "file"):
        from aimcol.format.local_storage import LocalStorage

        return LocalStorage(location[len("file://") :] if scheme == "file" else location)
    factory = _BACKENDS.get(scheme)
    if factory is None and scheme in OBJECT_STORE_SCHEMES:
        with contextlib.suppress(ImportError):
            import aimcol.format.object_storage  # noqa: F401 (registers its schemes)
        factory = _BACKENDS.get(scheme)
    if factory is None:
        known = ", ".join(sorted(_BACKENDS)) or "none installed"
        raise UnsupportedStorageError(
            f"no storage backend for {scheme}:// (repository {location!r}); "
            f"registered schemes: {known}. Object stores need the aimcol[remote] extra"
        )
    return factory(location)


def iter_keys(storage: Storage, prefix: str) -> Iterator[str]:
    """The keys of the children directly under ``prefix``."""
    for name in storage.list_children(prefix):
        yield f"{prefix}/{name}" if prefix else name
