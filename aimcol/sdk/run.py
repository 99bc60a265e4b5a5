"""``Run``: one training run, written by one process, readable by any.

The write path is built around ``track()``, which a training loop calls millions of times:
a linear ``==`` scan of the name's known contexts finds the sequence, plain ints/floats and
int steps are checked inline, and the point goes into five typed columns.  Every
``flush_points`` points (or ``flush_seconds``, from a background flusher) the columns become
one Arrow record batch appended to the live segment.  Anything unusual (dict values, NumPy
scalars, new sequences, bad input) takes a slow path that raises Aim's errors.

That fast path exists twice: in C (``_fastpath.c``, used when the extension is built) and
in pure Python (``Run.track`` below, the reference and the fallback).  The C one calls the
Python one for everything but the common case, so validation and errors live only here.

Where the rest lives: the buffered points and the background flusher in
``point_buffer.py``; the (name, context) -> sequence lookups in ``sequence_registry.py``;
values that are not numbers (lists, log records) in ``object_sequences.py``; argument
checks in ``tracking_values.py`` and ``params.py``; how the process ended (for
``exit_status``) in ``exit_status.py``; ``run.props`` in ``run_props.py``; artifact copies in
``artifacts.py``.  The bytes on disk are ``aimcol.format``'s (``RunWriterStore``).
"""

from __future__ import annotations

import copy
import datetime
import logging
import math
import os
import sys
import threading
import time
import uuid
import warnings
import weakref
from array import array
from collections.abc import Iterator
from threading import get_ident
from time import time as _now
from typing import Any

import numpy as np

from aimcol.errors import MissingRunError, ReadOnlyRunError, UnstorableValueError
from aimcol.format.run_store import DEFAULT_SEAL_ROWS, RunReaderStore, RunWriterStore
from aimcol.sdk.artifacts import Artifact, check_store_uri, copy_artifact, join_uri
from aimcol.sdk.exit_status import FINISHED, KNOWN_EXIT_STATUSES, install_excepthook, status_for
from aimcol.sdk.object_sequences import (
    LOG_RECORDS_NAME,
    LogRecord,
    ObjectSequence,
    ObjectSequenceState,
    ObjectSequenceWriter,
    checked_typename,
    is_object_value,
    read_object_sequences,
)
from aimcol.sdk.params import check_str, delete_path, get_path, normalise_key, normalise_value, set_path
from aimcol.sdk.point_buffer import NO_EPOCH, BackgroundFlusher, PointBuffer, stop_helpers_and_close
from aimcol.sdk.run_props import RunProps, local_datetime
from aimcol.sdk.sequence_registry import INT64_MAX, STEPS_EXHAUSTED, SequenceRegistry, SequenceState, advance
from aimcol.sdk.tracking_values import MAX_EXACT_INT, coerce_step, coerce_value, freeze, normalise_context


def _load_fastpath():
    """The C fast path module, or None (not built, or ``AIMCOL_PURE_PYTHON=1``)."""
    if os.environ.get("AIMCOL_PURE_PYTHON", "") not in ("", "0"):
        return None
    try:
        from aimcol.sdk import _fastpath
    except ImportError:
        return None
    return _fastpath


_fastpath = _load_fastpath()
ACCELERATED = _fastpath is not None
"""Whether new runs track through the C fast path."""

DEFAULT_FLUSH_POINTS = 50_000
DEFAULT_FLUSH_SECONDS = 1.0
OBJECT_STORE_FLUSH_SECONDS = 10.0
"""Default ``flush_seconds`` on object stores, where each flush is two PUTs (a delta, a manifest)."""


_OPEN_RUNS: weakref.WeakSet = weakref.WeakSet()
"""Runs this process writes, so its own queries can see their buffered points."""


def flush_open_runs(repo_root: str) -> None:
    """Flush every run this process is writing into the repository at ``repo_root`` (the
    ``.aimcol`` folder): a query in the training process then sees what it tracked."""
    for run in list(_OPEN_RUNS):
        if run.repo.path == repo_root and run._buffer is not None and not run._buffer.closed:
            run.flush()


def _disown_runs_in_forked_child() -> None:
    """After ``fork()``, in the child: the parent's runs are not the child's to write or close.

    The child inherits the runs' buffers (whose lock the parent's flusher may have held at
    the fork), their finalisers (which would close the parent's run at the child's exit and
    release its writer lock) and the lock's file descriptor.  Each run is marked as owned by
    the parent: its buffer closed without writing, its finaliser detached, the lock left
    alone (closing a copy of an flock'ed descriptor does not release it; ``LOCK_UN`` would).
    """
    for run in list(_OPEN_RUNS):
        run._disown_after_fork()
    _OPEN_RUNS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_disown_runs_in_forked_child)


def new_run_hash() -> str:
    """24 lowercase hex characters, as Aim's run hashes."""
    return uuid.uuid4().hex[:24]


def _no_auto_step_left(name) -> UnstorableValueError:
    return UnstorableValueError(
        f"track() auto-step for {name!r}: the sequence already has step 2**63-1, the largest; pass step= explicitly"
    )


def _out_of_range(name, step, value) -> ValueError:
    return ValueError(f"track() step, epoch or value for {name!r} is out of range: step={step!r}, value={value!r}")


SHORT_ARRAY_POINTS = 4096
"""``track_array`` of at most this many points (and no ``times``) goes through ``track()``:
cheaper than a batch and a manifest write of its own, at about a microsecond a point."""


