"""The local-filesystem backend of :class:`~aimcol.format.storage.Storage`.

Keys map to paths under the repository root.  How each guarantee is kept:

* atomic replace: write ``<name>.<random>.partial`` beside the target, optionally fsync it,
  ``os.replace`` it over the target (atomic on POSIX and on NFS for a rename within one
  directory); stray ``.partial`` files left by a crash are ignored by readers and removed by
  the next writer of the run;
* create-if-absent: the same temporary file, then ``os.link`` to the target, which fails
  with ``EEXIST`` when the target exists (readers never see a partial object);
* appends: ``O_APPEND`` writes that reach the page cache before they return
  (``pa.OSFile`` is unbuffered), so they survive ``kill -9`` of the writer;
* positioned reads: one ``open`` + ``pread`` + ``close`` (a query may touch thousands of
  files, so no descriptor is kept between reads);
* claims: an ``flock`` on ``runs/<hash>/lock`` (:class:`LocalClaim`).  The kernel releases
  it when its holder dies, however it dies, so a dead writer's claim is taken over at once
  and "active" is told from "crashed" by trying the lock.  The holder writes
  ``{"pid", "host", "started", "generation"}`` into the file so that
  :class:`RunLockedError` can name it and the next claim can take a larger generation.
  flock is per open file description, so a reader in the writer's own process sees the
  run as claimed too.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, BinaryIO

import pyarrow as pa

from aimcol.errors import ClaimLostError, FormatError, ObjectExistsError, ObjectNotFoundError, RunLockedError
from aimcol.format.new_files import publish_new_file
from aimcol.format.regular_files import open_lock_file, open_regular
from aimcol.format.storage import Appender, Claim, ObjectStat, PinnedObject, Storage

PARTIAL_SUFFIX = ".partial"
"""Suffix of a temporary file that becomes an object by a rename (or is left by a crash)."""

LOCK_NAME = "lock"
"""The claim's file inside a run folder."""

READER_PATIENCE_S = 2.0
"""How long a writer waits out readers' shared probes (each lasts microseconds) before giving up."""


def _missing(key: str, exc: OSError | None = None) -> ObjectNotFoundError:
    return ObjectNotFoundError(errno.ENOENT, f"no object {key!r}" + (f" ({exc.strerror})" if exc else ""), key)


