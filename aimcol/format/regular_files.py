"""Opening the files a repository names without hanging or reading without bound.

A run folder may hold anything a user, a bad copy or a broken disk left there: a manifest
that is a directory, a FIFO (``open()`` of a FIFO blocks until a writer appears), a symlink
to ``/dev/zero`` (reads forever), a sparse 100 GB file.  Every reader of a manifest,
segment or index opens it here: non-blocking, then ``fstat`` says whether it is a regular
file and how big.  Anything else is a damaged file, reported by name
(:class:`DamagedRunError`), never a hang, a traceback or gigabytes read.
"""

from __future__ import annotations

import errno
import os
import stat

from aimcol.errors import DamagedRunError, ReadOnlyRepoError

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
_MISSING = (errno.ENOENT, errno.ENOTDIR)


def open_regular(path: str, what: str = "file") -> tuple[int, os.stat_result]:
    """A read-only descriptor of the regular file at ``path`` and its ``fstat``.

    Raises ``FileNotFoundError`` (or ``NotADirectoryError``) when it is absent, and
    :class:`DamagedRunError` naming ``path`` when it is not a regular file or cannot be
    opened for another reason.  The caller closes the descriptor.
    """
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        if exc.errno in _MISSING:
            raise
        raise DamagedRunError(f"{path}: cannot open the {what} ({exc.strerror})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise DamagedRunError(f"{path}: the {what} is not a regular file ({_kind(st.st_mode)})")
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


_READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)


def open_lock_file(path: str) -> int:
    """A read-write descriptor of the run's lock file, created if absent.

    A lock that is not a regular file (a directory, a FIFO) is a damaged run
    (:class:`DamagedRunError`); a repository that cannot be written raises
    :class:`ReadOnlyRepoError`.  Both name the path: one line for the user, no traceback.
    """
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o644)
    except IsADirectoryError:
        raise DamagedRunError(f"{path}: the run's lock is a directory, not a file; remove it by hand") from None
    except OSError as exc:
        if exc.errno in _READ_ONLY:
            raise ReadOnlyRepoError(f"{path}: cannot take the run's writer lock ({exc.strerror})") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise DamagedRunError(f"{path}: the run's lock is not a regular file; remove it by hand")
    return fd