def _int64_column(column, n: int, name: str, what: str, *, low: int, high: int) -> np.ndarray:
    """``column`` as ``n`` int64 values, refusing (never wrapping) values outside ``[low, high]``."""
    column = np.asarray(column)
    if column.shape != (n,) or column.dtype.kind not in "iu":
        raise ValueError(f"track_array() {what} for {name!r} must be {n} integers, got {column.dtype} {column.shape}")
    if n and (column.max() > high or column.min() < low):
        raise UnstorableValueError(
            f"track_array() {what} for {name!r} hold values outside [{low}, {high}]: {column.min()}..{column.max()}"
        )
    return column.astype(np.int64, copy=False)


def _checked_time(what: str, value) -> float:
    """A finite number of Unix seconds, or a ``ValueError`` naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{what} must be finite Unix seconds, got {value!r}")
    return float(value)


class Run:
    """A training run: params, properties and metric sequences (Aim 3.x compatible).

    ``Run()`` creates a run in the nearest repository; ``Run(hash)`` resumes one (auto-steps
    continue); ``Run(hash, read_only=True)`` reads one, also while another process writes it.
    One process writes a run at a time: a second writer gets :class:`RunLockedError`, and a
    dead writer's lock is taken over.  Thread-safe for ``track()`` from several threads.
    """

    def __init__(
        self,
        run_hash: str | None = None,
        *,
        repo=None,
        read_only: bool = False,
        experiment: str | None = None,
        force_resume: bool = False,
        system_tracking_interval: float | None = 10,
        log_system_params: bool = False,
        capture_terminal_logs: bool = True,
        flush_points: int = DEFAULT_FLUSH_POINTS,
        flush_seconds: float | None = None,
        seal_rows: int = DEFAULT_SEAL_ROWS,
    ):
        from aimcol.sdk.repo import Repo

        if run_hash is not None and (not isinstance(run_hash, str) or not run_hash):
            raise TypeError(f"run_hash must be a non-empty str, got {run_hash!r}")
        self.repo = Repo._resolve(repo, init=not read_only)
        if self.repo.read_only and not read_only:
            from aimcol.errors import ReadOnlyRepoError

            raise ReadOnlyRepoError(f"cannot write a run in {self.repo.path}: it was opened with read_only=True")
        self._init_state(read_only)
        if read_only:
            self._open_for_reading(run_hash)
            return
        if flush_points < 1:
            raise ValueError(f"flush_points must be >= 1, got {flush_points}")
        remote = not self.repo.layout.storage.supports_append
        if flush_seconds is None:  # 1 s locally; 10 s on object stores
            flush_seconds = OBJECT_STORE_FLUSH_SECONDS if remote else DEFAULT_FLUSH_SECONDS
        if flush_seconds <= 0:
            raise ValueError(f"flush_seconds must be > 0, got {flush_seconds}")
        # the C fast path replaces track() per instance: not under a subclass's own track()
        fastpath = _fastpath if type(self).track is Run.track else None
        if fastpath is not None:
            self._registry = SequenceRegistry(fastpath.SequenceState)
            self._fast_lookup = self._registry.fast_lookup
        self._store = self._open_for_writing(run_hash, experiment, seal_rows)
        self._start_point_buffer(fastpath, flush_points, flush_seconds)
        self._start_helpers(capture_terminal_logs, system_tracking_interval)
        if remote:
            from aimcol.sdk.sigterm import flush_runs_on_sigterm

            flush_runs_on_sigterm()
        if log_system_params:
            from aimcol.sdk.system_metrics import collect_system_params

            self["__system_params"] = collect_system_params()

    def _init_state(self, read_only: bool) -> None:
        self.read_only = read_only
        self._buffer: PointBuffer | None = None
        self._helpers: list = []  # threads and captures stopped before the buffer closes
        self._registry = SequenceRegistry()
        self._fast_lookup = self._registry.fast_lookup
        self._columns = None
        self._reader: RunReaderStore | None = None

    @classmethod
    def _read_lazily(cls, run_hash: str, repo) -> Run:
        """A read-only run of ``repo`` whose manifest is read when first needed: a query's
        metrics know from the run index where their points are (no manifest to unpack)."""
        run = cls.__new__(cls)
        run.repo = repo
        run._init_state(True)
        run.hash = run_hash
        run._reader = RunReaderStore(repo.layout, run_hash, lazy=True)
        return run

    def _open_for_reading(self, run_hash: str | None) -> None:
        if run_hash is None:
            raise ValueError("Run(read_only=True) needs the hash of an existing run")
        self.hash = run_hash
        try:
            self._reader = RunReaderStore(self.repo.layout, run_hash)
        except FileNotFoundError:
            raise MissingRunError(f"no run {run_hash!r} in repository {self.repo.path}") from None

    def _open_for_writing(self, run_hash: str | None, experiment: str | None, seal_rows: int) -> RunWriterStore:
        """Create a run, or take the writer's lock of an existing one and learn its sequences."""
        layout = self.repo.layout
        if run_hash is None:
            self.hash = new_run_hash()
            store = RunWriterStore(layout, self.hash, create=True, experiment=experiment, seal_rows=seal_rows)
            self._objects = ObjectSequenceWriter(layout.storage, self.hash, store.manifest, store.open_object_deltas())
            return store
        self.hash = run_hash
        if not layout.has_run(run_hash):
            raise MissingRunError(f"no run {run_hash!r} in repository {self.repo.path}")
        store = RunWriterStore(layout, run_hash, create=False, seal_rows=seal_rows)
        ended = store.manifest.get("exit_status") is not None
        if ended:  # running again: how it ended last time no longer holds
            store.manifest["exit_status"] = store.manifest["exit_error"] = None
        if experiment is not None:
            store.manifest["experiment"] = experiment
        if ended or experiment is not None:
            store.write_manifest()
        for entry in store.manifest["sequences"]:
            self._registry.add_manifest_entry(entry)
        self._objects = ObjectSequenceWriter(layout.storage, run_hash, store.manifest, store.open_object_deltas())
        for state in self._objects.resume_states():
            self._registry.register(state)
        return store

    def _start_point_buffer(self, fastpath, flush_points: int, flush_seconds: float) -> None:
        """The buffer track() appends to, bound to the C or the pure-Python track(), and its flusher."""
        self._buffer = buf = PointBuffer(self._store, flush_points, flush_seconds, fastpath, self._fast_lookup)
        self._columns = columns = buf.rows
        if fastpath is None:
            self._owner = get_ident()  # the thread whose track() appends without a lock
            self._add_seq, self._add_step, self._add_value = (
                columns.seq.append,
                columns.step.append,
                columns.value.append,
            )
            self._add_epoch, self._add_time = columns.epoch.append, columns.time.append
            self._pending_times = columns.time
        else:
            self._owner = None  # every thread appends through the C columns, atomically
            columns.bind(Run.track, weakref.ref(self), buf.request_flush)
            self.track = columns.track  # the instance attribute shadows the Python method
        from aimcol.sdk.run_edits import EditFolder

        self._edits = EditFolder(self._store, buf.lock)  # other processes' property edits
        flusher = BackgroundFlusher(buf, self._edits)
        flusher.start()
        self._helpers.append(flusher)
        self._helpers.append(self._edits)  # folds late edits before the final manifest
        self._finalizer = weakref.finalize(self, stop_helpers_and_close, buf, self._helpers)
        self._writer_pid = os.getpid()
        self._progress_published = 0.0
        install_excepthook()  # so that the finaliser at exit knows an uncaught exception ended the script
        _OPEN_RUNS.add(self)

    _system_resource_tracker = None
    """The system-metrics sampler of a run being written, None when it tracks none (Aim's name)."""

    def _start_helpers(self, capture_terminal_logs: bool, system_tracking_interval: float | None) -> None:
        """Terminal capture and system metrics: stopped before the buffer's last flush."""
        if capture_terminal_logs:
            from aimcol.sdk.terminal_logs import TerminalLogCapture

            capture = TerminalLogCapture(self.repo.layout.storage, self.repo.layout.terminal_log_key(self.hash))
            capture.start()
            self._helpers.insert(0, capture)
        if system_tracking_interval is None or system_tracking_interval == 0:
            return
        from aimcol.sdk.system_metrics import MAX_INTERVAL, MIN_INTERVAL, SystemMetricsTracker

        if not isinstance(system_tracking_interval, (int, float)) or not (
            MIN_INTERVAL <= system_tracking_interval <= MAX_INTERVAL
        ):
            warnings.warn(
                f"system_tracking_interval={system_tracking_interval!r} is outside [{MIN_INTERVAL}, {MAX_INTERVAL:g}] "
                "seconds: system metrics are not tracked for this run (as Aim)",
                stacklevel=4,
            )
            return
        tracker = SystemMetricsTracker(weakref.ref(self), float(system_tracking_interval))
        tracker.start()
        self._helpers.insert(0, tracker)
        self._system_resource_tracker = tracker

    # -- repr / context manager ---------------------------------------------------------------
    def __repr__(self) -> str:
        mode = "read-only" if self.read_only else "writing"
        return f"<aimcol.Run {self.hash} ({mode}) in {self.repo.path}>"

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._close(status_for(exc_type, exc))  # an exception leaving the block: failed/interrupted

    def __hash__(self) -> int:
        return hash(self.hash)

    def __eq__(self, other) -> bool:
        return isinstance(other, Run) and other.hash == self.hash and other.repo.path == self.repo.path

    # -- manifest access ------------------------------------------------------------------
    @property
    def _manifest(self) -> dict:
        if self._reader is not None:
            return self._reader.manifest
        return self._store.manifest

    def _writable_manifest(self, what: str) -> dict:
        if self.read_only:
            raise ReadOnlyRunError(f"cannot set {what} of run {self.hash}: it was opened with read_only=True")
        if self._buffer.closed:
            raise ReadOnlyRunError(f"cannot set {what} of run {self.hash}: the run is closed")
        self._edits.fold_now()  # other processes' earlier edits first, so this change wins
        return self._store.manifest

    def _edit_elsewhere(self, ops: list) -> None:
        """Change properties of a run this object does not write (see ``run_edits``)."""
        from aimcol.sdk.run_edits import apply_ops, check_ops, edit_run

        if self.repo.read_only:
            from aimcol.errors import ReadOnlyRepoError

            raise ReadOnlyRepoError(f"cannot edit run {self.hash}: {self.repo.path} was opened with read_only=True")
        ops = check_ops(ops)
        if edit_run(self.repo.layout, self.hash, ops):
            self._reader.refresh()
        else:  # a live writer has not folded it yet: show it here meanwhile
            apply_ops(self._reader.manifest, ops)

    def _publish(self) -> None:
        with self._buffer.lock:
            self._store.write_manifest()

    def refresh(self) -> Run:
        """Re-read a read-only run's manifest to see what its writer added since."""
        if self._reader is not None:
            self._reader.refresh()
        return self

    # -- params ---------------------------------------------------------------------------
    def __setitem__(self, key, value) -> None:
        """``run["hparams"] = {...}`` sets one param (a key path as a tuple); ``run[...] = {...}``
        replaces the whole params tree.  The value is validated before anything changes."""
        path = normalise_key(key)
        if not path and not isinstance(value, dict):
            raise TypeError(f"run[...] = value replaces every param and needs a dict, got {type(value).__name__}")
        stored = normalise_value(value, path)
        manifest = self._writable_manifest(f"param {'.'.join(path)!r}" if path else "params")
        set_path(manifest["params"], path, stored)
        self._publish()

    def __getitem__(self, key) -> Any:
        """A copy of the param at ``key`` (``run[...]``: the whole tree); ``KeyError`` if absent."""
        return get_path(self._manifest["params"], normalise_key(key))

    def set(self, key, val: Any, strict: bool = True) -> None:
        """Aim's ``Run.set``: ``run[key] = val``.  ``strict`` is accepted for compatibility;
        aimcol always validates (a value it cannot store raises)."""
        self[key] = val

    def get(self, key, default=None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __delitem__(self, key) -> None:
        path = normalise_key(key)
        manifest = self._writable_manifest(f"param {'.'.join(path)!r}")
        delete_path(manifest["params"], path)
        self._publish()

    def __contains__(self, key) -> bool:
        try:
            get_path(self._manifest["params"], normalise_key(key))
        except KeyError:
            return False
        return True

    @property
    def params(self) -> dict:
        """A copy of the whole params tree."""
        return copy.deepcopy(self._manifest["params"])

    # -- properties -----------------------------------------------------------------------
    def _set_property(self, key: str, value) -> None:
        if self.read_only:
            return self._edit_elsewhere([("set", key, value)])
        manifest = self._writable_manifest(key)
        manifest[key] = value
        self._publish()

    def _set_text(self, key: str, value: str | None) -> None:
        """Set a free-text property (``None`` clears it); anything but a str raises ``TypeError``."""
        if value is not None and not isinstance(value, str):
            raise TypeError(f"run {key} must be a str, got {type(value).__name__}")
        self._set_property(key, value if value is None else check_str(value, f"run {key}"))

    @property
    def name(self) -> str | None:
        return self._manifest.get("name")

    @name.setter
    def name(self, value: str | None) -> None:
        self._set_text("name", value)

    @property
    def description(self) -> str | None:
        return self._manifest.get("description")

    @description.setter
    def description(self, value: str | None) -> None:
        self._set_text("description", value)

    @property
    def notes(self) -> str | None:
        """Free-form notes on the run (markdown by convention), kept in its manifest; like
        ``description`` they can be edited at any time, also from another process while
        the run trains (the edit is folded by its writer)."""
        return self._manifest.get("notes")

    @notes.setter
    def notes(self, value: str | None) -> None:
        self._set_text("notes", value)

    @property
    def experiment(self) -> str:
        return self._manifest.get("experiment") or "default"

    @experiment.setter
    def experiment(self, value: str | None) -> None:
        self._set_text("experiment", value)

    @property
    def archived(self) -> bool:
        return bool(self._manifest.get("archived"))

    @archived.setter
    def archived(self, value: bool) -> None:
        self._set_property("archived", bool(value))

    @property
    def tags(self) -> list[str]:
        return list(self._manifest.get("tags", []))

    def add_tag(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"a tag must be a str, got {type(value).__name__}")
        check_str(value, "run tag")
        if self.read_only:
            return self._edit_elsewhere([("add_tag", value)])
        manifest = self._writable_manifest("tags")
        if value not in manifest["tags"]:
            manifest["tags"].append(value)
            self._publish()

    def remove_tag(self, value: str) -> bool:
        if self.read_only:
            present = value in self.tags
            self._edit_elsewhere([("remove_tag", value)])
            return present
        manifest = self._writable_manifest("tags")
        if value in manifest["tags"]:
            manifest["tags"].remove(value)
            self._publish()
            return True
        return False

    @property
    def creation_time(self) -> float:
        return self._manifest["creation_time"]

    @property
    def created_at(self) -> datetime.datetime:
        return local_datetime(self.creation_time)

    @property
    def end_time(self) -> float | None:
        return self._manifest.get("end_time")

    @property
    def finalized_at(self) -> datetime.datetime | None:
        """When the run was closed, as ``created_at`` is given; ``None`` while open or crashed."""
        return local_datetime(self.end_time)

    @property
    def props(self) -> RunProps:
        """Aim's ``run.props``: the properties as attributes (a live view of this run)."""
        return RunProps(self)

    # -- progress reports (Aim's check-ins) ---------------------------------------------------
    PROGRESS_PUBLISH_SECONDS = 1.0
    """report_progress() publishes the manifest at most this often (unless ``block=True``);
    in between the report is kept and goes out with the next flush."""

    def report_progress(self, *, expect_next_in: int = 0, block: bool = False) -> None:
        """Say the run is alive and when the next report is due (``expect_next_in`` seconds).

        Stored in the manifest as ``progress = {"reported_at", "expect_next_by"}``: a run
        that is still active after ``expect_next_by`` (plus a grace period) is stuck.
        Cheap in a training loop: the manifest is written at most once a second.
        """
        if not isinstance(expect_next_in, (int, float)) or isinstance(expect_next_in, bool) or expect_next_in < 0:
            raise ValueError(f"expect_next_in must be a number of seconds >= 0, got {expect_next_in!r}")
        manifest = self._writable_manifest("progress")
        now = time.time()
        with self._buffer.lock:
            manifest["progress"] = {"reported_at": now, "expect_next_by": now + float(expect_next_in)}
            if block or now - self._progress_published >= self.PROGRESS_PUBLISH_SECONDS:
                self._store.write_manifest(fsync=block)
                self._progress_published = now

    def report_successful_finish(self, *, block: bool = True) -> None:
        """Say the training finished successfully (``successful_finish_reported`` in the manifest)."""
        manifest = self._writable_manifest("the successful finish")
        with self._buffer.lock:
            manifest["successful_finish_reported"] = time.time()
            self._store.write_manifest(fsync=block)

    @property
    def progress(self) -> dict | None:
        """The last ``report_progress()``: ``{"reported_at", "expect_next_by"}`` (unix times)."""
        report = self._manifest.get("progress")
        return dict(report) if report else None

    @property
    def successful_finish_reported(self) -> bool:
        return self._manifest.get("successful_finish_reported") is not None

    # -- artifacts ----------------------------------------------------------------------------
    @property
    def artifacts_uri(self) -> str | None:
        """Where this run's artifacts go: ``<store set by set_artifacts_uri>/<run hash>``."""
        base = self._manifest.get("artifacts_uri")
        return None if base is None else join_uri(base, self.hash)

    def set_artifacts_uri(self, uri: str) -> None:
        """Set the artifact store (``file:///path``); each run writes into its own folder there.
        Any scheme is recorded, as in Aim; ``log_artifact`` writes only to ``file://`` stores."""
        self._set_property("artifacts_uri", check_str(check_store_uri(uri), "artifacts URI"))

    def log_artifact(self, path: str, name: str | None = None, *, block: bool = False) -> None:
        """Copy the file ``path`` into the run's artifact folder as ``name`` (default: its
        file name) and list it in ``run.artifacts``.  The copy is made before this returns."""
        run_uri = self.artifacts_uri
        if run_uri is None:
            raise ValueError("run.artifacts_uri is None. Use run.set_artifacts_uri(...) to set this value")
        name = check_str(name if name is not None else os.path.basename(path), "artifact name")
        manifest = self._writable_manifest(f"artifact {name!r}")
        uri = copy_artifact(path, run_uri, name)
        with self._buffer.lock:
            manifest.setdefault("artifacts", {})[name] = {"path": str(path), "uri": uri}
            self._store.write_manifest()

    def log_artifacts(self, path: str, name: str | None = None, *, block: bool = False) -> None:
        """Every file under the folder ``path``, as ``<name>/<relative path>``."""
        prefix = name if name is not None else os.path.basename(os.path.normpath(path))
        for folder, _, files in sorted(os.walk(path)):
            for file_name in sorted(files):
                full = os.path.join(folder, file_name)
                self.log_artifact(full, f"{prefix}/{os.path.relpath(full, path)}", block=block)

    @property
    def artifacts(self) -> dict[str, Artifact]:
        """``name -> Artifact`` of every logged file."""
        return {k: Artifact(k, v["path"], v["uri"]) for k, v in (self._manifest.get("artifacts") or {}).items()}

    @property
    def exit_status(self) -> str | None:
        """How the run's writer ended it: ``"finished"``, ``"failed"`` (an uncaught exception
        ended the script or left the ``with`` block) or ``"interrupted"`` (Ctrl-C); ``None``
        while it runs, for a crashed run, and for runs written before aimcol recorded it."""
        return self._manifest.get("exit_status")

    @property
    def exit_error(self) -> str | None:
        """For a failed run, the exception that ended it (``"ValueError: bad lr"``), one line."""
        return self._manifest.get("exit_error")

    @property
    def active(self) -> bool:
        if self._reader is not None:
            return self._reader.active
        return not self._buffer.closed

    @property
    def crashed(self) -> bool:
        """Its writer died without closing it: not active and no ``end_time``."""
        return self.end_time is None and not self.active

    @property
    def duration(self) -> float:
        """Seconds from creation to end (now while active; a crashed run's last point): ``aimcol.sdk.tables``."""
        from aimcol.sdk.tables import duration_of

        return duration_of(self)

    # -- tracking: the hot path ---------------------------------------------------------------
    def track(
        self,
        value,
        name: str | None = None,
        step: int | None = None,
        epoch: int | None = None,
        *,
        context: dict | None = None,
    ) -> None:
        """Append one point (or a dict of named points) to the (name, context) sequence.

        ``step=None`` continues from the sequence's largest step + 1.  Values are real numbers:
        Python/NumPy scalars, size-1 arrays, bools (as ints); NaN and inf are kept.
        """
        try:
            candidates = self._fast_lookup[name]
        except (KeyError, TypeError):
            candidates = ()
        for known_context, seq in candidates:  # noqa: B007 (seq is used after the break)
            if known_context == context:
                break
        else:
            if name is None or type(value) is dict:
                return self._track_dict(value, name, step, epoch, context)
            seq = self._sequence_for(name, context, value)
            if type(seq) is ObjectSequenceState:
                return self._track_object(seq, value, name, step, epoch)
        t = type(value)
        if t is float:
            if not seq.is_float:
                self._promote(seq)
        elif t is not int or not -MAX_EXACT_INT <= value <= MAX_EXACT_INT:
            if t is dict:
                return self._track_dict(value, name, step, epoch, context)
            value, is_float = coerce_value(value, name)
            if is_float and not seq.is_float:
                self._promote(seq)
        if step is None:
            step = seq.next_step
            if not STEPS_EXHAUSTED < step <= INT64_MAX:
                raise _no_auto_step_left(name)
        elif type(step) is not int:
            step = coerce_step(step, name)
        if epoch is None:
            epoch = NO_EPOCH
        elif type(epoch) is not int or not -MAX_EXACT_INT <= epoch <= MAX_EXACT_INT:
            epoch = coerce_step(epoch, name, "epoch")
        if get_ident() != self._owner:
            return self._append_slow(seq, step, value, epoch, name)
        try:  # bound appends of the buffer's columns: one attribute lookup each
            self._add_seq(seq.id)
            self._add_step(step)
            self._add_value(value)
            self._add_epoch(epoch)
            self._add_time(_now())
        except OverflowError:
            with self._buffer.lock:
                self._columns.repair_torn_row()
            raise _out_of_range(name, step, value) from None
        if step >= seq.next_step:
            seq.next_step = step + 1
        if len(self._pending_times) >= self._columns.trigger:
            self._buffer.request_flush()

    def _append_slow(self, seq, step, value, epoch, name) -> None:
        """Append one validated point from the slow path: through the C columns (atomic,
        from any thread), or, in pure Python, from a thread other than the run's creator,
        to the side list under the buffer's lock."""
        rows = self._columns
        if self._owner is None:
            try:
                appended = rows.append(seq, step, value, epoch)
            except OverflowError:
                raise _out_of_range(name, step, value) from None
            if not appended:
                self._raise_closed()
            return
        try:  # the side rows become typed columns at flush: check the range now
            array("q", (step, epoch))
            array("d", (value,))
        except OverflowError:
            raise _out_of_range(name, step, value) from None
        buf = self._buffer
        with buf.lock:
            if buf.closed:
                self._raise_closed()
            rows.side.append((seq.id, step, float(value), epoch, _now()))
            advance(seq, step)

    def _raise_closed(self):
        if self._writer_pid != os.getpid():
            raise ReadOnlyRunError(
                f"run {self.hash} is written by process {self._writer_pid}; this process is a fork() of it "
                f"and cannot write it (create a new Run in the child, or Run({self.hash!r}, read_only=True) to read)"
            )
        raise ReadOnlyRunError(f"run {self.hash} is closed; open it again with Run({self.hash!r}) to resume")

    def _disown_after_fork(self) -> None:
        """In a forked child (see ``_disown_runs_in_forked_child``): never write or close this run."""
        self._registry.forget_fast_paths()
        self._finalizer.detach()
        buf = self._buffer
        buf.lock = threading.Lock()  # the parent's flusher may have held it at fork()
        buf.closed = True
        buf.rows.closed = True
        for helper in self._helpers:
            disown = getattr(helper, "disown_after_fork", None)
            if disown is not None:
                disown()

    def _track_object(self, seq: ObjectSequenceState, value, name, step, epoch, when: float | None = None) -> None:
        """A point of an object sequence (a list, a log record): one record, written now,
        stamped ``when`` (Unix seconds; default now)."""
        if step is not None:
            step = coerce_step(step, name)
        if epoch is not None:
            epoch = coerce_step(epoch, name, "epoch")
        with self._buffer.lock:
            if self._buffer.closed:
                self._raise_closed()
            self._objects.append(seq, value, step, epoch, name, when)

    def _track_dict(self, value, name, step, epoch, context) -> None:
        if type(value) is dict:
            if name is not None:
                raise ValueError("'name' should be None when tracking values dictionary.")
            for key, item in value.items():
                if not isinstance(key, str):
                    raise TypeError(f"track() dictionary keys are metric names and must be str, got {key!r}")
                self.track(item, name=key, step=step, epoch=epoch, context=context)
            return
        raise ValueError("'name' should not be None.")

    def _sequence_for(self, name, context, value) -> SequenceState:
        """Slow path: validate name/context, find or create the sequence, fill the fast caches."""
        if self._buffer is not None and self._buffer.error is not None:
            self._buffer.raise_pending_error()
        seq = self._registry.cached(name, context)  # a name with more contexts than the scan covers
        if seq is not None:
            return seq
        if self.read_only:
            raise ReadOnlyRunError(f"cannot track into run {self.hash}: it was opened with read_only=True")
        if self._buffer.closed:
            self._raise_closed()
        if not isinstance(name, str) or not name:
            raise TypeError(f"track() name must be a non-empty str, got {type(name).__name__} {name!r}")
        check_str(name, "track() name")
        given_context = context
        if context is None:
            context = {}
        if not isinstance(context, dict):
            raise TypeError(f"track() context for {name!r} must be a dict, got {type(context).__name__}")
        for key in context:
            if not isinstance(key, str):
                raise TypeError(
                    f"track() context for {name!r} has a key of type {type(key).__name__}; keys must be str"
                )
        context = normalise_context(context, name)
        seq = self._registry.find(name, context)
        if type(seq) is ObjectSequenceState:
            return seq  # never in the fast lookups: every call comes here
        if seq is None and is_object_value(value):
            with self._buffer.lock:
                if self._buffer.closed:
                    self._raise_closed()
                seq = self._objects.add_sequence(name, context, checked_typename(value, name))
                self._registry.register(seq)
                self._store.write_manifest()  # the sequence is visible to readers at once
            return seq
        if seq is None:
            _, is_float = coerce_value(value, name)  # raises for a value that can't be tracked
            with self._buffer.lock:
                if self._buffer.closed:
                    self._raise_closed()
                # written with the batch that first holds its points (RunWriterStore.append_batch)
                seq_id = self._store.add_sequence(name, context, "float" if is_float else "int")
            seq = self._registry.add(seq_id, name, context, 0, is_float)
        self._registry.remember(name, given_context, seq)
        return seq

    def _promote(self, seq: SequenceState) -> None:
        """An int sequence received a float: from now on it reads back as float."""
        seq.is_float = True
        with self._buffer.lock:
            self._store.set_sequence_dtype(seq.id, "float")

    def _track_each(self, values: np.ndarray, name: str, steps, epochs, context) -> None:
        """A short array through ``track()``, point by point: its points join the buffer, so
        a run that logs many short sequences (1,500 metrics of 20 steps) writes one batch and
        one manifest per flush instead of one per sequence, in ``track()``'s order."""
        track = self.track
        items = (values.astype(np.int64) if values.dtype.kind == "b" else values).tolist()
        step_items = steps.tolist() if steps is not None else [None] * len(items)
        epoch_items = epochs.tolist() if epochs is not None else [None] * len(items)
        for value, step, epoch in zip(items, step_items, epoch_items):
            track(value, name=name, step=step, epoch=epoch, context=context)

    def track_array(
        self, values, *, name: str, steps=None, epochs=None, times=None, context: dict | None = None
    ) -> None:
        """Bulk path: append a whole array of points to one sequence at memory speed.

        ``steps`` defaults to consecutive steps after the sequence's last; ``times`` to now.
        Meant for imports and converters; the points land in the same sequence as
        ``track()`` would put them.
        """
        values = np.asarray(values)
        if values.ndim != 1:
            raise ValueError(f"track_array() values for {name!r} must be one-dimensional, got shape {values.shape}")
        if values.dtype.kind not in "biuf":
            raise TypeError(f"track_array() values for {name!r} must be real numbers, got dtype {values.dtype}")
        n = len(values)
        if n == 0:
            return
        if values.dtype.kind in "iu" and (values.max() > MAX_EXACT_INT or values.min() < -MAX_EXACT_INT):
            raise UnstorableValueError(
                f"track_array() values for {name!r} hold ints beyond +-2**53, which the float64 value column "
                "cannot hold exactly; pass them as floats to store them rounded"
            )
        if steps is not None:
            steps = _int64_column(steps, n, name, "steps", low=-(2**63), high=INT64_MAX)
        if epochs is not None:
            epochs = _int64_column(epochs, n, name, "epochs", low=-MAX_EXACT_INT, high=MAX_EXACT_INT)
        if times is None and n <= SHORT_ARRAY_POINTS:
            self._track_each(values, name, steps, epochs, context)
            return
        if times is None:
            times = np.full(n, time.time())
        else:
            times = np.asarray(times, dtype=np.float64)
            if times.shape != (n,):
                raise ValueError(f"track_array() times for {name!r} must have {n} entries, got {times.shape}")
        seq = self._sequence_for(name, context, float(values[0]) if values.dtype.kind == "f" else int(values[0]))
        if steps is None:
            first = seq.next_step
            if first == STEPS_EXHAUSTED or first + n - 1 > INT64_MAX:
                raise _no_auto_step_left(name)
            steps = np.arange(first, first + n, dtype=np.int64)
        if values.dtype.kind == "f" and not seq.is_float:
            self._promote(seq)
        advance(seq, int(steps.max()))
        buf = self._buffer
        with buf.lock:
            if buf.closed:
                self._raise_closed()
            buf.flush_locked()  # keep write order: buffered points first
            chunk = max(buf.flush_points, 1_000_000)
            for lo in range(0, n, chunk):
                hi = min(n, lo + chunk)
                self._store.append_batch(
                    np.full(hi - lo, seq.id, dtype=np.uint32),
                    steps[lo:hi],
                    values[lo:hi].astype(np.float64),
                    epochs[lo:hi] if epochs is not None else None,
                    times[lo:hi],
                )
                self._store.defer_publish()  # the flusher writes the manifest within flush_seconds

    # -- lifecycle --------------------------------------------------------------------------
    def flush(self) -> None:
        """Write buffered points now (they become visible to readers)."""
        if self._buffer is not None:
            self._objects.drain()  # queued images first: with object deltas the flush uploads them
            self._buffer.flush()

    def close(self) -> None:
        """Flush, seal the live segment, stamp ``end_time`` and release the writer lock. Idempotent.

        If the last writes fail (disk full), the error propagates and the run stays open with
        its points buffered: call ``close()`` again once there is space.
        """
        self._close(None)

    def _close(self, ended_by: tuple[str | None, str | None] | None, end_time: float | None = None) -> None:
        if self._buffer is None or self._buffer.closed:
            return
        self._registry.forget_fast_paths()  # later track() calls take the slow path, which raises
        self._objects.close()  # queued images etc. are written while the claim is still held
        with self._buffer.lock:
            replaced = self._objects.seal()  # texts & co. as one Arrow file, named by the closing manifest
        stop_helpers_and_close(self._buffer, self._helpers, ended_by or (FINISHED, None), end_time)
        self._objects.close()  # what a helper logged meanwhile
        self._objects.delete_sealed(replaced)
        self._finalizer.detach()
        _OPEN_RUNS.discard(self)

    def finalize(self) -> None:
        """Aim's name for :meth:`close`."""
        self.close()

    # -- adapters and importers: how and when a run ended ------------------------------------------
    def _set_creation_time(self, creation_time: float) -> None:
        """Importers only (``aimcol convert``): the source run's start, in Unix seconds, instead
        of the moment of import; ``run.creation_time`` and AimQL ``run.created_at`` show it."""
        when = _checked_time("creation_time", creation_time)
        self._writable_manifest("creation_time")["creation_time"] = when
        self._publish()

    def _track_object_at(self, value, *, name: str, step: int, context: dict, when: float) -> None:
        """Importers only: ``track()`` of an object (``Text``, ``Image`` … or a list of them) stamped
        with the source's wall time ``when`` (Unix seconds) instead of now.  Raises as ``track()``
        does, and ``ValueError`` when ``name``/``context`` is a metric."""
        when = _checked_time("time", when)
        seq = self._sequence_for(name, context, value)
        if type(seq) is not ObjectSequenceState:
            raise ValueError(
                f"{name!r} {context} is a metric in run {self.hash}; it cannot take {type(value).__name__}"
            )
        self._track_object(seq, value, name, step, None, when)

    def _close_with_status(
        self, exit_status: str | None, exit_error: str | None = None, end_time: float | None = None
    ) -> None:
        """Close with how the training ended, for adapters (a framework reporting a failed fit)
        and importers (a source run that ended elsewhere): ``exit_status`` ``"finished"``,
        ``"failed"`` or ``"interrupted"`` with ``exit_error``, at ``end_time`` (Unix seconds;
        default now).  ``None`` leaves the run without an end, so that it reads as crashed, as
        an imported source run that never ended does."""
        if exit_status not in (None, *KNOWN_EXIT_STATUSES):
            raise ValueError(f"exit_status must be one of {KNOWN_EXIT_STATUSES} or None, got {exit_status!r}")
        if end_time is not None:
            end_time = _checked_time("end_time", end_time)
        self._close((exit_status, exit_error), end_time)

    # -- reading ----------------------------------------------------------------------------
    def _reader_store(self) -> RunReaderStore:
        if self._reader is not None:
            return self._reader
        self.flush()
        with self._buffer.lock:
            manifest = copy.deepcopy(self._store.manifest)
        return RunReaderStore(self.repo.layout, self.hash, manifest=manifest)

    def metrics(self) -> list:
        """Every metric sequence of the run (including ``__system__*`` ones), in creation order."""
        from aimcol.sdk.sequence import Metric

        reader = self._reader_store()
        return [Metric(self, entry, reader) for entry in reader.manifest["sequences"]]

    def iter_metrics(self) -> Iterator:
        return iter(self.metrics())

    def get_metric(self, name: str, context: dict | None = None):
        """The sequence ``name`` with exactly ``context`` (default ``{}``), or ``None``."""
        from aimcol.sdk.sequence import Metric

        reader = self._reader_store()
        wanted = freeze(context or {})
        for entry in reader.manifest["sequences"]:
            if entry["name"] == name and freeze(entry["context"]) == wanted:
                return Metric(self, entry, reader)
        return None

    def dataframe(self, include_props: bool = True, include_params: bool = True):
        """One pandas row per run with properties and flattened params (as Aim's ``Run.dataframe``)."""
        from aimcol.sdk.tables import require_pandas, run_row

        pd = require_pandas("Run.dataframe()")
        return pd.DataFrame([run_row(self, include_props=include_props, include_params=include_params)])

    # -- object sequences and log records -------------------------------------------------------
    def _object_sequences(self, ids: list[int] | None = None) -> list[ObjectSequence]:
        if self._reader is not None:
            manifest = self._reader.manifest
        else:
            self._objects.drain()
            if self._store.object_deltas is not None:
                self._buffer.flush()  # buffered object deltas are uploaded and committed
            with self._buffer.lock:
                manifest = {
                    key: copy.deepcopy(self._store.manifest.get(key))
                    for key in ("object_sequences", "object_segment", "object_deltas", "object_blobs")
                    if key in self._store.manifest
                }
        return read_object_sequences(self, self.repo.layout.storage, manifest, ids)

    def object_sequences(self) -> list[ObjectSequence]:
        """Every sequence of object values (lists, log records), in creation order."""
        return self._object_sequences()

    def get_object_sequence(self, name: str, context: dict | None = None) -> ObjectSequence | None:
        """The object sequence ``name`` with exactly ``context`` (default ``{}``), or ``None``."""
        wanted = freeze(context or {})
        for seq in self._object_sequences():
            if seq.name == name and freeze(seq.context) == wanted:
                return seq
        return None

    def iter_sequence_info_by_type(self, dtypes) -> Iterator[tuple[str, dict, Run]]:
        """``(name, context, run)`` of every sequence whose dtype is in ``dtypes`` (Aim's names:
        ``"float"``, ``"int"``, ``"list(float)"``, ``"aim.log_record"`` …)."""
        wanted = {dtypes} if isinstance(dtypes, str) else set(dtypes)
        for entry in self._manifest["sequences"]:
            if entry.get("dtype") in wanted:
                yield entry["name"], entry["context"], self
        for entry in self._manifest.get("object_sequences") or []:
            if entry["dtype"] in wanted:
                yield entry["name"], entry["context"], self

    def _log(self, level: int, msg: str, params: dict) -> None:
        caller = sys._getframe(2)
        record = LogRecord(msg, level, logger_info=(caller.f_code.co_filename, caller.f_lineno), **params)
        self.track(record, name=LOG_RECORDS_NAME)

    def log_debug(self, msg: str, **params: Any) -> None:
        """Log a message at DEBUG level (read back with :meth:`get_log_records`)."""
        self._log(logging.DEBUG, msg, params)

    def log_info(self, msg: str, **params: Any) -> None:
        """Log a message at INFO level (read back with :meth:`get_log_records`)."""
        self._log(logging.INFO, msg, params)

    def log_warning(self, msg: str, **params: Any) -> None:
        """Log a message at WARNING level (read back with :meth:`get_log_records`)."""
        self._log(logging.WARNING, msg, params)

    def log_error(self, msg: str, **params: Any) -> None:
        """Log a message at ERROR level (read back with :meth:`get_log_records`)."""
        self._log(logging.ERROR, msg, params)

    def get_log_records(self) -> ObjectSequence | None:
        """The messages of ``log_info()`` & co. (``data.values_list()``: :class:`LogRecord`), or ``None``."""
        return self.get_object_sequence(LOG_RECORDS_NAME)

    def get_terminal_logs(self) -> list[str]:
        """Lines the process printed to stdout/stderr while the run captured them."""
        from aimcol.sdk.terminal_logs import read_terminal_logs

        return read_terminal_logs(self.repo.layout.storage, self.repo.layout.terminal_log_key(self.hash))
