"""One run on disk: the writer side (lock, manifest, live segment, sealing) and the reader side.

``RunWriterStore`` is the only object that mutates a run's objects.  It holds the run's
claim (:meth:`Storage.claim_run`) for its whole life, commits every manifest with it (fenced), appends one record batch per flush, replaces the manifest after every
change, and seals the live segment on close or when it grows past ``seal_rows``.
``RunReaderStore`` reads a consistent prefix of a run that may be being written right now:
it reads the manifest first, then the files it names, and retries if the writer sealed
and removed the live file in between.
"""

from __future__ import annotations

import struct
import time
import warnings
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
from numpy.typing import ArrayLike

from aimcol.errors import ChecksumError, DamagedRunError, FormatError
from aimcol.format import manifest as manifest_io
from aimcol.format.arrow_numpy import to_arrow, to_numpy, to_numpy_rows
from aimcol.format.change_journal import note_manifest_changed
from aimcol.format.ipc_file import IpcFileBatches, IpcLayoutError
from aimcol.format.last_point import raise_last_point
from aimcol.format.object_deltas import ObjectDeltaWriter, stray_delta_files, uses_deltas
from aimcol.format.object_segments import check_objects
from aimcol.format.repo_layout import MANIFEST_NAME, TERMINAL_LOG_NAME, RepoLayout
from aimcol.format.segment_names import is_segment_name, seal_file_name, segment_number
from aimcol.format.segments import (
    POINT_SCHEMA,
    LiveSegmentWriter,
    SealedSegmentReader,
    concat_columns,
    dedupe_sorted_by_step,
    empty_points,
    located_spans,
    parse_live_segment,
    points_batch,
    read_batch_spans,
    read_live_segment,
    scan_live_object,
    write_sealed_segment,
)
from aimcol.format.sequence_stats import empty_stats, fold_batch
from aimcol.format.storage import Claim

_NAME_ATTEMPTS = 1000
"""Segment numbers tried past one that is taken before the run is declared damaged."""

T = TypeVar("T")

DEFAULT_SEAL_ROWS = 1_000_000
"""Seal the live segment once it holds this many rows (bounds reader work on a live run)."""

READ_ATTEMPTS = 5
"""How many times a reader re-reads the manifest when the writer sealed (and removed) the
live segment between the reader's manifest read and its read of the segment."""


def live_file_name(number: int) -> str:
    return f"live-{number:06d}.arrows"


def _sequence_metadata(manifest: dict[str, Any]) -> dict[str, Any]:
    return {
        "run": manifest["hash"],
        "sequences": {str(s["id"]): {"name": s["name"], "context": s["context"]} for s in manifest["sequences"]},
    }


