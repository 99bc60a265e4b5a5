"""When a run's newest point was written: the end of a run that crashed (it has no ``end_time``).

The one definition every duration uses (AimQL's ``run.duration``, ``Repo.runs_table()``,
``aimcol runs ls``/``show``, the TUI): the manifest's ``last_point_time``, which the writer
raises to the newest point's ``time`` with every batch it writes and publishes with the
manifest.  Archiving, renaming, tagging or repairing a run rewrites its manifest but not
this key, so a crashed run's duration stays put (the manifest's modification time, used
before, moved with every edit).

A manifest written before the key existed has none; its newest point is then read from the
run's newest segment (the live one, else the last sealed one: one file, its ``time`` column)
and cached per segment list.  A run with no points ends at its creation time.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa

from aimcol.format.repo_layout import RepoLayout

MANIFEST_KEY = "last_point_time"


def recorded_last_point(manifest: dict[str, Any]) -> float | None:
    """The manifest's ``last_point_time`` (unix seconds), or None when absent or not a finite number."""
    value = manifest.get(MANIFEST_KEY)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def raise_last_point(manifest: dict[str, Any], times: np.ndarray) -> None:
    """Record in ``manifest`` the newest of ``times`` (a batch just written), if it is newer."""
    if not len(times):
        return
    with np.errstate(invalid="ignore"):
        newest = float(np.nanmax(times)) if not np.isnan(times).all() else math.nan
    if not math.isfinite(newest):
        return
    known = recorded_last_point(manifest)
    if known is None or newest > known:
        manifest[MANIFEST_KEY] = newest


_READ_CACHE: dict[tuple[Any, ...], float] = {}


def last_point_time(layout: RepoLayout, manifest: dict[str, Any]) -> float:
    """Unix time of the newest point of a run (never before its creation time; see the module docstring)."""
    created = float(manifest["creation_time"])
    recorded = recorded_last_point(manifest)
    if recorded is not None:
        return max(created, recorded)
    return max(created, _read_newest_time(layout, manifest))


def _read_newest_time(layout: RepoLayout, manifest: dict[str, Any]) -> float:
    """The newest ``time`` in the run's newest segment, for a manifest without the key (-inf: none)."""
    from aimcol.format.arrow_numpy import to_numpy
    from aimcol.format.segments import SealedSegmentReader, read_live_segment

    run_hash = manifest["hash"]
    segments = manifest.get("segments") or []
    live = manifest.get("live")
    key = (id(layout.storage), run_hash, len(segments), live, manifest.get("live_rows"))
    found = _READ_CACHE.get(key)
    if found is not None:
        return found
    newest = -math.inf
    try:
        times = np.empty(0)
        if live:
            live_table = read_live_segment(layout.storage, layout.segment_key(run_hash, live))
            times = to_numpy(live_table.column("time"), np.nan)  # ChunkedArray.to_numpy would import pandas
        if not len(times) and segments:
            entry = segments[-1]
            reader = SealedSegmentReader(layout.storage, layout.segment_key(run_hash, entry["file"]), entry)
            times = reader.read_rows(0, int(entry["rows"]), columns=("time",))["time"]
        if len(times) and not np.isnan(times).all():
            newest = float(np.nanmax(times))
    except (OSError, ValueError, KeyError, pa.ArrowException):
        pass  # an unreadable segment: `aimcol check` names it; the run then ends at its creation
    if len(_READ_CACHE) > 4096:
        _READ_CACHE.clear()
    _READ_CACHE[key] = newest
    return newest
