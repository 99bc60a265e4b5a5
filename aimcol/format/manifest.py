"""The per-run manifest: metadata, params, sequence table and segment list, in msgpack.

The manifest is the single source of truth for a run (the index is only a cache of it).
It is replaced atomically on every change, so a reader sees either the previous or the
next version.  Layout of the map (version 1)::

    format          1
    hash            24 hex chars
    name, description, experiment   str | None
    tags            [str]
    archived        bool
    creation_time   float (unix seconds)
    end_time        float | None (set by a clean close or by `aimcol runs close`)
    params          nested map (str keys) of None/bool/int/float/str/bytes/list/map
    sequences       [{id, name, context, dtype, count, first, last, min, max,
                      first_step, last_step}]   (stats over every point written so far)
    segments        [{file, rows, ranges: [[seq_id, start, stop], ...]}]  sealed, in order
    live            file name of the open live segment, or None
    live_rows       how many leading rows of the live segment the sequence stats include
                    (rows past it were written by a writer killed before it published them;
                    the next writer folds them in when it seals the file)
    next_segment    number for the next segment file
    writer          {pid, host, started} of the last writer
"""

from __future__ import annotations

import time
from typing import Any

import msgpack

from aimcol.errors import ChecksumError, DamagedRunError, FormatError, FormatVersionError
from aimcol.format.atomic_file import atomic_write
from aimcol.format.integrity import map_checksum_matches, pack_checked_map, strip_map_checksum
from aimcol.format.regular_files import read_regular_file
from aimcol.format.segment_names import bad_segment_names

MANIFEST_VERSION = 1

REQUIRED_KEYS = ("format", "hash", "creation_time", "params", "sequences", "segments")

MAX_MANIFEST_BYTES = 256 << 20
"""A manifest larger than this is damaged (a real one with 100,000 sequences is ~25 MB)."""


def new_manifest(run_hash: str, *, experiment: str | None = None) -> dict[str, Any]:
    """A fresh manifest for a run created now."""
    return {
        "format": MANIFEST_VERSION,
        "hash": run_hash,
        "name": f"Run: {run_hash}",
        "description": None,
        "experiment": experiment,
        "tags": [],
        "archived": False,
        "creation_time": time.time(),
        "end_time": None,
        "params": {},
        "sequences": [],
        "segments": [],
        "live": None,
        "next_segment": 1,
        "writer": None,
    }


def pack_manifest(manifest: dict[str, Any]) -> bytes:
    """The manifest as msgpack, ending with its checksum entry (``integrity.pack_checked_map``)."""
    return pack_checked_map(manifest)


def write_manifest(path: str, manifest: dict[str, Any], *, fsync: bool = False) -> None:
    """Atomically replace the manifest at ``path``."""
    atomic_write(path, pack_manifest(manifest), fsync=fsync)


def read_manifest(path: str) -> dict[str, Any]:
    """Read and validate a manifest; a damaged one raises :class:`FormatError` naming the file
    (:class:`DamagedRunError` when it is not a regular file of a sane size, :class:`ChecksumError`
    when its bytes changed since written).  An absent one raises ``FileNotFoundError``."""
    return read_manifest_file(path)[0]


def read_manifest_file(path: str) -> tuple[dict[str, Any], Any]:
    """``read_manifest`` and the ``os.stat_result`` of exactly the file read."""
    data, st = read_regular_file(path, MAX_MANIFEST_BYTES, "run manifest")
    return unpack_manifest(data, path), st


_FIELD_TYPES = {"hash": str, "creation_time": (int, float), "params": dict, "sequences": list, "segments": list}
_ENTRY_KEYS = {"sequences": ("id", "name", "context"), "segments": ("file", "rows", "ranges")}


def unpack_manifest(data: bytes, path: str = "<manifest>") -> dict[str, Any]:
    if map_checksum_matches(data) is False:
        raise ChecksumError(f"{path}: run manifest does not match its checksum (the file is damaged)")
    try:
        manifest = msgpack.unpackb(data, raw=False, strict_map_key=False)
    except (ValueError, TypeError, msgpack.UnpackException) as exc:  # TypeError: a map key that can't be hashed
        raise FormatError(f"{path}: corrupt run manifest ({exc})") from exc
    if not isinstance(manifest, dict):
        raise FormatError(f"{path}: corrupt run manifest (not a map)")
    missing = [k for k in REQUIRED_KEYS if k not in manifest]
    if missing:
        raise FormatError(f"{path}: run manifest lacks {', '.join(missing)}")
    version = manifest["format"]
    if not isinstance(version, int) or isinstance(version, bool):
        raise FormatError(f"{path}: corrupt run manifest (format is {version!r})")
    if version > MANIFEST_VERSION:
        raise FormatVersionError(
            f"{path}: run manifest version {version} is newer than this aimcol "
            f"understands ({MANIFEST_VERSION}); upgrade aimcol"
        )
    wrong = [k for k, kind in _FIELD_TYPES.items() if not isinstance(manifest[k], kind)]
    for key, needed in _ENTRY_KEYS.items():
        if key not in wrong and not all(isinstance(e, dict) and all(n in e for n in needed) for e in manifest[key]):
            wrong.append(key)
    for key in ("next_segment", "live_rows"):
        value = manifest.get(key)
        if value is not None and (type(value) is not int or value < 0):
            wrong.append(key)
    if wrong:
        raise FormatError(f"{path}: corrupt run manifest (malformed {', '.join(wrong)})")
    bad = bad_segment_names(manifest)
    if bad:
        raise DamagedRunError(
            f"{path}: damaged run: the manifest names {', '.join(bad)}, not a segment file in its folder"
        )
    return strip_map_checksum(manifest)