class RunWriterStore:
    """Exclusive write access to one run's files.  Not thread-safe: the SDK serialises calls.

    On a storage without appends (object stores) ``RunWriterStore(...)`` builds a
    :class:`~aimcol.format.delta_segments.DeltaRunWriterStore`, which writes one immutable
    delta segment per flush instead of appending to a live segment.
    """

    def __new__(cls, layout: RepoLayout, *args: Any, **kwargs: Any) -> RunWriterStore:
        if cls is RunWriterStore and not layout.storage.supports_append:
            from aimcol.format.delta_segments import DeltaRunWriterStore

            cls = DeltaRunWriterStore
        return super().__new__(cls)

    def __init__(
        self,
        layout: RepoLayout,
        run_hash: str,
        *,
        create: bool,
        experiment: str | None = None,
        seal_rows: int = DEFAULT_SEAL_ROWS,
    ):
        self.layout = layout
        self.run_hash = run_hash
        self.seal_rows = seal_rows
        self.storage = storage = layout.storage
        if create:
            storage.make_prefix(layout.run_prefix(run_hash), exclusive=True)
        self.lock: Claim = storage.claim_run(run_hash)
        try:
            if create:
                self.manifest = manifest_io.new_manifest(run_hash, experiment=experiment)
            else:
                self.manifest = manifest_io.read_manifest(layout, run_hash)
            self.previous_end_time = self.manifest.get("end_time")
            self.manifest["writer"] = {k: self.lock.holder[k] for k in ("pid", "host", "started")}
            self.manifest["end_time"] = None
            self._live: LiveSegmentWriter | None = None
            self.recovery_notes: list[str] = []
            self._stats = {s["id"]: s for s in self.manifest["sequences"]}
            if not create:
                self._recover()
            self.write_manifest(fsync=create)
        except BaseException:
            self.lock.release()
            raise

    # -- recovery -------------------------------------------------------------------------
    def _recover(self) -> None:
        """Seal a dead writer's live segment and drop files no manifest names.

        The live segment's intact batches are kept, also those after a damaged one; what
        was skipped is in ``recovery_notes`` (and a ``RuntimeWarning``).
        """
        self.manifest["next_segment"] = self._first_free_number()
        live_name = self.manifest.get("live")
        if live_name:
            scan = scan_live_object(self.storage, self.layout.segment_key(self.run_hash, live_name))
            if scan.gaps:
                self.recovery_notes.extend(f"{live_name}: {gap}" for gap in scan.gaps)
                warnings.warn(
                    f"run {self.run_hash}: kept the intact batches of {live_name}; " + "; ".join(scan.gaps),
                    RuntimeWarning,
                    stacklevel=4,
                )
            table = scan.table
            self._fold_uncounted_rows(table)
            self._seal_file(live_name, table=table)
        for name in _stray_names(self.layout, self.run_hash, self.manifest):
            self.storage.delete(self.layout.segment_key(self.run_hash, name))

    def _first_free_number(self) -> int:
        """``next_segment``, or past every segment number in use if a damaged counter is behind.

        A counter naming an existing file would otherwise make the next segment collide
        with it (the writers refuse to create an existing file; this keeps the run writable).
        """
        names = [s["file"] for s in self.manifest["segments"]]
        if self.manifest.get("live"):
            names.append(self.manifest["live"])
        names += self.storage.list_children(self.layout.run_prefix(self.run_hash))
        used = [segment_number(n) for n in names if is_segment_name(n)]
        return max([self.manifest.get("next_segment") or 1, *(n + 1 for n in used)])

    def _fold_uncounted_rows(self, table: pa.Table) -> None:
        """Make the stats count exactly the rows a dead writer left in its live segment.

        A writer killed between appending a batch and replacing the manifest leaves rows
        that readers see but the manifest's stats (``last_step``, from which a resumed run's
        auto-step continues; ``count``, ``last``, ``dtype`` …) do not count.  ``live_rows``
        says how many leading rows of the live file the stats already include.  Fewer rows
        than that (a live file truncated after the fact) means the stats count lost rows:
        recount them from the data.
        """
        counted = self.manifest.get("live_rows")
        if counted is None or counted == table.num_rows:
            return
        if counted < table.num_rows:
            self._fold_table(table.slice(counted))
            return
        for stats in self._stats.values():
            stats.update(empty_stats())
        for entry in self.manifest["segments"]:
            self._fold_table(
                SealedSegmentReader(
                    self.storage, self.layout.segment_key(self.run_hash, entry["file"]), entry
                ).read_all()
            )
        self._fold_table(table)

    def _fold_table(self, table: pa.Table) -> None:
        seq = to_numpy(table.column("seq"))
        keep = seq < len(self.manifest["sequences"])
        step = to_numpy(table.column("step"))[keep]
        value = to_numpy(table.column("value"))[keep]
        seq = seq[keep]
        fold_batch(self._stats, seq, step, value)
        fractional = np.unique(seq[~(np.isfinite(value) & (value == np.floor(value)))])
        for seq_id in fractional.tolist():  # a float that promoted an int sequence in the lost manifest
            self._stats[seq_id]["dtype"] = "float"

    # -- metadata -------------------------------------------------------------------------
    manifest_unpublished = False
    """The in-memory manifest has changes not written yet: a write failed, or a write was
    left to the next flush (:meth:`defer_publish`)."""

    published_sequences: int | None = None
    """How many sequences the last manifest written names (None before this writer wrote one)."""

    object_deltas: ObjectDeltaWriter | None = None
    """The run's object records and blobs where they are written as deltas (see
    :meth:`open_object_deltas`); each manifest commit uploads what it buffered first."""

    def open_object_deltas(self) -> ObjectDeltaWriter | None:
        """The writer of this run's object deltas, or None where objects are appended to
        ``objects.log`` (see :mod:`aimcol.format.object_deltas`)."""
        if self.object_deltas is None and uses_deltas(self.storage, self.manifest):
            self.object_deltas = ObjectDeltaWriter(self.storage, self.run_hash, self.manifest, self.lock.generation)
        return self.object_deltas

    def has_unpublished(self) -> bool:
        """Whether the next flush must commit a manifest (a change or buffered object deltas)."""
        return self.manifest_unpublished or (self.object_deltas is not None and self.object_deltas.pending)

    def write_manifest(self, *, fsync: bool = False) -> None:
        self.manifest_unpublished = True
        deltas = self.object_deltas
        if deltas is not None:
            deltas.upload()  # objects first: the manifest committed next names them
        count = len(self.manifest["sequences"])
        manifest_io.write_manifest(self.layout, self.run_hash, self.manifest, fsync=fsync, claim=self.lock)
        self.manifest_unpublished = False
        if deltas is not None:
            deltas.committed()
        self.published_sequences = count
        note_manifest_changed(self.layout, self.run_hash)  # readers' index refresh stats only this run

    def add_sequence(self, name: str, context: dict[str, Any], dtype: str) -> int:
        """Register a sequence in the in-memory manifest.  It is written with the next batch
        that holds its points (:meth:`append_batch` writes the manifest first), so a run
        that starts 1,500 metrics costs one manifest write per flush, not one per metric."""
        seq_id = len(self.manifest["sequences"])
        entry = {"id": seq_id, "name": name, "context": context, "dtype": dtype, **empty_stats()}
        self.manifest["sequences"].append(entry)
        self._stats[seq_id] = entry
        return seq_id

    def set_sequence_dtype(self, seq_id: int, dtype: str) -> None:
        self._stats[seq_id]["dtype"] = dtype

    # -- points ---------------------------------------------------------------------------
    def append_points(
        self, seq: ArrayLike, step: ArrayLike, value: ArrayLike, epoch: ArrayLike | pa.Array | None, times: ArrayLike
    ) -> None:
        """Write one batch (column arrays of equal length) and publish the new manifest."""
        self.append_batch(seq, step, value, epoch, times)
        self.publish()

    def append_batch(
        self, seq: ArrayLike, step: ArrayLike, value: ArrayLike, epoch: ArrayLike | pa.Array | None, times: ArrayLike
    ) -> None:
        """Write one batch to the live segment, or raise with nothing written.

        A failed write (disk full) leaves the live segment at its last complete batch, so the
        caller can keep the points and offer them again.  When this returns, the batch is in
        the file (readers see it) and counted in the stats; :meth:`publish` records it in
        the manifest.
        """
        seq = np.asarray(seq, dtype=np.uint32)
        step = np.asarray(step, dtype=np.int64)
        value = np.asarray(value, dtype=np.float64)
        batch = points_batch(seq, step, value, epoch, times)
        if self._live is None:
            if self.manifest.get("live"):
                self.seal(fsync_manifest=False)  # a seal that failed before: finish it first
            for _ in range(_NAME_ATTEMPTS):
                number = self.manifest["next_segment"]
                name = live_file_name(number)
                key = self.layout.segment_key(self.run_hash, name)
                try:
                    live = LiveSegmentWriter(self.storage, key)
                    break
                except FileExistsError:  # a counter behind the files (damaged manifest): next number
                    self.manifest["next_segment"] = number + 1
            else:
                raise DamagedRunError(f"run {self.run_hash}: no free segment number after {name}")
            self.manifest.update(next_segment=number + 1, live=name, live_rows=0)
            try:
                self.write_manifest()  # name the file before the first batch, so no batch is unlisted
            except BaseException:
                self.manifest.update(next_segment=number, live=None)
                live.close()
                self.storage.delete(key)
                raise
            self._live = live
        elif len(seq) and (self.published_sequences is None or int(seq.max()) >= self.published_sequences):
            self.write_manifest()  # name new sequences before their first points reach the file
        self._live.append(batch)
        fold_batch(self._stats, seq, step, value)
        raise_last_point(self.manifest, np.asarray(times, dtype=np.float64))
        self.manifest["live_rows"] = self._live.rows

    def defer_publish(self) -> None:
        """After :meth:`append_batch` from the bulk path: seal if the live segment is full,
        else leave the manifest write to the next flush (the points are readable already:
        the live segment and every sequence in it are named in the written manifest)."""
        if self._live is not None and self._live.rows >= self.seal_rows:
            self.seal(fsync_manifest=False)
        else:
            self.manifest_unpublished = True

    def publish(self) -> None:
        """Replace the manifest (sealing first if the live segment is full).  After a
        failure the in-memory manifest is still complete: the next publish writes it."""
        if self._live is not None and self._live.rows >= self.seal_rows:
            self.seal(fsync_manifest=False)
        else:
            self.write_manifest()

    def seal(self, *, fsync_manifest: bool = True) -> None:
        """Turn the live segment into a sorted, compressed, immutable sealed segment."""
        if self._live is not None:
            self._live.close()
            self._live = None
        if self.manifest.get("live"):
            self._seal_file(self.manifest["live"], fsync=fsync_manifest)

    def _seal_file(self, live_name: str, *, fsync: bool = True, table: pa.Table | None = None) -> None:
        live_key = self.layout.segment_key(self.run_hash, live_name)
        if table is None:
            table = read_live_segment(self.storage, live_key)
        known = len(self.manifest["sequences"])
        if table.num_rows:
            # rows of sequences the manifest never learned of (crash between batch and manifest)
            seq = to_numpy(table.column("seq"))
            if seq.max() >= known:
                table = table.filter(to_arrow(seq < known))
        if table.num_rows:
            for _ in range(_NAME_ATTEMPTS):
                number = self.manifest["next_segment"]
                self.manifest["next_segment"] = number + 1
                name = seal_file_name(number)
                try:
                    sealed = write_sealed_segment(
                        self.storage,
                        self.layout.segment_key(self.run_hash, name),
                        table,
                        name,
                        _sequence_metadata(self.manifest),
                    )
                    break
                except FileExistsError:  # never replace a sealed file: take the next number
                    continue
            else:
                raise DamagedRunError(f"run {self.run_hash}: no free segment number after {name}")
            self.manifest["segments"].append(sealed.to_manifest())
        self.manifest["live"] = None
        self.manifest["live_rows"] = 0
        self.write_manifest(fsync=fsync)
        self.storage.delete(live_key)

    def close(self, *, end_time: float | None = None) -> None:
        """Seal, stamp ``end_time``, publish durably and release the lock.

        If sealing or the last manifest write fails (disk full), the lock stays held and the
        error propagates: the run is not closed, and a later ``close()`` retries.
        """
        if not self.lock.held:
            return
        self.seal(fsync_manifest=False)
        if self.object_deltas is not None:
            self.object_deltas.compact()  # committed by the closing manifest
        self.manifest["end_time"] = time.time() if end_time is None else end_time
        try:
            self.write_manifest(fsync=True)
        except BaseException:
            self.manifest["end_time"] = None
            raise
        self.lock.release()

    def release_as_found(self) -> None:
        """Seal and release without stamping an end: a repaired crashed run stays crashed."""
        if not self.lock.held:
            return
        try:
            self.seal(fsync_manifest=False)
            self.manifest["end_time"] = self.previous_end_time
            self.write_manifest(fsync=True)
        finally:
            self.lock.release()


