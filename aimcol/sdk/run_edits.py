"""Editing a run's properties from a process that does not write the run.

Aim lets any process set ``archived``, ``name``, ``description``, ``experiment`` and tags of
any run (and here ``notes``), also while the run trains elsewhere.  Here a run's manifest has one writer (the
process holding the run's lock), which rewrites it from memory after every flush; a
direct edit by anyone else would be overwritten.  So:

- **No live writer**: the editor takes the run's lock itself, applies the change to the
  manifest and releases it, keeping the end time (a crashed run stays crashed).
- **A live writer**: the editor drops an *edit object* under the run's ``edits/`` prefix —
  a small msgpack object created atomically through the repository's storage, named
  ``<time_ns>-<pid>-<random>.msgpack`` so names sort in time order — and waits (up to
  ``FOLD_WAIT_S``) for the writer to fold it.  The writer's flusher looks for edit
  objects every ``FOLD_POLL_S``; folding applies them in name order to its in-memory
  manifest, publishes the manifest (recording the last folded name in
  ``edits_folded``), then deletes them.  Before each of its own property changes the
  writer folds pending edits first, so the later change wins and none is lost.

An edit is a list of operations (``("set", key, value)``, ``("add_tag", tag)``,
``("remove_tag", tag)``), so concurrent tag changes from both sides all survive, and
applying one twice (a writer killed between publishing and deleting) changes nothing.
An edit left by a writer that died is folded by whoever takes the lock next (the
editor's own fallback, a resumed run, ``Repo.set_archived``).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterable, Sequence

import msgpack

from aimcol.errors import MissingRunError, RunLockedError
from aimcol.format.repo_layout import RepoLayout

EDITS_DIR = "edits"
FOLD_POLL_S = 0.1
"""How often a live writer looks for edit objects."""
FOLD_WAIT_S = 5.0
"""How long an editor waits for a live writer to fold its edit before returning anyway."""

EDITABLE = ("name", "description", "notes", "experiment", "archived")
"""Properties an edit may set (tags change through ``add_tag``/``remove_tag``)."""

Op = Sequence  # ("set", key, value) | ("add_tag", tag) | ("remove_tag", tag)


def edits_prefix(layout: RepoLayout, run_hash: str) -> str:
    return f"{layout.run_prefix(run_hash)}/{EDITS_DIR}"


def check_ops(ops: Iterable[Op]) -> list[list]:
    """Validate operations (types, editable keys) before anything is written."""
    checked = []
    for op in ops:
        kind = op[0]
        if kind == "set":
            _, key, value = op
            if key not in EDITABLE:
                raise ValueError(f"run property {key!r} cannot be edited (editable: {', '.join(EDITABLE)}, tags)")
            if key == "archived":
                value = bool(value)
            elif value is not None and not isinstance(value, str):
                raise TypeError(f"run {key} must be a str, got {type(value).__name__}")
            checked.append(["set", key, value])
        elif kind in ("add_tag", "remove_tag"):
            if not isinstance(op[1], str):
                raise TypeError(f"a tag must be a str, got {type(op[1]).__name__}")
            checked.append([kind, op[1]])
        else:
            raise ValueError(f"unknown run edit operation {kind!r}")
    return checked


def apply_ops(manifest: dict, ops: Iterable[Op]) -> None:
    """Apply operations to a manifest dict in place (idempotent per operation)."""
    for op in ops:
        if op[0] == "set":
            manifest[op[1]] = op[2]
        else:
            tags = manifest.setdefault("tags", [])
            if op[0] == "add_tag" and op[1] not in tags:
                tags.append(op[1])
            elif op[0] == "remove_tag" and op[1] in tags:
                tags.remove(op[1])


def pending_edit_names(layout: RepoLayout, run_hash: str) -> list[str]:
    """Names of the edit objects waiting in a run's ``edits/`` folder, oldest first."""
    storage = layout.storage
    names = storage.list_children(edits_prefix(layout, run_hash))
    return sorted(n for n in names if n.endswith(".msgpack") and not storage.is_temporary(n))


