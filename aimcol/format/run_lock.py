"""The per-run writer lock: an OS ``flock`` on ``runs/<hash>/lock``.

The kernel releases an flock when its holder dies, however it dies, so a dead writer's
lock is taken over automatically by the next writer and a reader tells "active" from
"crashed" by trying the lock.  The holder writes ``{"pid", "host", "started"}`` into the file
so that :class:`RunLockedError` can name it.  flock is per open file description, so a
reader in the writer's own process sees the run as locked too.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time

from aimcol.errors import RunLockedError
from aimcol.format.regular_files import open_lock_file


def _read_holder(fd: int) -> dict | None:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        data = os.read(fd, 4096)
        return json.loads(data.decode()) if data else None
    except (OSError, ValueError):
        return None


READER_PATIENCE_S = 2.0
"""How long a writer waits out readers' shared probes (each lasts microseconds) before giving up."""


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


class RunLock:
    """An acquired writer lock; ``release()`` (or process death) frees it."""

    def __init__(self, path: str, run_hash: str):
        self.path = path
        fd = open_lock_file(path)
        try:
            _lock_exclusive(fd)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise RunLockedError(run_hash, holder) from None
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self.holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(self.holder).encode(), 0)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def is_locked(path: str) -> bool:
    """True while some process holds the writer lock at ``path``."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops our shared lock if we got it
    return False


def lock_holder(path: str) -> dict | None:
    """Who holds (or last held) the lock, as written by the holder; ``None`` if unknown."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        return _read_holder(fd)
    finally:
        os.close(fd)