def _point_names(columns: Iterable[str] | None) -> tuple[str, ...]:
    """The point columns a read decompresses: those asked for (all by default) and ``step``."""
    wanted = None if columns is None else set(columns)
    return tuple(n for n in POINT_SCHEMA.names if wanted is None or n in wanted or n == "step")


class RunReaderStore:
    """Read-only view of one run; call ``refresh()`` to see what the writer added since."""

    def __init__(
        self, layout: RepoLayout, run_hash: str, manifest: dict[str, Any] | None = None, *, lazy: bool = False
    ):
        """``lazy``: read the manifest when first needed (reads by location need none)."""
        self.layout = layout
        self.run_hash = run_hash
        self.storage = layout.storage
        if manifest is None and not lazy:
            manifest = manifest_io.read_manifest(layout, run_hash)
        self._manifest = manifest
        self._live_cache: tuple[str, int, pa.Table] | None = None
        self._sealed: dict[str, SealedSegmentReader] = {}
        self._located: dict[str, IpcFileBatches] = {}

    @property
    def manifest(self) -> dict[str, Any]:
        if self._manifest is None:
            self._manifest = manifest_io.read_manifest(self.layout, self.run_hash)
        return self._manifest

    @manifest.setter
    def manifest(self, manifest: dict[str, Any]) -> None:
        self._manifest = manifest

    def _sealed_reader(self, entry: dict[str, Any]) -> SealedSegmentReader:
        """One open reader per sealed file (sealed files never change), reused across sequences."""
        reader = self._sealed.get(entry["file"])
        if reader is None:
            reader = SealedSegmentReader(self.storage, self.layout.segment_key(self.run_hash, entry["file"]), entry)
            self._sealed[entry["file"]] = reader
        return reader

    def refresh(self) -> dict[str, Any]:
        self.manifest = manifest_io.read_manifest(self.layout, self.run_hash)
        return self.manifest

    @property
    def active(self) -> bool:
        """A writer holds the run right now.  A run closed cleanly is never active."""
        if self.manifest.get("end_time") is not None:
            return False
        return self.storage.run_claimed(self.run_hash)

    def _live_table(self) -> pa.Table | None:
        name = self.manifest.get("live")
        if not name:
            return None
        cached = self._live_cache
        known_size = cached[1] if cached and cached[0] == name else None
        try:  # once the read began, the bytes stay readable even if the writer seals and removes the file
            data = self.storage.read_appended(self.layout.segment_key(self.run_hash, name), known_size)
        except FileNotFoundError:
            return None
        if data is None:
            assert cached is not None
            return cached[2]
        table = parse_live_segment(data)
        self._live_cache = (name, len(data), table)
        return table

    def _live_missing(self) -> bool:
        name = self.manifest.get("live")
        return bool(name) and not self.storage.exists(self.layout.segment_key(self.run_hash, str(name)))

    def _consistent_live(self) -> pa.Table | None:
        """The live segment the current manifest names (``None``: none), re-reading the
        manifest while the writer seals and removes it between the two reads.

        Raises :class:`FormatError` when the manifest keeps naming a live segment that is
        not there (removed by hand, or a run folder copied without it)."""
        for _ in range(READ_ATTEMPTS):
            live = self._live_table()
            if live is not None or not self._live_missing():
                return live
            self.refresh()  # the writer sealed between our manifest read and now
        raise FormatError(
            f"{self.layout.root}/{self.layout.segment_key(self.run_hash, self.manifest['live'])}: "
            f"run {self.run_hash}'s manifest names this live segment, which is missing "
            f"(manifest re-read {READ_ATTEMPTS} times); `aimcol repair` seals what is left"
        )

    def _sealed_parts(self, seq_id: int, names: tuple[str, ...]) -> list[dict[str, np.ndarray]]:
        parts = []
        for entry in self.manifest["segments"]:
            reader = self._sealed_reader(entry)
            for sid, start, stop in entry["ranges"]:
                if sid == seq_id:
                    parts.append(reader.read_rows(start, stop, names))
        return parts

    def _retry_compacted(self, read: Callable[[], T]) -> T:
        """``read()``, re-reading the manifest when a delta segment it names is gone.

        On object stores (:mod:`aimcol.format.delta_segments`) a writer compacts delta
        segments into a sealed one and then deletes them; a reader holding the manifest
        from before finds them missing, and the next manifest names their replacement."""
        for _ in range(READ_ATTEMPTS - 1):
            try:
                return read()
            except FileNotFoundError:
                if not any(e.get("delta") for e in self.manifest["segments"]):
                    raise
                self.refresh()
        return read()  # the last attempt: a missing object now is an error

    def read_sequence(self, seq_id: int, columns: Iterable[str] | None = None) -> dict[str, np.ndarray]:
        """All points of one sequence as NumPy columns, sorted by step, latest write per step.

        ``columns``: the point columns wanted (default: all); ``step`` is always read (it
        orders and deduplicates), the others only if named, so they are not decompressed.
        ``epoch`` is int64, or float64 with NaN where a point has no epoch.
        """
        names = _point_names(columns)
        live = self._consistent_live()  # sealed files never go away: read them after
        parts = self._retry_compacted(lambda: self._sealed_parts(seq_id, names))
        from_live = False
        if live is not None and live.num_rows:
            mask = to_numpy(live.column("seq")) == seq_id
            if mask.any():
                parts.append({name: to_numpy_rows(live.column(name), mask) for name in names})
                from_live = True
        points = {name: concat_columns([p[name] for p in parts], name) for name in names}
        if len(parts) == 1 and not from_live:
            return points  # one sealed range: already sorted and deduplicated
        return dedupe_sorted_by_step(points)

    def read_located(
        self, seq_id: int, parts: list[list[Any]], columns: Iterable[str] | None = None
    ) -> dict[str, np.ndarray]:
        """:meth:`read_sequence` from where the run index says the sequence's points are
        (:func:`~aimcol.format.segments.sequence_locations`), without the manifest.  Files
        that are not laid out as the locations say (or are gone) are read by the manifest."""
        names = _point_names(columns)
        try:
            pieces = [
                read_batch_spans(self._located_file(part[0], part[3]), located_spans(part), names) for part in parts
            ]
        except ChecksumError:
            raise
        except (FileNotFoundError, IpcLayoutError, ValueError, IndexError, struct.error):
            return self.read_sequence(seq_id, columns)
        points = {name: concat_columns([p[name] for p in pieces], name) for name in names}
        return points if len(pieces) == 1 else dedupe_sorted_by_step(points)

    def _located_file(self, name: str, batches: int) -> IpcFileBatches:
        """One sealed file's footer, read once per run and shared by every sequence read by location."""
        direct = self._located.get(name)
        if direct is None:
            direct = IpcFileBatches(self.storage, self.layout.segment_key(self.run_hash, name))
            if direct.num_record_batches != batches:
                raise IpcLayoutError(
                    f"{direct.path}: {direct.num_record_batches} record batches, the index says {batches}"
                )
            self._located[name] = direct
        return direct

    def read_all_points(self) -> pa.Table:
        """Every point of the run (sealed then live), unsorted, as stored."""
        live = self._consistent_live()
        parts = self._retry_compacted(lambda: [self._sealed_reader(e).read_all() for e in self.manifest["segments"]])
        if live is not None:
            parts.append(live)
        known = len(self.manifest["sequences"])
        table = pa.concat_tables(parts) if parts else empty_points()
        if table.num_rows:
            seq = to_numpy(table.column("seq"))
            if seq.max() >= known:
                table = table.filter(to_arrow(seq < known))
        return table.cast(POINT_SCHEMA)