def fsync_dir(path: str) -> None:
    """Make a rename or create inside ``path`` durable (no-op where directories can't be opened)."""
    try:
        fd = os.open(path or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes | memoryview | pa.Buffer) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _stat_of(st: os.stat_result) -> ObjectStat:
    return ObjectStat(st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class LocalAppender:
    """An ``O_APPEND`` file descriptor: unbuffered, so each write is in the page cache (and
    survives ``kill -9`` of the writer) when it returns."""

    def __init__(self, fd: int):
        self._fd: int | None = fd

    @property
    def closed(self) -> bool:
        return self._fd is None

    def _open_fd(self) -> int:
        if self._fd is None:
            raise ValueError("appender is closed")
        return self._fd

    def write(self, data: bytes | memoryview | pa.Buffer) -> int:
        view = memoryview(data)
        _write_all(self._open_fd(), view)
        return len(view)

    def truncate(self, size: int) -> None:
        os.ftruncate(self._open_fd(), size)

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


class LocalStorage(Storage):
    """A repository in a folder of a local (or NFS) filesystem.  ``root`` is the ``.aimcol`` folder."""

    supports_append = True

    def __init__(self, root: str):
        self.root = os.path.abspath(os.path.expanduser(root))
        self.uri = self.root
        self.local_root = self.root
        self._prefix = self.root + os.sep

    def path(self, key: str) -> str:
        """The filesystem path of ``key``."""
        return self._prefix + key if key else self.root

    # -- listing ---------------------------------------------------------------------------------
    def list_children(self, prefix: str) -> list[str]:
        try:
            with os.scandir(self.path(prefix)) as entries:
                return [e.name for e in entries if not e.name.startswith(".")]
        except (FileNotFoundError, NotADirectoryError):
            return []

    def is_temporary(self, name: str) -> bool:
        return name.endswith(PARTIAL_SUFFIX)

    def listing_stamp(self, prefix: str) -> int | None:
        try:
            return os.stat(self.path(prefix)).st_mtime_ns
        except OSError:
            return None

    # -- small mutable objects -------------------------------------------------------------------
    def read(self, key: str) -> bytes:
        try:
            with _open_regular(self.path(key), key) as fh:
                return fh.read()
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise _missing(key, exc) from None

    def try_lock(self, key: str) -> Callable[[], None] | None:
        """An exclusive ``flock`` of the file ``key`` (created if absent), not waited for.
        Where no lock file can be made (a read-only repository) nobody can hold one: the
        lock is granted (a release that does nothing)."""
        path = self.path(key)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd = open_lock_file(path)
        except (OSError, FormatError):
            return lambda: None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None
        return lambda: os.close(fd)

    def open_pinned(self, key: str) -> PinnedObject:
        """An open descriptor of the file: a replacement (a rename over it) leaves this version readable."""
        try:
            return _PinnedFile(_open_regular(self.path(key), key))
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise _missing(key, exc) from None

    def read_versioned(self, key: str) -> tuple[bytes, ObjectStat]:
        try:
            with _open_regular(self.path(key), key) as fh:
                st = os.fstat(fh.fileno())
                return fh.read(), _stat_of(st)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise _missing(key, exc) from None

    def stat(self, key: str) -> ObjectStat:
        try:
            return _stat_of(os.stat(self.path(key)))
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise _missing(key, exc) from None

    def stat_many(self, keys: Sequence[str]) -> list[ObjectStat | None]:
        """One ``stat`` per key relative to an open descriptor of the root (10,000 manifests:
        the kernel resolves only the short relative part of each path)."""
        try:
            dir_fd: int | None = os.open(self.root, os.O_RDONLY)
        except OSError:
            dir_fd = None
        out: list[ObjectStat | None] = []
        add = out.append
        stat = os.stat
        make = ObjectStat
        try:
            for key in keys:  # keep the loop lean
                try:
                    st = stat(key, dir_fd=dir_fd) if dir_fd is not None else stat(self.path(key))
                except (FileNotFoundError, NotADirectoryError):
                    add(None)
                    continue
                add(make(st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
        finally:
            if dir_fd is not None:
                os.close(dir_fd)
        return out

    def exists(self, key: str) -> bool:
        return os.path.exists(self.path(key))

    def _write_partial(self, path: str, data: bytes | Iterable[bytes | memoryview | pa.Buffer], durable: bool) -> str:
        """A fully written temporary file beside ``path`` (``data``: bytes, or parts written
        one after the other); its name is returned."""
        tmp = f"{path}.{uuid.uuid4().hex[:12]}{PARTIAL_SUFFIX}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            try:
                if isinstance(data, bytes):
                    _write_all(fd, data)
                else:
                    for part in data:
                        _write_all(fd, part)
                if durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
        except BaseException:
            _unlink_quietly(tmp)
            raise
        return tmp

    def replace(self, key: str, data: bytes, *, durable: bool = False, claim: Claim | None = None) -> None:
        if claim is not None:
            claim.check()
        path = self.path(key)
        tmp = self._write_partial(path, data, durable)
        try:
            os.replace(tmp, path)
        except BaseException:
            _unlink_quietly(tmp)
            raise
        if durable:
            fsync_dir(os.path.dirname(path))

    def replace_parts(self, key: str, parts: Iterable[bytes | memoryview | pa.Buffer]) -> None:
        path = self.path(key)
        tmp = self._write_partial(path, parts, durable=False)
        try:
            os.replace(tmp, path)
        except BaseException:
            _unlink_quietly(tmp)
            raise

    def create(self, key: str, data: bytes, *, durable: bool = True) -> None:
        path = self.path(key)
        tmp = self._write_partial(path, data, durable)
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise ObjectExistsError(errno.EEXIST, f"object {key!r} already exists", key) from None
        finally:
            _unlink_quietly(tmp)
        if durable:
            fsync_dir(os.path.dirname(path))

    def delete(self, key: str) -> bool:
        """Also removes a directory sitting at an object's key (damage: no object is one)."""
        path = self.path(key)
        try:
            os.unlink(path)
        except (FileNotFoundError, NotADirectoryError):
            return False
        except IsADirectoryError:
            return _remove_tree(path)
        return True

    # -- appendable objects ----------------------------------------------------------------------
    def open_appender(self, key: str, *, truncate: bool = False) -> Appender:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | (os.O_TRUNC if truncate else 0)
        return LocalAppender(os.open(self.path(key), flags, 0o644))

    def append(self, key: str, data: bytes) -> None:
        fd = os.open(self.path(key), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)

    def read_appended(self, key: str, known_size: int | None = None) -> bytes | None:
        try:
            fh = _open_regular(self.path(key), key)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise _missing(key, exc) from None
        with fh:  # once open, the bytes stay readable even if the writer seals and removes the file
            size = os.fstat(fh.fileno()).st_size
            if size == known_size:
                return None
            return fh.read(size)

    # -- immutable objects and ranged reads ------------------------------------------------------
    @contextlib.contextmanager
    def _immutable(self, key: str) -> Iterator[pa.NativeFile]:
        path = self.path(key)
        tmp = f"{path}.{os.getpid()}{PARTIAL_SUFFIX}"
        if not os.path.isdir(os.path.dirname(path)):
            os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            with pa.OSFile(tmp, "wb") as sink:
                yield sink
                os.fsync(sink.fileno())
            publish_new_file(tmp, path)  # never replaces an immutable object (a damaged counter)
        finally:
            _unlink_quietly(tmp)
        fsync_dir(os.path.dirname(path))

    def write_immutable(self, key: str) -> contextlib.AbstractContextManager[pa.NativeFile]:
        return self._immutable(key)

    def read_range(self, key: str, offset: int, length: int) -> bytes:
        try:
            fd = open_regular(self.path(key))[0]
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise _missing(key, exc) from None
        try:
            return os.pread(fd, length, offset)
        finally:
            os.close(fd)

    def read_tail(self, key: str, length: int) -> tuple[bytes, int]:
        try:
            fd = open_regular(self.path(key))[0]
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise _missing(key, exc) from None
        try:
            size = os.fstat(fd).st_size
            length = min(length, size)
            return os.pread(fd, length, size - length), size
        finally:
            os.close(fd)

    def open_input(self, key: str) -> pa.NativeFile:
        try:
            return pa.memory_map(self.path(key), "r")
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise _missing(key, exc) from None

    # -- runs: folders and claims ----------------------------------------------------------------
    def make_prefix(self, prefix: str, *, exclusive: bool = False) -> None:
        try:
            if exclusive:
                os.makedirs(os.path.dirname(self.path(prefix)), exist_ok=True)
                os.mkdir(self.path(prefix))
            else:
                os.makedirs(self.path(prefix), exist_ok=True)
        except FileExistsError:
            raise ObjectExistsError(errno.EEXIST, f"{prefix!r} already exists", prefix) from None

    def _lock_path(self, run_hash: str) -> str:
        return self.path(f"runs/{run_hash}/{LOCK_NAME}")

    def claim_run(self, run_hash: str) -> LocalClaim:
        return LocalClaim(self._lock_path(run_hash), run_hash)

    def run_claimed(self, run_hash: str) -> bool:
        return is_locked(self._lock_path(run_hash))

    def claim_holder(self, run_hash: str) -> dict[str, Any] | None:
        try:
            fd = os.open(self._lock_path(run_hash), os.O_RDONLY)
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            return _read_holder(fd)
        finally:
            os.close(fd)

    def delete_run(self, run_hash: str) -> bool:
        run_dir = self.path(f"runs/{run_hash}")
        if not os.path.isdir(run_dir):
            return False
        if self.run_claimed(run_hash):
            raise RunLockedError(run_hash, self.claim_holder(run_hash))
        return _remove_tree(run_dir)


def _remove_tree(path: str) -> bool:
    """Remove a directory tree, renaming it to a hidden name first: readers see it vanish at
    once, never half-deleted.  ``False`` if it was gone already."""
    head, tail = os.path.split(path)
    trash = os.path.join(head, f".deleted-{tail}-{uuid.uuid4().hex[:8]}")
    try:
        os.rename(path, trash)
    except FileNotFoundError:
        return False
    import shutil  # here, not at import: shutil (bz2, lzma) is 3 ms of every cold query

    shutil.rmtree(trash, ignore_errors=True)
    return True


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


# ---- the flock claim --------------------------------------------------------------------------------


def _read_holder(fd: int) -> dict[str, Any] | None:
    try:
        data = os.pread(fd, 4096, 0)
        holder = json.loads(data.decode()) if data else None
    except (OSError, ValueError):
        return None
    return holder if isinstance(holder, dict) else None


def _lock_exclusive(fd: int) -> None:
    """``flock(LOCK_EX)`` that fails at once on a live writer but not on a reader's probe.

    :func:`is_locked` takes ``LOCK_SH`` for an instant, so a writer taking over a dead
    writer's run can collide with a reader asking ``run.active``.  When ``LOCK_EX`` fails,
    a ``LOCK_SH`` that succeeds proves no writer holds the file, only readers: drop it and
    retry.  Raises ``BlockingIOError`` when a writer holds the lock.
    """
    deadline = time.monotonic() + READER_PATIENCE_S
    delay = 0.0005
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # raises BlockingIOError under a writer
            fcntl.flock(fd, fcntl.LOCK_UN)
            if time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.02)


class LocalClaim(Claim):
    """An acquired ``flock`` on a run's lock file; ``release()`` (or process death) frees it.

    The generation is kept in the lock file (the last holder's record survives it): a new
    claim takes the previous generation plus one.  An flock cannot be taken from a live
    holder, so a held local claim is never fenced by another writer; ``check()`` fails only
    after ``release()``.
    """

    def __init__(self, path: str, run_hash: str):
        self.path = path
        self.run_hash = run_hash
        try:
            fd = open_lock_file(path)  # a directory or FIFO there: DamagedRunError; read-only: ReadOnlyRepoError
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise _missing(path, exc) from None
        try:
            _lock_exclusive(fd)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise RunLockedError(run_hash, holder) from None
        except BaseException:
            os.close(fd)
            raise
        self._fd: int | None = fd
        previous = _read_holder(fd) or {}
        last = previous.get("generation")
        self.generation = (last if isinstance(last, int) and not isinstance(last, bool) else 0) + 1
        self.holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.time(),
            "generation": self.generation,
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(self.holder).encode(), 0)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def check(self) -> None:
        if self._fd is None:
            raise ClaimLostError(
                f"run {self.run_hash}: this writer's claim (generation {self.generation}) was released"
            )

    def renew(self) -> None:
        self.check()

    def release(self) -> None:
        """Free the lock; the holder record stays (minus nothing: its generation numbers the next claim)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def is_locked(path: str) -> bool:
    """True while some process holds the flock at ``path``."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except (FileNotFoundError, NotADirectoryError):
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops our shared lock if we got it
    return False


class _PinnedFile(PinnedObject):
    """Positioned reads of one open file (never a memory map: a file cut under a map kills
    the process with SIGBUS)."""

    def __init__(self, fh: BinaryIO):
        with fh:  # a descriptor of its own: closed by close() or when the object goes away
            self._fd: int | None = os.dup(fh.fileno())
        self.size = os.fstat(self._fd).st_size

    def read_at(self, offset: int, length: int) -> bytes:
        if self._fd is None:
            raise ValueError("read from a closed pinned file")
        parts = []
        while length > 0:
            part = os.pread(self._fd, length, offset)
            if not part:
                break
            parts.append(part)
            offset += len(part)
            length -= len(part)
        return b"".join(parts) if len(parts) != 1 else parts[0]

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    __del__ = close


def _open_regular(path: str, key: str) -> BinaryIO:
    """A binary file object of the regular file at ``path``: never blocks on a FIFO, and a
    directory or device in an object's place raises ``DamagedRunError`` naming it."""
    return open(open_regular(path)[0], "rb")  # noqa: SIM115 (the caller closes it)