def fold_pending_edits(layout: RepoLayout, run_hash: str, manifest: dict) -> list[str]:
    """Apply the pending edit objects newer than ``manifest["edits_folded"]`` to ``manifest``.

    Returns the keys to delete once the caller has published the manifest (all pending
    ones, also those already folded before).  An unreadable edit object is skipped.
    """
    prefix = edits_prefix(layout, run_hash)
    done = manifest.get("edits_folded") or ""
    keys = []
    for name in pending_edit_names(layout, run_hash):
        key = f"{prefix}/{name}"
        keys.append(key)
        if name <= done:
            continue
        try:
            edit = msgpack.unpackb(layout.storage.read(key), raw=False)
            apply_ops(manifest, check_ops(edit["ops"]))
        except FileNotFoundError:
            continue
        except (ValueError, TypeError, KeyError, msgpack.UnpackException):
            pass  # a damaged edit object changes nothing; it is removed with the others
        manifest["edits_folded"] = name
    return keys


def remove_folded(layout: RepoLayout, keys: Iterable[str]) -> None:
    for key in keys:
        layout.storage.delete(key)


def _write_edit_object(layout: RepoLayout, run_hash: str, ops: list) -> str:
    prefix = edits_prefix(layout, run_hash)
    layout.storage.make_prefix(prefix)
    key = f"{prefix}/{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}.msgpack"
    layout.storage.create(key, msgpack.packb({"ops": ops}, use_bin_type=True), durable=True)
    return key


def _edit_without_writer(layout: RepoLayout, run_hash: str, ops: list) -> None:
    """Take the run's lock, fold pending edits and ``ops``, publish, release (end time kept)."""
    from aimcol.format.run_store import RunWriterStore

    store = RunWriterStore(layout, run_hash, create=False)  # RunLockedError under a live writer
    try:
        folded = fold_pending_edits(layout, run_hash, store.manifest)
        apply_ops(store.manifest, ops)
    finally:
        store.release_as_found()
    remove_folded(layout, folded)


def edit_run(layout: RepoLayout, run_hash: str, ops: Iterable[Op], *, wait: float = FOLD_WAIT_S) -> bool:
    """Apply property operations to a run this process does not write.

    Returns ``True`` once the change is in the manifest (visible to every reader), ``False``
    if a live writer did not fold it within ``wait`` seconds (it stays pending and is
    folded when the writer next looks, or by whoever takes the run's lock next).
    Raises :class:`MissingRunError` for an unknown run.
    """
    ops = check_ops(ops)
    if not layout.has_run(run_hash):
        raise MissingRunError(f"no run {run_hash!r} in repository {layout.root}")
    try:
        _edit_without_writer(layout, run_hash, ops)
        return True
    except RunLockedError:
        pass
    key = _write_edit_object(layout, run_hash, ops)
    deadline = time.monotonic() + wait
    while layout.storage.exists(key):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
        if layout.storage.exists(key):
            try:  # the writer closed meanwhile: fold it ourselves
                _edit_without_writer(layout, run_hash, [])
            except RunLockedError:
                pass
    return True


class EditFolder:
    """The writer's side: fold other processes' edit objects into the run it writes.

    ``poll()`` is called by the flusher thread (cheap: one listing of a prefix that is
    usually empty, at most every ``FOLD_POLL_S``); ``fold_now()`` before each of
    the writer's own property changes.  Both take ``lock`` (the point buffer's), under
    which the store's manifest is changed and published.
    """

    def __init__(self, store, lock):
        self._store = store
        self._lock = lock
        self._next_poll = 0.0

    def fold_now(self) -> None:
        store = self._store
        if not pending_edit_names(store.layout, store.run_hash):
            return
        with self._lock:
            folded = fold_pending_edits(store.layout, store.run_hash, store.manifest)
            if folded:
                store.write_manifest()
        remove_folded(store.layout, folded)

    def poll(self) -> None:
        now = time.monotonic()
        if now >= self._next_poll:
            self._next_poll = now + FOLD_POLL_S
            self.fold_now()

    def stop(self) -> None:
        """At close (before the final manifest): fold what arrived since the last poll."""
        try:
            self.fold_now()
        except Exception:
            pass  # left pending: folded by whoever takes the run's lock next
