"""Creating segment files that must not exist yet: a name is used once, a sealed file never rewritten.

A segment's name comes from the manifest's ``next_segment`` counter.  A damaged or
hand-edited manifest can hold a counter that names an existing file; the writer must then
fail (and pick another number), never truncate a live file or replace an immutable sealed
one.  Both creations here are exclusive: ``O_EXCL`` for a live segment, and for a sealed
one a hard link of the fully written, fsynced temporary file (``link()`` refuses an
existing target, where ``rename()`` would replace it).
"""

from __future__ import annotations

import errno
import os

from aimcol.format.atomic_file import PARTIAL_SUFFIX, fsync_dir

_NO_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK, errno.ENOSYS}


def create_new_file(path: str) -> None:
    """Create ``path`` empty; ``FileExistsError`` if anything is there already."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o644))


def write_new_file(path: str, data) -> None:
    """Write ``data`` to a new file ``path`` durably and atomically; ``FileExistsError`` if it exists.

    Readers never see a partial file: the bytes go to ``<path>.<pid>.partial``, are fsynced,
    then linked to ``path`` (on a file system without hard links: renamed, after checking
    that ``path`` is free; the run's writer lock keeps other aimcol writers away meanwhile).
    """
    tmp = f"{path}.{os.getpid()}{PARTIAL_SUFFIX}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o644)
    try:
        try:
            view = memoryview(data).cast("B")
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        publish_new_file(tmp, path)
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
    fsync_dir(os.path.dirname(path))


def publish_new_file(tmp: str, path: str) -> None:
    """Give the complete file ``tmp`` the name ``path`` unless ``path`` exists (``FileExistsError``).

    ``tmp`` keeps its name too (a hard link); the caller removes it.
    """
    try:
        os.link(tmp, path)
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise
        if os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, "segment file exists already", path) from None
        os.replace(tmp, path)
