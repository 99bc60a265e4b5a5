"""Which names a manifest or the index may hand to a path: plain names inside their folder.

Every path aimcol builds from data it read (a run hash from the index or a folder listing,
a segment file name from a manifest) goes through these checks first.  A crafted or
damaged manifest saying ``"live": "../../victim"`` or ``"/abs/path"`` must never make
``repair``, ``runs close`` or a resumed writer unlink, truncate or read a file outside the
run's folder: such a run is damaged (:class:`DamagedRunError`), and its files are left alone.
"""

from __future__ import annotations

import re
from typing import Any

from aimcol.errors import DamagedRunError

LIVE_NAME = re.compile(r"live-[0-9]{6,18}\.arrows")
SEALED_NAME = re.compile(r"seg-([0-9]{6,18})(?:-g[0-9]{1,18})?\.arrow")
"""``seg-<n>.arrow``, or on object stores ``seg-<n>-g<claim generation>.arrow`` (delta_segments)."""
_RUN_NAME = re.compile(r"[A-Za-z0-9_-]{1,128}")


def is_run_name(name: object) -> bool:
    """A run folder name: letters, digits, ``-`` and ``_`` (aimcol's hashes are 24 hex digits)."""
    return isinstance(name, str) and _RUN_NAME.fullmatch(name) is not None


RUN_NAME_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
"""The bytes a run name is made of (:func:`is_run_name`); at most 128 of them."""


def check_run_name(name: object) -> str:
    """``name`` if it can name a folder directly inside ``runs/``, else :class:`DamagedRunError`."""
    if not is_run_name(name):
        raise DamagedRunError(f"{name!r} is not a run hash (a plain name inside runs/)")
    return name  # type: ignore[return-value]


def is_plain_name(name: object) -> bool:
    """A name of one object directly inside a folder: no separator, not ``.``/``..``, no NUL."""
    return (
        isinstance(name, str)
        and name not in ("", ".", "..")
        and "/" not in name
        and "\\" not in name
        and "\0" not in name
    )


def is_segment_name(name: object) -> bool:
    """``live-<n>.arrows`` or ``seg-<n>[-g<generation>].arrow``: the only files a manifest may name."""
    return isinstance(name, str) and (LIVE_NAME.fullmatch(name) or SEALED_NAME.fullmatch(name)) is not None


def seal_file_name(number: int) -> str:
    """The name of a run's sealed segment ``number`` (local storage; object stores add ``-g<n>``)."""
    return f"seg-{number:06d}.arrow"


def segment_number(name: str) -> int:
    """The ``<n>`` of a segment file name (call :func:`is_segment_name` first)."""
    return int(re.split(r"[-.]", name)[1])


def bad_segment_names(manifest: dict[str, Any]) -> list[str]:
    """Descriptions of every file name in a manifest that is not a plain segment name of its kind."""
    bad = []
    live = manifest.get("live")
    if live is not None and not (isinstance(live, str) and LIVE_NAME.fullmatch(live)):
        bad.append(f"live {live!r}")
    for entry in manifest.get("segments") or ():
        name = entry.get("file") if isinstance(entry, dict) else None
        if not (isinstance(name, str) and SEALED_NAME.fullmatch(name)):
            bad.append(f"segment {name!r}")
    return bad
