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

Optional keys (readers ignore keys they do not know; written by the SDK):

    exit_status     "finished" | "failed" | "interrupted" | None  (how the writer ended the run)
    exit_error      str | None  (one line: the uncaught exception of a failed run)
    notes           str | None  (free-form notes, Run.notes)
    last_point_time float  (unix seconds of the newest point written; the end of a crashed run)
    progress        {reported_at, expect_next_by}  (the last report_progress())
    successful_finish_reported   float  (report_successful_finish())
    artifacts_uri   str  (the store URI as set; only file:// is written);  artifacts  {name: {path, uri}}
    object_sequences [{id, name, context, dtype, count, last_step}]  (points in objects.log)
"""

from __future__ import annotations

import gc
import time
from typing import Any

import msgpack

from aimcol.errors import ChecksumError, DamagedRunError, FormatError, FormatVersionError
from aimcol.format.integrity import map_checksum_matches, pack_checked_map, strip_map_checksum
from aimcol.format.repo_layout import RepoLayout
from aimcol.format.segment_names import bad_segment_names
from aimcol.format.storage import Claim

MANIFEST_VERSION = 1

REQUIRED_KEYS = ("format", "hash", "creation_time", "params", "sequences", "segments")


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


MAX_MANIFEST_BYTES = 256 << 20
"""A manifest larger than this is damaged (a real one with 100,000 sequences is ~25 MB)."""


def pack_manifest(manifest: dict[str, Any]) -> bytes:
    """The manifest as msgpack, ending with its checksum entry (``integrity.pack_checked_map``)."""
    return pack_checked_map(manifest)


def write_manifest(
    layout: RepoLayout,
    run_hash: str,
    manifest: dict[str, Any],
    *,
    fsync: bool = False,
    claim: Claim | None = None,
) -> None:
    """Atomically replace a run's manifest; ``claim``: the writer's, checked (fenced) first."""
    layout.storage.replace(layout.manifest_key(run_hash), pack_manifest(manifest), durable=fsync, claim=claim)


def read_manifest(layout: RepoLayout, run_hash: str) -> dict[str, Any]:
    """Read and validate a run's manifest.

    A missing one raises :class:`ObjectNotFoundError` (a ``FileNotFoundError``); a damaged
    one :class:`FormatError` naming the file."""
    return read_manifest_versioned(layout, run_hash)[0]


def read_manifest_versioned(layout: RepoLayout, run_hash: str) -> tuple[dict[str, Any], Any]:
    """``read_manifest`` and the ``ObjectStat`` of exactly the object read.

    A manifest that is not a regular file (a directory, a FIFO, a device: the local storage
    refuses to read it) or is larger than :data:`MAX_MANIFEST_BYTES` raises
    :class:`DamagedRunError`; one whose bytes changed since written :class:`ChecksumError`."""
    key = layout.manifest_key(run_hash)
    where = f"{layout.root}/{key}"
    size = layout.storage.stat(key).size
    if size > MAX_MANIFEST_BYTES:
        raise DamagedRunError(
            f"{where}: the run manifest is {size:,} bytes, more than the {MAX_MANIFEST_BYTES:,} allowed"
        )
    data, stat = layout.storage.read_versioned(key)
    if len(data) > MAX_MANIFEST_BYTES:
        raise DamagedRunError(f"{where}: the run manifest is more than the {MAX_MANIFEST_BYTES:,} bytes allowed")
    return unpack_manifest(data, where), stat


_FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "hash": str,
    "creation_time": (int, float),
    "params": dict,
    "sequences": list,
    "segments": list,
}
_ENTRY_KEYS = {"sequences": ("id", "name", "context"), "segments": ("file", "rows", "ranges")}


def unpack_manifest(data: bytes, path: str = "<manifest>") -> dict[str, Any]:
    if map_checksum_matches(data) is False:
        raise ChecksumError(f"{path}: run manifest does not match its checksum (the file is damaged)")
    collecting = gc.isenabled()
    if collecting:  # a 1,500-metric manifest is ~20,000 containers: the cyclic GC would run ~30 times meanwhile
        gc.disable()
    try:
        manifest = msgpack.unpackb(data, raw=False, strict_map_key=False)
    except (ValueError, TypeError, msgpack.UnpackException) as exc:  # TypeError: a map key that can't be hashed
        raise FormatError(f"{path}: corrupt run manifest ({exc})") from exc
    finally:
        if collecting:
            gc.enable()
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
