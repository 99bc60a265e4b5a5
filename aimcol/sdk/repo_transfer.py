"""Copying and moving whole runs between repositories, and pruning what no run refers to.

A run is a folder; a transfer copies it under a hidden temporary name inside the
destination's ``runs/`` and renames it into place, so readers of the destination (and a
crash) see either no run or the whole run.  The source run's writer lock is held for the
copy, so no writer can resume it half-way; a live run (lock held by its writer) is refused.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid

from aimcol.errors import MissingRunError
from aimcol.format.atomic_file import PARTIAL_SUFFIX
from aimcol.format.change_journal import note_manifest_changed
from aimcol.format.repo_layout import RepoLayout
from aimcol.format.run_lock import RunLock, is_locked

INCOMING_PREFIX = ".incoming-"
DELETED_PREFIX = ".deleted-"
ORPHAN_GRACE_SECONDS = 60.0
"""A run folder without a manifest younger than this may be a run being created right now."""

_NOT_COPIED = ("lock",)


def _skip(name: str) -> bool:
    return name in _NOT_COPIED or name.endswith(PARTIAL_SUFFIX)


def transfer_run(src: RepoLayout, dest: RepoLayout, run_hash: str, *, move: bool) -> None:
    """Copy (``move``: then delete) one run.  Raises ``MissingRunError`` (absent),
    ``RunLockedError`` (live), ``FileExistsError`` (``dest`` has the run already)."""
    if not os.path.exists(src.manifest_path(run_hash)):
        raise MissingRunError(f"no run {run_hash!r} in repository {src.root}")
    if os.path.exists(dest.run_dir(run_hash)):
        raise FileExistsError(f"repository {dest.root} already has a run {run_hash}")
    lock = RunLock(src.lock_path(run_hash), run_hash)  # RunLockedError for a live run
    try:
        staging = os.path.join(dest.runs_dir, f"{INCOMING_PREFIX}{run_hash}-{uuid.uuid4().hex[:8]}")
        try:
            shutil.copytree(src.run_dir(run_hash), staging, ignore=lambda _d, names: [n for n in names if _skip(n)])
            os.rename(staging, dest.run_dir(run_hash))  # whole, or not at all
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        note_manifest_changed(dest, run_hash)
        if move:
            trash = os.path.join(src.runs_dir, f"{DELETED_PREFIX}{run_hash}-{uuid.uuid4().hex[:8]}")
            os.rename(src.run_dir(run_hash), trash)  # we hold its lock: no writer is in it
            note_manifest_changed(src, run_hash)
    finally:
        lock.release()
    if move:
        shutil.rmtree(trash, ignore_errors=True)


def prune_repo(layout: RepoLayout) -> list[str]:
    """Remove interrupted deletions/copies and manifest-less run folders; return their names."""
    removed = []
    try:
        names = os.listdir(layout.runs_dir)
    except FileNotFoundError:
        return removed
    now = time.time()
    for name in sorted(names):
        path = os.path.join(layout.runs_dir, name)
        if not os.path.isdir(path):
            continue
        if name.startswith((DELETED_PREFIX, INCOMING_PREFIX)):
            if name.startswith(INCOMING_PREFIX) and now - os.stat(path).st_mtime < ORPHAN_GRACE_SECONDS:
                continue  # a copy in progress
            shutil.rmtree(path, ignore_errors=True)
            removed.append(name)
            continue
        if name.startswith("."):
            continue
        if os.path.exists(layout.manifest_path(name)) or is_locked(layout.lock_path(name)):
            continue
        if now - os.stat(path).st_mtime < ORPHAN_GRACE_SECONDS:
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(name)
    return removed
