"""Atomic replacement of small files (manifests, index, FORMAT).

A reader must never see a half-written file: we write ``<name>.<random>.partial`` next to
the target, optionally fsync it, then ``os.replace`` it over the target (atomic on POSIX and
on NFS for a rename within one directory).  Stray ``.partial`` files left by a crash are
ignored by readers and removed by writers.
"""

from __future__ import annotations

import os
import uuid

PARTIAL_SUFFIX = ".partial"


def atomic_write(path: str, data: bytes, *, fsync: bool = True) -> None:
    """Replace ``path`` with ``data`` so that readers see the old or the new bytes, never a mix.

    ``fsync=False`` keeps the guarantee against a killed process (the page cache survives)
    but not against power loss; the write path uses it for per-flush manifest updates and
    fsyncs on seal and close.
    """
    tmp = f"{path}.{uuid.uuid4().hex[:12]}{PARTIAL_SUFFIX}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if fsync:
        fsync_dir(os.path.dirname(path))


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
