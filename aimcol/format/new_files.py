"""Publishing immutable files that must not exist yet: a name is used once, a sealed file never rewritten.

A segment's name comes from the manifest's ``next_segment`` counter.  A damaged or
hand-edited manifest can hold a counter that names an existing file; the writer must then
fail (and pick another number), never replace an immutable sealed one.  The fully written,
fsynced temporary file gets its name by a hard link (``link()`` refuses an existing
target, where ``rename()`` would replace it).
"""

from __future__ import annotations

import errno
import os

_NO_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK, errno.ENOSYS}


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
