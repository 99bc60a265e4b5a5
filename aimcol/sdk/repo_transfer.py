"""Copying and moving whole runs between repositories, and pruning what no run refers to.

Everything goes through the repositories' :class:`~aimcol.format.storage.Storage`, so the two
repositories may live on different backends.  A run appears in the destination only when
its manifest does (a run is a prefix *with a manifest*), and the manifest is copied last,
with ``create`` (never over an existing run): readers of the destination, and a crash,
see either no run or the whole run.  The source run's writer claim is held for the copy,
so no writer can resume it half-way; a live run (claimed by its writer) is refused.
"""

from __future__ import annotations

import time

from aimcol.errors import MissingRunError, ObjectExistsError
from aimcol.format.change_journal import note_manifest_changed
from aimcol.format.repo_layout import MANIFEST_NAME, RepoLayout
from aimcol.sdk import run_edits

ORPHAN_GRACE_SECONDS = 60.0
"""A run prefix without a manifest younger than this may be a run being created right now."""

LOCK_NAME = "lock"
"""The local backend's claim file: never copied (the destination's writers make their own)."""


def _object_names(layout: RepoLayout, run_hash: str) -> list[str]:
    """Every object of a run, as names relative to its prefix (``edits/…`` included)."""
    storage = layout.storage
    prefix = layout.run_prefix(run_hash)
    names = []
    for name in storage.list_children(prefix):
        if name == LOCK_NAME or storage.is_temporary(name):
            continue
        if name == run_edits.EDITS_DIR:
            names += [f"{name}/{n}" for n in run_edits.pending_edit_names(layout, run_hash)]
        else:
            names.append(name)
    return names


def transfer_run(src: RepoLayout, dest: RepoLayout, run_hash: str, *, move: bool) -> None:
    """Copy (``move``: then delete) one run.  Raises ``MissingRunError`` (absent),
    ``RunLockedError`` (live), ``FileExistsError`` (``dest`` has the run already)."""
    if not src.has_run(run_hash):
        raise MissingRunError(f"no run {run_hash!r} in repository {src.root}")
    if run_edits.pending_edit_names(src, run_hash):
        run_edits.edit_run(src, run_hash, [], wait=0)  # fold them, so the copy carries them
    claim = src.storage.claim_run(run_hash)  # RunLockedError for a live run
    try:
        try:
            dest.storage.make_prefix(dest.run_prefix(run_hash), exclusive=True)
        except ObjectExistsError:
            raise FileExistsError(f"repository {dest.root} already has a run {run_hash}") from None
        try:
            _copy_objects(src, dest, run_hash)
        except BaseException:
            dest.storage.delete_run(run_hash)  # no manifest was written: nobody saw it
            raise
        note_manifest_changed(dest, run_hash)
    finally:
        claim.release()
    if move:
        src.storage.delete_run(run_hash)  # RunLockedError if a writer resumed it just now
        note_manifest_changed(src, run_hash)


def _copy_objects(src: RepoLayout, dest: RepoLayout, run_hash: str) -> None:
    src_prefix, dest_prefix = src.run_prefix(run_hash), dest.run_prefix(run_hash)
    names = _object_names(src, run_hash)
    if any(n.startswith(f"{run_edits.EDITS_DIR}/") for n in names):
        dest.storage.make_prefix(run_edits.edits_prefix(dest, run_hash))
    for name in names:
        if name == MANIFEST_NAME:
            continue
        data = src.storage.read(f"{src_prefix}/{name}")
        key = f"{dest_prefix}/{name}"
        if name.startswith("seg-"):
            with dest.storage.write_immutable(key) as sink:
                sink.write(data)
        else:
            dest.storage.replace(key, data, durable=True)
    dest.storage.create(dest.manifest_key(run_hash), src.storage.read(src.manifest_key(run_hash)), durable=True)


def prune_repo(layout: RepoLayout) -> list[str]:
    """Remove run prefixes that never got a manifest (their creator died before writing
    one) and that no live writer claims; return their hashes.  A prefix whose age cannot
    be told, or younger than ``ORPHAN_GRACE_SECONDS``, is left alone."""
    storage = layout.storage
    removed = []
    now_ns = time.time_ns()
    for name in sorted(layout.list_run_hashes()):
        if layout.has_run(name) or storage.run_claimed(name):
            continue
        stamp = storage.listing_stamp(layout.run_prefix(name))
        if stamp is None or now_ns - stamp < ORPHAN_GRACE_SECONDS * 1e9:
            continue
        if storage.delete_run(name):
            removed.append(name)
    return removed