def _stray_names(layout: RepoLayout, run_hash: str, manifest: dict[str, Any]) -> list[str]:
    """Objects in a run folder that no manifest names: segments and temporary objects a
    killed writer left (never the manifest, the claim, ``terminal.log`` or the live segment)."""
    storage = layout.storage
    named = {MANIFEST_NAME, TERMINAL_LOG_NAME} | {s["file"] for s in manifest["segments"]}
    if manifest.get("live"):
        named.add(manifest["live"])
    children = storage.list_children(layout.run_prefix(run_hash))
    stray = [n for n in children if n not in named and (storage.is_temporary(n) or n.startswith(("live-", "seg-")))]
    return sorted(stray + stray_delta_files(storage, run_hash, manifest, children))


def run_needs_repair(layout: RepoLayout, run_hash: str, manifest: dict[str, Any]) -> list[str]:
    """What a repair would fix in a run that no writer holds: an unsealed live segment (and the
    damaged stretches of it the repair will skip, keeping the intact batches around them),
    stray files, a dead writer's incomplete multipart uploads."""
    problems = []
    live = manifest.get("live")
    if live:
        problems.append(f"unsealed live segment {live}")
        try:
            scan = scan_live_object(layout.storage, layout.segment_key(run_hash, live))
        except FormatError as exc:
            problems.append(str(exc))
        else:
            problems.extend(f"{live}: {gap}" for gap in scan.gaps)
    stray = _stray_names(layout, run_hash, manifest)
    if stray:
        problems.append("stray files " + ", ".join(stray))
    uploads = layout.storage.incomplete_uploads(layout.run_prefix(run_hash))
    if uploads:
        problems.append("incomplete multipart uploads " + ", ".join(uploads))
    return problems


def update_run_properties(layout: RepoLayout, run_hash: str, **changes: Any) -> None:
    """Change manifest properties (``archived``, ``name`` …) of a run no writer holds,
    keeping its end time: a finished run keeps its duration, a crashed run stays crashed.

    Raises :class:`RunLockedError` if a live writer holds the run.
    """
    store = RunWriterStore(layout, run_hash, create=False)
    try:
        store.manifest.update(changes)
    finally:
        store.release_as_found()


def repair_run(layout: RepoLayout, run_hash: str) -> list[str]:
    """Seal a dead writer's live segment and remove stray files; returns what was skipped.

    Every intact batch of the live segment is kept, also after a damaged one; the damaged
    stretches (and a torn tail) are dropped and listed in the result.  Raises
    :class:`RunLockedError` if a live writer holds the run, :class:`FormatError` (naming
    the file) if the run is too damaged to repair; nothing is deleted then.
    """
    store = RunWriterStore(layout, run_hash, create=False)
    store.release_as_found()
    return store.recovery_notes


def check_run(layout: RepoLayout, run_hash: str) -> list[str]:
    """Problems that make a run's data unreadable or wrong (empty list: every file reads and
    every sealed file matches the checksums recorded when it was sealed)."""
    try:
        manifest = manifest_io.read_manifest(layout, run_hash)
    except FileNotFoundError:
        return ["no manifest"]
    except Exception as exc:  # FormatError names the file
        return [str(exc)]
    problems = [problem for entry in manifest["segments"] for problem in check_sealed_segment(layout, run_hash, entry)]
    return problems + check_objects(layout.storage, run_hash, manifest)


def check_sealed_segment(layout: RepoLayout, run_hash: str, entry: dict[str, Any]) -> list[str]:
    """Problems of one sealed file: unreadable, not matching its checksums, or a row count the
    manifest does not expect."""
    key = layout.segment_key(run_hash, entry["file"])
    path = f"{layout.root}/{key}"
    reader = SealedSegmentReader(layout.storage, key, entry)
    try:
        rows = reader.read_all().num_rows  # the whole file is checked against its crc32 first
        if entry.get("batch_crc32") is not None:
            for index in range(len(entry["batch_crc32"])):  # and each batch, as queries read them
                reader.read_rows(reader.batch_starts[index], reader.batch_starts[index + 1], ("step",))
    except Exception as exc:
        return [f"{path}: unreadable sealed segment ({exc})"]
    if rows != entry["rows"]:
        return [f"{path}: {rows} rows, manifest says {entry['rows']}"]
    return []
